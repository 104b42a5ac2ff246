"""SENS AlimTalk fake: signature checks, template lookup, per-message statuses, limits, faults, and
KakaoSender end to end against it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from infra.sandbox import Sandbox, SandboxClient, SandboxError
from infra.sandbox.sens import SensFake, sign
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import IntegrationCredentialsError, PermanentProviderError, RetryableProviderError
from workplace_hub.kakao.alimtalk import AcceptedAlimTalk, KakaoSender
from workplace_hub.providers.messenger import Destination, Notification, SendReceipt

ACCESS_KEY = "ACCESSKEYEXAMPLE0001"
SECRET_KEY = "SECRETKEYEXAMPLE0000000000000000000000001"
SERVICE_ID = "ncp:kkobizmsg:kr:1234567:sens"
OTHER_SERVICE = "ncp:kkobizmsg:kr:7654321:sens"
CHANNEL = "@workplace"
CONTENT = "[WORKPLACE] #{name}님, #{title}\n#{content}"
BUTTONS = [
    {"type": "WL", "name": "자세히 보기", "linkMobile": "https://#{url}", "linkPc": "https://#{url}"},
    {"type": "WL", "name": "홈", "linkMobile": "https://wp.example.com/home"},
]
NON_KAKAO = "01000000000"
MESSAGES = f"/sens/alimtalk/v2/services/{SERVICE_ID}/messages"
TEMPLATES = f"/sens/alimtalk/v2/services/{SERVICE_ID}/templates"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """Only the SENS fake (overrides the shared fixture, which mounts the default fakes)."""
    with Sandbox(providers=[SensFake]) as sb:
        yield sb


@pytest.fixture
def project(control: SandboxClient) -> dict[str, Any]:
    body = {
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "service_id": SERVICE_ID,
        "channels": {
            CHANNEL: {
                "templates": [
                    {"templateCode": "ABSENCE01", "templateName": "결재 알림", "content": CONTENT, "buttons": BUTTONS},
                    {"templateCode": "PLAIN01", "templateName": "단순 알림", "content": "#{title}"},
                    {"templateCode": "DRAFT01", "content": "#{title}", "inspectionStatus": "REQ"},
                ]
            }
        },
        "non_kakao_numbers": [NON_KAKAO],
        "sender_numbers": ["0212345678"],
    }
    control.control("sens", "projects", {**body, "access_key": "OTHERKEY", "service_id": OTHER_SERVICE})
    return control.control("sens", "projects", body)


def headers(
    method: str,
    uri: str,
    *,
    timestamp: int | None = None,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
) -> dict[str, str]:
    stamp = str(int(time.time() * 1000) if timestamp is None else timestamp)
    return {
        "x-ncp-apigw-timestamp": stamp,
        "x-ncp-iam-access-key": access_key,
        "x-ncp-apigw-signature-v2": sign(method, uri, stamp, access_key, secret_key),
    }


@pytest.fixture
def api(sandbox: Sandbox, project: dict[str, Any], http: requests.Session):
    """`call(method, uri, body=None, signed_uri=None, **header_overrides) -> Response`, signed by default."""

    def call(method: str, uri: str, body: Any = None, *, signed_uri: str | None = None, **kw: Any) -> requests.Response:
        sent = headers(method, signed_uri or uri, **kw)
        if body is not None:
            sent["Content-Type"] = "application/json; charset=utf-8"
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        return http.request(method, f"{sandbox.url}{uri}", data=data, headers=sent, timeout=5)

    return call


def good_message(to: str = "01012345678", name: str = "김민수") -> dict[str, Any]:
    link = "https://acme.workplace.example/approvals/8812"
    return {
        "countryCode": "82",
        "to": to,
        "content": f"[WORKPLACE] {name}님, 결재 요청\n출장 신청이 도착했습니다.",
        "buttons": [
            {"type": "WL", "name": "자세히 보기", "linkMobile": link, "linkPc": link},
            {"type": "WL", "name": "홈", "linkMobile": "https://wp.example.com/home"},
        ],
    }


def send_body(*messages: dict[str, Any], template: str = "ABSENCE01", channel: str = CHANNEL) -> dict[str, Any]:
    return {"plusFriendId": channel, "templateCode": template, "messages": list(messages)}


def auth_failed(resp: requests.Response) -> bool:
    return resp.status_code == 401 and resp.json() == {
        "error": {
            "errorCode": "200",
            "message": "Authentication Failed",
            "details": "Invalid authentication information.",
        }
    }


# --- authentication ----------------------------------------------------------------------------------


def test_signature_timestamp_and_key_checks(sandbox: Sandbox, api, http: requests.Session):
    uri = f"{TEMPLATES}?channelId=%40workplace&templateCode=ABSENCE01"
    assert api("GET", uri).status_code == 200
    # every header is required
    for name in ("x-ncp-apigw-timestamp", "x-ncp-iam-access-key", "x-ncp-apigw-signature-v2"):
        partial = {k: v for k, v in headers("GET", uri).items() if k != name}
        assert auth_failed(http.get(f"{sandbox.url}{uri}", headers=partial, timeout=5))
    assert auth_failed(api("GET", uri, access_key="UNKNOWNKEY0000"))
    assert auth_failed(api("GET", uri, secret_key="WRONG" + SECRET_KEY[5:]))
    # 5 minutes of skew either way
    assert auth_failed(api("GET", uri, timestamp=int(time.time() * 1000) - 301_000))
    assert auth_failed(api("GET", uri, timestamp=int(time.time() * 1000) + 301_000))
    assert api("GET", uri, timestamp=int(time.time() * 1000) - 240_000).status_code == 200
    # the signature covers the exact method, path and query
    assert auth_failed(api("GET", uri, signed_uri=TEMPLATES))
    assert auth_failed(api("GET", uri, signed_uri=uri.replace("%40", "@")))
    assert auth_failed(api("GET", uri, signed_uri=uri.removeprefix("/sens")))
    assert auth_failed(api("POST", MESSAGES, send_body(good_message()), signed_uri=TEMPLATES))


def test_service_ids(sandbox: Sandbox, api):
    unknown = "/sens/alimtalk/v2/services/ncp:kkobizmsg:kr:999:sens/messages"
    resp = api("POST", unknown, send_body(good_message()))
    assert resp.status_code == 404 and resp.json()["error"]["errorCode"] == "404"
    other = f"/sens/alimtalk/v2/services/{OTHER_SERVICE}/messages"
    assert api("POST", other, send_body(good_message())).status_code == 403
    assert api("GET", MESSAGES).status_code == 400  # a lookup needs a requestId
    assert api("PUT", MESSAGES, send_body(good_message())).status_code == 405


# --- template lookup ---------------------------------------------------------------------------------


def test_template_lookup(api):
    resp = api("GET", f"{TEMPLATES}?channelId=%40workplace&templateCode=ABSENCE01")
    assert resp.status_code == 200
    (template,) = resp.json()
    assert (
        template.items()
        >= {
            "channelId": CHANNEL,
            "templateCode": "ABSENCE01",
            "templateName": "결재 알림",
            "content": CONTENT,
            "templateInspectionStatus": "APR",
            "templateStatus": "ACTIVE",
        }.items()
    )
    assert template["buttons"] == [{"order": i, **b} for i, b in enumerate(BUTTONS, start=1)]
    all_templates = api("GET", f"{TEMPLATES}?channelId=%40workplace").json()
    assert [t["templateCode"] for t in all_templates] == ["ABSENCE01", "PLAIN01", "DRAFT01"]
    assert all_templates[2]["templateInspectionStatus"] == "REQ"
    assert api("GET", f"{TEMPLATES}?channelId=%40workplace&templateCode=NOPE").json() == []
    page = api("GET", f"{TEMPLATES}?channelId=%40workplace&pageSize=1&pageIndex=1").json()
    assert [t["templateCode"] for t in page] == ["PLAIN01"]
    assert api("GET", f"{TEMPLATES}?channelId=%40nobody").status_code == 400
    assert api("GET", TEMPLATES).status_code == 400


# --- sending -----------------------------------------------------------------------------------------


def results(api, request_id: str) -> list[dict[str, Any]]:
    """Every message of one request as the lookup API lists it (all pages)."""
    found: list[dict[str, Any]] = []
    token = ""
    while True:
        uri = f"{MESSAGES}?requestId={request_id}" + (f"&nextToken={token}" if token else "")
        resp = api("GET", uri)
        assert resp.status_code == 200, resp.text
        found += resp.json()["messages"]
        token = resp.json().get("nextToken", "")
        if not token:
            return found


def test_send_answers_request_statuses_and_the_lookup_the_delivery_results(api, control: SandboxClient):
    too_long = good_message("01099990000")
    too_long["content"] = "[WORKPLACE] 김님, t\n" + "가" * 1000
    wrong_button = good_message("01099990001")
    wrong_button["buttons"][0]["name"] = "열기"
    unfilled_link = good_message("01099990002")
    unfilled_link["buttons"][1]["linkMobile"] = "https://other.example.com/home"
    unfilled_variable = good_message("01099990003")
    unfilled_variable["content"] = CONTENT
    edited_text = good_message("01099990004")
    edited_text["content"] = edited_text["content"].replace("[WORKPLACE]", "[WP]")
    no_buttons = {k: v for k, v in good_message("01099990005").items() if k != "buttons"}
    messages = [
        good_message(),
        good_message(NON_KAKAO),
        good_message("010-1234"),
        too_long,
        wrong_button,
        unfilled_link,
        unfilled_variable,
        edited_text,
        no_buttons,
    ]
    # WHEN
    resp = api("POST", MESSAGES, send_body(*messages))
    # THEN
    assert resp.status_code == 202
    body = resp.json()
    assert body["statusCode"] == "202" and body["statusName"] == "success"
    assert body["requestId"].startswith("RAKA-") and len(body["requestTime"]) == 23
    # the send answer only says which messages the request took (no Kakao result codes at send time) ...
    statuses = [m["requestStatusCode"] for m in body["messages"]]
    assert statuses == ["A000", "A000", "E400", "A000", "A000", "A000", "A000", "A000", "A000"]
    first = body["messages"][0]
    assert first.keys() == {
        "messageId",
        "to",
        "countryCode",
        "content",
        "requestStatusCode",
        "requestStatusName",
        "requestStatusDesc",
        "useSmsFailover",
    }
    assert (first["to"], first["countryCode"], first["requestStatusName"]) == ("01012345678", "82", "success")
    assert body["messages"][2]["requestStatusName"] == "fail"
    assert len({m["messageId"] for m in body["messages"]}) == len(messages)
    # ... the lookup API says what Kakao did with each accepted one, by messageId (20 a page)
    found = {m["messageId"]: m for m in results(api, body["requestId"])}
    accepted = [m for m in body["messages"] if m["requestStatusCode"] == "A000"]
    assert [found[m["messageId"]]["messageStatusCode"] for m in accepted] == [
        "0000", "3019", "3014", "3027", "3027", "3016", "3016", "3027"
    ]  # fmt: skip
    assert found[first["messageId"]]["messageStatusName"] == "success"
    assert found[accepted[1]["messageId"]]["messageStatusName"] == "fail"
    one = api("GET", f"{MESSAGES}/{accepted[1]['messageId']}").json()
    assert one["messageStatusCode"] == "3019" and one["requestId"] == body["requestId"] and "completeTime" in one
    assert api("GET", f"{MESSAGES}/no-such-message").status_code == 404
    unknown = api("GET", f"{MESSAGES}?requestId=RAKA-unknown")
    assert unknown.status_code == 404 and unknown.content == b""
    # only the accepted messages are recorded
    recorded = control.control("sens", "messages", method="GET")["messages"]
    assert len(recorded) == 8 and recorded[0]["messageId"] == first["messageId"]
    assert recorded[0]["plusFriendId"] == CHANNEL and recorded[0]["templateCode"] == "ABSENCE01"


def test_a_result_is_processing_until_its_time_and_outcomes_set_per_number(api, control: SandboxClient):
    # GIVEN one number Kakao keeps processing, one it refuses with a code the test chooses
    control.control("sens", "outcomes", {"to": "01011110000", "processing_seconds": 3600})
    control.control("sens", "outcomes", {"to": "01022220000", "code": "3020", "desc": "blocked"})
    body = api("POST", MESSAGES, send_body(good_message("01011110000"), good_message("01022220000"))).json()
    # WHEN looked up
    slow, refused = results(api, body["requestId"])
    # THEN the first has no result yet, the second the chosen one
    assert slow["messageStatusName"] == "processing" and "messageStatusCode" not in slow
    assert (refused["messageStatusCode"], refused["messageStatusDesc"]) == ("3020", "blocked")
    with pytest.raises(SandboxError):
        control.control("sens", "outcomes", {"to": "010", "failover": "maybe"})


def test_sms_failover_shows_in_the_result_when_kakao_does_not_deliver(api, control: SandboxClient):
    def with_failover(to: str, sender: str) -> dict[str, Any]:
        message = good_message(to)
        config = {"type": "SMS", "from": sender, "content": "text"}
        return {**message, "useSmsFailover": True, "failoverConfig": config}

    # GIVEN two non-KakaoTalk numbers (NON_KAKAO and a chosen one): failover from the registered and another number
    control.control("sens", "outcomes", {"to": "01033330000", "code": "3019"})
    messages = [with_failover(NON_KAKAO, "0212345678"), with_failover("01033330000", "0299999999"), good_message()]
    body = api("POST", MESSAGES, send_body(*messages)).json()
    # WHEN looked up
    registered, unregistered, delivered = results(api, body["requestId"])
    # THEN the failover's result shows where AlimTalk failed, none where it was delivered
    assert registered["failoverInfo"]["statusName"] == "success" and registered["failoverInfo"]["type"] == "SMS"
    assert unregistered["failoverInfo"]["statusName"] == "fail"
    assert "failoverInfo" not in delivered and delivered["messageStatusCode"] == "0000"


def test_template_without_buttons_refuses_buttons(api):
    plain = {"to": "01012345678", "content": "결재 요청"}
    body = api("POST", MESSAGES, send_body(plain, good_message(), template="PLAIN01")).json()
    assert [m["requestStatusCode"] for m in body["messages"]] == ["A000", "A000"]
    assert [m["messageStatusCode"] for m in results(api, body["requestId"])] == ["0000", "3027"]


@pytest.mark.parametrize(
    ("body", "details"),
    [
        (send_body(*[good_message()] * 101), "messages size must be <= 100"),
        (send_body(), "messages must be a non-empty list"),
        (send_body(good_message(), channel="@other"), "plusFriendId"),
        (send_body(good_message(), template="NOPE01"), "templateCode"),
        (send_body(good_message(), template="DRAFT01"), "not approved"),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_send_request_errors(api, body: Any, details: str):
    resp = api("POST", MESSAGES, body)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["errorCode"] == "400" and details in error["details"]


def test_exactly_100_messages_are_accepted(api):
    resp = api("POST", MESSAGES, send_body(*[good_message(f"010{i:08d}") for i in range(100)]))
    assert resp.status_code == 202 and len(resp.json()["messages"]) == 100


def test_request_log(api, control: SandboxClient):
    api("POST", MESSAGES, send_body(good_message()))
    (entry,) = control.requests("sens")
    assert entry["path"] == MESSAGES and entry["status"] == 202
    assert entry["body"]["messages"][0]["to"] == "01012345678"


def test_control_validation(control: SandboxClient):
    with pytest.raises(SandboxError, match="secret_key"):
        control.control("sens", "projects", {"access_key": "K", "service_id": SERVICE_ID})
    with pytest.raises(SandboxError, match="channel"):
        control.control(
            "sens", "projects", {"access_key": "K", "secret_key": "S", "service_id": "x", "channels": {"nope": {}}}
        )
    with pytest.raises(SandboxError, match="inspectionStatus"):
        bad = {"templates": [{"templateCode": "A", "content": "x", "inspectionStatus": "OK"}]}
        control.control(
            "sens", "projects", {"access_key": "K", "secret_key": "S", "service_id": "x", "channels": {"@c": bad}}
        )


# --- faults ------------------------------------------------------------------------------------------


def test_faults(api, control: SandboxClient):
    uri = f"{TEMPLATES}?channelId=%40workplace&templateCode=ABSENCE01"
    control.add_fault("sens", "rate_limited", times=1, retry_after=4)
    resp = api("POST", MESSAGES, send_body(good_message()))
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "4"
    control.add_fault("sens", "server_error", times=1, match={"operation": "templates"})
    assert api("POST", MESSAGES, send_body(good_message())).status_code == 202
    assert api("GET", uri).status_code == 503
    control.add_fault("sens", "invalid_auth", times=1, match={"service_id": SERVICE_ID})
    assert auth_failed(api("GET", uri))
    control.add_fault("sens", "timeout", times=1, delay=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{control.base_url}{uri}", headers=headers("GET", uri), timeout=0.1)
    assert api("GET", uri).status_code == 200
    with pytest.raises(SandboxError, match="unknown fault kind"):
        control.add_fault("sens", "channel_not_found")
    # a lookup can be failed alone, or answered with what is not its answer
    request_id = api("POST", MESSAGES, send_body(good_message())).json()["requestId"]
    control.add_fault("sens", "server_error", times=1, match={"operation": "lookup"})
    assert api("GET", f"{MESSAGES}?requestId={request_id}").status_code == 503
    control.add_fault("sens", "malformed", times=1, match={"operation": "lookup"})
    malformed = api("GET", f"{MESSAGES}?requestId={request_id}")
    assert malformed.status_code == 200 and malformed.text.startswith("<html>")
    assert api("GET", f"{MESSAGES}?requestId={request_id}").json()["messages"][0]["messageStatusCode"] == "0000"


def test_rate_limit_per_service(api, control: SandboxClient):
    control.set_limits("sens", burst=2, per_second=0.5)
    for _ in range(2):
        assert api("POST", MESSAGES, send_body(good_message())).status_code == 202
    resp = api("POST", MESSAGES, send_body(good_message()))
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "2"


# --- KakaoSender end to end --------------------------------------------------------------------------


@pytest.fixture
def sender(sandbox: Sandbox, project: dict[str, Any]) -> Iterator[KakaoSender]:
    with requests.Session() as session:
        yield KakaoSender(session, ProviderEndpoints(SENS_BASE=project["base_url"]), timeout=(1.0, 0.5))


def kakao_credentials(**overrides: Any) -> dict[str, Any]:
    return {
        "access_key_id": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "channel_id": CHANNEL,
        "service_id": SERVICE_ID,
        "template_code": "ABSENCE01",
        **overrides,
    }


def test_sender_end_to_end(sender: KakaoSender, control: SandboxClient):
    # GIVEN the template the admin's verify stored
    template = sender.fetch_template(kakao_credentials())
    assert template["variables"] == ["name", "title", "content", "url"] and template["status"] == "APR"
    creds = kakao_credentials(template=template)
    note = Notification(
        event_id="evt-1",
        item="approval.requested",
        title="결재 요청: 출장 신청",
        body="박지성 님의 출장 신청이 도착했습니다.",
        url="https://acme.workplace.example/approvals/8812",
        locale="ko",
    )
    recipients = [
        Destination("kim@acme.example", "+821012345678", name="김민수", phone="+821012345678"),
        Destination("nokakao@acme.example", "+821000000000", name="최영수", phone="+821000000000"),
        Destination("yamada@acme.example", "+819012345678", name="山田 太郎", phone="+819012345678"),
    ]
    # WHEN
    outcomes = sender.send_batch(note, recipients, creds, idempotency_key="k")
    # THEN three receipts of one request (SENS accepts; Kakao's refusal shows only in the lookup)
    receipts = [outcomes[d.user_id] for d in recipients]
    assert all(isinstance(r, AcceptedAlimTalk) for r in receipts)
    assert len({r.request_id for r in receipts}) == 1  # type: ignore[union-attr]
    accepted = control.control("sens", "messages", method="GET")["messages"]
    assert [(m["countryCode"], m["to"]) for m in accepted] == [
        ("82", "01012345678"), ("82", "01000000000"), ("81", "9012345678")
    ]  # fmt: skip
    assert accepted[0]["content"] == "[WORKPLACE] 김민수님, 결재 요청: 출장 신청\n박지성 님의 출장 신청이 도착했습니다."
    assert accepted[0]["buttons"][0]["linkMobile"] == "https://acme.workplace.example/approvals/8812"
    assert len(control.requests("sens")) == 2  # the lookup and one send
    # AND the result lookup tells delivered from not delivered
    results = sender.lookup_results(creds, receipts[0].request_id)  # type: ignore[union-attr]
    states = {r.provider_message_id: results[r.provider_message_id].state for r in receipts}  # type: ignore[index]
    assert list(states.values()) == ["delivered", "failed", "delivered"]
    refused = results[receipts[1].provider_message_id]  # type: ignore[index]
    assert (refused.error_code, refused.reason) == ("3019", "kakao_not_delivered")
    one = sender.lookup_message(creds, receipts[1].provider_message_id)  # type: ignore[arg-type]
    assert (one.state, one.error_code) == ("failed", "3019")
    assert {r["method"] for r in control.requests("sens")[2:]} == {"GET"}  # the lookup sends nothing
    # and a single send goes through too
    assert isinstance(sender.send(note, recipients[0], creds), SendReceipt)


def test_sender_verify(sender: KakaoSender):
    assert sender.verify(kakao_credentials()) == (
        "template ABSENCE01 (결재 알림): approved, variables: name, title, content, url"
    )
    with pytest.raises(IntegrationCredentialsError) as caught:
        sender.verify(kakao_credentials(secret_key="WRONG" + SECRET_KEY[5:]))
    assert caught.value.code == "authentication_failed" and SECRET_KEY not in str(caught.value)
    with pytest.raises(IntegrationCredentialsError, match="service_not_found"):
        sender.verify(kakao_credentials(service_id="ncp:kkobizmsg:kr:999:sens"))
    with pytest.raises(PermanentProviderError, match="template_not_approved"):
        sender.verify(kakao_credentials(template_code="DRAFT01"))
    with pytest.raises(PermanentProviderError, match="template_not_found"):
        sender.verify(kakao_credentials(template_code="NOPE01"))
    with pytest.raises(PermanentProviderError, match="template_not_found"):
        sender.verify(kakao_credentials(channel_id="@nobody"))


def test_sender_maps_faults(sender: KakaoSender, control: SandboxClient):
    creds = kakao_credentials(template=sender.fetch_template(kakao_credentials()))
    note = Notification("evt-1", "approval.requested", "t", "b", "https://acme.workplace.example/a/1")
    target = [Destination("kim@acme.example", "+821012345678", name="김민수")]
    control.add_fault("sens", "rate_limited", times=1, retry_after=3)
    limited = sender.send_batch(note, target, creds, idempotency_key="k")["kim@acme.example"]
    assert isinstance(limited, RetryableProviderError) and limited.retry_after == 3.0
    control.add_fault("sens", "server_error", times=1, status=502)
    assert isinstance(
        sender.send_batch(note, target, creds, idempotency_key="k")["kim@acme.example"], RetryableProviderError
    )
    control.add_fault("sens", "timeout", times=1, delay=1.0)
    timed_out = sender.send_batch(note, target, creds, idempotency_key="k")["kim@acme.example"]
    assert isinstance(timed_out, RetryableProviderError) and timed_out.code == "timeout"
    control.add_fault("sens", "invalid_auth", times=1)
    assert isinstance(
        sender.send_batch(note, target, creds, idempotency_key="k")["kim@acme.example"], IntegrationCredentialsError
    )
    # the retry after the faults is signed afresh and accepted
    assert isinstance(sender.send_batch(note, target, creds, idempotency_key="k")["kim@acme.example"], SendReceipt)
