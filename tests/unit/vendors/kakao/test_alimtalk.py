"""KakaoSender (NCP SENS AlimTalk): signature, template lookup, rendering, phone numbers, batch outcomes."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.unit.builders import destination, http_response, notification
from tests.unit.fakes import FakeSession
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    IntegrationCredentialsError,
    OutcomeUnknownError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
)
from workplace_hub.kakao.alimtalk import AcceptedAlimTalk, KakaoSender
from workplace_hub.kakao.failover import euc_kr_bytes, failover_config
from workplace_hub.kakao.results import parse_result
from workplace_hub.kakao.sens import sign, to_sens_number
from workplace_hub.kakao.templates import parse_template, render
from workplace_hub.providers.messenger import SendReceipt

ACCESS_KEY = "ACCESSKEYEXAMPLE0001"
SECRET_KEY = "SECRETKEYEXAMPLE0000000000000000000000001"
SERVICE_ID = "ncp:kkobizmsg:kr:1234567:sens"
REQUEST_ID = "RAKA-1700000000000-1234-12345678-aBcDeFgH"
NOW = 1_700_000_000.0  # the §8.3 timestamp, 1700000000000 ms
CONTENT = "[WORKPLACE] #{name}님, #{title}\n#{content}"
BUTTONS = [
    {"type": "WL", "name": "자세히 보기", "linkMobile": "https://#{url}", "linkPc": "https://#{url}"},
    {"type": "WL", "name": "홈", "linkMobile": "https://wp.example.com/home"},
]
TEMPLATE = {
    "template_code": "ABSENCE01",
    "name": "결재 알림",
    "content": CONTENT,
    "variables": ["name", "title", "content", "url"],
    "buttons": BUTTONS,
    "status": "APR",
    "fetched_at": "2023-11-14T22:13:20+00:00",
}
KIM = "kim@acme.example"
LEE = "lee@acme.example"
PARK = "park@acme.example"


def credentials(**overrides: Any) -> dict[str, Any]:
    values = {
        "access_key_id": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "channel_id": "@mychannel",
        "service_id": SERVICE_ID,
        "template_code": "ABSENCE01",
        "template": TEMPLATE,
    }
    values.update(overrides)
    return values


def kakao(*outcomes: requests.Response | BaseException, base: str = "https://sens.apigw.ntruss.com", clock=None):
    session = FakeSession(list(outcomes))
    sender = KakaoSender(session, ProviderEndpoints(SENS_BASE=base), clock=clock or (lambda: NOW))
    return sender, session


def lookup_answer(**overrides: Any) -> list[dict[str, Any]]:
    template = {
        "createTime": "2023-11-01T10:00:00.000",
        "channelId": "@mychannel",
        "templateCode": "ABSENCE01",
        "templateName": "결재 알림",
        "content": CONTENT,
        "templateInspectionStatus": "APR",
        "templateStatus": "ACTIVE",
        "comments": [],
        "buttons": [{"order": 2, **BUTTONS[1]}, {"order": 1, **BUTTONS[0]}],
    }
    template.update(overrides)
    return [template]


def accepted(to: str, status: str = "A000", message_id: str | None = None, country: str = "82") -> dict[str, Any]:
    return {
        "messageId": message_id or f"m-{to}",
        "to": to,
        "countryCode": country,
        "content": "...",
        "requestStatusCode": status,
        "requestStatusName": "success" if status == "A000" else "fail",
        "requestStatusDesc": "성공" if status == "A000" else "카카오톡 사용자가 아님",
        "useSmsFailover": False,
    }


def answer_202(*messages: dict[str, Any]) -> requests.Response:
    body = {
        "requestId": REQUEST_ID,
        "requestTime": "2023-11-15T07:13:20.000",
        "statusCode": "202",
        "statusName": "success",
        "messages": list(messages),
    }
    return http_response(202, body)


def gateway_error(status: int, code: str = "200", message: str = "Authentication Failed") -> requests.Response:
    return http_response(status, {"error": {"errorCode": code, "message": message, "details": "see the docs"}})


# --- signature ---------------------------------------------------------------------------------------


def test_sign_reproduces_the_reference_vectors():
    # GIVEN / WHEN / THEN: providers.md §8.3, both vectors exactly
    assert (
        sign("POST", f"/alimtalk/v2/services/{SERVICE_ID}/messages", 1700000000000, ACCESS_KEY, SECRET_KEY)
        == "Dsdj8+oFYc4aV6/odaNq2WKjxfVhGligx/cooZYch+E="
    )
    uri = f"/alimtalk/v2/services/{SERVICE_ID}/templates?channelId=%40mychannel&templateCode=ABSENCE01"
    assert sign("GET", uri, "1700000000000", ACCESS_KEY, SECRET_KEY) == "cwkM9O8vcQmntRNhUfVnIc5OmLzlJPMpEXe1Xj46JHk="


def test_send_request_headers_and_signature():
    # GIVEN the §8.3 keys and clock
    sender, _ = kakao()
    # WHEN
    call = sender.build_request(notification(), destination("+821012345678", name="김민수"), credentials())
    # THEN the URL keeps the service ID's colons and the signature is the §8.3 POST vector
    assert call.method == "POST"
    assert call.url == f"https://sens.apigw.ntruss.com/alimtalk/v2/services/{SERVICE_ID}/messages"
    assert call.headers == {
        "x-ncp-apigw-timestamp": "1700000000000",
        "x-ncp-iam-access-key": ACCESS_KEY,
        "x-ncp-apigw-signature-v2": "Dsdj8+oFYc4aV6/odaNq2WKjxfVhGligx/cooZYch+E=",
        "Content-Type": "application/json; charset=utf-8",
    }
    assert call.json["plusFriendId"] == "@mychannel" and call.json["templateCode"] == "ABSENCE01"
    assert call.json["messages"][0]["to"] == "01012345678" and call.json["messages"][0]["countryCode"] == "82"


def test_template_lookup_signs_the_encoded_query():
    # GIVEN
    sender, session = kakao(http_response(200, lookup_answer()))
    # WHEN
    sender.fetch_template(credentials())
    # THEN the channel's @ goes as %40, and the signature covers the query (§8.3 GET vector)
    (request,) = session.requests
    assert request.method == "GET" and request.json is None
    assert request.url == (
        f"https://sens.apigw.ntruss.com/alimtalk/v2/services/{SERVICE_ID}/templates"
        "?channelId=%40mychannel&templateCode=ABSENCE01"
    )
    assert request.headers["x-ncp-apigw-signature-v2"] == "cwkM9O8vcQmntRNhUfVnIc5OmLzlJPMpEXe1Xj46JHk="
    assert "Content-Type" not in request.headers


def test_signature_covers_the_base_path_on_the_wire():
    # GIVEN a SENS_BASE with a path (the sandbox)
    sender, session = kakao(http_response(200, lookup_answer()), base="http://127.0.0.1:9/sens/")
    # WHEN
    sender.fetch_template(credentials())
    # THEN the signed URI is the full path + query as sent
    url = urlsplit(session.requests[0].url)
    assert url.path == f"/sens/alimtalk/v2/services/{SERVICE_ID}/templates"
    expected = sign("GET", f"{url.path}?{url.query}", "1700000000000", ACCESS_KEY, SECRET_KEY)
    assert session.requests[0].headers["x-ncp-apigw-signature-v2"] == expected


def test_every_attempt_is_signed_with_a_fresh_timestamp():
    # GIVEN a clock that moves on
    ticks = itertools.count(NOW, 30.0)
    sender, session = kakao(
        answer_202(accepted("01012345678")), gateway_error(503, "503", "busy"), clock=lambda: next(ticks)
    )
    target = destination("+821012345678", user_id=KIM, name="김민수")
    # WHEN the same recipient is attempted twice
    sender.send_batch(notification(), [target], credentials(), idempotency_key="k")
    sender.send_batch(notification(), [target], credentials(), idempotency_key="k")
    # THEN each attempt has its own timestamp and signature
    first, second = (r.headers for r in session.requests)
    assert first["x-ncp-apigw-timestamp"] == "1700000000000"
    assert second["x-ncp-apigw-timestamp"] == "1700000030000"
    assert first["x-ncp-apigw-signature-v2"] != second["x-ncp-apigw-signature-v2"]


# --- template lookup ---------------------------------------------------------------------------------


def test_fetch_template_parses_text_buttons_and_variables():
    # GIVEN buttons answered out of order
    sender, _ = kakao(http_response(200, lookup_answer()))
    # WHEN
    template = sender.fetch_template(credentials())
    # THEN
    assert template == {
        "template_code": "ABSENCE01",
        "name": "결재 알림",
        "content": CONTENT,
        "variables": ["name", "title", "content", "url"],
        "buttons": BUTTONS,
        "status": "APR",
        "fetched_at": "2023-11-14T22:13:20+00:00",
    }


def test_parse_template_accepts_an_object_with_templates_and_picks_the_code():
    body = {"templates": [*lookup_answer(templateCode="OTHER"), *lookup_answer(content="#{이름} #{이름} #{링크}")]}
    template = parse_template(body, "ABSENCE01", "t")
    assert template["variables"] == ["이름", "링크", "url"]


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (http_response(200, []), "template_not_found"),
        (http_response(200, lookup_answer(templateCode="OTHER")), "template_not_found"),
        (
            http_response(200, lookup_answer(templateInspectionStatus="REQ", templateStatus="READY")),
            "template_not_approved",
        ),
        (http_response(200, lookup_answer(templateInspectionStatus="REJ")), "template_not_approved"),
        (http_response(200, lookup_answer(templateStatus="BLOCKED")), "template_not_approved"),
        (gateway_error(400, "400", "Bad Request"), "template_not_found"),
    ],
)
def test_fetch_template_unusable_templates_are_permanent(answer: requests.Response, code: str):
    sender, _ = kakao(answer)
    with pytest.raises(PermanentProviderError) as caught:
        sender.fetch_template(credentials())
    assert caught.value.code == code and not isinstance(caught.value, IntegrationCredentialsError)


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        (gateway_error(401), IntegrationCredentialsError, "authentication_failed"),
        (gateway_error(403, "210", "Permission Denied"), IntegrationCredentialsError, "permission_denied"),
        (gateway_error(404, "404", "Not Found"), IntegrationCredentialsError, "service_not_found"),
        (gateway_error(503, "503", "Service Unavailable"), RetryableProviderError, "http_503"),
        (gateway_error(429, "429", "Too Many Requests"), RetryableProviderError, "rate_limited"),
        (requests.Timeout(), RetryableProviderError, "timeout"),
        (http_response(200, text="<html>maintenance</html>"), RetryableProviderError, "invalid_response"),
    ],
)
def test_fetch_template_call_errors(answer: Any, error: type[ProviderError], code: str):
    sender, _ = kakao(answer)
    with pytest.raises(error) as caught:
        sender.fetch_template(credentials())
    assert caught.value.code == code


def test_verify_describes_the_approved_template():
    sender, _ = kakao(http_response(200, lookup_answer()))
    assert (
        sender.verify(credentials()) == "template ABSENCE01 (결재 알림): approved, variables: name, title, content, url"
    )


def test_verify_refuses_a_template_with_a_variable_the_hub_cannot_fill():
    sender, _ = kakao(http_response(200, lookup_answer(content="#{name}님 주문 #{주문번호}")))
    with pytest.raises(PermanentProviderError) as caught:
        sender.verify(credentials())
    assert caught.value.code == "template_variable_unknown" and "주문번호" in caught.value.detail


def test_on_save_wraps_the_template():
    sender, _ = kakao(http_response(200, lookup_answer()))
    assert sender.on_save(credentials()) == {"template": TEMPLATE}


# --- rendering ---------------------------------------------------------------------------------------


def test_render_fills_every_variable_and_links():
    # GIVEN / WHEN
    message = render(TEMPLATE, notification(), destination("+821012345678", name="김민수"))
    # THEN
    assert message == {
        "content": "[WORKPLACE] 김민수님, 決裁依頼: 出張申請 (大阪)\n鈴木 一郎 さんから決裁依頼が届きました。",
        "buttons": [
            {
                "type": "WL",
                "name": "자세히 보기",
                "linkMobile": "https://acme.workplace.example/approvals/8812",
                "linkPc": "https://acme.workplace.example/approvals/8812",
            },
            {"type": "WL", "name": "홈", "linkMobile": "https://wp.example.com/home"},
        ],
    }


def test_render_aliases_and_fallbacks():
    # GIVEN Korean aliases, no recipient name and an empty body
    template = {"content": "#{이름}/#{고객명}: #{제목} · #{내용} → #{링크} #{URL}", "buttons": []}
    note = notification(body="")
    # WHEN
    message = render(template, note, destination("+821012345678", user_id=KIM))
    # THEN the name falls back to the user ID and the content to the title
    title, url = note.title, note.url
    assert message == {"content": f"{KIM}/{KIM}: {title} · {title} → {url} {url}"}


def test_render_link_without_scheme_prefix_takes_the_whole_url():
    template = {"content": "x", "buttons": [{"type": "WL", "name": "열기", "linkMobile": "#{url}"}]}
    assert render(template, notification(), destination("+821012345678"))["buttons"][0]["linkMobile"] == (
        "https://acme.workplace.example/approvals/8812"
    )


@pytest.mark.parametrize(
    "template",
    [
        {"content": "#{name}님의 주문 #{주문번호}", "buttons": []},
        {"content": "#{name}", "buttons": [{"type": "WL", "name": "b", "linkMobile": "https://x/#{path}"}]},
    ],
)
def test_render_unknown_variable_is_a_template_mismatch(template: dict[str, Any]):
    with pytest.raises(PermanentProviderError) as caught:
        render(template, notification(), destination("+821012345678"))
    error = caught.value
    assert error.code == "template_variable_unknown" and error.reason == "kakao_template_mismatch"
    assert ("주문번호" in error.detail) or ("path" in error.detail)


def test_render_length_limit():
    template = {"content": "#{content}", "buttons": []}
    assert len(render(template, notification(body="가" * 1000), destination("+8210"))["content"]) == 1000
    with pytest.raises(PermanentProviderError) as caught:
        render(template, notification(body="가" * 1001), destination("+8210"))
    assert caught.value.reason == "kakao_template_mismatch" and "1001" in caught.value.detail


def test_render_does_not_expand_variables_inside_values():
    message = render({"content": "#{title}: #{content}"}, notification(body="#{name}"), destination("+8210"))
    assert message["content"].endswith(": #{name}")


# --- phone numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("+821012345678", ("82", "01012345678")),
        ("+82 10-1234-5678", ("82", "01012345678")),
        ("+8201012345678", ("82", "01012345678")),
        ("+819012345678", ("81", "9012345678")),
        ("+14155550123", ("1", "4155550123")),
        ("+85291234567", ("852", "91234567")),
        ("+886912345678", ("886", "912345678")),
        ("+6591234567", ("65", "91234567")),
        ("+447911123456", ("44", "7911123456")),
    ],
)
def test_to_sens_number(phone: str, expected: tuple[str, str]):
    assert to_sens_number(phone) == expected


@pytest.mark.parametrize(
    ("phone", "code"),
    [("+79161234567", "country_unsupported"), ("01012345678", "invalid_phone"), ("", "invalid_phone")],
)
def test_to_sens_number_unsupported(phone: str, code: str):
    with pytest.raises(PermanentProviderError) as caught:
        to_sens_number(phone)
    assert caught.value.code == code and caught.value.reason == "phone_unsupported"


# --- sending -----------------------------------------------------------------------------------------


def three_recipients() -> list:
    return [
        destination("+821011111111", user_id=KIM, name="김민수"),
        destination("+821022222222", user_id=LEE, name="이영희"),
        destination("+819033333333", user_id=PARK, name="朴"),
    ]


def test_send_batch_per_message_statuses():
    # GIVEN SENS accepts the call but rejects one number; answers come back in another order
    sender, session = kakao(
        answer_202(
            accepted("9033333333", country="81", message_id="m-3"),
            accepted("01022222222", status="3019"),
            accepted("01011111111", message_id="m-1"),
        )
    )
    # WHEN
    outcomes = sender.send_batch(notification(), three_recipients(), credentials(), idempotency_key="k")
    # THEN one call for all three, and one bad number does not fail the others
    (request,) = session.requests
    assert [(m["countryCode"], m["to"]) for m in request.json["messages"]] == [
        ("82", "01011111111"),
        ("82", "01022222222"),
        ("81", "9033333333"),
    ]
    assert outcomes[KIM] == AcceptedAlimTalk("m-1", REQUEST_ID)
    assert outcomes[PARK] == AcceptedAlimTalk("m-3", REQUEST_ID)
    error = outcomes[LEE]
    assert isinstance(error, PermanentProviderError) and not isinstance(error, IntegrationCredentialsError)
    assert (error.code, error.reason, error.status_code) == ("3019", "kakao_rejected", 202)
    assert "카카오톡 사용자가 아님" in error.detail


def test_send_batch_leaves_unrenderable_recipients_out_of_the_call():
    # GIVEN one unsupported country
    recipients = [*three_recipients()[:2], destination("+79161234567", user_id=PARK)]
    sender, session = kakao(answer_202(accepted("01011111111"), accepted("01022222222")))
    # WHEN
    outcomes = sender.send_batch(notification(), recipients, credentials(), idempotency_key="k")
    # THEN
    assert len(session.requests[0].json["messages"]) == 2
    assert isinstance(outcomes[KIM], SendReceipt) and isinstance(outcomes[LEE], SendReceipt)
    assert isinstance(outcomes[PARK], PermanentProviderError) and outcomes[PARK].reason == "phone_unsupported"


def test_send_batch_without_sendable_recipients_makes_no_call():
    sender, session = kakao()  # any request would fail the FakeSession
    outcomes = sender.send_batch(
        notification(), [destination("+79161234567", user_id=KIM)], credentials(), idempotency_key="k"
    )
    assert session.requests == [] and outcomes[KIM].code == "country_unsupported"


def test_send_batch_missing_answer_is_an_unknown_outcome_not_a_retry():
    sender, _ = kakao(answer_202(accepted("01011111111")))
    outcomes = sender.send_batch(notification(), three_recipients()[:2], credentials(), idempotency_key="k")
    assert isinstance(outcomes[KIM], SendReceipt)
    assert isinstance(outcomes[LEE], PermanentProviderError) and outcomes[LEE].reason == "kakao_unknown_outcome"


def test_send_batch_splits_more_than_100_recipients():
    recipients = [destination(f"+8210{i:08d}", user_id=f"u{i}") for i in range(101)]
    sender, session = kakao(
        answer_202(*(accepted(f"010{i:08d}") for i in range(100))), answer_202(accepted("01000000100"))
    )
    outcomes = sender.send_batch(notification(), recipients, credentials(), idempotency_key="k")
    assert [len(r.json["messages"]) for r in session.requests] == [100, 1]
    assert all(isinstance(o, SendReceipt) for o in outcomes.values()) and len(outcomes) == 101


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        (gateway_error(401), IntegrationCredentialsError, "authentication_failed"),
        (gateway_error(403, "210", "Permission Denied"), IntegrationCredentialsError, "permission_denied"),
        (gateway_error(404, "404", "Not Found"), IntegrationCredentialsError, "service_not_found"),
        (gateway_error(400, "400", "plusFriendId mismatch"), PermanentProviderError, "bad_request"),
        (gateway_error(429, "429", "Too Many Requests"), RetryableProviderError, "rate_limited"),
        (gateway_error(500, "500", "Internal"), RetryableProviderError, "http_500"),
        (http_response(502, text="<html>bad gateway</html>"), RetryableProviderError, "http_502"),
        (requests.Timeout(), OutcomeUnknownError, "timeout"),  # the request may have gone through
        (requests.ConnectionError(), RetryableProviderError, "connection_error"),
    ],
)
def test_send_batch_whole_request_errors_apply_to_every_recipient(answer: Any, error: type, code: str):
    sender, _ = kakao(answer)
    outcomes = sender.send_batch(notification(), three_recipients(), credentials(), idempotency_key="k")
    assert set(outcomes) == {KIM, LEE, PARK}
    for outcome in outcomes.values():
        assert type(outcome) is error and outcome.code == code


def test_send_batch_400_keeps_the_error_details_and_retry_after_is_honoured():
    sender, _ = kakao(gateway_error(400, "400", "Bad Request"), gateway_error(429, "429", "slow down"))
    bad = sender.send_batch(notification(), three_recipients()[:1], credentials(), idempotency_key="k")[KIM]
    assert bad.status_code == 400 and "Bad Request" in bad.detail and "see the docs" in bad.detail
    sender, _ = kakao(http_response(429, {"error": {"errorCode": "429"}}, headers={"Retry-After": "7"}))
    slow = sender.send_batch(notification(), three_recipients()[:1], credentials(), idempotency_key="k")[KIM]
    assert isinstance(slow, RetryableProviderError) and slow.retry_after == 7.0


def test_send_single_recipient():
    sender, _ = kakao(answer_202(accepted("01011111111", message_id="m-1")))
    assert sender.send(notification(), three_recipients()[0], credentials()) == AcceptedAlimTalk("m-1", REQUEST_ID)
    sender, _ = kakao(answer_202(accepted("01011111111", status="3016")))
    with pytest.raises(PermanentProviderError) as caught:
        sender.send(notification(), three_recipients()[0], credentials())
    assert caught.value.code == "3016" and caught.value.reason == "kakao_rejected"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"template": None}, "template_not_fetched"),
        ({"template": {**TEMPLATE, "template_code": "OLD"}}, "template_stale"),
        ({"secret_key": ""}, "missing_setting"),
    ],
)
def test_send_batch_unusable_settings(overrides: dict[str, Any], code: str):
    sender, session = kakao()
    outcomes = sender.send_batch(notification(), three_recipients(), credentials(**overrides), idempotency_key="k")
    assert session.requests == []
    assert all(isinstance(o, IntegrationCredentialsError) and o.code == code for o in outcomes.values())


def test_no_keys_in_reprs_or_errors():
    # GIVEN every kind of failure
    sender, _ = kakao(gateway_error(401), gateway_error(503, "503", "x"), http_response(200, []))
    call = sender.build_request(notification(), three_recipients()[0], credentials())
    errors: list[Exception] = [
        *sender.send_batch(notification(), three_recipients(), credentials(), idempotency_key="k").values(),
        *sender.send_batch(notification(), three_recipients()[:1], credentials(), idempotency_key="k").values(),
    ]
    with pytest.raises(PermanentProviderError) as caught:
        sender.fetch_template(credentials())
    errors.append(caught.value)
    # THEN neither key shows up anywhere printable
    texts = [repr(sender), repr(call), *(repr(e) for e in errors), *(str(e) for e in errors)]
    texts += [repr(vars(e)) for e in errors]
    for text in texts:
        assert SECRET_KEY not in text and ACCESS_KEY not in text


# --- delivery results (the lookup API) -----------------------------------------------------------------


def result(message_id: str = "m-1", **fields: Any) -> dict[str, Any]:
    """One message as the lookup lists it."""
    answer = {
        "requestId": REQUEST_ID,
        "messageId": message_id,
        "requestTime": "2023-11-15T07:13:20.000",
        "plusFriendId": "@mychannel",
        "templateCode": "ABSENCE01",
        "to": "01011111111",
        "content": "...",
        "requestStatusCode": "A000",
        "requestStatusName": "success",
        "requestStatusDesc": "성공",
        "useSmsFailover": False,
    }
    answer.update(fields)
    return answer


def listing(*messages: dict[str, Any], next_token: str | None = None) -> requests.Response:
    body: dict[str, Any] = {"requestId": REQUEST_ID, "statusCode": "200", "statusName": "success"}
    body["messages"] = list(messages)
    if next_token:
        body["nextToken"] = next_token
    return http_response(200, body)


@pytest.mark.parametrize(
    ("fields", "state", "reason", "code"),
    [
        ({"messageStatusCode": "0000", "messageStatusName": "success"}, "delivered", None, "0000"),
        ({"messageStatusCode": "3019", "messageStatusName": "fail"}, "failed", "kakao_not_delivered", "3019"),
        ({"messageStatusName": "processing"}, "pending", "result_pending", None),
        # what the hub cannot read is never taken for delivered
        ({"messageStatusCode": "0000", "messageStatusName": "fail"}, "pending", "result_unreadable", None),
        ({"messageStatusCode": 0}, "pending", "result_unreadable", None),
        ({"messageStatusCode": "0000", "requestStatusCode": "E400"}, "pending", "result_unreadable", None),
        ({"messageStatusCode": "<b>0000</b>"}, "pending", "result_unreadable", None),
    ],
)
def test_parse_result(fields: dict[str, Any], state: str, reason: str | None, code: str | None):
    parsed = parse_result(result(**fields))
    assert (parsed.state, parsed.reason, parsed.error_code) == (state, reason, code)


def test_parse_result_of_something_that_is_no_message_is_pending():
    assert parse_result(["0000"]).state == "pending"
    assert parse_result({"messageStatusCode": "0000"}).state == "pending"  # no messageId


@pytest.mark.parametrize(
    ("failover_status", "state", "reason", "failover"),
    [
        ({"status": "COMPLETED", "statusName": "success"}, "delivered", "sms_failover", "delivered"),
        ({"status": "COMPLETED", "statusName": "fail"}, "failed", "kakao_not_delivered", "failed"),
        ({"status": "PROCESSING", "statusName": "processing"}, "pending", "failover_pending", "pending"),
    ],
)
def test_a_failover_decides_what_reached_the_employee(
    failover_status: dict[str, str], state: str, reason: str, failover: str
):
    # GIVEN AlimTalk not delivered (3019) with an SMS failover whose result is given
    answer = result(messageStatusCode="3019", messageStatusName="fail", useSmsFailover=True)
    answer["failoverInfo"] = {"type": "SMS", "from": "0212345678", **failover_status}
    # WHEN / THEN
    parsed = parse_result(answer)
    assert (parsed.state, parsed.reason, parsed.error_code) == (state, reason, "3019")
    assert parsed.failover == {"channel": "sms", "status": failover}


def test_lookup_results_reads_every_page_and_signs_each_get():
    # GIVEN two pages of results
    sender, session = kakao(
        listing(result("m-1", messageStatusCode="0000"), next_token="20"),
        listing(result("m-2", messageStatusCode="3016", messageStatusName="fail")),
    )
    # WHEN
    results = sender.lookup_results(credentials(), REQUEST_ID)
    # THEN both pages read, with GETs only (a lookup never sends)
    assert {k: v.state for k, v in results.items()} == {"m-1": "delivered", "m-2": "failed"}
    assert [r.method for r in session.requests] == ["GET", "GET"]
    first, second = (urlsplit(r.url) for r in session.requests)
    assert first.query == f"requestId={REQUEST_ID}" and second.query == f"requestId={REQUEST_ID}&nextToken=20"
    uri = f"{first.path}?{first.query}"
    expected = sign("GET", uri, "1700000000000", ACCESS_KEY, SECRET_KEY)
    assert session.requests[0].headers["x-ncp-apigw-signature-v2"] == expected


def test_lookup_of_a_request_sens_does_not_list_yet_is_empty():
    sender, _ = kakao(http_response(404, text=""))
    assert sender.lookup_results(credentials(), REQUEST_ID) == {}


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        (http_response(503, {"error": {"errorCode": "503"}}), RetryableProviderError, "http_503"),
        (http_response(429, {"error": {"errorCode": "429"}}), RetryableProviderError, "rate_limited"),
        (requests.Timeout(), RetryableProviderError, "timeout"),
        (http_response(200, text="<html>gateway</html>"), RetryableProviderError, "invalid_lookup_response"),
        (http_response(200, {"messages": "none"}), RetryableProviderError, "invalid_lookup_response"),
        (gateway_error(401), IntegrationCredentialsError, "authentication_failed"),
    ],
)
def test_a_lookup_that_fails_raises(answer: Any, error: type[ProviderError], code: str):
    sender, _ = kakao(answer)
    with pytest.raises(error) as caught:
        sender.lookup_results(credentials(), REQUEST_ID)
    assert caught.value.code == code


# --- SMS failover -----------------------------------------------------------------------------------


def test_euc_kr_length_counts_korean_as_two_bytes():
    assert euc_kr_bytes("abc") == 3 and euc_kr_bytes("가나") == 4 and euc_kr_bytes("😀") == 2


def test_failover_is_sms_up_to_90_bytes_and_lms_beyond():
    short = failover_config("가" * 45, "제목", "0212345678")
    assert short == {"type": "SMS", "from": "0212345678", "content": "가" * 45}
    long = failover_config("가" * 46, "결재 요청: " + "아" * 40, "0212345678")
    assert long["type"] == "LMS" and long["content"] == "가" * 46
    assert euc_kr_bytes(long["subject"]) <= 40 and long["subject"].startswith("결재 요청")
    assert euc_kr_bytes(failover_config("가" * 1500, "t", "0212345678")["content"]) == 2000


def test_with_failover_on_every_message_carries_its_own_text_as_sms():
    # GIVEN failover on, from a registered number
    sender, session = kakao(answer_202(accepted("01011111111"), accepted("01022222222"), accepted("9033333333")))
    creds = credentials(sms_failover="on", sms_from="0212345678")
    # WHEN
    sender.send_batch(notification(), three_recipients(), creds, idempotency_key="k")
    # THEN each message asks for the failover, with its own AlimTalk text
    for message in session.requests[0].json["messages"]:
        assert message["useSmsFailover"] is True
        assert message["failoverConfig"]["from"] == "0212345678"
        assert message["failoverConfig"]["content"] == message["content"]
        assert message["failoverConfig"]["type"] == ("SMS" if euc_kr_bytes(message["content"]) <= 90 else "LMS")


def test_failover_off_by_default_and_on_without_a_sender_number_is_a_settings_error():
    sender, session = kakao(answer_202(accepted("01011111111")))
    sender.send(notification(), three_recipients()[0], credentials())
    assert "useSmsFailover" not in session.requests[0].json["messages"][0]
    with pytest.raises(IntegrationCredentialsError, match="missing_setting"):
        sender.build_message(notification(), three_recipients()[0], credentials(sms_failover="on"))


def test_verify_with_failover_names_the_sender_number():
    sender, _ = kakao(http_response(200, lookup_answer()))
    described = sender.verify(credentials(sms_failover="on", sms_from="0212345678"))
    assert described.endswith("SMS failover from 0212345678 (must be a sender number registered in SENS)")


def test_lookup_message_reads_one_result_by_its_id():
    sender, session = kakao(
        http_response(200, result("m-1", messageStatusCode="3019", messageStatusName="fail")),
        http_response(404, {"error": {"errorCode": "404"}}),
        http_response(200, result("m-other", messageStatusCode="0000")),
        http_response(502, text=""),
    )
    assert sender.lookup_message(credentials(), "m-1").error_code == "3019"
    assert sender.lookup_message(credentials(), "m-2").reason == "result_not_listed"
    assert sender.lookup_message(credentials(), "m-3").state == "pending"  # another message's answer
    with pytest.raises(RetryableProviderError):
        sender.lookup_message(credentials(), "m-4")
    assert urlsplit(session.requests[0].url).path == f"/alimtalk/v2/services/{SERVICE_ID}/messages/m-1"
    assert {r.method for r in session.requests} == {"GET"}
