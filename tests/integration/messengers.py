"""Set-up and inspection helpers shared by the LINE, NAVER WORKS and KakaoTalk AlimTalk delivery tests.

Each helper registers what a real provider account would have (a LINE channel, a NAVER WORKS tenant, a
SENS project) in the sandbox, then configures the hub through its settings API exactly as an admin does.
Identifiers are fresh per call, so a test can filter the sandbox's request log by them.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3

from infra.keys import rsa_key_pair
from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from tests.integration.helpers import Api, ok, wait_for
from tests.integration.helpers import queue_idle as sqs_queue_idle

RESULTS = frozenset({"delivered", "skipped", "failed"})  # AlimTalk: after the delivery result
ITEM = "approval.requested"


# ------------------------------------------------------------------------------------------- common


def route(admin: Api, channel: str, item: str = ITEM) -> None:
    """The admin's notification settings: `item` goes to `channel`."""
    saved = ok(admin.put("/admin/notification-settings", {"items": {item: [channel]}}))
    assert saved["items"] == {item: [channel]}


def outcomes(found: dict[tuple[str, str], dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    """user_id → (status, reason) of one channel's records."""
    return {user_id: (r["status"], r.get("reason")) for (user_id, _), r in found.items()}


def queue_idle(stack: LocalStack, logical_id: str) -> bool:
    """No message waiting, in flight or delayed on the stack's queue `logical_id`."""
    return sqs_queue_idle(boto3.client("sqs", endpoint_url=stack.aws_endpoint_url), stack.queues[logical_id])


def wait_until_idle(stack: LocalStack, *logical_ids: str, timeout: float = 8.0) -> None:
    for logical_id in logical_ids:
        wait_for(lambda logical_id=logical_id: queue_idle(stack, logical_id), timeout=timeout, interval=0.2)


def integration_status(admin: Api, integration: str) -> dict[str, Any]:
    return ok(admin.get(f"/admin/integrations/{integration}"))["status"]


# ------------------------------------------------------------------------------------------- LINE


def new_line_user_id() -> str:
    return "U" + uuid.uuid4().hex


@dataclass(frozen=True)
class LineChannel:
    """A LINE Official Account's Messaging API channel (and its LINE Login channel) in the sandbox."""

    token: str
    secret: str
    bot: dict[str, str]
    login_channel_id: str = field(default_factory=lambda: f"{secrets.randbelow(9 * 10**9) + 10**9}")
    login_channel_secret: str = field(default_factory=lambda: uuid.uuid4().hex)

    def settings(self, **overrides: str) -> dict[str, str]:
        """The admin-console form for this channel."""
        return {
            "login_channel_id": self.login_channel_id,
            "login_channel_secret": self.login_channel_secret,
            "channel_access_token": self.token,
            "channel_secret": self.secret,
            "friend_link_url": "https://lin.ee/AbCdEfG",
            **overrides,
        }


def new_line_channel(sandbox: SandboxClient, friends: list[str]) -> LineChannel:
    token, secret = "lineCAT" + secrets.token_urlsafe(32), uuid.uuid4().hex
    registered = sandbox.control(
        "line", "channels", {"channel_access_token": token, "channel_secret": secret, "friends": friends}
    )
    return LineChannel(token, secret, registered["bot"])


def enable_line(admin: Api, sandbox: SandboxClient, friends: list[str]) -> LineChannel:
    """A sandbox channel whose friends are `friends`; LINE on with it and the item routed to LINE."""
    channel = new_line_channel(sandbox, friends)
    saved = ok(admin.put("/admin/integrations/line", {"enabled": True, "settings": channel.settings()}))
    assert saved["enabled"] is True and saved["configured"] is True
    route(admin, "line")
    return channel


def link_line(stack: LocalStack, company_id: str, user_id: str, line_user_id: str) -> None:
    """What the LINE Login linking flow (a later issue) will store: the employee's LINE userId."""
    table = boto3.resource("dynamodb", endpoint_url=stack.aws_endpoint_url).Table(stack.resolver.refs["LinksTable"])
    table.update_item(
        Key={"pk": company_id, "sk": user_id},
        UpdateExpression="SET line_user_id = :id",
        ExpressionAttributeValues={":id": line_user_id},
    )


def line_sends(sandbox: SandboxClient, channel: LineChannel) -> list[dict[str, Any]]:
    """Push and multicast calls the sandbox received with this channel's token, in arrival order."""
    return [
        r
        for r in sandbox.requests("line")
        if r["path"] in ("/line/api/v2/bot/message/push", "/line/api/v2/bot/message/multicast")
        and r["headers"].get("Authorization") == f"Bearer {channel.token}"
    ]


def line_accepted(sandbox: SandboxClient, channel: LineChannel) -> list[dict[str, Any]]:
    """Sends LINE accepted (and so delivered to friends) from this channel's bot."""
    delivered = sandbox.control("line", "deliveries", method="GET")["deliveries"]
    return [d for d in delivered if d["bot"] == channel.bot["userId"]]


def header(request: dict[str, Any], name: str) -> str | None:
    return next((v for k, v in request["headers"].items() if k.lower() == name.lower()), None)


# ------------------------------------------------------------------------------------------- NAVER WORKS


@dataclass(frozen=True)
class WorksTenant:
    """A NAVER WORKS tenant in the sandbox: its API 2.0 app and service account, and API 1.0 server API."""

    domain_id: str
    admin_email: str
    client_id: str
    client_secret: str
    service_account: str
    api_id: str
    server_list_id: str
    consumer_key: str
    bots: tuple[str, ...]

    def settings(self, bot_id: str | None = None, **overrides: str) -> dict[str, str]:
        """The API 2.0 admin-console form (bot_id left out when None: the hub provisions one)."""
        form = {
            "api_version": "2.0",
            "domain_id": self.domain_id,
            "admin_email": self.admin_email,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "service_account": self.service_account,
            "private_key": rsa_key_pair("works-2.0")[0],
        }
        if bot_id is not None:
            form["bot_id"] = bot_id
        return {**form, **overrides}

    def legacy_settings(self, bot_id: str) -> dict[str, str]:
        """The API 1.0 admin-console form."""
        return {
            "api_version": "1.0",
            "domain_id": self.domain_id,
            "admin_email": self.admin_email,
            "api_id": self.api_id,
            "server_api_consumer_key": self.consumer_key,
            "server_list_id": self.server_list_id,
            "server_list_private_key": rsa_key_pair("works-1.0")[0],
            "bot_id": bot_id,
        }


def new_works_tenant(sandbox: SandboxClient, users: list[str], bots: int = 2) -> WorksTenant:
    """Register a tenant whose members are `users` (plus its admin) and with `bots` bots already made."""
    tag = uuid.uuid4().hex[:10]
    domain_id = str(secrets.randbelow(9 * 10**7) + 10**7)
    bot_ids = tuple(str(2_000_000 + secrets.randbelow(900_000) * 10 + i) for i in range(bots))
    tenant = WorksTenant(
        domain_id=domain_id,
        admin_email=f"admin-{tag}@works.example",
        client_id=f"client{tag}",
        client_secret=f"secret{tag}",
        service_account=f"{tag}.serviceaccount@works.example",
        api_id=f"jp1{tag}",
        server_list_id=f"server{tag}",
        consumer_key=f"consumer{tag}",
        bots=bot_ids,
    )
    sandbox.control(
        "naver_works",
        "tenants",
        {
            "domain_id": domain_id,
            "users": [*users, tenant.admin_email],
            "bots": [{"bot_id": bot, "name": f"WORKPLACE bot {bot}"} for bot in bot_ids],
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "service_account": tenant.service_account,
            "public_key_pem": rsa_key_pair("works-2.0")[1],
            "api_id": tenant.api_id,
            "server_list_id": tenant.server_list_id,
            "server_list_public_key_pem": rsa_key_pair("works-1.0")[1],
            "server_api_consumer_key": tenant.consumer_key,
        },
    )
    return tenant


def enable_naver_works(admin: Api, form: dict[str, str]) -> dict[str, Any]:
    """NAVER WORKS on with this form and the item routed to it; returns the saved view."""
    saved = ok(admin.put("/admin/integrations/naver_works", {"enabled": True, "settings": form}))
    assert saved["enabled"] is True
    route(admin, "naver_works")
    return saved


def works_token_requests(sandbox: SandboxClient, tenant: WorksTenant) -> list[dict[str, Any]]:
    """API 2.0 token grants the sandbox received for this tenant's app."""
    return [
        r
        for r in sandbox.requests("naver_works")
        if r["path"] == "/works/auth/oauth2/v2.0/token"
        and isinstance(r["body"], dict)
        and r["body"].get("client_id") == tenant.client_id
    ]


def works_message_requests(sandbox: SandboxClient, bot_id: str) -> list[dict[str, Any]]:
    """API 2.0 bot message calls the sandbox received for this bot (any answer)."""
    prefix = f"/works/api/v1.0/bots/{bot_id}/users/"
    return [r for r in sandbox.requests("naver_works") if r["path"].startswith(prefix)]


def works_delivered(sandbox: SandboxClient, tenant: WorksTenant) -> list[dict[str, Any]]:
    """Messages the sandbox tenant accepted: {"api", "domain_id", "bot_id", "user_id", "content"}."""
    return sandbox.control("naver_works", "messages", {"domain_id": tenant.domain_id})["messages"]


# ------------------------------------------------------------------------------------------- KakaoTalk AlimTalk

TEMPLATE_CONTENT = "[WORKPLACE] #{name}님, #{title}\n#{content}"
TEMPLATE_BUTTONS = [
    {"type": "WL", "name": "자세히 보기", "linkMobile": "https://#{url}", "linkPc": "#{url}"},
    {"type": "WL", "name": "홈", "linkMobile": "https://wp.example.com/home"},
]


@dataclass(frozen=True)
class SensProject:
    """An NCP project with a SENS Biz Message service and one Kakao channel with approved templates."""

    access_key: str
    secret_key: str
    service_id: str
    channel_id: str
    template_code: str

    def settings(self, **overrides: str) -> dict[str, str]:
        """The admin-console form for this project."""
        return {
            "access_key_id": self.access_key,
            "secret_key": self.secret_key,
            "channel_id": self.channel_id,
            "service_id": self.service_id,
            "template_code": self.template_code,
            **overrides,
        }


def sens_project_body(
    project: SensProject, templates: list[dict[str, Any]], non_kakao: list[str], sender_numbers: list[str] = ()
) -> dict[str, Any]:
    return {
        "access_key": project.access_key,
        "secret_key": project.secret_key,
        "service_id": project.service_id,
        "channels": {project.channel_id: {"templates": templates}},
        "non_kakao_numbers": non_kakao,
        "sender_numbers": list(sender_numbers),
    }


def new_sens_project(
    sandbox: SandboxClient,
    *,
    content: str = TEMPLATE_CONTENT,
    buttons: list[dict[str, str]] | None = None,
    non_kakao: list[str] | None = None,
    sender_numbers: list[str] | None = None,
) -> SensProject:
    """Register a project whose channel has one approved template (`content`, `buttons`)."""
    tag = uuid.uuid4().hex[:12]
    project = SensProject(
        access_key=f"AK{tag.upper()}",
        secret_key=f"SK{secrets.token_hex(16)}",
        service_id=f"ncp:kkobizmsg:kr:{secrets.randbelow(9 * 10**6) + 10**6}:wp{tag[:6]}",
        channel_id=f"@wp{tag[:8]}",
        template_code=f"APPROVAL{tag[:6].upper()}",
    )
    template = {
        "templateCode": project.template_code,
        "templateName": "결재 알림",
        "content": content,
        "buttons": TEMPLATE_BUTTONS if buttons is None else buttons,
    }
    sandbox.control("sens", "projects", sens_project_body(project, [template], non_kakao or [], sender_numbers or []))
    return project


def enable_kakao(admin: Api, project: SensProject, **settings: str) -> dict[str, Any]:
    """KakaoTalk on with this project (and `settings`) and the item routed to it; returns the saved view."""
    saved = ok(admin.put("/admin/integrations/kakao", {"enabled": True, "settings": project.settings(**settings)}))
    assert saved["enabled"] is True
    route(admin, "kakao")
    return saved


def korean_phone(index: int) -> str:
    """A distinct E.164 Korean mobile number per index."""
    return f"+8210{20_000_000 + index:08d}"


def sens_number(phone: str) -> str:
    """How SENS wants a Korean E.164 number in `to`: domestic digits with the trunk 0."""
    assert phone.startswith("+82")
    return "0" + phone[3:]


def sens_sends(sandbox: SandboxClient, project: SensProject) -> list[dict[str, Any]]:
    """AlimTalk send calls the sandbox received for this project's service (any answer)."""
    path = f"/sens/alimtalk/v2/services/{project.service_id}/messages"
    return [r for r in sandbox.requests("sens") if r["method"] == "POST" and r["path"] == path]


def sens_lookups(sandbox: SandboxClient, project: SensProject) -> list[dict[str, Any]]:
    """Delivery-result lookups the sandbox received for this project's service (any answer)."""
    path = f"/sens/alimtalk/v2/services/{project.service_id}/messages"
    return [r for r in sandbox.requests("sens") if r["method"] == "GET" and r["path"].startswith(path)]


def sens_accepted(sandbox: SandboxClient, project: SensProject) -> list[dict[str, Any]]:
    """Messages SENS accepted for this project's channel."""
    messages = sandbox.control("sens", "messages", method="GET")["messages"]
    return [m for m in messages if m["plusFriendId"] == project.channel_id]
