"""LINE sender: Flex builder and limits, push vs multicast calls, response mapping, batches, verify (no network)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.unit.builders import destination, http_response, notification
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
)
from workplace_hub.line.messaging import (
    ALT_TEXT_MAX,
    BODY_MAX,
    RETRY_KEY_NAMESPACE,
    TITLE_MAX,
    LineSender,
    build_message,
    build_send,
    parse_send_response,
    retry_key,
    truncate_utf16,
    utf16_len,
)
from workplace_hub.providers.messenger import SendReceipt

TOKEN = "LINEsecretCHANNELaccessTOKEN0123456789/abc="
CREDENTIALS = {
    "channel_access_token": TOKEN,
    "channel_secret": "0123456789abcdef0123456789abcdef",
    "login_channel_id": "1234567890",
    "login_channel_secret": "fedcba9876543210fedcba9876543210",
    "friend_link_url": "https://lin.ee/AbCdEfG",
}
TARO_LINE = "U4af4980629abcdef0123456789abcdef"
HANAKO_LINE = "U0123456789abcdef0123456789abcdef"
KEY = "6f9619ff-8b86-d011-b42d-00cf4fc964ff"
API = "https://api.line.me"


@dataclass
class FakeSession:
    """Stands in for requests.Session: answers with `responses` in turn (the last one repeats)."""

    responses: list[Any]
    calls: list[dict[str, Any]] = field(default_factory=list)

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.calls.append({"method": method, "url": url, **kwargs})
        answer = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def sender(*responses: Any, endpoints: ProviderEndpoints | None = None) -> tuple[LineSender, FakeSession]:
    session = FakeSession(list(responses) or [push_ok()])
    return LineSender(session, endpoints or ProviderEndpoints(), timeout=(1.0, 2.0)), session  # type: ignore[arg-type]


def push_ok(message_id: str = "461230966842064897") -> requests.Response:
    return http_response(
        200,
        {"sentMessages": [{"id": message_id}]},
        headers={"x-line-request-id": "11111111-aaaa-bbbb-cccc-000000000001"},
    )


def multicast_ok(request_id: str = "22222222-aaaa-bbbb-cccc-000000000002") -> requests.Response:
    return http_response(200, {}, headers={"x-line-request-id": request_id})


# --- the Flex message ------------------------------------------------------------------------------------


def test_build_message_shape():
    note = notification()
    assert build_message(note) == {
        "type": "flex",
        "altText": f"{note.title}\n{note.body}",
        "contents": {
            "type": "bubble",
            "header": {
                "type": "box",
                "layout": "vertical",
                "contents": [{"type": "text", "text": note.title, "weight": "bold", "size": "md", "wrap": True}],
            },
            "body": {
                "type": "box",
                "layout": "vertical",
                "contents": [{"type": "text", "text": note.body, "size": "sm", "wrap": True}],
            },
            "footer": {
                "type": "box",
                "layout": "vertical",
                "contents": [
                    {
                        "type": "button",
                        "style": "primary",
                        "height": "sm",
                        "action": {"type": "uri", "label": "WORKPLACEで開く", "uri": note.url},
                    }
                ],
            },
        },
    }


@pytest.mark.parametrize(
    ("locale", "label"),
    [("ja", "WORKPLACEで開く"), ("ko", "WORKPLACE에서 열기"), ("en", "Open in WORKPLACE"), ("fr", "WORKPLACEで開く")],
)
def test_button_label_per_locale(locale: str, label: str):
    action = build_message(notification(locale=locale))["contents"]["footer"]["contents"][0]["action"]
    assert action["label"] == label and len(label) <= 20


def test_without_body_there_is_no_body_block():
    message = build_message(notification(body=""))
    assert "body" not in message["contents"]
    assert message["altText"] == notification().title


def test_utf16_counting():
    assert utf16_len("🍎") == 2 and utf16_len("あa") == 2 and utf16_len("") == 0
    assert truncate_utf16("ab", 2) == "ab"
    assert truncate_utf16("abc", 2) == "a…"
    assert truncate_utf16("🍎🍎🍎", 4) == "🍎…"  # 2 + 1 units; a second apple would need 5
    assert truncate_utf16("a🍎", 2) == "a…"  # never half a surrogate pair
    assert truncate_utf16("🍎🍎", 4) == "🍎🍎"


def test_alt_text_is_title_and_start_of_body_within_400_units():
    message = build_message(notification(title="休暇申請", body="🍎" * 300))
    alt = message["altText"]
    assert utf16_len(alt) <= ALT_TEXT_MAX and alt.startswith("休暇申請\n🍎") and alt.endswith("…")
    alt.encode("utf-8")  # no lone surrogate
    exact = "🍎" * ((ALT_TEXT_MAX - 3) // 2)  # "件名\n" is 3 units
    assert build_message(notification(title="件名", body=exact))["altText"] == f"件名\n{exact}"


def test_long_body_and_title_are_truncated_counting_utf16():
    fits = "🍎" * (BODY_MAX // 2)
    body = build_message(notification(body=fits))["contents"]["body"]["contents"][0]["text"]
    assert body == fits
    body = build_message(notification(body=fits + "a"))["contents"]["body"]["contents"][0]["text"]
    assert body == "🍎" * (BODY_MAX // 2 - 1) + "…" and utf16_len(body) == BODY_MAX - 1
    body = build_message(notification(body="あ" * 10_000))["contents"]["body"]["contents"][0]["text"]
    assert utf16_len(body) == BODY_MAX and body.endswith("あ…")
    title = build_message(notification(title="件" * 500))["contents"]["header"]["contents"][0]["text"]
    assert utf16_len(title) == TITLE_MAX and title.endswith("…")


def test_worst_case_bubble_stays_under_30_kb_even_escaped():
    note = notification(title="件" * 1000, body="あ" * 100_000, url="https://x.example/" + "a" * 982)
    bubble = build_message(note)["contents"]
    assert len(json.dumps(bubble, separators=(",", ":")).encode()) <= 30 * 1024


@pytest.mark.parametrize("url", ["", "javascript:alert(1)", "ftp://x.example/a", "https://x.example/" + "a" * 983])
def test_bad_url_is_refused(url: str):
    with pytest.raises(PermanentProviderError) as info:
        build_message(notification(url=url))
    assert info.value.code == "invalid_url"


# --- requests --------------------------------------------------------------------------------------------


def test_one_recipient_is_a_push():
    call = build_send(API + "/", TOKEN, [TARO_LINE], [{"type": "text", "text": "x"}], KEY)
    assert call.method == "POST" and call.url == "https://api.line.me/v2/bot/message/push"
    assert call.headers == {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/json",
        "X-Line-Retry-Key": KEY,
    }
    assert call.json == {"to": TARO_LINE, "messages": [{"type": "text", "text": "x"}]}
    assert TOKEN not in repr(call)


def test_several_recipients_are_a_multicast():
    call = build_send("http://127.0.0.1:9/line/api", TOKEN, [TARO_LINE, HANAKO_LINE], [{"type": "text"}], KEY)
    assert call.url == "http://127.0.0.1:9/line/api/v2/bot/message/multicast"
    assert call.json == {"to": [TARO_LINE, HANAKO_LINE], "messages": [{"type": "text"}]}
    assert call.headers["X-Line-Retry-Key"] == KEY
    for count in (0, 501):
        with pytest.raises(ValueError, match="recipients"):
            build_send(API, TOKEN, [TARO_LINE] * count, [], KEY)


def test_retry_key():
    assert retry_key(KEY.upper()) == KEY
    assert retry_key("not-a-uuid") == str(uuid.uuid5(RETRY_KEY_NAMESPACE, "not-a-uuid")) == retry_key("not-a-uuid")
    parts = {retry_key(KEY, i) for i in range(3)}
    assert len(parts) == 3 and KEY not in parts and all(uuid.UUID(p) for p in parts)


def test_build_request_uses_endpoint_and_a_stable_retry_key():
    line, _ = sender(endpoints=ProviderEndpoints(LINE_API_BASE="http://127.0.0.1:1/line/api"))
    first = line.build_request(notification(), destination(TARO_LINE), CREDENTIALS)
    again = line.build_request(notification(), destination(TARO_LINE), CREDENTIALS)
    other = line.build_request(notification(), destination(HANAKO_LINE, user_id="hanako"), CREDENTIALS)
    assert first.url == "http://127.0.0.1:1/line/api/v2/bot/message/push"
    assert first.json == {"to": TARO_LINE, "messages": [build_message(notification())]}
    assert first.headers["X-Line-Retry-Key"] == again.headers["X-Line-Retry-Key"] != other.headers["X-Line-Retry-Key"]
    uuid.UUID(first.headers["X-Line-Retry-Key"])
    with pytest.raises(NeedsRelinkError):
        line.build_request(notification(), destination("U024BE7LH"), CREDENTIALS)
    with pytest.raises(IntegrationCredentialsError):
        line.build_request(notification(), destination(TARO_LINE), {"channel_access_token": " "})


# --- responses -------------------------------------------------------------------------------------------


def test_success_receipts():
    assert parse_send_response(push_ok("4612")) == SendReceipt("4612")
    assert parse_send_response(multicast_ok("req-1")) == SendReceipt("req-1")
    assert parse_send_response(http_response(200, text="", headers={"x-line-request-id": "r"})) == SendReceipt("r")


def test_409_already_accepted_is_success():
    headers = {"x-line-request-id": "new", "x-line-accepted-request-id": "original"}
    body = {"message": "The retry key is already accepted", "sentMessages": [{"id": "4612", "quoteToken": "q"}]}
    assert parse_send_response(http_response(409, body, headers=headers)) == SendReceipt("4612")
    multicast = http_response(409, {"message": "The retry key is already accepted"}, headers=headers)
    assert parse_send_response(multicast) == SendReceipt("original")
    with pytest.raises(PermanentProviderError) as info:
        parse_send_response(http_response(409, {"message": "Conflict"}, headers={"x-line-request-id": "new"}))
    assert info.value.code == "http_409"


def test_rate_limit_is_retryable_and_honours_retry_after():
    body = {"message": "The API rate limit has been exceeded. Try again later."}
    with pytest.raises(RetryableProviderError) as info:
        parse_send_response(http_response(429, body, headers={"Retry-After": "7"}))
    assert (info.value.code, info.value.status_code, info.value.retry_after) == ("rate_limited", 429, 7.0)
    with pytest.raises(RetryableProviderError) as info:
        parse_send_response(http_response(429, body))
    assert info.value.retry_after is None


def test_monthly_limit_is_permanent():
    with pytest.raises(PermanentProviderError) as info:
        parse_send_response(http_response(429, {"message": "You have reached your monthly limit."}))
    error = info.value
    assert not isinstance(error, RetryableProviderError) and not error.retryable
    assert (error.code, error.reason, error.status_code) == ("monthly_limit", "line_monthly_limit", 429)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retryable(status: int):
    with pytest.raises(RetryableProviderError) as info:
        parse_send_response(http_response(status, text="<html>bad gateway</html>"))
    assert info.value.code == f"http_{status}"


def test_401_means_the_channel_access_token_is_bad():
    body = {"message": "Authentication failed due to the following reason: invalid token."}
    with pytest.raises(IntegrationCredentialsError) as info:
        parse_send_response(http_response(401, body))
    assert info.value.code == "http_401" and "invalid token" in info.value.detail


def test_400_details_are_summarised():
    body = {
        "message": "The request body has 2 error(s)",
        "details": [
            {"message": "Size must be between 1 and 500", "property": "to"},
            {"message": "May not be empty", "property": "messages[0].text"},
        ],
    }
    with pytest.raises(PermanentProviderError) as info:
        parse_send_response(http_response(400, body))
    error = info.value
    assert type(error) is PermanentProviderError and error.code == "http_400"
    assert error.detail == (
        "The request body has 2 error(s); to: Size must be between 1 and 500; messages[0].text: May not be empty"
    )
    long = {"message": "x", "details": [{"message": "m" * 100, "property": "p"}] * 10}
    with pytest.raises(PermanentProviderError) as info:
        parse_send_response(http_response(400, long))
    assert len(info.value.detail) <= 300


@pytest.mark.parametrize("status", [403, 404, 413, 415])
def test_other_4xx_are_permanent(status: int):
    body = {"message": "Access to this API is not available for your account"}
    with pytest.raises(PermanentProviderError) as info:
        parse_send_response(http_response(status, body))
    error = info.value
    assert type(error) is PermanentProviderError and error.code == f"http_{status}" and error.status_code == status
    assert error.detail == body["message"]


# --- send_batch / send with a fake session ----------------------------------------------------------------


def test_send_batch_single_destination_pushes():
    line, session = sender(push_ok("4612"))
    outcomes = line.send_batch(notification(), [destination(TARO_LINE)], CREDENTIALS, idempotency_key=KEY)
    assert outcomes == {"taro.yamada@acme.example": SendReceipt("4612")}
    (call,) = session.calls
    assert call["method"] == "POST" and call["url"] == f"{API}/v2/bot/message/push"
    assert call["headers"]["X-Line-Retry-Key"] == KEY and call["timeout"] == (1.0, 2.0)
    assert call["json"]["to"] == TARO_LINE


def test_send_batch_multicasts_valid_ids_and_refuses_bad_ones():
    line, session = sender(multicast_ok("req-9"))
    destinations = [
        destination(TARO_LINE, user_id="taro"),
        destination("not-a-line-id", user_id="jiro"),
        destination(HANAKO_LINE, user_id="hanako"),
        destination(TARO_LINE, user_id="taro-again"),  # the same LINE account twice is sent once
    ]
    outcomes = line.send_batch(notification(), destinations, CREDENTIALS, idempotency_key=KEY)
    (call,) = session.calls
    assert call["url"] == f"{API}/v2/bot/message/multicast"
    assert call["json"]["to"] == [TARO_LINE, HANAKO_LINE]
    assert outcomes["taro"] == outcomes["hanako"] == outcomes["taro-again"] == SendReceipt("req-9")
    assert isinstance(outcomes["jiro"], NeedsRelinkError) and outcomes["jiro"].code == "invalid_user_id"


def test_every_destination_of_a_failed_call_gets_the_error():
    line, _ = sender(http_response(429, {"message": "The API rate limit has been exceeded. Try again later."}))
    destinations = [destination(TARO_LINE, user_id="taro"), destination(HANAKO_LINE, user_id="hanako")]
    outcomes = line.send_batch(notification(), destinations, CREDENTIALS, idempotency_key=KEY)
    assert all(isinstance(o, RetryableProviderError) for o in outcomes.values()) and len(outcomes) == 2
    line, _ = sender(requests.ConnectTimeout("boom"))
    outcomes = line.send_batch(notification(), destinations, CREDENTIALS, idempotency_key=KEY)
    assert {o.code for o in outcomes.values() if isinstance(o, ProviderError)} == {"timeout"}


def test_more_than_500_recipients_are_split_with_distinct_stable_keys():
    line, session = sender(multicast_ok("a"), multicast_ok("b"), push_ok("c"))
    ids = [f"U{i:032x}" for i in range(1001)]
    destinations = [destination(u, user_id=f"user{i}") for i, u in enumerate(ids)]
    outcomes = line.send_batch(notification(), destinations, CREDENTIALS, idempotency_key=KEY)
    assert [len(c["json"]["to"]) if isinstance(c["json"]["to"], list) else 1 for c in session.calls] == [500, 500, 1]
    keys = [c["headers"]["X-Line-Retry-Key"] for c in session.calls]
    assert keys == [retry_key(KEY, 0), retry_key(KEY, 1), retry_key(KEY, 2)] and len(set(keys)) == 3
    assert outcomes["user0"] == SendReceipt("a") and outcomes["user999"] == SendReceipt("b")
    assert outcomes["user1000"] == SendReceipt("c")


def test_send_batch_without_token_or_with_bad_url_makes_no_call():
    line, session = sender()
    outcomes = line.send_batch(notification(), [destination(TARO_LINE)], {}, idempotency_key=KEY)
    assert isinstance(outcomes["taro.yamada@acme.example"], IntegrationCredentialsError)
    outcomes = line.send_batch(
        notification(url="javascript:x"), [destination(TARO_LINE)], CREDENTIALS, idempotency_key=KEY
    )
    assert outcomes["taro.yamada@acme.example"].code == "invalid_url"  # type: ignore[union-attr]
    assert session.calls == []


def test_send_single_pushes():
    line, session = sender(push_ok("77"))
    assert line.send(notification(), destination(TARO_LINE), CREDENTIALS) == SendReceipt("77")
    assert session.calls[0]["url"].endswith("/v2/bot/message/push")


def test_no_secret_in_errors():
    line, _ = sender(
        http_response(401, {"message": "Authentication failed due to the following reason: invalid token."})
    )
    outcome = line.send_batch(notification(), [destination(TARO_LINE)], CREDENTIALS, idempotency_key=KEY)
    error = outcome["taro.yamada@acme.example"]
    assert isinstance(error, IntegrationCredentialsError)
    assert TOKEN not in str(error) and TOKEN not in repr(error) and TOKEN not in error.detail


# --- verify ------------------------------------------------------------------------------------------------


def test_verify_reads_bot_info():
    bot = {"userId": "U" + "b" * 32, "basicId": "@123abcde", "displayName": "ACME 勤怠", "chatMode": "bot"}
    line, session = sender(http_response(200, bot))
    assert line.verify(CREDENTIALS) == "LINE Official Account ACME 勤怠 (@123abcde)"
    (call,) = session.calls
    assert call["method"] == "GET" and call["url"] == f"{API}/v2/bot/info"
    assert call["headers"] == {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"login_channel_id": "123456789"}, "invalid_login_channel"),
        ({"login_channel_id": "12345678901"}, "invalid_login_channel"),
        ({"login_channel_secret": "XYZ"}, "invalid_login_channel"),
        ({"login_channel_secret": None}, "invalid_login_channel"),
        ({"channel_secret": "0123456789ABCDEF0123456789ABCDEF"}, "invalid_channel_secret"),
        ({"channel_access_token": ""}, "missing_channel_access_token"),
    ],
)
def test_verify_checks_the_settings_before_calling(override: dict[str, Any], code: str):
    line, session = sender()
    with pytest.raises(PermanentProviderError) as info:
        line.verify({**CREDENTIALS, **override})
    assert info.value.code == code and session.calls == []


def test_verify_maps_errors():
    line, _ = sender(
        http_response(401, {"message": "Authentication failed due to the following reason: invalid token."})
    )
    with pytest.raises(IntegrationCredentialsError):
        line.verify(CREDENTIALS)
    line, _ = sender(http_response(503, {"message": "Service Unavailable"}))
    with pytest.raises(RetryableProviderError):
        line.verify(CREDENTIALS)


def test_class_settings():
    assert (LineSender.channel, LineSender.max_batch, LineSender.idempotent_retries) == ("line", 500, True)
    assert LineSender.api_docs.startswith("https://developers.line.biz/")
