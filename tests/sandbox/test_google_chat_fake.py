"""Google Chat webhook fake: key/token auth, body and card rules, threads, rate limit, faults, log, reset."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from infra.sandbox import Sandbox, SandboxClient

SPACE = "AAAA1234"
KEY = "AIzaSy-sandbox-key"
TOKEN = "webhook-token-1"

KEY_INVALID = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "chat.googleapis.com"},
            }
        ],
    }
}
TOKEN_INVALID = {
    "error": {
        "code": 403,
        "message": "The API is called without a valid token. Instructions on how to use incoming webhooks "
        "can be found at https://developers.google.com/chat/how-tos/webhooks",
        "status": "PERMISSION_DENIED",
    }
}
NOT_FOUND = {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}


@pytest.fixture
def webhook(control: SandboxClient) -> str:
    control.add_google_chat_space("AAAAOTHER", "other-key", "other-token")
    return control.add_google_chat_space(SPACE, KEY, TOKEN)


@pytest.fixture
def send(sandbox: Sandbox, webhook: str, http: requests.Session):
    """`send(body, space=SPACE, key=KEY, token=TOKEN, params=None, **kwargs) -> Response`."""

    def send(
        body: Any = None,
        space: str = SPACE,
        key: str | None = KEY,
        token: str | None = TOKEN,
        params: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        query = {k: v for k, v in (("key", key), ("token", token)) if v is not None} | (params or {})
        kwargs.setdefault("timeout", 5)
        url = f"{sandbox.url}/google_chat/v1/spaces/{space}/messages"
        return http.post(url, params=query, json=body, **kwargs)

    return send


def invalid_argument(resp: requests.Response) -> str:
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    return error["message"]


def card(*widgets: dict[str, Any], card_id: str | None = "c1") -> dict[str, Any]:
    entry: dict[str, Any] = {"card": {"sections": [{"widgets": list(widgets)}]}}
    if card_id:
        entry["cardId"] = card_id
    return entry


def button(url: Any = "https://example.com/requests/12", text: str = "Open") -> dict[str, Any]:
    return {"buttonList": {"buttons": [{"text": text, "onClick": {"openLink": {"url": url}}}]}}


# --- webhook URL, auth -------------------------------------------------------------------------------------


def test_webhook_url_and_success_shape(sandbox: Sandbox, webhook: str, http: requests.Session):
    assert webhook == f"{sandbox.url}/google_chat/v1/spaces/{SPACE}/messages?key={KEY}&token={TOKEN}"
    resp = http.post(
        webhook,
        data=json.dumps({"text": "申請 #12 が承認されました", "fallbackText": "fb"}).encode(),
        headers={"Content-Type": "application/json; charset=UTF-8"},
        timeout=5,
    )
    assert resp.status_code == 200
    msg = resp.json()
    assert msg["name"].startswith(f"spaces/{SPACE}/messages/")
    assert msg["sender"]["type"] == "BOT" and msg["sender"]["name"].startswith("users/")
    assert msg["text"] == "申請 #12 が承認されました" and msg["fallbackText"] == "fb"
    assert msg["thread"]["name"].startswith(f"spaces/{SPACE}/threads/")
    assert msg["space"] == {"name": f"spaces/{SPACE}"}
    assert msg["createTime"].endswith("Z") and "T" in msg["createTime"]
    assert "cardsV2" not in msg


def test_auth_errors(send, control: SandboxClient):
    resp = send({"text": "x"}, space="AAAANOPE")
    assert resp.status_code == 404 and resp.json() == NOT_FOUND
    for key in ("wrong-key", None, "other-key"):
        resp = send({"text": "x"}, key=key)
        assert resp.status_code == 400 and resp.json() == KEY_INVALID
    for token in ("WRONG", None, "other-token"):
        resp = send({"text": "x"}, token=token)
        assert resp.status_code == 403 and resp.json() == TOKEN_INVALID
    # A second webhook in the same space gets its own token.
    control.add_google_chat_space(SPACE, KEY, "webhook-token-2")
    assert send({"text": "x"}, token="webhook-token-2").status_code == 200
    assert send({"text": "x"}).status_code == 200


# --- body rules ------------------------------------------------------------------------------------------


def test_content_type_and_json_rules(send):
    invalid_argument(send(data="text=hi", headers={"Content-Type": "application/x-www-form-urlencoded"}))
    invalid_argument(send(data=b'{"text": "hi"}', headers={"Content-Type": "text/plain"}))
    message = invalid_argument(send(data=b"{nope", headers={"Content-Type": "application/json"}))
    assert message.startswith("Invalid JSON payload received")
    assert invalid_argument(send(["text"])).startswith("Invalid JSON payload received")
    assert 'Unknown name "txt"' in invalid_argument(send({"txt": "typo"}))


def test_empty_and_size_rules(send):
    empty = "Message cannot be empty. Discarded message must contain text or cards."
    assert invalid_argument(send({})) == empty
    assert invalid_argument(send({"text": ""})) == empty
    assert invalid_argument(send({"thread": {"threadKey": "k"}})) == empty
    assert send({"text": "x" * 31_900}).status_code == 200
    invalid_argument(send({"text": "x" * 32_000}))  # over 32,000 bytes with the JSON wrapper
    invalid_argument(send({"text": "あ" * 11_000}))  # 33,000 bytes in UTF-8


def test_valid_cards_are_echoed(send):
    cards = [
        card(
            {"textParagraph": {"text": "<b>承認</b>"}},
            {"decoratedText": {"topLabel": "申請者", "text": "山田"}},
            {"divider": {}},
            {"image": {"imageUrl": "https://example.com/a.png"}},
            button(),
            card_id="c1",
        ),
        card({"divider": {}}, card_id="c2"),
    ]
    resp = send({"cardsV2": cards})
    assert resp.status_code == 200
    assert resp.json()["cardsV2"] == cards and resp.json()["text"] == ""
    assert send({"cardsV2": [card({"divider": {}}, card_id=None)]}).status_code == 200


@pytest.mark.parametrize(
    "cards",
    [
        {"cardId": "c1", "card": {}},  # not a list
        [{"cardId": "c1"}],  # no card
        [card({"divider": {}}, card_id=None), card({"divider": {}}, card_id="c2")],  # cardId missing
        [card({"divider": {}, "textParagraph": {"text": "two widgets"}})],
        [card({"carousel": {}})],
        [card({})],
        [card({"textParagraph": {}})],
        [card(button(url=None))],
        [card(button(url="ftp://example.com/x"))],
        [card(button(text=""))],
        [{"cardId": "c1", "card": {"sections": {"widgets": []}}}],
    ],
)
def test_invalid_cards(send, cards: Any):
    invalid_argument(send({"text": "t", "cardsV2": cards}))


def test_thread_key_limit(send):
    assert send({"text": "x", "thread": {"threadKey": "k" * 4000}}).status_code == 200
    invalid_argument(send({"text": "x", "thread": {"threadKey": "k" * 4001}}))


def test_threads_follow_message_reply_option(send):
    reply = {"messageReplyOption": "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD", "requestId": "r-1"}
    first = send({"text": "a", "thread": {"threadKey": "wp-12"}}, params=reply).json()
    second = send({"text": "b", "thread": {"threadKey": "wp-12"}}, params=reply).json()
    other = send({"text": "c", "thread": {"threadKey": "wp-13"}}, params=reply).json()
    assert first["thread"] == second["thread"] == {"name": first["thread"]["name"], "threadKey": "wp-12"}
    assert other["thread"]["name"] != first["thread"]["name"]
    assert first["name"] != second["name"]
    # Without messageReplyOption every message starts a new thread and threadKey is ignored.
    plain = [send({"text": "d", "thread": {"threadKey": "wp-12"}}).json()["thread"] for _ in range(2)]
    assert plain[0] != plain[1] and "threadKey" not in plain[0]
    invalid_argument(send({"text": "x"}, params={"messageReplyOption": "SOMETIMES"}))


# --- rate limit --------------------------------------------------------------------------------------------


def test_default_rate_limit_per_space(send):
    for _ in range(60):
        assert send({"text": "x"}).status_code == 200
    resp = send({"text": "x"})
    assert resp.status_code == 429
    assert resp.json() == {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
        }
    }
    assert send({"text": "x"}, space="AAAAOTHER", key="other-key", token="other-token").status_code == 200


def test_limits_can_be_changed_and_disabled(send, control: SandboxClient):
    control.set_limits("google_chat", burst=2)
    assert [send({"text": "x"}).status_code for _ in range(3)] == [200, 200, 429]
    control.set_limits("google_chat", enabled=False)
    assert all(send({"text": "x"}).status_code == 200 for _ in range(70))


# --- faults ------------------------------------------------------------------------------------------------


def test_rate_limited_fault(send, control: SandboxClient):
    control.add_fault("google_chat", "rate_limited", times=1, retry_after=5)
    control.add_fault("google_chat", "rate_limited", times=1)
    first, second, third = (send({"text": "x"}) for _ in range(3))
    assert first.status_code == second.status_code == 429
    assert first.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert first.headers["Retry-After"] == "5" and "Retry-After" not in second.headers
    assert third.status_code == 200


@pytest.mark.parametrize(("options", "status", "name"), [({}, 503, "UNAVAILABLE"), ({"status": 500}, 500, "INTERNAL")])
def test_server_error_fault(send, control: SandboxClient, options: dict, status: int, name: str):
    control.add_fault("google_chat", "server_error", times=2, **options)
    for _ in range(2):
        resp = send({"text": "x"})
        assert resp.status_code == status
        assert resp.json()["error"]["code"] == status and resp.json()["error"]["status"] == name
    assert send({"text": "x"}).status_code == 200


def test_auth_and_not_found_faults_with_match(send, control: SandboxClient):
    control.add_fault("google_chat", "invalid_auth", match={"token": TOKEN})
    control.add_fault("google_chat", "channel_not_found", match={"space": "AAAAOTHER"})
    resp = send({"text": "x"})
    assert resp.status_code == 403 and resp.json() == TOKEN_INVALID
    resp = send({"text": "x"}, space="AAAAOTHER", key="other-key", token="other-token")
    assert resp.status_code == 404 and resp.json() == NOT_FOUND
    control.clear_faults()
    assert send({"text": "x"}).status_code == 200


def test_timeout_fault(send, control: SandboxClient):
    control.add_fault("google_chat", "timeout", times=1, delay=0.5, match={"space": SPACE})
    with pytest.raises(requests.exceptions.ReadTimeout):
        send({"text": "x"}, timeout=0.1)
    control.add_fault("google_chat", "timeout", times=1, delay=0.2)
    started = time.monotonic()
    assert send({"text": "late"}).status_code == 200
    assert time.monotonic() - started >= 0.2
    control.add_fault("google_chat", "timeout", times=1, delay=0, drop=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        send({"text": "x"})


# --- client-assigned message ids ------------------------------------------------------------------------------


def test_a_message_id_names_the_message_and_a_second_create_with_it_is_refused(send):
    message_id = "client-" + "a1-" * 18 + "b2"
    first = send({"text": "one"}, params={"messageId": message_id})
    assert first.status_code == 200
    assert first.json()["name"] == f"spaces/{SPACE}/messages/{message_id}"
    repeat = send({"text": "one"}, params={"messageId": message_id})
    assert repeat.status_code == 409 and repeat.json()["error"]["status"] == "ALREADY_EXISTS"
    # Unique per space: another space may use the same id.
    other = send(
        {"text": "one"}, space="AAAAOTHER", key="other-key", token="other-token", params={"messageId": message_id}
    )
    assert other.status_code == 200


@pytest.mark.parametrize(
    "message_id", ["custom-name", "client-", "client-UPPER", "client-under_score", "client-" + "a" * 57]
)
def test_a_malformed_message_id_is_refused(send, message_id: str):
    assert "message ID" in invalid_argument(send({"text": "x"}, params={"messageId": message_id}))


def test_a_message_id_kept_by_a_timed_out_create_refuses_its_retry(send, control: SandboxClient):
    control.add_fault("google_chat", "timeout", times=1, delay=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        send({"text": "x"}, params={"messageId": "client-late"}, timeout=0.1)
    deadline = time.monotonic() + 10  # the fake creates the message once the delay is over
    while control.requests("google_chat")[-1]["status"] is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert control.requests("google_chat")[-1]["status"] == 200
    assert send({"text": "x"}, params={"messageId": "client-late"}).status_code == 409


# --- request log, reset ----------------------------------------------------------------------------------


def test_request_log(send, control: SandboxClient):
    fault_id = control.add_fault("google_chat", "server_error", times=1)
    send({"text": "one"}, params={"requestId": "abc"})
    send({"text": "two"})
    first, second = control.requests("google_chat")
    assert first["provider"] == "google_chat" and first["method"] == "POST"
    assert first["path"] == f"/google_chat/v1/spaces/{SPACE}/messages"
    assert first["query"] == {"key": KEY, "token": TOKEN, "requestId": "abc"}
    assert first["headers"]["Content-Type"] == "application/json"
    assert first["body"] == {"text": "one"}
    assert first["status"] == 503 and first["response"]["error"]["status"] == "UNAVAILABLE"
    assert first["fault"] == fault_id and second["fault"] is None
    assert second["status"] == 200 and second["response"]["text"] == "two"
    assert first["at"] <= second["at"]
    assert control.requests("slack") == []


def test_reset(send, control: SandboxClient):
    control.add_fault("google_chat", "server_error")
    control.set_limits("google_chat", burst=1)
    send({"text": "x"})
    control.reset()
    assert control.requests() == [] and control.faults() == []
    assert send({"text": "x"}).status_code == 404  # the space is gone
    control.add_google_chat_space(SPACE, KEY, TOKEN)
    assert [send({"text": "x"}).status_code for _ in range(3)] == [200, 200, 200]
