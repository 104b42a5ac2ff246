"""LINE fake: auth, body and Flex rules, retry keys (409), friends, quota, rate limits, faults, request log,
and the real LineSender against it end to end.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from infra.sandbox import Sandbox, SandboxClient, SandboxError
from infra.sandbox.line import LineFake
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import IntegrationCredentialsError, PermanentProviderError, RetryableProviderError
from workplace_hub.line.messaging import LineSender, build_message
from workplace_hub.providers.messenger import Destination, Notification, SendReceipt

TOKEN = "sandbox-channel-access-token-acme"
OTHER = "sandbox-channel-access-token-other"
BOT = {"userId": "U" + "b" * 32, "basicId": "@123abcde", "displayName": "ACME 勤怠"}
TARO = "U4af4980629abcdef0123456789abcdef"
HANAKO = "U0123456789abcdef0123456789abcdef"
STRANGER = "U" + "f" * 32  # well formed, not a friend of the channel
INVALID_TOKEN = {
    "message": "Authentication failed due to the following reason: invalid token. "
    "Confirm that the access token in the authorization header is valid."
}
RATE_LIMITED = {"message": "The API rate limit has been exceeded. Try again later."}
MONTHLY = {"message": "You have reached your monthly limit."}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(providers=[LineFake]) as sb:
        yield sb


@pytest.fixture
def api(sandbox: Sandbox, control: SandboxClient, http: requests.Session):
    """Registers two channels; returns `call(endpoint, body=None, token=TOKEN, key=None, **kwargs) -> Response`."""
    control.control("line", "channels", {"channel_access_token": TOKEN, "bot": BOT, "friends": [TARO, HANAKO]})
    control.control("line", "channels", {"channel_access_token": OTHER, "friends": [TARO]})

    def call(endpoint: str, body: Any = None, token: str | None = TOKEN, key: str | None = None, **kwargs: Any):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if key:
            headers["X-Line-Retry-Key"] = key
        kwargs.setdefault("timeout", 5)
        method = "GET" if endpoint == "info" else "POST"
        path = "v2/bot/info" if endpoint == "info" else f"v2/bot/message/{endpoint}"
        return http.request(method, f"{sandbox.url}/line/api/{path}", json=body, headers=headers, **kwargs)

    return call


def text(value: str = "休暇申請が承認されました") -> dict[str, Any]:
    return {"type": "text", "text": value}


def flex(**overrides: Any) -> dict[str, Any]:
    note = Notification("evt-1", "approval.requested", "決裁依頼", "本文", "https://acme.workplace.example/a/1")
    return {**build_message(note), **overrides}


def bubble(*footer: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "bubble", "footer": {"type": "box", "layout": "vertical", "contents": list(footer)}, **extra}


def button(label: Any = "開く", uri: str = "https://x.example/") -> dict[str, Any]:
    return {"type": "button", "action": {"type": "uri", "label": label, "uri": uri}}


def error_of(resp: requests.Response, status: int = 400) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["x-line-request-id"]
    return resp.json()


# --- sending ---------------------------------------------------------------------------------------------


def test_push_success_shape(api, control: SandboxClient):
    resp = api("push", {"to": TARO, "messages": [text(), flex()]})
    assert resp.status_code == 200
    sent = resp.json()["sentMessages"]
    assert [set(m) for m in sent] == [{"id", "quoteToken"}, {"id"}]  # flex messages cannot be quoted
    assert all(m["id"].isdigit() for m in sent) and sent[0]["id"] != sent[1]["id"]
    assert "_sandbox" not in resp.json()
    uuid.UUID(resp.headers["x-line-request-id"])
    (delivery,) = control.control("line", "deliveries", method="GET")["deliveries"]
    assert delivery["request_id"] == resp.headers["x-line-request-id"] and delivery["endpoint"] == "push"
    assert delivery["to"] == delivery["delivered_to"] == [TARO] and delivery["bot"] == BOT["userId"]
    assert delivery["sent_messages"] == sent and delivery["messages"][0] == text()


def test_multicast_delivers_only_to_friends(api, control: SandboxClient):
    resp = api("multicast", {"to": [TARO, STRANGER, HANAKO, TARO], "messages": [flex()]})
    assert resp.status_code == 200 and resp.json() == {} and resp.headers["x-line-request-id"]
    (delivery,) = control.control("line", "deliveries", method="GET")["deliveries"]
    assert delivery["to"] == [TARO, STRANGER, HANAKO]
    assert delivery["delivered_to"] == [TARO, HANAKO] and delivery["not_delivered"] == [STRANGER]
    (entry,) = control.requests("line")
    assert entry["response"]["_sandbox"]["delivered_to"] == [TARO, HANAKO]


def test_push_to_a_non_friend_is_accepted_but_not_delivered(api, control: SandboxClient):
    assert api("push", {"to": STRANGER, "messages": [text()]}).status_code == 200
    assert control.control("line", "friends", {"channel_access_token": TOKEN, "add": [STRANGER], "remove": [TARO]})[
        "friends"
    ] == sorted([HANAKO, STRANGER])
    assert api("push", {"to": STRANGER, "messages": [text()]}).status_code == 200
    assert api("push", {"to": TARO, "messages": [text()]}).status_code == 200  # blocked: accepted, not delivered
    deliveries = control.control("line", "deliveries", method="GET")["deliveries"]
    assert [d["delivered_to"] for d in deliveries] == [[], [STRANGER], []]


def test_push_also_takes_group_and_room_ids(api):
    for chat in ("C" + "1" * 32, "R" + "2" * 32):
        assert api("push", {"to": chat, "messages": [text()]}).status_code == 200
    assert error_of(api("multicast", {"to": ["C" + "1" * 32], "messages": [text()]}))["details"] == [
        {"message": "Must be a user ID", "property": "to[0]"}
    ]


# --- auth, routes, bot info -------------------------------------------------------------------------------


def test_auth_errors(api, control: SandboxClient):
    body = {"to": TARO, "messages": [text()]}
    assert error_of(api("push", body, token=None), 401)["message"].startswith("Authorization header required")
    assert error_of(api("push", body, token="wrong"), 401) == INVALID_TOKEN
    assert error_of(api("info", token="wrong"), 401) == INVALID_TOKEN
    control.control("line", "revoke", {"channel_access_token": TOKEN})
    assert error_of(api("push", body), 401) == INVALID_TOKEN
    assert api("push", body, token=OTHER).status_code == 200
    with pytest.raises(SandboxError, match="404"):
        control.control("line", "revoke", {"channel_access_token": "never-added"})


def test_bot_info(api, sandbox: Sandbox, http: requests.Session):
    resp = api("info")
    assert resp.status_code == 200 and resp.headers["x-line-request-id"]
    assert resp.json() == {**BOT, "chatMode": "bot", "markAsReadMode": "auto"}
    other = api("info", token=OTHER).json()
    assert other["userId"].startswith("U") and len(other["userId"]) == 33 and other["basicId"].startswith("@")
    assert error_of(api("info", key=str(uuid.uuid4())))["message"].startswith("The X-Line-Retry-Key header")
    url = f"{sandbox.url}/line/api/v2/bot/info"
    assert error_of(http.post(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5), 405)
    assert error_of(http.get(f"{sandbox.url}/line/api/v2/bot/message/reply", timeout=5), 404) == {
        "message": "Not found"
    }


# --- body rules ---------------------------------------------------------------------------------------------


def test_content_type_and_json(api):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    resp = api("push", data="to=x", headers={**auth, "Content-Type": "text/plain"}, token=None)
    assert error_of(resp, 415) == {"message": "The content type, text/plain, is not supported"}
    resp = api("push", data='{"to": ', headers={**auth, "Content-Type": "application/json"}, token=None)
    assert error_of(resp)["message"].startswith("The request body could not be parsed as JSON (line: 1, column:")
    assert error_of(api("push", [TARO]))["message"].startswith("The request body could not be parsed as JSON")


def test_to_rules(api):
    assert error_of(api("push", {"messages": [text()]}))["details"] == [
        {"message": "Must not be null", "property": "to"}
    ]
    assert error_of(api("push", {"to": "U123", "messages": [text()]}))["details"][0]["property"] == "to"
    assert error_of(api("push", {"to": [TARO], "messages": [text()]}))["details"][0]["property"] == "to"
    size = {
        "message": "The request body has 1 error(s)",
        "details": [{"message": "Size must be between 1 and 500", "property": "to"}],
    }
    assert error_of(api("multicast", {"to": [TARO] * 501, "messages": [text()]})) == size
    assert error_of(api("multicast", {"to": [], "messages": [text()]})) == size
    assert error_of(api("multicast", {"to": TARO, "messages": [text()]})) == size
    bad = error_of(api("multicast", {"to": [TARO, "bob", HANAKO.upper()], "messages": [text()]}))
    assert bad["message"] == "The request body has 2 error(s)"
    assert [d["property"] for d in bad["details"]] == ["to[1]", "to[2]"]
    ids = [f"U{i:032x}" for i in range(500)]
    assert api("multicast", {"to": ids, "messages": [text()]}).status_code == 200


def test_message_rules(api):
    def details(*messages: Any, **extra: Any) -> list[dict[str, str]]:
        return error_of(api("push", {"to": TARO, "messages": list(messages), **extra}))["details"]

    size = [{"message": "Size must be between 1 and 5", "property": "messages"}]
    assert details() == size and details(*[text()] * 6) == size
    assert api("push", {"to": TARO, "messages": [text()] * 5}).status_code == 200
    assert details(text("")) == [{"message": "May not be empty", "property": "messages[0].text"}]
    assert details({"type": "carrier-pigeon"}) == [{"message": "Invalid message type", "property": "messages[0].type"}]
    # 5,000 UTF-16 code units: an emoji counts 2.
    assert api("push", {"to": TARO, "messages": [text("🍎" * 2500)]}).status_code == 200
    assert details(text("🍎" * 2500 + "a")) == [
        {"message": "Length must be between 0 and 5000", "property": "messages[0].text"}
    ]
    assert details(text(), notificationDisabled="yes")[0]["property"] == "notificationDisabled"
    assert api("push", {"to": TARO, "messages": [{"type": "sticker", "packageId": "1", "stickerId": "1"}]}).ok


def test_the_hub_message_is_valid_at_the_limits(api):
    note = Notification("e", "i", "件" * 1000, "🍎" * 20_000, "https://x.example/" + "a" * 982, "ko")
    assert api("push", {"to": TARO, "messages": [build_message(note)]}).status_code == 200


@pytest.mark.parametrize(
    ("message", "prop"),
    [
        (flex(altText=""), "messages[0].altText"),
        (flex(altText="🍎" * 200 + "a"), "messages[0].altText"),  # 401 UTF-16 units
        (flex(contents={"type": "text", "text": "x"}), "messages[0].contents.type"),
        (flex(contents=bubble({"type": "box", "contents": []})), "messages[0].contents.footer.contents[0].layout"),
        (flex(contents=bubble({"type": "text", "text": ""})), "messages[0].contents.footer.contents[0].text"),
        (flex(contents=bubble({"type": "button"})), "messages[0].contents.footer.contents[0].action.type"),
        (flex(contents=bubble(button(label=None))), "messages[0].contents.footer.contents[0].action.label"),
        (flex(contents=bubble(button(label="x" * 21))), "messages[0].contents.footer.contents[0].action.label"),
        (flex(contents=bubble(button(uri="ftp://x.example/"))), "messages[0].contents.footer.contents[0].action.uri"),
        (
            flex(contents=bubble(button(uri="https://" + "a" * 993))),
            "messages[0].contents.footer.contents[0].action.uri",
        ),
        (flex(contents=bubble(button(), body={"type": "text", "text": "x"})), "messages[0].contents.body"),
        (
            flex(contents=bubble({"type": "image", "url": "http://x.example/a.png"})),
            "messages[0].contents.footer.contents[0].url",
        ),
        (flex(contents=bubble({"type": "text", "text": "あ" * 5200})), "messages[0].contents"),  # > 30 KB escaped
        (flex(contents={"type": "carousel", "contents": []}), "messages[0].contents.contents"),
        (flex(contents={"type": "carousel", "contents": [bubble(button())] * 13}), "messages[0].contents.contents"),
    ],
)
def test_invalid_flex(api, message: dict[str, Any], prop: str):
    body = error_of(api("push", {"to": TARO, "messages": [message]}))
    assert prop in [d["property"] for d in body["details"]], body


def test_valid_flex_variants(api):
    alt = "🍎" * 200  # exactly 400 units
    for uri in ("https://x.example/", "http://x.example/", "line://ti/p/@abc", "tel:+81312345678"):
        message = flex(altText=alt, contents=bubble(button(label="x" * 20, uri=uri)))
        assert api("push", {"to": TARO, "messages": [message]}).status_code == 200, uri
    carousel = {"type": "carousel", "contents": [bubble(button())] * 12}
    assert api("push", {"to": TARO, "messages": [flex(contents=carousel)]}).status_code == 200


# --- retry keys ---------------------------------------------------------------------------------------------


def test_retry_key_must_be_a_uuid(api, control: SandboxClient):
    body = {"to": TARO, "messages": [text()]}
    assert error_of(api("push", body, key="not-a-uuid"))["message"].startswith("The value of the X-Line-Retry-Key")
    assert control.control("line", "deliveries", method="GET")["deliveries"] == []


def test_retry_key_already_accepted_answers_409(api, control: SandboxClient):
    key = str(uuid.uuid4())
    body = {"to": TARO, "messages": [text()]}
    first = api("push", body, key=key)
    again = api("push", body, key=key.upper())
    assert first.status_code == 200 and again.status_code == 409
    assert again.json() == {
        "message": "The retry key is already accepted",
        "sentMessages": first.json()["sentMessages"],
    }
    assert again.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert again.headers["x-line-request-id"] != first.headers["x-line-request-id"]
    multicast_key = str(uuid.uuid4())
    assert api("multicast", {"to": [TARO, HANAKO], "messages": [text()]}, key=multicast_key).status_code == 200
    again = api("multicast", {"to": [TARO, HANAKO], "messages": [text()]}, key=multicast_key)
    assert again.status_code == 409 and again.json() == {"message": "The retry key is already accepted"}
    assert len(control.control("line", "deliveries", method="GET")["deliveries"]) == 2  # executed once each
    assert api("push", body, key=key, token=OTHER).status_code == 200  # keys are per channel


def test_refused_requests_do_not_use_the_key_and_keys_expire_after_24_hours(api, control: SandboxClient):
    key = str(uuid.uuid4())
    assert api("push", {"to": TARO, "messages": []}, key=key).status_code == 400
    assert api("push", {"to": TARO, "messages": [text()]}, key=key).status_code == 200
    control.control("line", "advance", {"seconds": 24 * 3600 - 60})
    assert api("push", {"to": TARO, "messages": [text()]}, key=key).status_code == 409
    control.control("line", "advance", {"seconds": 61})
    assert api("push", {"to": TARO, "messages": [text()]}, key=key).status_code == 200


# --- quota and rate limits ----------------------------------------------------------------------------------


def test_monthly_quota(api, control: SandboxClient):
    assert control.control("line", "quota", {"channel_access_token": TOKEN, "remaining": 2}) == {"remaining": 2}
    assert api("push", {"to": STRANGER, "messages": [text()]}).status_code == 200  # not delivered: not counted
    assert api("multicast", {"to": [TARO, HANAKO, TARO], "messages": [text()]}).json() == {}  # uses the 2
    assert error_of(api("push", {"to": TARO, "messages": [text()]}), 429) == MONTHLY
    assert error_of(api("push", {"to": STRANGER, "messages": [text()]}), 429) == MONTHLY  # nothing left at all
    assert api("push", {"to": TARO, "messages": [text()]}, token=OTHER).status_code == 200
    control.control("line", "quota", {"channel_access_token": TOKEN, "remaining": 1})
    assert error_of(api("multicast", {"to": [TARO, HANAKO], "messages": [text()]}), 429) == MONTHLY
    control.control("line", "quota", {"channel_access_token": TOKEN, "remaining": None})
    assert api("push", {"to": TARO, "messages": [text()]}).status_code == 200


def test_default_limits_and_multicast_rate_limit(api, control: SandboxClient):
    assert control.set_limits("line") == {
        "push": {"enabled": True, "burst": 2000, "per_second": 2000},
        "multicast": {"enabled": True, "burst": 200, "per_second": 200},
    }
    control.set_limits("line", endpoint="multicast", burst=2, per_second=0.25)
    body = {"to": [TARO, HANAKO], "messages": [text()]}
    assert [api("multicast", body).status_code for _ in range(2)] == [200, 200]
    resp = api("multicast", body)
    assert error_of(resp, 429) == RATE_LIMITED and "Retry-After" not in resp.headers
    assert api("multicast", body, token=OTHER).status_code == 200  # per channel
    assert api("push", {"to": TARO, "messages": [text()]}).status_code == 200  # per endpoint
    key = str(uuid.uuid4())
    control.set_limits("line", endpoint="push", burst=1, per_second=0.25)
    assert api("push", {"to": TARO, "messages": [text()]}, key=key).status_code == 200
    assert api("push", {"to": TARO, "messages": [text()]}, key=key).status_code == 429  # retries count
    assert api("info").status_code == 200  # bot info has its own bucket
    control.set_limits("line", enabled=False)
    assert all(api("multicast", body).ok for _ in range(5))
    with pytest.raises(SandboxError, match="endpoint"):
        control.set_limits("line", endpoint="narrowcast")


# --- faults ----------------------------------------------------------------------------------------------------


def test_rate_limited_and_server_error_faults(api, control: SandboxClient):
    body = {"to": TARO, "messages": [text()]}
    fault = control.add_fault("line", "rate_limited", times=1, retry_after=3, match={"endpoint": "push"})
    resp = api("push", body)
    assert error_of(resp, 429) == RATE_LIMITED and resp.headers["Retry-After"] == "3"
    control.add_fault("line", "rate_limited", times=1)
    assert "Retry-After" not in api("push", body).headers
    control.add_fault("line", "server_error", times=1)
    assert error_of(api("push", body), 503) == {"message": "Service Unavailable"}
    control.add_fault("line", "server_error", times=1, status=500)
    assert error_of(api("multicast", {"to": [TARO], "messages": [text()]}), 500) == {"message": "Internal Server Error"}
    assert api("push", body).status_code == 200
    assert [r["fault"] for r in control.requests("line")] == [fault, "f2", "f3", "f4", None]


def test_invalid_auth_fault_with_match(api, control: SandboxClient):
    control.add_fault("line", "invalid_auth", match={"token": TOKEN, "to": HANAKO})
    assert error_of(api("push", {"to": HANAKO, "messages": [text()]}), 401) == INVALID_TOKEN
    assert api("push", {"to": TARO, "messages": [text()]}).status_code == 200
    assert api("push", {"to": HANAKO, "messages": [text()]}, token=OTHER).status_code == 200
    with pytest.raises(SandboxError, match="unknown fault kind"):
        control.add_fault("line", "channel_not_found")
    with pytest.raises(SandboxError, match="unknown match key"):
        control.add_fault("line", "invalid_auth", match={"space": "x"})


def test_monthly_limit_fault_response():
    response = LineFake().fault_response("monthly_limit", {})
    assert response.status == 429 and response.payload == MONTHLY and response.headers["x-line-request-id"]


def test_monthly_limit_fault(api, control: SandboxClient):
    control.add_fault("line", "monthly_limit", times=1)
    assert error_of(api("push", {"to": TARO, "messages": [text()]}), 429) == MONTHLY


def test_timeout_fault_still_sends_so_a_retry_gets_409(api, control: SandboxClient):
    key, body = str(uuid.uuid4()), {"to": TARO, "messages": [text()]}
    control.add_fault("line", "timeout", times=1, delay=0.3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api("push", body, key=key, timeout=0.1)
    time.sleep(0.4)
    assert api("push", body, key=key).status_code == 409


# --- request log, control validation, reset -------------------------------------------------------------------


def test_request_log(api, control: SandboxClient):
    key = str(uuid.uuid4())
    api("push", {"to": TARO, "messages": [text()]}, key=key)
    api("info")
    push, info = control.requests("line")
    assert push["path"] == "/line/api/v2/bot/message/push" and push["method"] == "POST"
    assert push["headers"]["X-Line-Retry-Key"] == key and push["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert push["body"] == {"to": TARO, "messages": [text()]} and push["status"] == 200
    assert push["response"]["_sandbox"]["delivered_to"] == [TARO] and push["response"]["sentMessages"]
    assert info["path"] == "/line/api/v2/bot/info" and info["response"]["displayName"] == BOT["displayName"]


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("channels", {}),
        ("channels", {"channel_access_token": "t", "bot": {"userId": "bob"}}),
        ("channels", {"channel_access_token": "t", "friends": ["bob"]}),
        ("channels", {"channel_access_token": "t", "quota": -1}),
        ("friends", {"channel_access_token": TOKEN, "add": "U" + "1" * 32}),
        ("quota", {"channel_access_token": TOKEN, "remaining": "lots"}),
        ("quota", {"channel_access_token": "unknown", "remaining": 1}),
        ("advance", {"seconds": -1}),
        ("nothing", {}),
    ],
)
def test_control_validation(api, control: SandboxClient, action: str, payload: dict[str, Any]):
    with pytest.raises(SandboxError):
        control.control("line", action, payload)


def test_reset(api, control: SandboxClient):
    control.control("line", "advance", {"seconds": 10})
    api("push", {"to": TARO, "messages": [text()]})
    control.set_limits("line", burst=1)
    control.reset()
    assert control.requests() == [] and control.control("line", "deliveries", method="GET") == {"deliveries": []}
    assert error_of(api("info"), 401) == INVALID_TOKEN
    control.control("line", "channels", {"channel_access_token": TOKEN, "friends": [TARO]})
    assert all(api("push", {"to": TARO, "messages": [text()]}).ok for _ in range(3))


# --- the hub's LineSender against the fake ------------------------------------------------------------------


CREDENTIALS = {
    "channel_access_token": TOKEN,
    "channel_secret": "0123456789abcdef0123456789abcdef",
    "login_channel_id": "1234567890",
    "login_channel_secret": "fedcba9876543210fedcba9876543210",
    "friend_link_url": "https://lin.ee/AbCdEfG",
}
NOTE = Notification(
    "evt-42", "approval.requested", "決裁依頼: 出張申請", "鈴木さんから 🍎", "https://acme.workplace.example/a/42"
)


@pytest.fixture
def line(sandbox: Sandbox, api) -> Iterator[LineSender]:
    with requests.Session() as session:
        yield LineSender(session, ProviderEndpoints(LINE_API_BASE=f"{sandbox.url}/line/api"), timeout=(1.0, 2.0))


def test_sender_push_and_multicast(line: LineSender, control: SandboxClient):
    key = str(uuid.uuid4())
    pushed = line.send_batch(NOTE, [Destination("taro", TARO)], CREDENTIALS, idempotency_key=key)
    first = control.control("line", "deliveries", method="GET")["deliveries"][0]
    assert pushed == {"taro": SendReceipt(first["sent_messages"][0]["id"])}
    assert first["endpoint"] == "push" and first["delivered_to"] == [TARO] and first["retry_key"] == key
    destinations = [Destination("taro", TARO), Destination("hanako", HANAKO), Destination("eve", STRANGER)]
    outcomes = line.send_batch(NOTE, destinations, CREDENTIALS, idempotency_key=str(uuid.uuid4()))
    second = control.control("line", "deliveries", method="GET")["deliveries"][1]
    assert outcomes == {name: SendReceipt(second["request_id"]) for name in ("taro", "hanako", "eve")}
    assert second["endpoint"] == "multicast" and second["not_delivered"] == [STRANGER]
    assert line.send(NOTE, Destination("hanako", HANAKO), CREDENTIALS).provider_message_id.isdigit()


def test_sender_repeated_key_is_success_via_409(line: LineSender, control: SandboxClient):
    key = str(uuid.uuid4())
    destinations = [Destination("taro", TARO), Destination("hanako", HANAKO)]
    first = line.send_batch(NOTE, destinations, CREDENTIALS, idempotency_key=key)
    again = line.send_batch(NOTE, destinations, CREDENTIALS, idempotency_key=key)
    assert first == again  # the accepted request id is the original request id
    assert [r["status"] for r in control.requests("line")] == [200, 409]
    taro, push_key = [Destination("taro", TARO)], str(uuid.uuid4())
    push_first = line.send_batch(NOTE, taro, CREDENTIALS, idempotency_key=push_key)
    push_again = line.send_batch(NOTE, taro, CREDENTIALS, idempotency_key=push_key)
    assert push_first == push_again  # 409 carries the original sentMessages
    assert len(control.control("line", "deliveries", method="GET")["deliveries"]) == 2


def test_sender_timeout_then_retry_with_the_same_key(sandbox: Sandbox, api, control: SandboxClient):
    control.add_fault("line", "timeout", times=1, delay=0.3)
    with requests.Session() as session:
        line = LineSender(session, ProviderEndpoints(LINE_API_BASE=f"{sandbox.url}/line/api"), timeout=(1.0, 0.1))
        key = str(uuid.uuid4())
        (outcome,) = line.send_batch(NOTE, [Destination("taro", TARO)], CREDENTIALS, idempotency_key=key).values()
        assert isinstance(outcome, RetryableProviderError) and outcome.code == "timeout"
        time.sleep(0.4)  # the fake sent it anyway
        (outcome,) = line.send_batch(NOTE, [Destination("taro", TARO)], CREDENTIALS, idempotency_key=key).values()
        delivery = control.control("line", "deliveries", method="GET")["deliveries"]
        assert len(delivery) == 1 and outcome == SendReceipt(delivery[0]["sent_messages"][0]["id"])


def test_sender_error_outcomes(line: LineSender, control: SandboxClient):
    destinations = [Destination("taro", TARO)]

    def outcome() -> Any:
        return line.send_batch(NOTE, destinations, CREDENTIALS, idempotency_key=str(uuid.uuid4()))["taro"]

    control.add_fault("line", "rate_limited", times=1, retry_after=2)
    error = outcome()
    assert isinstance(error, RetryableProviderError) and error.retry_after == 2.0
    control.add_fault("line", "server_error", times=1)
    assert isinstance(outcome(), RetryableProviderError)
    control.control("line", "quota", {"channel_access_token": TOKEN, "remaining": 0})
    error = outcome()
    assert isinstance(error, PermanentProviderError) and error.reason == "line_monthly_limit"
    control.control("line", "revoke", {"channel_access_token": TOKEN})
    assert isinstance(outcome(), IntegrationCredentialsError)


def test_sender_verify(line: LineSender, control: SandboxClient):
    assert line.verify(CREDENTIALS) == "LINE Official Account ACME 勤怠 (@123abcde)"
    with pytest.raises(IntegrationCredentialsError) as info:
        line.verify({**CREDENTIALS, "channel_access_token": "wrong"})
    assert info.value.code == "http_401"
    with pytest.raises(PermanentProviderError, match="invalid_login_channel"):
        line.verify({**CREDENTIALS, "login_channel_id": "12345"})
    assert len(control.requests("line")) == 2  # the malformed settings never reached LINE
