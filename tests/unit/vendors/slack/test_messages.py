"""Slack sender: the pure chat.postMessage builder and the response parser (providers.md §1, §7)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.unit.builders import SLACK_MEMBER_ID, SLACK_TOKEN, destination, http_response, notification
from tests.unit.fakes import FakeSession
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
)
from workplace_hub.providers.messenger import PreparedCall, SendReceipt
from workplace_hub.slack.messages import HEADER_MAX, MARKDOWN_MAX, SECTION_MAX, SECTIONS_MAX, SlackSender

CREDENTIALS = {"bot_token": SLACK_TOKEN}
OK_BODY = {
    "ok": True,
    "channel": "D024BFF1M",
    "ts": "1700000000.000100",
    "message": {"type": "message", "text": "x", "ts": "1700000000.000100", "bot_id": "B1"},
}


def sender(session: Any = None, base: str = "https://slack.com/api") -> SlackSender:
    return SlackSender(session or FakeSession(), ProviderEndpoints(SLACK_API_BASE=base))


def build(**overrides: Any) -> PreparedCall:
    return sender().build_request(notification(**overrides), destination(SLACK_MEMBER_ID), CREDENTIALS)


def blocks_of(call: PreparedCall, block_type: str) -> list[dict[str, Any]]:
    assert call.json is not None
    return [block for block in call.json["blocks"] if block["type"] == block_type]


def parse_error(response: requests.Response) -> ProviderError:
    with pytest.raises(ProviderError) as raised:
        sender().parse_response(response)
    assert raised.value.provider == "slack"
    return raised.value


# ---------------------------------------------------------------- build_request


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("https://slack.com/api", "https://slack.com/api/chat.postMessage"),
        ("http://127.0.0.1:4010/slack/api/", "http://127.0.0.1:4010/slack/api/chat.postMessage"),
    ],
)
def test_slack_build_request_url_from_endpoint_setting(base: str, url: str) -> None:
    # GIVEN SLACK_API_BASE pointing at Slack or at the sandbox (with a trailing slash)
    # WHEN a request is built
    call = sender(base=base).build_request(notification(), destination(), CREDENTIALS)

    # THEN it is a POST to <base>/chat.postMessage
    assert (call.method, call.url) == ("POST", url)


def test_slack_build_request_bearer_token_and_json_content_type() -> None:
    # GIVEN the company's bot token
    # WHEN a request is built
    call = build()

    # THEN the token goes in the Authorization header (never in the body) and the body is JSON
    assert call.headers["Authorization"] == f"Bearer {SLACK_TOKEN}"
    assert call.headers["Content-Type"] == "application/json; charset=utf-8"
    assert SLACK_TOKEN not in str(call.json)


def test_slack_build_request_dm_to_member_id_without_unfurl() -> None:
    # GIVEN an employee's Slack member ID
    # WHEN a request is built
    call = build()

    # THEN the DM goes to the member ID, and links do not unfurl
    assert call.json is not None
    assert call.json["channel"] == SLACK_MEMBER_ID
    assert (call.json["unfurl_links"], call.json["unfurl_media"]) == (False, False)


def test_slack_build_request_blocks_header_section_button() -> None:
    # GIVEN a notification with title, body and link
    # WHEN a request is built
    call = build(title="決裁依頼", body="鈴木 さんから", url="https://acme.workplace.example/a/1", locale="ja")

    # THEN the blocks are header (plain text), section (mrkdwn) and an actions button to the link
    assert call.json is not None
    assert [block["type"] for block in call.json["blocks"]] == ["header", "section", "actions"]
    header = blocks_of(call, "header")[0]["text"]
    assert (header["type"], header["text"]) == ("plain_text", "決裁依頼")
    section = blocks_of(call, "section")[0]["text"]
    assert (section["type"], section["text"]) == ("mrkdwn", "鈴木 さんから")
    button = blocks_of(call, "actions")[0]["elements"][0]
    assert button["type"] == "button"
    assert button["url"] == "https://acme.workplace.example/a/1"
    assert button["text"] == {"type": "plain_text", "text": "WORKPLACEで開く"}


@pytest.mark.parametrize(
    ("locale", "label"),
    [("ja", "WORKPLACEで開く"), ("ko", "WORKPLACE에서 열기"), ("en", "Open in WORKPLACE"), ("fr", "WORKPLACEで開く")],
)
def test_slack_build_request_button_label_per_locale(locale: str, label: str) -> None:
    # GIVEN a recipient locale (unknown locales fall back to Japanese)
    # WHEN a request is built
    # THEN the button label is in that language
    assert blocks_of(build(locale=locale), "actions")[0]["elements"][0]["text"]["text"] == label


def test_slack_build_request_long_title_header_truncated_to_150() -> None:
    # GIVEN a 200-character title (the contract's maximum)
    # WHEN a request is built
    header = blocks_of(build(title="題" * 200), "header")[0]["text"]["text"]

    # THEN the header block keeps Slack's 150-character limit and shows it was cut
    assert len(header) == HEADER_MAX == 150
    assert header.endswith("…")
    assert header.startswith("題" * 149)


def test_slack_build_request_title_of_150_not_truncated() -> None:
    # GIVEN a title exactly at the header limit
    # WHEN / THEN it is kept whole
    assert blocks_of(build(title="題" * 150), "header")[0]["text"]["text"] == "題" * 150


def test_slack_build_request_long_body_goes_on_in_further_sections() -> None:
    # GIVEN the longest body the contract allows, 4,900 characters once escaped
    body = "a&b" * 666 + "xx"
    # WHEN a request is built
    sections = [block["text"]["text"] for block in blocks_of(build(body=body), "section")]

    # THEN it goes on over two sections within Slack's 3000-character limit, whole, no escape split in two
    assert len(sections) == 2 and all(len(text) <= SECTION_MAX == 3000 for text in sections)
    assert "".join(sections) == body.replace("&", "&amp;")
    assert all(text.startswith(("a", "&amp;", "b")) for text in sections)


def test_slack_build_request_body_beyond_every_section_is_clipped_with_an_ellipsis() -> None:
    # GIVEN a body no message could hold (not one the contract allows)
    sections = [block["text"]["text"] for block in blocks_of(build(body="&" * 10_000), "section")]

    # THEN the last section shows it was cut, no section exceeds the limit, and no escape is cut in two
    assert len(sections) == SECTIONS_MAX and all(len(text) <= SECTION_MAX for text in sections)
    assert sections[-1].endswith("&amp;…")


def test_slack_build_request_url_too_long_for_a_button_becomes_a_markdown_link() -> None:
    # GIVEN a WORKPLACE URL longer than a button's 3,000 characters
    url = "https://acme.workplace.example/a/1?q=" + "x" * 4000
    # WHEN a request is built
    call = build(url=url)

    # THEN the link goes in a markdown block instead of the button, whole
    assert call.json is not None
    assert [block["type"] for block in call.json["blocks"]] == ["header", "section", "markdown"]
    assert blocks_of(call, "markdown")[0]["text"] == f"[WORKPLACEで開く](<{url}>)"


def test_slack_build_request_url_too_long_for_any_block_leaves_the_link_out() -> None:
    # GIVEN a URL longer than even a markdown block takes
    call = build(url="https://acme.workplace.example/?q=" + "x" * MARKDOWN_MAX)

    # THEN the message goes out with its title and body, without a link block
    assert call.json is not None
    assert [block["type"] for block in call.json["blocks"]] == ["header", "section"]


def test_slack_build_request_body_mrkdwn_escaped() -> None:
    # GIVEN a body with characters Slack would read as markup (mentions, links)
    # WHEN a request is built
    call = build(body="R&D <!channel> <https://evil.example|click> a > b")

    # THEN & < > are escaped in the section and in the fallback text
    section = blocks_of(call, "section")[0]["text"]["text"]
    assert section == "R&amp;D &lt;!channel&gt; &lt;https://evil.example|click&gt; a &gt; b"
    assert call.json is not None
    assert "<!channel>" not in call.json["text"]
    assert "&lt;!channel&gt;" in call.json["text"]


def test_slack_build_request_header_plain_text_not_escaped() -> None:
    # GIVEN a title with & (plain_text blocks show text literally)
    # WHEN / THEN the header keeps it as is
    assert blocks_of(build(title="R&D <承認>"), "header")[0]["text"]["text"] == "R&D <承認>"


def test_slack_build_request_text_fallback_has_title_body_url() -> None:
    # GIVEN a notification
    # WHEN a request is built
    call = build(title="決裁依頼", body="本文", url="https://acme.workplace.example/a/1")

    # THEN the notification fallback text carries all three, one per line
    assert call.json is not None
    assert call.json["text"] == "決裁依頼\n本文\nhttps://acme.workplace.example/a/1"


def test_slack_build_request_empty_body_no_section_block() -> None:
    # GIVEN a notification without body
    # WHEN a request is built
    call = build(body="")

    # THEN there is no (empty, invalid) section block and the fallback skips the blank line
    assert blocks_of(call, "section") == []
    assert call.json is not None
    assert call.json["text"] == "決裁依頼: 出張申請 (大阪)\nhttps://acme.workplace.example/approvals/8812"


def test_slack_build_request_pure_same_input_same_output() -> None:
    # GIVEN a sender whose session would record any call
    session = FakeSession()
    slack = sender(session)

    # WHEN the same request is built twice
    first = slack.build_request(notification(), destination(), CREDENTIALS)
    second = slack.build_request(notification(), destination(), CREDENTIALS)

    # THEN both are equal and nothing was sent
    assert first == second
    assert session.requests == []


def test_slack_prepared_call_repr_hides_token() -> None:
    # GIVEN a built request
    # WHEN it is printed (e.g. by a logger)
    # THEN the token does not appear
    assert SLACK_TOKEN not in repr(build())


# ---------------------------------------------------------------- parse_response


def test_slack_parse_response_ok_returns_receipt_with_ts() -> None:
    # GIVEN Slack's success answer
    # WHEN it is parsed
    receipt = sender().parse_response(http_response(200, OK_BODY))

    # THEN the receipt carries the message ts
    assert receipt == SendReceipt(provider_message_id="1700000000.000100")


@pytest.mark.parametrize(("header", "expected"), [("3", 3.0), ("120", 120.0)])
def test_slack_parse_response_429_retryable_with_retry_after(header: str, expected: float) -> None:
    # GIVEN a 429 with Retry-After
    response = http_response(429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": header})

    # WHEN it is parsed
    error = parse_error(response)

    # THEN it is retryable after the given seconds
    assert isinstance(error, RetryableProviderError)
    assert (error.code, error.status_code, error.retry_after) == ("ratelimited", 429, expected)


def test_slack_parse_response_429_with_http_date_retry_after() -> None:
    # GIVEN a 429 whose Retry-After is an HTTP date in the past
    response = http_response(429, text="", headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})

    # WHEN / THEN it is retryable immediately (never a negative delay)
    error = parse_error(response)
    assert isinstance(error, RetryableProviderError)
    assert error.retry_after == 0.0


def test_slack_parse_response_429_without_retry_after() -> None:
    # GIVEN a 429 without Retry-After
    # WHEN / THEN it is retryable with no provider-given delay
    error = parse_error(http_response(429, {"ok": False, "error": "ratelimited"}))
    assert isinstance(error, RetryableProviderError)
    assert error.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_slack_parse_response_5xx_retryable(status: int) -> None:
    # GIVEN a server error (HTML or empty body)
    # WHEN it is parsed
    error = parse_error(http_response(status, text="<html>oops</html>"))

    # THEN it is retryable, coded by status
    assert isinstance(error, RetryableProviderError)
    assert (error.code, error.status_code) == (f"http_{status}", status)


@pytest.mark.parametrize(
    "code", ["ratelimited", "rate_limited", "fatal_error", "internal_error", "service_unavailable"]
)
def test_slack_parse_response_retryable_codes(code: str) -> None:
    # GIVEN HTTP 200 with ok:false and a transient code
    # WHEN / THEN it is retryable with Slack's code
    error = parse_error(http_response(200, {"ok": False, "error": code}))
    assert isinstance(error, RetryableProviderError)
    assert error.code == code


@pytest.mark.parametrize("code", ["invalid_auth", "token_revoked", "not_authed", "account_inactive", "missing_scope"])
def test_slack_parse_response_credential_codes_integration_credentials_error(code: str) -> None:
    # GIVEN a refused bot token
    # WHEN it is parsed
    error = parse_error(http_response(200, {"ok": False, "error": code}))

    # THEN the admin must fix the integration
    assert type(error) is IntegrationCredentialsError
    assert error.code == code
    assert not error.retryable


@pytest.mark.parametrize("code", ["channel_not_found", "user_not_found", "is_archived", "not_in_channel"])
def test_slack_parse_response_destination_codes_needs_relink(code: str) -> None:
    # GIVEN a member ID Slack cannot message
    # WHEN it is parsed
    error = parse_error(http_response(200, {"ok": False, "error": code}))

    # THEN the employee must link again
    assert type(error) is NeedsRelinkError
    assert error.code == code


@pytest.mark.parametrize(
    "code", ["invalid_blocks", "msg_too_long", "no_text", "messages_tab_disabled", "something_new_from_slack"]
)
def test_slack_parse_response_other_codes_permanent(code: str) -> None:
    # GIVEN any other ok:false code
    # WHEN it is parsed
    error = parse_error(http_response(200, {"ok": False, "error": code}))

    # THEN it fails for good (not a credentials or relink problem)
    assert type(error) is PermanentProviderError
    assert error.code == code


def test_slack_parse_response_ok_false_without_code_permanent_unknown() -> None:
    # GIVEN ok:false without an error code
    # WHEN / THEN it fails for good as unknown_error
    error = parse_error(http_response(200, {"ok": False}))
    assert type(error) is PermanentProviderError
    assert error.code == "unknown_error"


@pytest.mark.parametrize("status", [400, 404, 410])
def test_slack_parse_response_other_http_status_permanent(status: int) -> None:
    # GIVEN an unexpected 4xx
    # WHEN / THEN it fails for good, coded by status
    error = parse_error(http_response(status, text="Not Found"))
    assert type(error) is PermanentProviderError
    assert error.code == f"http_{status}"


def test_slack_parse_response_200_not_json_retryable() -> None:
    # GIVEN a 200 whose body is not JSON (a proxy page)
    # WHEN / THEN it is retryable as invalid_response
    error = parse_error(http_response(200, text="<html>captive portal</html>"))
    assert isinstance(error, RetryableProviderError)
    assert error.code == "invalid_response"


# ---------------------------------------------------------------- send / verify through a fake session


def test_slack_send_posts_built_request_once_with_timeout() -> None:
    # GIVEN a session that answers ok
    session = FakeSession([http_response(200, OK_BODY)])
    slack = SlackSender(session, ProviderEndpoints(), timeout=(1.5, 4.0))  # type: ignore[arg-type]

    # WHEN a notification is sent
    receipt = slack.send(notification(), destination(), CREDENTIALS)

    # THEN exactly the built request went out, with the configured timeout
    built = slack.build_request(notification(), destination(), CREDENTIALS)
    assert receipt.provider_message_id == "1700000000.000100"
    assert len(session.requests) == 1
    sent = session.requests[0]
    assert (sent.method, sent.url, sent.headers, sent.json, sent.timeout) == (
        "POST",
        built.url,
        built.headers,
        built.json,
        (1.5, 4.0),
    )


def test_slack_verify_auth_test_describes_workspace() -> None:
    # GIVEN auth.test accepting the token
    auth_ok = {"ok": True, "team": "Acme", "team_id": "T1", "user": "hubbot", "user_id": "W1"}
    session = FakeSession([http_response(200, auth_ok)])

    # WHEN the admin verifies the credentials
    description = sender(session).verify(CREDENTIALS)

    # THEN auth.test was called with the token and the workspace is described
    assert session.requests[0].url == "https://slack.com/api/auth.test"
    assert session.requests[0].headers == {"Authorization": f"Bearer {SLACK_TOKEN}"}
    assert description == "workspace Acme (T1), bot user hubbot"
    assert SLACK_TOKEN not in description


def test_slack_verify_revoked_token_integration_credentials_error() -> None:
    # GIVEN auth.test refusing the token
    session = FakeSession([http_response(200, {"ok": False, "error": "invalid_auth"})])

    # WHEN / THEN verification raises the credentials error without the token in it
    with pytest.raises(IntegrationCredentialsError) as raised:
        sender(session).verify(CREDENTIALS)
    assert SLACK_TOKEN not in str(raised.value)
