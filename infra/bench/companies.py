"""The benchmark's companies, set up the way an admin and the employees would on a local stack.

`Bench` holds the stack, the sandbox, SQS, the tables and a router container. LINE, KakaoTalk AlimTalk (SENS) and
NAVER WORKS companies come from `setup_*` (part 4 measures them), Slack and Google Chat from `*_company`. Each
company: its account registered in the sandbox fake (rate limits off), the
integration saved and verified through the settings API, the notification item routed to that one channel,
and `count` employees who can be reached on it. An `Audience` also keeps every employee's address on the channel
and the company's credentials, for the benchmark's own clients (the floor and Apprise) to send the same messages
to the same people.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3
import requests
from boto3.dynamodb.conditions import Key

from infra.bench.containers import Container, EventSourceMapping, load_container
from infra.keys import rsa_key_pair
from infra.local_stack import LocalStack
from infra.local_stack.aws import REGION, client
from infra.sandbox import SandboxClient
from infra.template import Resolver
from workplace_hub.clock import utc_now_iso

ITEM = "approval.requested"
MESSAGE = {
    "title": "決裁依頼: 出張申請 (大阪)",
    "body": "鈴木 一郎 さんから決裁依頼が届きました。内容を確認して承認または差し戻してください。",
    "url": "https://benchco.workplace.example/approvals/8812",
}

LINE_TOKEN = "benchLineChannelAccessToken0123456789abcdefABCDEF"
LINE_SETTINGS = {
    "login_channel_id": "1650000001",
    "login_channel_secret": "0123456789abcdef0123456789abcdef",
    "channel_access_token": LINE_TOKEN,
    "channel_secret": "fedcba9876543210fedcba9876543210",
    "friend_link_url": "https://lin.ee/BenchCo",
}
SENS_ACCESS_KEY = "BENCHACCESSKEY0001"
SENS_SECRET_KEY = "BenchSecretKey0123456789abcdefABCDEF0001"
SENS_SERVICE_ID = "ncp:kkobizmsg:kr:9000001:bench"
SENS_CHANNEL = "@benchco"
SENS_TEMPLATE = "BENCH_APPROVAL"
SENS_CONTENT = "[WORKPLACE] #{name}님, #{title}\n#{content}"
SENS_BUTTONS = [{"type": "WL", "name": "자세히 보기", "linkMobile": "https://#{url}", "linkPc": "https://#{url}"}]
WORKS_DOMAIN = "90000001"
WORKS_BOT = "4000001"
WORKS_CLIENT_ID = "benchWorksClient0001"
WORKS_CLIENT_SECRET = "benchWorksSecret0001"
WORKS_SERVICE_ACCOUNT = "bench1.serviceaccount@benchworks.example"


@dataclass(frozen=True)
class Provider:
    channel: str  # the hub's channel id (routing, queues, delivery records)
    label: str
    sandbox: str  # the sandbox fake's name (request log, limits)
    function: str  # the sender function's logical id in template.yaml
    company: str


LINE = Provider("line", "LINE", "line", "SendLineFunction", "benchline")
KAKAO = Provider("kakao", "KakaoTalk AlimTalk (SENS)", "sens", "SendKakaoFunction", "benchkakao")
WORKS = Provider("naver_works", "NAVER WORKS", "naver_works", "SendNaverWorksFunction", "benchworks")


@dataclass
class Bench:
    """The stack, the sandbox, the router container fed from WorkplaceEventsQueue, and DynamoDB tables."""

    stack: LocalStack
    template: dict[str, Any]
    resolver: Resolver
    sandbox: SandboxClient = field(init=False)
    sqs: Any = field(init=False)
    tables: Any = field(init=False)
    router: EventSourceMapping = field(init=False)

    def __post_init__(self) -> None:
        self.sandbox = SandboxClient(self.stack.sandbox.url, timeout=30)
        self.sqs = client("sqs", self.stack.aws_endpoint_url)
        self.tables = boto3.resource(
            "dynamodb",
            endpoint_url=self.stack.aws_endpoint_url,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        self.router = self.mapping(load_container(self.template, self.resolver, "RouterFunction"))

    def mapping(self, container: Container) -> EventSourceMapping:
        url = self.stack.queues[container.queue_logical_id]
        arn = self.resolver.attributes[(container.queue_logical_id, "Arn")]
        return EventSourceMapping(self.sqs, url, arn, container)

    def table(self, logical_id: str) -> Any:
        return self.tables.Table(self.resolver.refs[logical_id])


# --- set-up: the provider's account in the sandbox, the company through the settings API ---------------------


class Admin:
    """The settings API as the company's admin."""

    def __init__(self, stack: LocalStack, company: str) -> None:
        self.base = stack.api_url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {stack.token(company, f'admin@{company}.example', 'admin')}"

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self.http.request(method, self.base + path, json=body, timeout=60)
        if response.status_code >= 300:
            raise RuntimeError(f"setup call {method} {path} -> {response.status_code}: {response.text[:300]}")
        return response.json()

    def configure(self, channel: str, settings: dict[str, Any]) -> str:
        """Save and verify the integration, route the item to it; returns the verification detail."""
        self.call("PUT", f"/admin/integrations/{channel}", {"enabled": True, "settings": settings})
        status = self.call("POST", f"/admin/integrations/{channel}/verify")["status"]
        if status.get("state") != "ok":
            raise RuntimeError(f"{channel} did not verify: {status}")
        self.call("PUT", "/admin/notification-settings", {"items": {ITEM: [channel]}})
        self.http.close()
        return str(status.get("detail", ""))


def _users(company: str, count: int) -> list[str]:
    return [f"user{i:04d}@{company}.example" for i in range(count)]


def setup_line(bench: Bench, count: int) -> list[dict[str, Any]]:
    users = _users(LINE.company, count)
    line_ids = [f"U{index:032x}" for index in range(1, count + 1)]
    bench.sandbox.control(
        "line",
        "channels",
        {"channel_access_token": LINE_TOKEN, "channel_secret": LINE_SETTINGS["channel_secret"], "friends": line_ids},
    )
    bench.sandbox.set_limits("line", enabled=False)  # push and multicast buckets
    Admin(bench.stack, LINE.company).configure("line", LINE_SETTINGS)
    now = utc_now_iso()
    with bench.table("LinksTable").batch_writer() as batch:
        for user_id, line_id in zip(users, line_ids, strict=True):
            batch.put_item(Item={"pk": LINE.company, "sk": user_id, "line_user_id": line_id, "updated_at": now})
    return [{"user_id": user_id, "name": "社員", "locale": "ja"} for user_id in users]


def setup_kakao(bench: Bench, count: int) -> list[dict[str, Any]]:
    template = {"templateCode": SENS_TEMPLATE, "templateName": "결재 요청", "content": SENS_CONTENT}
    bench.sandbox.control(
        "sens",
        "projects",
        {
            "access_key": SENS_ACCESS_KEY,
            "secret_key": SENS_SECRET_KEY,
            "service_id": SENS_SERVICE_ID,
            "channels": {SENS_CHANNEL: {"templates": [{**template, "buttons": SENS_BUTTONS}]}},
        },
    )
    bench.sandbox.set_limits("sens", enabled=False)
    settings = {
        "access_key_id": SENS_ACCESS_KEY,
        "secret_key": SENS_SECRET_KEY,
        "channel_id": SENS_CHANNEL,
        "service_id": SENS_SERVICE_ID,
        "template_code": SENS_TEMPLATE,
    }
    Admin(bench.stack, KAKAO.company).configure("kakao", settings)
    return [
        {"user_id": user_id, "name": "사원", "locale": "ko", "phone": f"+8210{50_000_000 + index:08d}"}
        for index, user_id in enumerate(_users(KAKAO.company, count))
    ]


def setup_works(bench: Bench, count: int) -> list[dict[str, Any]]:
    users = _users(WORKS.company, count)
    private_pem, public_pem = rsa_key_pair("bench-naver-works")
    bench.sandbox.control(
        "naver_works",
        "tenants",
        {
            "domain_id": WORKS_DOMAIN,
            "users": users,
            "bots": [{"bot_id": WORKS_BOT, "name": "WORKPLACE"}],
            "client_id": WORKS_CLIENT_ID,
            "client_secret": WORKS_CLIENT_SECRET,
            "service_account": WORKS_SERVICE_ACCOUNT,
            "public_key_pem": public_pem,
        },
    )
    bench.sandbox.set_limits("naver_works", enabled=False)  # both plans' buckets
    settings = {
        "api_version": "2.0",
        "domain_id": WORKS_DOMAIN,
        "admin_email": f"admin@{WORKS.company}.example",
        "client_id": WORKS_CLIENT_ID,
        "client_secret": WORKS_CLIENT_SECRET,
        "service_account": WORKS_SERVICE_ACCOUNT,
        "private_key": private_pem,
        "bot_id": WORKS_BOT,
    }
    Admin(bench.stack, WORKS.company).configure("naver_works", settings)
    return [{"user_id": user_id, "name": "社員", "locale": "ja"} for user_id in users]


# --- one event through the router and the provider's sender --------------------------------------------------


def event(company: str, recipients: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": "1",
        "event_id": f"bench-{uuid.uuid4().hex[:16]}",
        "company_id": company,
        "type": "notification",
        "occurred_at": "2026-11-28T09:15:00+09:00",
        "item": ITEM,
        "recipients": recipients,
        "message": MESSAGE,
    }


# --- Slack, Google Chat and LINE audiences (parts 7, 8 and 9) ----------------------------------------


@dataclass
class Audience:
    company: str
    channel: str
    recipients: list[dict[str, Any]]  # the event's `recipients`
    addresses: dict[str, str] = field(default_factory=dict)  # user_id → member ID / webhook URL / LINE userId
    credentials: dict[str, str] = field(default_factory=dict)  # bot token, channel access token


def _tag(company: str) -> str:
    return hashlib.sha256(company.encode()).hexdigest()[:8]


def _users(company: str, count: int) -> list[str]:
    return [f"user{i:04d}@{company}.example" for i in range(count)]


def slack_company(bench: Bench, company: str, count: int) -> Audience:
    """A Slack workspace with the company's bot; every employee's member ID in LinksTable (not a secret)."""
    token = f"xoxb-{int(_tag(company), 16)}-{count}-bench{_tag(company)}"
    users = _users(company, count)
    members = [f"U{_tag(company)[:4].upper()}{i:05d}" for i in range(count)]
    bench.sandbox.add_slack_workspace(token, team=company, members=members)
    bench.sandbox.set_limits("slack", enabled=False)
    Admin(bench.stack, company).configure("slack", {"bot_token": token})
    now = utc_now_iso()
    with bench.table("LinksTable").batch_writer() as batch:
        for user_id, member in zip(users, members, strict=True):
            batch.put_item(Item={"pk": company, "sk": user_id, "slack_member_id": member, "updated_at": now})
    return Audience(
        company,
        "slack",
        [{"user_id": user_id, "name": "社員", "locale": "ja"} for user_id in users],
        dict(zip(users, members, strict=True)),
        {"bot_token": token},
    )


def google_chat_company(bench: Bench, company: str, count: int) -> Audience:
    """One Chat space per employee; each employee registers its incoming webhook through `PUT /me/links` (the
    hub stores webhook URLs sealed, so they cannot be written to LinksTable directly)."""
    users = _users(company, count)
    Admin(bench.stack, company).configure("google_chat", {})
    bench.sandbox.set_limits("google_chat", enabled=False)
    addresses = {}
    http = requests.Session()
    for index, user_id in enumerate(users):
        space = f"AAAA{_tag(company)}{index:05d}"
        webhook = bench.sandbox.add_google_chat_space(space, f"key{_tag(space)}", f"token{_tag(user_id)}")
        headers = {"Authorization": f"Bearer {bench.stack.token(company, user_id, 'member')}"}
        response = http.put(
            f"{bench.stack.api_url}/me/links", headers=headers, json={"google_chat_webhook_url": webhook}, timeout=30
        )
        if response.status_code >= 300:
            raise RuntimeError(f"linking {user_id}'s webhook -> {response.status_code}: {response.text[:300]}")
        addresses[user_id] = webhook
    http.close()
    return Audience(company, "google_chat", [{"user_id": u, "name": "社員", "locale": "ja"} for u in users], addresses)


def line_company(bench: Bench, count: int) -> Audience:
    """Part 4's LINE company (every employee a friend of its Official Account); userIds read back from LinksTable."""
    recipients = setup_line(bench, count)
    wanted = {r["user_id"] for r in recipients}
    addresses: dict[str, str] = {}
    query: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(LINE.company)}
    table = bench.table("LinksTable")
    while True:
        page = table.query(**query)
        addresses.update({item["sk"]: item["line_user_id"] for item in page["Items"] if item["sk"] in wanted})
        if "LastEvaluatedKey" not in page:
            break
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return Audience(LINE.company, "line", recipients, addresses, {"channel_access_token": LINE_TOKEN})
