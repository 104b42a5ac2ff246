"""KakaoTalk AlimTalk notifications through NAVER Cloud SENS and the local stack: the approved template fetched
on save, per-recipient outcomes of one request, template variables, refused keys, batching, redelivery; the
delivery results looked up after acceptance (sent → delivered / failed, lookups that fail, the window's end, a
redelivered lookup job), SMS failover and the per-event summary.

The stack looks results up 1 s after acceptance, then every 2 s, for 8 s (tests/integration/conftest.py).

Each test registers its own SENS project (keys, Biz Message service, Kakao channel, approved template) in the
sandbox SENS fake and configures KakaoTalk through the settings API as the company's admin. Recipients are
reached at the E.164 `phone` of the event.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from tests.integration.conftest import Api, notification, wait_for
from tests.integration.helpers import deliveries, ok, user, wait_for_deliveries
from tests.integration.messengers import (
    RESULTS,
    TEMPLATE_CONTENT,
    SensProject,
    enable_kakao,
    integration_status,
    korean_phone,
    new_sens_project,
    outcomes,
    sens_accepted,
    sens_lookups,
    sens_number,
    sens_project_body,
    sens_sends,
    wait_until_idle,
)
from workplace_hub.config import KakaoResultsSettings
from workplace_hub.kakao.failover import SMS_MAX_BYTES, euc_kr_bytes

pytestmark = pytest.mark.integration

# KakaoResultsSettings.HTTP_READ_TIMEOUT: the lookup function's default (template.yaml does not override it).
READ_TIMEOUT = KakaoResultsSettings.model_fields["HTTP_READ_TIMEOUT"].default

UNFILLABLE = "[WORKPLACE] #{name}님, #{department} 결재 요청: #{title}"


@pytest.fixture
def admin(api_as: Callable[..., Api], company_id: str) -> Api:
    return api_as(company_id, user(company_id, "admin"), "admin")


def filled(event: dict[str, Any], name: str) -> str:
    """The template text as Kakao must receive it for this recipient (written out, not rendered by the hub)."""
    message = event["message"]
    return f"[WORKPLACE] {name}님, {message['title']}\n{message['body']}"


def filled_buttons(event: dict[str, Any]) -> list[dict[str, str]]:
    url = event["message"]["url"]
    return [
        {"type": "WL", "name": "자세히 보기", "linkMobile": url, "linkPc": url},
        {"type": "WL", "name": "홈", "linkMobile": "https://wp.example.com/home"},
    ]


def titled(company_id: str, recipients: list[dict[str, Any]], title: str) -> dict[str, Any]:
    event = notification(company_id, recipients)
    event["message"] = {**event["message"], "title": title}
    return event


# ------------------------------------------------------------------------------------------- settings


def test_saving_fetches_the_approved_template_and_shows_it(admin: Api, sandbox: SandboxClient) -> None:
    # GIVEN a SENS project whose Kakao channel has the approved template
    project = new_sens_project(sandbox)

    # WHEN the admin saves the KakaoTalk settings naming that template
    saved = ok(admin.put("/admin/integrations/kakao", {"enabled": True, "settings": project.settings()}))

    # THEN the hub looked the template up, signed, for that channel and code
    (lookup,) = [r for r in sandbox.requests("sens") if r["method"] == "GET"]
    assert lookup["status"] == 200
    assert lookup["query"] == {"channelId": project.channel_id, "templateCode": project.template_code}
    # AND the integration shows its content, variables and buttons, as saved and when read again
    for view in (saved, ok(admin.get("/admin/integrations/kakao"))):
        template = view["settings"]["template"]
        assert template["template_code"] == project.template_code
        assert template["content"] == TEMPLATE_CONTENT
        assert template["variables"] == ["name", "title", "content", "url"]
        assert template["buttons"] == [
            {"type": "WL", "name": "자세히 보기", "linkMobile": "https://#{url}", "linkPc": "#{url}"},
            {"type": "WL", "name": "홈", "linkMobile": "https://wp.example.com/home"},
        ]
        assert view["configured"] is True and view["status"]["state"] != "error"


def test_a_secret_key_sens_refuses_on_save_shows_an_error_status(admin: Api, sandbox: SandboxClient) -> None:
    # GIVEN a SENS project, and an admin who types a wrong secret key
    project = new_sens_project(sandbox)
    form = project.settings(secret_key="SKwrong0000000000000000000000000")

    # WHEN the admin saves the settings
    saved = ok(admin.put("/admin/integrations/kakao", {"enabled": True, "settings": form}))

    # THEN the template could not be fetched and the status says SENS refused the keys
    assert (saved["status"]["state"], saved["status"]["code"]) == ("error", "authentication_failed")
    assert "template" not in saved["settings"]


# ------------------------------------------------------------------------------------------- delivered


def test_one_request_sends_to_kakao_users_and_records_each_recipients_outcome(
    stack: LocalStack,
    company_id: str,
    admin: Api,
    api_as: Callable[..., Api],
    sandbox: SandboxClient,
    send_event: Callable[[Any], None],
) -> None:
    # GIVEN KakaoTalk on; taro uses KakaoTalk, hanako's number is not a KakaoTalk user, jiro has no phone
    taro, hanako, jiro = (user(company_id, n) for n in ("taro", "hanako", "jiro"))
    taro_phone, hanako_phone = korean_phone(1), korean_phone(2)
    project = new_sens_project(sandbox, non_kakao=[sens_number(hanako_phone)])
    enable_kakao(admin, project)

    # WHEN one notification goes to all three
    recipients = [
        {"user_id": taro, "name": "김민수", "phone": taro_phone, "locale": "ko"},
        {"user_id": hanako, "name": "이영희", "phone": hanako_phone, "locale": "ko"},
        {"user_id": jiro, "name": "박지호", "locale": "ko"},
    ]
    event = notification(company_id, recipients)
    send_event(event)
    found = wait_for_deliveries(admin, event["event_id"], 3, statuses=RESULTS)

    # THEN SENS accepted both messages, and its delivery results moved the records on: taro's delivered,
    # hanako's failed with Kakao's result code; jiro's was skipped for lack of a phone
    assert outcomes(found) == {
        taro: ("delivered", None),
        hanako: ("failed", "kakao_not_delivered"),
        jiro: ("skipped", "phone_missing"),
    }
    assert found[(hanako, "kakao")]["error_code"] == "3019"
    # AND each record's history says when it was accepted and when the result came
    assert [step["status"] for step in found[(taro, "kakao")]["history"]] == ["queued", "accepted", "delivered"]
    assert [step["status"] for step in found[(hanako, "kakao")]["history"]] == ["queued", "accepted", "failed"]
    # AND the admin finds hanako's among the failures, and hanako sees it among her deliveries
    failures = ok(admin.get("/admin/failures", params={"event_id": event["event_id"]}))["failures"]
    assert [(f["user_id"], f["reason"], f["error_code"]) for f in failures] == [(hanako, "kakao_not_delivered", "3019")]
    (mine,) = ok(api_as(company_id, hanako, "member").get("/me/deliveries"))["deliveries"]
    assert (mine["status"], mine["error_code"], mine["history"][-1]["status"]) == ("failed", "3019", "failed")
    # AND the summary answers who did not get it, and why
    summary = ok(admin.get("/admin/deliveries/summary", params={"event_id": event["event_id"]}))
    assert summary["channels"]["kakao"] == {
        "total": 3,
        "delivered": 1,
        "sent": 0,
        "failed": 1,
        "skipped": 1,
        "pending": 0,
        "reasons": {"failed": {"kakao_not_delivered": 1}, "skipped": {"phone_missing": 1}},
    }
    # AND all of it came from ONE SENS request for the two reachable recipients, with the approved template
    (request,) = sens_sends(sandbox, project)
    assert request["status"] == 202
    assert (request["body"]["plusFriendId"], request["body"]["templateCode"]) == (
        project.channel_id,
        project.template_code,
    )
    sent = {m["to"]: m for m in request["body"]["messages"]}
    assert sorted(sent) == sorted([sens_number(taro_phone), sens_number(hanako_phone)])
    # AND each content is the template with its variables filled, and the web-link button opens message.url
    for phone, name in ((taro_phone, "김민수"), (hanako_phone, "이영희")):
        message = sent[sens_number(phone)]
        assert message["countryCode"] == "82"
        assert message["content"] == filled(event, name)
        assert message["buttons"] == filled_buttons(event)
    # AND each record carries SENS's message id
    accepted = {m["to"]: m["messageId"] for m in sens_accepted(sandbox, project)}
    assert found[(taro, "kakao")]["provider_message_id"] == accepted[sens_number(taro_phone)]
    assert found[(hanako, "kakao")]["provider_message_id"] == accepted[sens_number(hanako_phone)]
    # AND the results were looked up with GETs only: nothing was sent again
    wait_until_idle(stack, "SendKakaoQueue", "KakaoResultsQueue")
    assert len(sens_sends(sandbox, project)) == 1
    assert sens_lookups(sandbox, project) and {r["status"] for r in sens_lookups(sandbox, project)} == {200}


def test_150_recipients_go_out_in_two_requests_of_100_and_50(
    company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN KakaoTalk on and 150 employees with phones
    project = new_sens_project(sandbox)
    enable_kakao(admin, project)
    recipients = [
        {"user_id": user(company_id, f"emp{i:03d}"), "name": f"직원{i}", "phone": korean_phone(i)} for i in range(150)
    ]

    # WHEN one notification goes to all of them
    event = notification(company_id, recipients)
    send_event(event)
    found = wait_for_deliveries(admin, event["event_id"], 150, statuses=RESULTS, timeout=45)

    # THEN every one is delivered
    assert {r["status"] for r in found.values()} == {"delivered"}
    # AND SENS got exactly two requests, of 100 and 50 messages, covering each number once
    requests = sens_sends(sandbox, project)
    assert sorted(len(r["body"]["messages"]) for r in requests) == [50, 100]
    numbers = [m["to"] for r in requests for m in r["body"]["messages"]]
    assert sorted(numbers) == sorted(sens_number(r["phone"]) for r in recipients)
    assert len(sens_accepted(sandbox, project)) == 150


def test_a_redelivered_event_sends_nothing_twice(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN KakaoTalk on and an event for two employees
    project = new_sens_project(sandbox)
    enable_kakao(admin, project)
    recipients = [{"user_id": user(company_id, n), "name": n, "phone": korean_phone(i)} for i, n in enumerate("ab")]
    event = titled(company_id, recipients, f"once-{uuid.uuid4().hex[:6]}")

    # WHEN WORKPLACE sends it twice at once, and once more after it was delivered
    send_event(event)
    send_event(event)
    wait_for_deliveries(admin, event["event_id"], 2, statuses=RESULTS)
    send_event(event)
    # ... followed by another event that shows the queues got past the third copy
    marker = titled(company_id, recipients, f"marker-{uuid.uuid4().hex[:6]}")
    send_event(marker)
    wait_for_deliveries(admin, marker["event_id"], 2, statuses=RESULTS)
    wait_until_idle(stack, "WorkplaceEventsQueue", "SendKakaoQueue", "KakaoResultsQueue")

    # THEN SENS got one request for the event (and one for the marker), and each employee got it once
    title = event["message"]["title"]
    for_event = [r for r in sens_sends(sandbox, project) if title in r["body"]["messages"][0]["content"]]
    assert len(for_event) == 1 and len(sens_sends(sandbox, project)) == 2
    accepted = [m["to"] for m in sens_accepted(sandbox, project) if title in m["content"]]
    assert sorted(accepted) == sorted(sens_number(r["phone"]) for r in recipients)
    # AND the event has one delivered record per employee, from the first attempt
    assert sorted((r["user_id"], r["status"], r["attempts"]) for r in deliveries(admin, event["event_id"])) == sorted(
        (r["user_id"], "delivered", 1) for r in recipients
    )


# ------------------------------------------------------------------------------------------- misconfigured


def test_a_template_variable_the_hub_cannot_fill_is_a_verify_error_and_fails_sends_unsent(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN an approved template with a variable WORKPLACE has no value for (#{department}), saved by the admin
    project = new_sens_project(sandbox, content=UNFILLABLE, buttons=[])
    enable_kakao(admin, project)

    # WHEN the admin verifies the settings
    verified = ok(admin.post("/admin/integrations/kakao/verify"))

    # THEN the status is an error naming the variable
    assert (verified["status"]["state"], verified["status"]["code"]) == ("error", "template_variable_unknown")
    assert "department" in verified["status"]["detail"]

    # WHEN a notification arrives anyway
    taro = user(company_id, "taro")
    event = notification(company_id, [{"user_id": taro, "name": "김민수", "phone": korean_phone(1)}])
    send_event(event)

    # THEN the delivery fails with a configuration reason, and nothing (wrong) is sent to SENS
    record = wait_for_deliveries(admin, event["event_id"], 1)[(taro, "kakao")]
    assert (record["status"], record["reason"], record["error_code"]) == (
        "failed",
        "kakao_template_mismatch",
        "template_variable_unknown",
    )
    wait_until_idle(stack, "SendKakaoQueue")
    assert sens_sends(sandbox, project) == []


def test_saving_a_template_with_a_variable_the_hub_cannot_fill_shows_an_error_status(
    admin: Api, sandbox: SandboxClient
) -> None:
    # GIVEN an approved template with a variable WORKPLACE has no value for
    project = new_sens_project(sandbox, content=UNFILLABLE, buttons=[])

    # WHEN the admin saves the settings naming it
    saved = ok(admin.put("/admin/integrations/kakao", {"enabled": True, "settings": project.settings()}))

    # THEN the saved integration already shows the error, naming the variable
    assert (saved["status"]["state"], saved["status"]["code"]) == ("error", "template_variable_unknown")
    assert "department" in saved["status"].get("detail", "")


def test_a_secret_key_sens_no_longer_accepts_puts_kakao_in_error_and_fails_each_delivery(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN KakaoTalk configured and working, then the secret key is replaced in the NCP console
    project = new_sens_project(sandbox)
    enable_kakao(admin, project)
    rotated = SensProject(
        project.access_key, "SKrotated000000000000000000000000", project.service_id, project.channel_id, "unused"
    )
    template = {"templateCode": project.template_code, "content": TEMPLATE_CONTENT, "buttons": []}
    sandbox.control("sens", "projects", sens_project_body(rotated, [template], []))

    # WHEN a notification for two employees arrives
    people = [user(company_id, n) for n in ("taro", "hanako")]
    event = notification(company_id, [{"user_id": u, "phone": korean_phone(i)} for i, u in enumerate(people)])
    send_event(event)
    found = wait_for_deliveries(admin, event["event_id"], 2)

    # THEN each delivery failed, saying SENS refused the company's credentials
    for person in people:
        record = found[(person, "kakao")]
        assert (record["status"], record["reason"], record["error_code"]) == (
            "failed",
            "integration_credentials_rejected",
            "authentication_failed",
        )
    # AND the admin sees KakaoTalk in error
    status = integration_status(admin, "kakao")
    assert (status["state"], status["code"]) == ("error", "authentication_failed")
    # AND the one refused request was not repeated
    wait_until_idle(stack, "SendKakaoQueue")
    assert [r["status"] for r in sens_sends(sandbox, project)] == [401]
    assert sens_accepted(sandbox, project) == []


# ------------------------------------------------------------------------------------------- delivery results


def one_recipient(
    company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None], **settings: str
) -> tuple[SensProject, str, str, dict[str, Any]]:
    """KakaoTalk on (with `settings`), and an event for taro sent: (project, taro, his SENS number, event)."""
    project = new_sens_project(sandbox, sender_numbers=["0212345678"])
    enable_kakao(admin, project, **settings)
    taro, phone = user(company_id, "taro"), korean_phone(7)
    event = notification(company_id, [{"user_id": taro, "name": "김민수", "phone": phone, "locale": "ko"}])
    return project, taro, sens_number(phone), event


def record_of(admin: Api, event_id: str, user_id: str) -> dict[str, Any] | None:
    found = [r for r in deliveries(admin, event_id) if r["user_id"] == user_id]
    return found[0] if found else None


def test_a_result_still_processing_leaves_the_record_sent_until_kakao_reports_it(
    company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN Kakao takes 3 s to report taro's message
    project, taro, number, event = one_recipient(company_id, admin, sandbox, send_event)
    sandbox.control("sens", "outcomes", {"to": number, "processing_seconds": 3})

    # WHEN the event is sent
    send_event(event)

    # THEN the record is first `sent`, saying its result is pending ...
    pending = wait_for(lambda: (r := record_of(admin, event["event_id"], taro)) and r.get("reason") and r)
    assert (pending["status"], pending["reason"]) == ("sent", "result_pending")
    # ... and delivered once Kakao reported it
    done = wait_for_deliveries(admin, event["event_id"], 1, statuses=RESULTS)[(taro, "kakao")]
    assert done["status"] == "delivered" and "reason" not in done
    assert len(sens_sends(sandbox, project)) == 1


def test_lookups_that_fail_or_answer_nonsense_never_mark_delivered_and_are_retried(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN every lookup answered first with a 503, then with a body that is not the answer
    project, taro, _, event = one_recipient(company_id, admin, sandbox, send_event)
    sandbox.add_fault("sens", "server_error", times=1, match={"operation": "lookup", "service_id": project.service_id})
    sandbox.add_fault("sens", "malformed", match={"operation": "lookup", "service_id": project.service_id})

    # WHEN the event is sent
    send_event(event)

    # THEN the record stays sent, saying the lookup failed ...
    def failed_lookups() -> dict[str, Any] | None:
        record = record_of(admin, event["event_id"], taro)
        return record if record and record.get("error_code") == "invalid_lookup_response" else None

    stuck = wait_for(failed_lookups)
    assert (stuck["status"], stuck["reason"]) == ("sent", "result_lookup_failed")
    assert [r["status"] for r in sens_lookups(sandbox, project)][:2] == [503, 200]
    # ... and once SENS answers properly again, the next lookup delivers the result
    sandbox.clear_faults()
    done = wait_for_deliveries(admin, event["event_id"], 1, statuses=RESULTS)[(taro, "kakao")]
    assert done["status"] == "delivered"
    wait_until_idle(stack, "KakaoResultsQueue")
    assert len(sens_sends(sandbox, project)) == 1  # nothing about a lookup sends again


def test_a_lookup_that_times_out_leaves_the_record_sent_and_is_tried_again(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN SENS answering the first lookup later than the hub's read timeout
    project, taro, _, event = one_recipient(company_id, admin, sandbox, send_event)
    sandbox.add_fault(
        "sens",
        "timeout",
        times=1,
        delay=READ_TIMEOUT + 1.5,
        match={"operation": "lookup", "service_id": project.service_id},
    )

    # WHEN the event is sent
    send_event(event)

    # THEN the record stays sent, saying the lookup timed out ...
    def timed_out() -> dict[str, Any] | None:
        record = record_of(admin, event["event_id"], taro)
        return record if record and record.get("error_code") == "timeout" else None

    stuck = wait_for(timed_out, timeout=READ_TIMEOUT + 10)
    assert (stuck["status"], stuck["reason"]) == ("sent", "result_lookup_failed")
    # ... and the next lookup delivers the result; nothing was sent again
    done = wait_for_deliveries(admin, event["event_id"], 1, statuses=RESULTS, timeout=20)[(taro, "kakao")]
    assert done["status"] == "delivered"
    wait_until_idle(stack, "KakaoResultsQueue")
    assert len(sens_sends(sandbox, project)) == 1


def test_a_result_that_comes_after_the_window_leaves_the_record_sent_as_result_unknown(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN Kakao reports taro's message only after the lookup window (20 s here, 24 h in production)
    project, taro, number, event = one_recipient(company_id, admin, sandbox, send_event)
    sandbox.control("sens", "outcomes", {"to": number, "processing_seconds": 3600})

    # WHEN the event is sent and the window passes
    send_event(event)

    # THEN the record stays sent, as result_unknown, and the lookups stop
    def given_up() -> dict[str, Any] | None:
        record = record_of(admin, event["event_id"], taro)
        return record if record and record.get("reason") == "result_unknown" else None

    record = wait_for(given_up, timeout=45)
    assert record["status"] == "sent" and record["history"][-1]["status"] == "result_unknown"
    wait_until_idle(stack, "KakaoResultsQueue")
    lookups = len(sens_lookups(sandbox, project))
    time.sleep(3)  # longer than the lookup interval: none comes any more
    assert len(sens_lookups(sandbox, project)) == lookups
    summary = ok(admin.get("/admin/deliveries/summary", params={"event_id": event["event_id"]}))
    assert summary["channels"]["kakao"]["sent"] == 1
    assert summary["channels"]["kakao"]["reasons"] == {"sent": {"result_unknown": 1}}


def test_a_redelivered_lookup_job_looks_nothing_up_and_changes_nothing(
    stack: LocalStack,
    company_id: str,
    admin: Api,
    sandbox: SandboxClient,
    send_event: Callable[[Any], None],
    sqs: Any,
) -> None:
    # GIVEN taro's message delivered and its lookups over
    project, taro, _, event = one_recipient(company_id, admin, sandbox, send_event)
    send_event(event)
    done = wait_for_deliveries(admin, event["event_id"], 1, statuses=RESULTS)[(taro, "kakao")]
    wait_until_idle(stack, "SendKakaoQueue", "KakaoResultsQueue")
    lookups = len(sens_lookups(sandbox, project))

    # WHEN its first lookup job arrives again (SQS delivers at least once)
    (accepted,) = sens_accepted(sandbox, project)
    job = {
        "company_id": company_id,
        "event_id": event["event_id"],
        "request_id": "RAKA-any",
        "accepted_at": time.time(),
        "lookup": 0,
        "messages": {taro: accepted["messageId"]},
    }
    function = stack.functions["KakaoResultsFunction"]
    before = function.invocations
    sqs.send_message(QueueUrl=stack.queues["KakaoResultsQueue"], MessageBody=json.dumps(job))
    wait_for(lambda: function.invocations > before)
    wait_until_idle(stack, "KakaoResultsQueue")

    # THEN SENS is not asked, nothing is sent, and the record is as it was
    assert len(sens_lookups(sandbox, project)) == lookups and len(sens_sends(sandbox, project)) == 1
    assert record_of(admin, event["event_id"], taro) == done


def test_sms_failover_sends_the_same_text_and_records_that_it_reached_the_employee(
    company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN SMS failover on, from the project's registered number; taro is not on KakaoTalk
    project, taro, number, event = one_recipient(
        company_id, admin, sandbox, send_event, sms_failover="on", sms_from="02-1234-5678"
    )
    sandbox.control("sens", "outcomes", {"to": number, "code": "3019"})

    # WHEN the event is sent
    send_event(event)
    record = wait_for_deliveries(admin, event["event_id"], 1, statuses=RESULTS)[(taro, "kakao")]

    # THEN the AlimTalk carried the failover with its own text ...
    ((message,),) = [r["body"]["messages"] for r in sens_sends(sandbox, project)]
    assert message["useSmsFailover"] is True
    config = message["failoverConfig"]
    assert (config["from"], config["content"]) == ("0212345678", message["content"])
    channel = "SMS" if euc_kr_bytes(message["content"]) <= SMS_MAX_BYTES else "LMS"
    assert config["type"] == channel
    # ... and the record says Kakao did not deliver it but the SMS reached taro
    assert (record["status"], record["reason"], record["error_code"]) == ("delivered", "sms_failover", "3019")
    assert record["failover"] == {"channel": channel.lower(), "status": "delivered"}
    assert record["history"][-1] == {**record["history"][-1], "status": "delivered", "failover": record["failover"]}


def test_sms_failover_on_needs_a_sender_number(admin: Api, sandbox: SandboxClient) -> None:
    project = new_sens_project(sandbox)
    form = project.settings(sms_failover="on")
    refused = admin.put("/admin/integrations/kakao", {"enabled": True, "settings": form})
    assert refused.status_code == 400 and refused.json()["field"] == "settings.sms_from"
    bad = admin.put("/admin/integrations/kakao", {"enabled": True, "settings": {**form, "sms_from": "12"}})
    assert bad.status_code == 400 and bad.json()["field"] == "settings.sms_from"
