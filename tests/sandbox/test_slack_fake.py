"""Slack fake: auth and body rules, Block Kit limits, rate limit, faults, request log, reset, keep-alive."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from infra.sandbox import Sandbox, SandboxClient, SandboxError
from workplace_hub.config import ProviderEndpoints
from workplace_hub.providers.messenger import Destination, Notification
from workplace_hub.slack.messages import SlackSender

TOKEN = "xoxb-acme"
OTHER = "xoxb-other"


@pytest.fixture
def api(sandbox: Sandbox, control: SandboxClient, http: requests.Session):
    """Registers two workspaces and returns `post(method, body=None, token=TOKEN, **kwargs) -> Response`."""
    control.add_slack_workspace(
        TOKEN,
        team_id="T0ACME",
        team="Acme Corp",
        members=["U0ALICE", "W0BOB"],
        channels=["C0GENERAL", "C0OPS"],
    )
    control.add_slack_workspace(OTHER, team_id="T0OTHER", team="Other", members=["U0EVE"], channels=["C0ELSE"])

    def post(method: str, body: Any = None, token: str | None = TOKEN, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        kwargs.setdefault("timeout", 5)
        return http.post(f"{sandbox.url}/slack/api/{method}", json=body, headers=headers, **kwargs)

    return post


def error_of(resp: requests.Response) -> str:
    assert resp.status_code == 200
    body = resp.json()
    assert body["ok"] is False
    return body["error"]


# --- auth ------------------------------------------------------------------------------------------------


def test_auth_errors(api, control: SandboxClient):
    assert error_of(api("chat.postMessage", {"channel": "C0GENERAL", "text": "x"}, token=None)) == "not_authed"
    assert error_of(api("chat.postMessage", {"channel": "C0GENERAL", "text": "x"}, token="xoxb-nope")) == "invalid_auth"
    assert error_of(api("auth.test", token=None)) == "not_authed"
    control.revoke_slack_token(TOKEN)
    assert error_of(api("chat.postMessage", {"channel": "C0GENERAL", "text": "x"})) == "token_revoked"
    assert error_of(api("auth.test")) == "token_revoked"
    assert api("auth.test", token=OTHER).json()["ok"] is True


def test_revoke_unknown_token_is_rejected(control: SandboxClient):
    with pytest.raises(SandboxError, match="404"):
        control.revoke_slack_token("xoxb-never-added")


def test_token_in_form_field_but_not_in_json_body(api):
    form = {"token": TOKEN, "channel": "C0GENERAL", "text": "hi"}
    assert api("chat.postMessage", token=None, data=form).json()["ok"] is True
    assert error_of(api("chat.postMessage", form, token=None)) == "not_authed"


def test_auth_test_get_and_post(sandbox: Sandbox, api, http: requests.Session):
    expected = {
        "ok": True,
        "url": "https://acme-corp.slack.com/",
        "team": "Acme Corp",
        "user": "workplace-bot",
        "team_id": "T0ACME",
    }
    post = api("auth.test").json()
    assert post.items() >= expected.items()
    assert post["user_id"].startswith("U") and post["bot_id"].startswith("B")
    get = http.get(f"{sandbox.url}/slack/api/auth.test", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert get.json() == post


# --- body rules ------------------------------------------------------------------------------------------


def test_content_types(api):
    assert (
        api(
            "chat.postMessage",
            headers={"Content-Type": "application/json; charset=utf-8"},
            data=json.dumps({"channel": "C0GENERAL", "text": "x"}),
        ).json()["ok"]
        is True
    )
    blocks = json.dumps([{"type": "divider"}])
    resp = api("chat.postMessage", data={"channel": "C0GENERAL", "text": "x", "blocks": blocks}).json()
    assert resp["ok"] is True and resp["message"]["blocks"] == [{"type": "divider"}]
    text_plain = {"Content-Type": "text/plain"}
    assert error_of(api("chat.postMessage", data="channel=C0GENERAL", headers=text_plain)) == "invalid_post_type"
    assert error_of(api("chat.postMessage", data="{nope", headers={"Content-Type": "application/json"})) == (
        "invalid_json"
    )
    assert error_of(api("chat.postMessage", ["C0GENERAL"])) == "json_not_object"
    assert error_of(api("chat.postMessage", data={"channel": "C0GENERAL", "blocks": "[{"})) == "invalid_blocks_format"


def test_channel_rules(api):
    assert error_of(api("chat.postMessage", {"channel": "C0NOPE", "text": "x"})) == "channel_not_found"
    assert error_of(api("chat.postMessage", {"text": "x"})) == "channel_not_found"
    # A channel or member of another workspace is not visible to this token.
    assert error_of(api("chat.postMessage", {"channel": "C0ELSE", "text": "x"})) == "channel_not_found"
    assert error_of(api("chat.postMessage", {"channel": "U0EVE", "text": "x"})) == "channel_not_found"


def test_text_rules(api):
    assert error_of(api("chat.postMessage", {"channel": "C0GENERAL"})) == "no_text"
    assert error_of(api("chat.postMessage", {"channel": "C0GENERAL", "text": ""})) == "no_text"
    assert error_of(api("chat.postMessage", {"channel": "C0GENERAL", "text": "x" * 40_001})) == "msg_too_long"
    assert api("chat.postMessage", {"channel": "C0GENERAL", "text": "x" * 40_000}).json()["ok"] is True
    assert api("chat.postMessage", {"channel": "C0GENERAL", "blocks": [{"type": "divider"}]}).json()["ok"] is True


def section(text: str = "hi") -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(text: str = "Open", url: str = "https://example.com") -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "url": url}


def test_valid_blocks_are_echoed(api):
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        section("s" * 3000),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*a*"}]},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "ctx"}]},
        {"type": "actions", "elements": [button("b" * 75, "https://x/" + "u" * 2990)] * 25},
        {"type": "markdown", "text": "m" * 6000},
        {"type": "markdown", "text": "[Open](<https://x/" + "u" * 5970 + ">)"},
    ]
    resp = api("chat.postMessage", {"channel": "C0GENERAL", "text": "fallback", "blocks": blocks}).json()
    assert resp["ok"] is True
    assert resp["message"]["blocks"] == blocks


@pytest.mark.parametrize(
    "blocks",
    [
        {"type": "divider"},  # not a list
        [{"type": "divider"}] * 51,
        [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
        [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}],
        [section("s" * 3001)],
        [{"type": "section"}],
        [{"type": "video"}],
        ["divider"],
        [{"type": "actions", "elements": [button()] * 26}],
        [{"type": "actions", "elements": [button("b" * 76)]}],
        [{"type": "actions", "elements": [button(url="https://x/" + "u" * 2991)]}],
        [{"type": "actions", "elements": [{"type": "button", "text": "plain string"}]}],
        [{"type": "context", "elements": []}],
        [{"type": "markdown", "text": "m" * 12_001}],
        [{"type": "markdown", "text": ""}],
        [{"type": "markdown", "text": "m" * 6000}, {"type": "markdown", "text": "m" * 6001}],  # 12,000 in all
    ],
)
def test_invalid_blocks(api, blocks: Any):
    assert error_of(api("chat.postMessage", {"channel": "C0GENERAL", "text": "t", "blocks": blocks})) == (
        "invalid_blocks"
    )


def test_success_shape_dm_and_channel(api):
    dm1 = api("chat.postMessage", {"channel": "U0ALICE", "text": "休暇申請が承認されました"}).json()
    dm2 = api("chat.postMessage", {"channel": "U0ALICE", "text": "again"}).json()
    dm3 = api("chat.postMessage", {"channel": "W0BOB", "text": "bob"}).json()
    chan = api("chat.postMessage", {"channel": "C0OPS", "text": "ops"}).json()
    assert dm1["ok"] and dm1["channel"].startswith("D")
    assert dm1["channel"] == dm2["channel"] != dm3["channel"]
    assert chan["channel"] == "C0OPS"
    message = dm1["message"]
    assert message["type"] == "message" and message["text"] == "休暇申請が承認されました"
    assert message["ts"] == dm1["ts"] and message["bot_id"].startswith("B")
    assert "blocks" not in message
    stamps = [r["ts"] for r in (dm1, dm2, dm3, chan)]
    assert len(set(stamps)) == 4 and stamps == sorted(stamps, key=float)
    assert all(len(s.split(".")[1]) == 6 for s in stamps)


def test_unknown_method_and_path(sandbox: Sandbox, api, http: requests.Session):
    resp = api("conversations.open", {"users": "U0ALICE"})
    assert resp.status_code == 404 and resp.json() == {"ok": False, "error": "unknown_method"}
    resp = http.get(f"{sandbox.url}/nowhere", timeout=5)
    assert resp.status_code == 404 and "error" in resp.json()


def test_sandbox_binds_loopback_only():
    with pytest.raises(ValueError, match="loopback"):
        Sandbox(host="0.0.0.0")


# --- rate limit --------------------------------------------------------------------------------------------


def test_default_rate_limit_is_per_channel_with_retry_after(api):
    for _ in range(20):
        assert api("chat.postMessage", {"channel": "C0GENERAL", "text": "x"}).json()["ok"] is True
    resp = api("chat.postMessage", {"channel": "C0GENERAL", "text": "x"})
    assert resp.status_code == 429
    assert resp.json() == {"ok": False, "error": "ratelimited"}
    assert int(resp.headers["Retry-After"]) >= 1
    assert api("chat.postMessage", {"channel": "C0OPS", "text": "x"}).json()["ok"] is True


def test_limits_can_be_changed_and_disabled(api, control: SandboxClient):
    assert control.set_limits("slack", burst=2, per_second=0.25) == {
        "enabled": True,
        "burst": 2,
        "per_second": 0.25,
    }
    for _ in range(2):
        assert api("chat.postMessage", {"channel": "C0GENERAL", "text": "x"}).status_code == 200
    resp = api("chat.postMessage", {"channel": "C0GENERAL", "text": "x"})
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "4"
    control.set_limits("slack", enabled=False)
    for _ in range(30):
        assert api("chat.postMessage", {"channel": "C0GENERAL", "text": "x"}).status_code == 200
    with pytest.raises(SandboxError, match="400"):
        control.set_limits("slack", bogus=1)


# --- faults ------------------------------------------------------------------------------------------------


def test_rate_limited_fault_with_times(api, control: SandboxClient):
    fault_id = control.add_fault("slack", "rate_limited", times=2, retry_after=7)
    for _ in range(2):
        resp = api("chat.postMessage", {"channel": "C0GENERAL", "text": "x"})
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
        assert resp.json() == {"ok": False, "error": "ratelimited"}
    assert api("chat.postMessage", {"channel": "C0GENERAL", "text": "x"}).json()["ok"] is True
    log = control.requests("slack")
    assert [r["fault"] for r in log] == [fault_id, fault_id, None]
    assert [r["status"] for r in log] == [429, 429, 200]


@pytest.mark.parametrize(
    ("options", "status", "error"),
    [
        ({}, 503, "service_unavailable"),
        ({"status": 500}, 500, "internal_error"),
        ({"status": 502}, 502, "fatal_error"),
    ],
)
def test_server_error_fault(api, control: SandboxClient, options: dict, status: int, error: str):
    control.add_fault("slack", "server_error", times=1, **options)
    resp = api("chat.postMessage", {"channel": "C0GENERAL", "text": "x"})
    assert resp.status_code == status and resp.json() == {"ok": False, "error": error}


def test_auth_and_channel_faults_with_match(api, control: SandboxClient):
    control.add_fault("slack", "invalid_auth", match={"token": TOKEN})
    control.add_fault("slack", "channel_not_found", match={"channel": "C0ELSE"})
    assert error_of(api("auth.test")) == "invalid_auth"
    assert error_of(api("chat.postMessage", {"channel": "C0GENERAL", "text": "x"})) == "invalid_auth"
    assert error_of(api("chat.postMessage", {"channel": "C0ELSE", "text": "x"}, token=OTHER)) == "channel_not_found"
    assert api("chat.postMessage", {"channel": "U0EVE", "text": "x"}, token=OTHER).json()["ok"] is True
    control.clear_faults()
    assert api("auth.test").json()["ok"] is True


def test_timeout_fault(api, control: SandboxClient):
    control.add_fault("slack", "timeout", times=1, delay=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api("chat.postMessage", {"channel": "C0GENERAL", "text": "x"}, timeout=0.1)
    control.add_fault("slack", "timeout", times=1, delay=0.2)
    started = time.monotonic()
    assert api("chat.postMessage", {"channel": "C0GENERAL", "text": "late"}).json()["ok"] is True
    assert time.monotonic() - started >= 0.2
    control.add_fault("slack", "timeout", times=1, delay=0.05, drop=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        api("chat.postMessage", {"channel": "C0GENERAL", "text": "x"})


def test_fault_validation(control: SandboxClient):
    with pytest.raises(SandboxError, match="unknown fault kind"):
        control.add_fault("slack", "meltdown")
    with pytest.raises(SandboxError, match="unknown match key"):
        control.add_fault("slack", "invalid_auth", match={"space": "x"})
    with pytest.raises(SandboxError, match="unknown option"):
        control.add_fault("slack", "invalid_auth", delay=1)
    with pytest.raises(SandboxError, match="provider"):
        control.add_fault("telegram", "timeout")


# --- request log, reset, keep-alive -----------------------------------------------------------------------


def test_request_log(sandbox: Sandbox, api, control: SandboxClient, http: requests.Session):
    before = time.time()
    api("chat.postMessage", {"channel": "C0GENERAL", "text": "json"})
    api("chat.postMessage", data={"channel": "C0OPS", "text": "form"})
    url = control.add_google_chat_space("AAAA", "k", "t")
    http.post(url, json={"text": "gchat"}, timeout=5)
    first, second = control.requests("slack")
    assert first["provider"] == "slack" and first["method"] == "POST"
    assert first["path"] == "/slack/api/chat.postMessage" and first["query"] == {}
    assert first["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert first["body"] == {"channel": "C0GENERAL", "text": "json"}
    assert first["status"] == 200 and first["response"]["ok"] is True
    assert before <= first["at"] <= second["at"] <= time.time()
    assert second["body"] == {"channel": "C0OPS", "text": "form"}
    assert [r["provider"] for r in control.requests()] == ["slack", "slack", "google_chat"]
    control.clear_requests()
    assert control.requests() == []


def test_reset(api, control: SandboxClient):
    control.add_fault("slack", "server_error")
    control.set_limits("slack", burst=1)
    api("auth.test")
    control.reset()
    assert control.requests() == [] and control.faults() == []
    assert error_of(api("auth.test")) == "invalid_auth"
    control.add_slack_workspace(TOKEN, channels=["C0GENERAL"])
    for _ in range(3):  # default burst is back
        assert api("chat.postMessage", {"channel": "C0GENERAL", "text": "x"}).json()["ok"] is True


def test_keep_alive_session_is_fast(api, control: SandboxClient):
    control.set_limits("slack", enabled=False)
    api("auth.test")  # open the connection
    started = time.monotonic()
    for _ in range(50):
        assert api("chat.postMessage", {"channel": "C0GENERAL", "text": "x"}).status_code == 200
    # Without TCP_NODELAY every response stalls ~40 ms (2 s in total).
    assert time.monotonic() - started < 1.0


def test_a_message_with_only_legacy_attachments_is_accepted_like_slack_does(api):
    shown = api("chat.postMessage", {"channel": "C0GENERAL", "attachments": [{"fallback": "hi", "text": "hi"}]})
    assert shown.json()["ok"] is True
    assert error_of(api("chat.postMessage", {"channel": "C0GENERAL", "attachments": [{}]})) == "no_text"


# --- the hub's SlackSender against the fake -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "url"),
    [
        ("&<>" * 666 + "&&", "https://acme.workplace.example/a/1"),  # the contract's longest body, 10,000 escaped
        ("短い本文", "https://acme.workplace.example/a/1?q=" + "x" * 5000),  # too long for a button
        ("短い本文", "https://acme.workplace.example/a/1?q=" + "x" * 12_000),  # too long for any block
    ],
)
def test_sender_messages_at_block_kit_limits_are_accepted(sandbox: Sandbox, api, body: str, url: str):
    note = Notification("evt-1", "approval.requested", "題" * 200, body, url)
    with requests.Session() as session:
        slack = SlackSender(session, ProviderEndpoints(SLACK_API_BASE=f"{sandbox.url}/slack/api"), timeout=(1.0, 2.0))
        receipt = slack.send(note, Destination("taro", "U0ALICE"), {"bot_token": TOKEN})
    assert receipt.provider_message_id
