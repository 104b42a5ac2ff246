"""Google Chat sender: the pure webhook card builder, the SSRF guard and the parser (providers.md §2, §7)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.unit.builders import (
    COMPANY,
    HANAKO,
    TARO,
    WEBHOOK_KEY,
    WEBHOOK_TOKEN,
    WEBHOOK_URL,
    destination,
    http_response,
    notification,
)
from tests.unit.fakes import FakeSession
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import NeedsRelinkError, PermanentProviderError, ProviderError, RetryableProviderError
from workplace_hub.google.chat import FALLBACK_MAX, GoogleChatSender, client_message_id, is_webhook_url
from workplace_hub.providers.messenger import PreparedCall, SendReceipt

SANDBOX_BASE = "http://127.0.0.1:4010/google_chat"
OK_BODY = {
    "name": "spaces/AAAA1234/messages/m1.m1",
    "thread": {"name": "spaces/AAAA1234/threads/t1"},
    "space": {"name": "spaces/AAAA1234"},
}
PERMISSION_DENIED = {
    "error": {
        "code": 403,
        "message": "The API is called without a valid token. Instructions on how to use incoming webhooks can be "
        "found at https://developers.google.com/chat/how-tos/webhooks",
        "status": "PERMISSION_DENIED",
    }
}
API_KEY_INVALID = {
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
INVALID_ARGUMENT = {
    "error": {
        "code": 400,
        "message": 'Invalid JSON payload received. Unknown name "cardz"',
        "status": "INVALID_ARGUMENT",
    }
}
RESOURCE_EXHAUSTED = {
    "error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}
}


def sender(session: Any = None, base: str = "https://chat.googleapis.com") -> GoogleChatSender:
    return GoogleChatSender(session or FakeSession(), ProviderEndpoints(GOOGLE_CHAT_BASE=base))


def build(address: str = WEBHOOK_URL, **overrides: Any) -> PreparedCall:
    return sender().build_request(notification(**overrides), destination(address), {})


def card(call: PreparedCall) -> dict[str, Any]:
    assert call.json is not None
    return call.json["cardsV2"][0]["card"]


def widgets(call: PreparedCall) -> list[dict[str, Any]]:
    return card(call)["sections"][0]["widgets"]


def parse_error(response: requests.Response) -> ProviderError:
    with pytest.raises(ProviderError) as raised:
        sender().parse_response(response)
    assert raised.value.provider == "google_chat"
    return raised.value


# ---------------------------------------------------------------- build_request


def test_google_chat_build_request_posts_json_to_the_webhook() -> None:
    # GIVEN the employee's webhook URL
    # WHEN a request is built
    call = build()

    # THEN it is a JSON POST to exactly that URL plus the delivery's messageId (the key and token are in the
    # URL, nowhere else)
    assert call.method == "POST"
    assert call.url == f"{WEBHOOK_URL}&messageId={client_message_id('', notification().event_id, TARO)}"
    assert call.headers == {"Content-Type": "application/json; charset=UTF-8"}
    assert WEBHOOK_KEY not in str(call.json)
    assert WEBHOOK_TOKEN not in str(call.json)


def test_google_chat_build_request_card_header_paragraph_button() -> None:
    # GIVEN a notification
    # WHEN a request is built
    call = build(title="決裁依頼", body="鈴木 さんから", url="https://acme.workplace.example/a/1")

    # THEN a cardsV2 card has the title as header, the body as a paragraph and a link button
    assert call.json is not None
    assert call.json["cardsV2"][0]["cardId"] == "workplace-notification"
    assert card(call)["header"] == {"title": "決裁依頼", "subtitle": "WORKPLACE"}
    assert widgets(call)[0] == {"textParagraph": {"text": "鈴木 さんから"}}
    button = widgets(call)[1]["buttonList"]["buttons"][0]
    assert button == {"text": "WORKPLACEで開く", "onClick": {"openLink": {"url": "https://acme.workplace.example/a/1"}}}


@pytest.mark.parametrize(
    ("locale", "label"), [("ja", "WORKPLACEで開く"), ("ko", "WORKPLACE에서 열기"), ("en", "Open in WORKPLACE")]
)
def test_google_chat_build_request_button_label_per_locale(locale: str, label: str) -> None:
    # GIVEN a recipient locale
    # WHEN / THEN the button label is in that language
    assert widgets(build(locale=locale))[-1]["buttonList"]["buttons"][0]["text"] == label


def test_google_chat_build_request_body_html_escaped_with_line_breaks() -> None:
    # GIVEN a body with HTML-looking text and two lines
    # WHEN a request is built
    paragraph = widgets(build(body='<a href="https://evil.example">x</a> & co\n2行目'))[0]["textParagraph"]["text"]

    # THEN markup is escaped and line breaks become <br>
    assert paragraph == "&lt;a href=&quot;https://evil.example&quot;&gt;x&lt;/a&gt; &amp; co<br>2行目"


def test_google_chat_build_request_fallback_text_plain() -> None:
    # GIVEN a notification
    # WHEN a request is built
    call = build(title="決裁依頼", body="a < b", url="https://acme.workplace.example/a/1")

    # THEN fallbackText has title, body and link as plain text (not escaped)
    assert call.json is not None
    assert call.json["fallbackText"] == "決裁依頼\na < b\nhttps://acme.workplace.example/a/1"


def test_google_chat_build_request_empty_body_only_button() -> None:
    # GIVEN a notification without body
    # WHEN / THEN the card has no empty paragraph, only the button
    assert [next(iter(widget)) for widget in widgets(build(body=""))] == ["buttonList"]


def test_google_chat_build_request_fallback_text_bounded() -> None:
    # GIVEN the longest title and body the contract allows
    call = build(title="題" * 200, body="本" * 2000, url="https://acme.workplace.example/" + "p" * 2000)

    # WHEN / THEN the fallback text stays within the hub's limit
    assert call.json is not None
    assert len(call.json["fallbackText"]) <= FALLBACK_MAX


def test_google_chat_build_request_pure_and_repr_hides_webhook() -> None:
    # GIVEN a sender whose session records calls
    session = FakeSession()
    chat = sender(session)

    # WHEN the same request is built twice and printed
    first = chat.build_request(notification(), destination(WEBHOOK_URL), {})
    second = chat.build_request(notification(), destination(WEBHOOK_URL), {})

    # THEN both are equal, nothing was sent, and the webhook key/token do not show
    assert first == second
    assert session.requests == []
    assert WEBHOOK_KEY not in repr(first)
    assert WEBHOOK_TOKEN not in repr(first)
    assert WEBHOOK_KEY not in repr(destination(WEBHOOK_URL))


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/v1/spaces/AAAA1234/messages?key=k&token=t",
        "http://chat.googleapis.com/v1/spaces/AAAA1234/messages?key=k&token=t",
        "https://chat.googleapis.com.evil.example/v1/spaces/AAAA1234/messages?key=k&token=t",
        "https://chat.googleapis.com@evil.example/v1/spaces/AAAA1234/messages?key=k&token=t",
        "https://chat.googleapis.com:8443/v1/spaces/AAAA1234/messages?key=k&token=t",
        "https://chat.googleapis.com/v1/spaces/AAAA1234/messages?key=k",
        "https://chat.googleapis.com/v1/spaces/AAAA1234/messages?token=t",
        "https://chat.googleapis.com/v1/spaces/AAAA1234/messages?key=&token=",
        "https://chat.googleapis.com/v1/spaces/AAAA1234/members?key=k&token=t",
        "https://chat.googleapis.com/v1/spaces//messages?key=k&token=t",
        "https://chat.googleapis.com/v1/spaces/AAAA1234/messages/../../../x?key=k&token=t",
        "https://chat.googleapis.com/v2/spaces/AAAA1234/messages?key=k&token=t",
        "https://chat.googleapis.com/v1/spacesX/AAAA1234/messages?key=k&token=t",
        "http://169.254.169.254/latest/meta-data/?/v1/spaces/A/messages?key=k&token=t",
        "",
    ],
)
def test_google_chat_build_request_non_webhook_url_refused(url: str) -> None:
    # GIVEN an address that is not <GOOGLE_CHAT_BASE>/v1/spaces/<space>/messages?key=…&token=…
    # WHEN a request is built
    with pytest.raises(NeedsRelinkError) as raised:
        build(url)

    # THEN it is refused before any HTTP (SSRF guard), and the URL is not echoed
    assert raised.value.code == "webhook_url_not_allowed"
    assert not url or url not in str(raised.value)


def test_google_chat_build_request_sandbox_base_allowed_and_real_host_refused() -> None:
    # GIVEN GOOGLE_CHAT_BASE pointing at the local sandbox
    chat = sender(base=SANDBOX_BASE)
    local = f"{SANDBOX_BASE}/v1/spaces/AAAA1234/messages?key=k1&token=t1"

    # WHEN requests are built for a sandbox and a real webhook
    call = chat.build_request(notification(), destination(local), {})

    # THEN only the configured base is allowed
    assert call.url.startswith(local + "&messageId=client-")
    with pytest.raises(NeedsRelinkError):
        chat.build_request(notification(), destination(WEBHOOK_URL), {})


def test_is_webhook_url_extra_query_parameters_allowed() -> None:
    # GIVEN a webhook URL with a threading option added by the employee
    url = WEBHOOK_URL + "&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"

    # WHEN / THEN it is still a webhook URL
    assert is_webhook_url(url, "https://chat.googleapis.com/")


def message_id(call: PreparedCall) -> list[str]:
    return parse_qs(urlsplit(call.url).query)["messageId"]


def test_google_chat_message_id_is_the_deliverys_and_valid_for_google() -> None:
    # GIVEN two builds of the same delivery, and deliveries that differ in company, event or recipient
    same = message_id(build(company_id=COMPANY)), message_id(build(company_id=COMPANY))
    others = [
        message_id(build(company_id="globex")),
        message_id(build(company_id=COMPANY, event_id="evt-other")),
        message_id(sender().build_request(notification(company_id=COMPANY), destination(WEBHOOK_URL, HANAKO), {})),
    ]

    # THEN the same delivery always carries the same one id, every other delivery a different one
    assert same[0] == same[1] and len(same[0]) == 1
    assert len({same[0][0], *(ids[0] for ids in others)}) == 4
    # AND each is what spaces.messages.create accepts: `client-`, at most 63 of [a-z0-9-]
    for (value,) in [same[0], *others]:
        assert re.fullmatch(r"client-[a-z0-9-]{1,56}", value), value


def test_google_chat_message_id_fits_for_the_longest_ids_the_contract_allows() -> None:
    # GIVEN a 256-character emoji user id and long company and event ids
    value = client_message_id("c" * 64, "e" * 128, "😀" * 256)

    # THEN the id is still 63 characters of Google's alphabet
    assert len(value) == 63 and re.fullmatch(r"client-[0-9a-f]{56}", value)


def test_google_chat_message_id_replaces_one_the_webhook_url_carries() -> None:
    # GIVEN a webhook URL pasted with a messageId already in it
    # WHEN a request is built
    call = build(f"{WEBHOOK_URL}&messageId=client-pasted")

    # THEN it carries only this delivery's id
    assert message_id(call) == [client_message_id("", notification().event_id, TARO)]


# ---------------------------------------------------------------- parse_response


def test_google_chat_parse_response_409_already_exists_is_sent() -> None:
    # GIVEN Google's answer to a repeated create of a message that exists (its first answer was lost)
    response = http_response(
        409, {"error": {"code": 409, "message": "Message already exists.", "status": "ALREADY_EXISTS"}}
    )
    response.request = requests.Request(
        "POST", "https://chat.googleapis.com/v1/spaces/AAAA1234/messages?key=k&token=t&messageId=client-abc"
    ).prepare()

    # WHEN it is parsed
    receipt = sender().parse_response(response)

    # THEN the delivery counts as sent, under the name the message was created with
    assert receipt == SendReceipt(provider_message_id="spaces/AAAA1234/messages/client-abc")


def test_google_chat_parse_response_409_of_another_kind_is_permanent() -> None:
    # GIVEN a 409 that is not ALREADY_EXISTS
    response = http_response(409, {"error": {"code": 409, "message": "Aborted.", "status": "ABORTED"}})

    # WHEN / THEN it is not taken for a delivered message
    assert isinstance(parse_error(response), PermanentProviderError)


def test_google_chat_parse_response_200_returns_message_name() -> None:
    # GIVEN the created Message
    # WHEN it is parsed
    # THEN the receipt is the message name
    assert sender().parse_response(http_response(200, OK_BODY)) == SendReceipt("spaces/AAAA1234/messages/m1.m1")


def test_google_chat_parse_response_429_retryable_with_retry_after() -> None:
    # GIVEN RESOURCE_EXHAUSTED with a Retry-After header
    response = http_response(429, RESOURCE_EXHAUSTED, headers={"Retry-After": "7"})

    # WHEN it is parsed
    error = parse_error(response)

    # THEN it is retryable after 7 s, coded by Google's status
    assert isinstance(error, RetryableProviderError)
    assert (error.code, error.status_code, error.retry_after) == ("RESOURCE_EXHAUSTED", 429, 7.0)


def test_google_chat_parse_response_429_without_retry_after() -> None:
    # GIVEN RESOURCE_EXHAUSTED without Retry-After (Google documents none for Chat)
    # WHEN / THEN it is retryable with the hub's own backoff
    error = parse_error(http_response(429, RESOURCE_EXHAUSTED))
    assert isinstance(error, RetryableProviderError)
    assert error.retry_after is None


@pytest.mark.parametrize(
    ("status", "payload", "code"),
    [
        (500, {"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}}, "INTERNAL"),
        (
            503,
            {"error": {"code": 503, "message": "The service is unavailable.", "status": "UNAVAILABLE"}},
            "UNAVAILABLE",
        ),
        (502, None, "http_502"),
    ],
)
def test_google_chat_parse_response_5xx_retryable(status: int, payload: Any, code: str) -> None:
    # GIVEN a server error, with or without Google's envelope
    response = http_response(status, payload) if payload else http_response(status, text="<html>Bad Gateway</html>")

    # WHEN / THEN it is retryable
    error = parse_error(response)
    assert isinstance(error, RetryableProviderError)
    assert (error.code, error.status_code) == (code, status)


@pytest.mark.parametrize(
    ("status", "payload", "code"),
    [
        (403, PERMISSION_DENIED, "PERMISSION_DENIED"),
        (
            404,
            {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}},
            "NOT_FOUND",
        ),
        (404, None, "http_404"),
        (400, API_KEY_INVALID, "INVALID_ARGUMENT"),
    ],
)
def test_google_chat_parse_response_webhook_refused_needs_relink(status: int, payload: Any, code: str) -> None:
    # GIVEN the webhook's token or key refused, or the webhook gone
    response = http_response(status, payload) if payload else http_response(status, text="")

    # WHEN it is parsed
    error = parse_error(response)

    # THEN the employee must register the webhook again
    assert type(error) is NeedsRelinkError
    assert (error.code, error.status_code) == (code, status)


def test_google_chat_parse_response_400_invalid_argument_permanent() -> None:
    # GIVEN a 400 for a bad payload (not a key problem)
    # WHEN it is parsed
    error = parse_error(http_response(400, INVALID_ARGUMENT))

    # THEN it fails for good with Google's message as detail
    assert type(error) is PermanentProviderError
    assert error.code == "INVALID_ARGUMENT"
    assert "Invalid JSON payload" in error.detail


def test_google_chat_parse_response_400_without_envelope_permanent() -> None:
    # GIVEN a 400 without JSON
    # WHEN / THEN it fails for good, coded by status
    error = parse_error(http_response(400, text="Bad Request"))
    assert type(error) is PermanentProviderError
    assert error.code == "http_400"


def test_google_chat_parse_response_error_detail_bounded() -> None:
    # GIVEN a 400 with a very long message
    payload = {"error": {"code": 400, "message": "x" * 5000, "status": "INVALID_ARGUMENT"}}

    # WHEN / THEN the recorded detail is short
    assert len(parse_error(http_response(400, payload)).detail) <= 200


def test_google_chat_parse_response_200_not_json_retryable() -> None:
    # GIVEN a 200 whose body is not JSON
    # WHEN / THEN it is retryable as invalid_response
    error = parse_error(http_response(200, text="<html></html>"))
    assert isinstance(error, RetryableProviderError)
    assert error.code == "invalid_response"


def test_google_chat_verify_needs_no_call() -> None:
    # GIVEN a sender whose session records calls
    session = FakeSession()

    # WHEN company credentials are verified
    description = sender(session).verify({})

    # THEN nothing is called: each employee brings a webhook
    assert session.requests == []
    assert "webhook" in description
