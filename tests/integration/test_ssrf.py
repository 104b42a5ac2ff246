"""SSRF: a URL an admin or employee types in (or WORKPLACE puts in an event) is never fetched unless it is on
the provider's allow-listed host.

A canary listens on a loopback port and counts every connection made to it. Each user-supplied URL field gets
the canary's address, in plain and in tricky forms, and the flows that could follow it run: saving, verify,
linking, sending. Afterwards the canary must not have been reached once.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from tests.integration.helpers import (
    Api,
    enable_slack,
    new_member_id,
    notification,
    ok,
    route,
    wait_for_deliveries,
)
from tests.integration.linking import (
    authorize_url,
    delegation_settings,
    new_google_client,
    register_workspace_id,
)
from tests.integration.messengers import new_line_channel

pytestmark = pytest.mark.integration


class Canary:
    """A loopback TCP listener that counts connections (and answers nothing)."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._server.close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    listener = Canary()
    yield listener
    listener.close()


def tricky_urls(port: int, base: str) -> list[str]:
    """The canary's address as an attacker would dress it up to pass for the provider's."""
    host = f"127.0.0.1:{port}"
    path = "/v1/spaces/AAAAcanary/messages?key=k&token=t"
    return [
        f"https://{host}{path}",
        f"http://{host}{path}",
        f"{base}@{host}{path}",  # the real host as userinfo
        f"https://{host}/{base}{path}",
        f"https://{host}\\@{base.split('://', 1)[1]}{path}",  # a backslash some parsers read as a path
        f"{base}.{host}{path}",
    ]


def test_a_google_chat_webhook_off_the_chat_host_is_refused_and_never_fetched(
    stack: LocalStack, member: Api, canary: Canary
) -> None:
    # WHEN an employee registers webhook URLs that point elsewhere
    for url in tricky_urls(canary.port, stack.provider_env["GOOGLE_CHAT_BASE"]):
        refused = member.put("/me/links", {"google_chat_webhook_url": url})

        # THEN each is refused, naming the field
        assert refused.status_code == 400, (url, refused.text)
        assert refused.json()["field"] == "google_chat_webhook_url"
    # AND nothing connected to it
    assert canary.connections == 0


def test_uploaded_google_files_never_redirect_the_hubs_token_calls(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient, canary: Canary
) -> None:
    # GIVEN an OAuth client file whose auth_uri and token_uri point at the canary
    workspace = new_google_client(stack, sandbox, f"{company_id}.example")
    client = json.loads(json.dumps(workspace.client_json))
    client["web"]["auth_uri"] = f"https://127.0.0.1:{canary.port}/auth"
    client["web"]["token_uri"] = f"https://127.0.0.1:{canary.port}/token"
    settings = {
        "auth_mode": "user_consent",
        "company_domain": f"{company_id}.example",
        "oauth_client_json": json.dumps(client),
    }
    ok(admin.put("/admin/integrations/google_calendar", {"enabled": True, "settings": settings}))
    register_workspace_id(admin, member.user_id, f"taro@{company_id}.example")

    # WHEN the admin verifies it and an employee starts linking
    verified = ok(admin.post("/admin/integrations/google_calendar/verify"))
    url = authorize_url(member, "google")

    # THEN the check went to Google's token endpoint (the sandbox's) and the employee to Google's consent page
    assert verified["status"]["state"] == "ok", verified["status"]
    assert url.startswith(stack.provider_env["GOOGLE_ACCOUNTS_BASE"])

    # WHEN a service-account key file's token_uri points at the canary (delegation mode)
    delegated = delegation_settings(sandbox, company_id, f"admin@{company_id}.example")
    info = json.loads(delegated["service_account_json"])
    info["token_uri"] = f"https://127.0.0.1:{canary.port}/token"
    delegated["service_account_json"] = json.dumps(info)
    ok(admin.put("/admin/integrations/google_calendar", {"enabled": True, "settings": delegated}))
    verified = ok(admin.post("/admin/integrations/google_calendar/verify"))

    # THEN the delegated token came from Google's endpoint too
    assert verified["status"]["state"] == "ok", verified["status"]
    # AND the canary was never reached
    assert canary.connections == 0


def test_a_line_friend_link_off_line_hosts_is_refused(
    stack: LocalStack, admin: Api, sandbox: SandboxClient, canary: Canary
) -> None:
    channel = new_line_channel(sandbox, [])
    for url in (f"https://127.0.0.1:{canary.port}/friend", f"https://lin.ee@127.0.0.1:{canary.port}/x"):
        settings: dict[str, Any] = {**channel.settings(), "friend_link_url": url}
        refused = admin.put("/admin/integrations/line", {"enabled": True, "settings": settings})
        assert refused.status_code == 400, (url, refused.text)
        assert refused.json()["field"] == "settings.friend_link_url"
    assert canary.connections == 0


def test_a_link_in_an_event_is_shown_never_fetched(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient, send_event: Any, canary: Canary
) -> None:
    # GIVEN Slack on and taro linked
    good = new_member_id()
    enable_slack(admin, sandbox, [good])
    route(admin, {"approval.requested": ["slack"]})
    ok(member.put("/me/links", {"slack_member_id": good}))

    # WHEN WORKPLACE sends a notification whose link points at the canary
    event = notification(company_id, [{"user_id": member.user_id}])
    event["message"]["url"] = f"https://127.0.0.1:{canary.port}/approvals/1"
    send_event(event)

    # THEN it is delivered with the link in it, and the hub never opened the link
    assert wait_for_deliveries(admin, event["event_id"], 1)[(member.user_id, "slack")]["status"] == "sent"
    assert canary.connections == 0
