"""KakaoResultsWorker on moto (DynamoDB, KMS) with a fake lookup: AlimTalk results move `sent` records on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.aws import HubStack
from tests.unit.builders import COMPANY, EVENT_ID, HANAKO, TARO, recipient, send_job, sqs_record
from tests.unit.delivery.test_worker import handle, make_worker, queue_delivery
from tests.unit.fakes import FakeSender
from workplace_hub.catalog import Integration
from workplace_hub.delivery.kakao_results import (
    KakaoResultsWorker,
    ResultJob,
    Timing,
    schedule_first_lookups,
)
from workplace_hub.errors import RetryableProviderError
from workplace_hub.integration_settings.credentials import CompanyCredentials
from workplace_hub.kakao.alimtalk import AcceptedAlimTalk
from workplace_hub.kakao.results import MessageResult
from workplace_hub.queues import DeadLetters
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus
from workplace_hub.storage.settings import CachedSettings

KAKAO_SETTINGS = {
    "access_key_id": "ABCDEFGH12345678",
    "secret_key": "SECRETkey0123456789abcdef",
    "channel_id": "@acme",
    "service_id": "ncp:kkobizmsg:kr:1234567:sens",
    "template_code": "APPROVAL01",
}
REQUEST_ID = "RAKA-1700000000000-1234-12345678-aBcDeFgH"
ACCEPTED_AT = 1_700_000_000.0
TIMING = Timing(first_delay=15.0, max_delay=900.0, window=24 * 3600.0)
JIRO = "jiro@acme.example"
DELIVERED = MessageResult("delivered", error_code="0000")
NOT_ON_KAKAO = MessageResult("failed", "kakao_not_delivered", "3019", "fail: 카카오톡 사용자가 아님")
PROCESSING = MessageResult("pending", "result_pending", detail="processing")


class FakeLookup:
    """SENS's lookup API: `results` by messageId, or `fail_with` raised. It has nothing to send with."""

    def __init__(self, results: dict[str, MessageResult] | None = None) -> None:
        self.results = results or {}
        self.fail_with: Exception | None = None
        self.calls: list[tuple[dict[str, Any], str]] = []

    def lookup_results(self, credentials: dict[str, Any], request_id: str) -> dict[str, MessageResult]:
        self.calls.append((credentials, request_id))
        if self.fail_with is not None:
            raise self.fail_with
        return dict(self.results)

    def lookup_message(self, credentials: dict[str, Any], message_id: str) -> MessageResult:
        self.calls.append((credentials, message_id))
        if self.fail_with is not None:
            raise self.fail_with
        return self.results.get(message_id, MessageResult("pending", "result_not_listed"))


class FakeResultQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[ResultJob, float]] = []
        self.fail_with: Exception | None = None

    def send(self, job: ResultJob, delay: float) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((job, delay))


def key(user_id: str) -> DeliveryKey:
    return DeliveryKey(COMPANY, EVENT_ID, user_id, "kakao")


def accepted(stack: HubStack, user_id: str, message_id: str) -> None:
    """A delivery the Kakao sender recorded `sent` (SENS accepted it as `message_id`)."""
    queue_delivery(stack, key(user_id))
    assert stack.deliveries.claim(key(user_id), 60).outcome == "claimed"
    stack.finish(key(user_id), DeliveryStatus.SENT, provider_message_id=message_id)


@pytest.fixture
def kakao(stack: HubStack) -> HubStack:
    """acme: Kakao on; taro (m-1), hanako (m-2) and jiro (m-3) accepted in one request."""
    stack.configure(COMPANY, Integration.KAKAO, KAKAO_SETTINGS)
    for user_id, message_id in ((TARO, "m-1"), (HANAKO, "m-2"), (JIRO, "m-3")):
        accepted(stack, user_id, message_id)
    return stack


def job(
    lookup: int = 0, accepted_at: float = ACCEPTED_AT, request_id: str | None = REQUEST_ID, **messages: str
) -> ResultJob:
    chosen = messages or {TARO: "m-1", HANAKO: "m-2", JIRO: "m-3"}
    return ResultJob(
        company_id=COMPANY,
        event_id=EVENT_ID,
        request_id=request_id,
        accepted_at=accepted_at,
        lookup=lookup,
        messages=chosen,
    )


def make(stack: HubStack, lookup: FakeLookup, queue: FakeResultQueue, now: float) -> KakaoResultsWorker:
    return KakaoResultsWorker(
        lookup=lookup,
        credentials=CompanyCredentials(
            settings_repo=stack.settings_repository,
            keyring=stack.keyring,
            links=stack.links,
            settings_cache=CachedSettings(stack.settings_repository, 30.0),
        ),
        deliveries=stack.deliveries,
        queue=queue,  # type: ignore[arg-type]
        dead_letters=DeadLetters(stack.sqs, stack.queue_urls["kakao_dlq"], "kakao_results"),
        timing=TIMING,
        clock=lambda: now,
    )


def record(stack: HubStack, user_id: str) -> dict[str, Any]:
    found = stack.stored(key(user_id))
    assert found is not None
    return found


def raw(stack: HubStack, user_id: str) -> dict[str, Any]:
    return stack.dynamodb.Table("deliveries").get_item(Key=key(user_id).key())["Item"]


# ---------------------------------------------------------------- results


def test_results_move_sent_records_to_delivered_and_failed_and_look_again_for_the_rest(kakao: HubStack) -> None:
    # GIVEN SENS: taro's delivered, hanako not on KakaoTalk, jiro's still processing
    lookup = FakeLookup({"m-1": DELIVERED, "m-2": NOT_ON_KAKAO, "m-3": PROCESSING})
    queue = FakeResultQueue()

    # WHEN the first lookup runs, 15 s after acceptance
    make(kakao, lookup, queue, ACCEPTED_AT + 15).check(job())

    # THEN one lookup of the request, with the company's credentials
    ((credentials, request_id),) = lookup.calls
    assert request_id == REQUEST_ID and credentials["access_key_id"] == KAKAO_SETTINGS["access_key_id"]
    # AND taro's record is delivered, hanako's failed with the result code, jiro's still sent with why
    taro, hanako, jiro = (record(kakao, u) for u in (TARO, HANAKO, JIRO))
    assert taro["status"] == "delivered" and "reason" not in taro and taro["error_code"] == "0000"
    assert [step["status"] for step in taro["history"]] == ["queued", "accepted", "delivered"]
    assert (hanako["status"], hanako["reason"], hanako["error_code"]) == ("failed", "kakao_not_delivered", "3019")
    assert [step["status"] for step in hanako["history"]] == ["queued", "accepted", "failed"]
    assert (jiro["status"], jiro["reason"]) == ("sent", "result_pending")
    # AND hanako's failure is listed for the admin (not replayable: it went out)
    failures, _ = kakao.deliveries.failures(COMPANY, event_id=EVENT_ID)
    assert [(f["user_id"], f["replayable"]) for f in failures] == [(HANAKO, False)]
    # AND only jiro's message is looked up again, twice as late
    ((next_job, delay),) = queue.sent
    assert (next_job.lookup, next_job.messages, delay) == (1, {JIRO: "m-3"}, 30.0)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (RetryableProviderError("kakao", "http_503", status_code=503), "http_503"),
        (RetryableProviderError("kakao", "timeout"), "timeout"),
        (RetryableProviderError("kakao", "invalid_lookup_response", status_code=200), "invalid_lookup_response"),
    ],
)
def test_a_lookup_that_fails_leaves_the_records_sent_with_the_reason_and_looks_again(
    kakao: HubStack, error: Exception, code: str
) -> None:
    # GIVEN a lookup that fails (5xx, timeout, an answer that is not one)
    lookup, queue = FakeLookup(), FakeResultQueue()
    lookup.fail_with = error

    # WHEN it runs
    make(kakao, lookup, queue, ACCEPTED_AT + 15).check(job())

    # THEN nothing is marked delivered: every record stays sent, saying why
    for user_id in (TARO, HANAKO, JIRO):
        found = record(kakao, user_id)
        assert (found["status"], found["reason"], found["error_code"]) == ("sent", "result_lookup_failed", code)
    # AND all three are looked up again
    ((next_job, _),) = queue.sent
    assert next_job.lookup == 1 and set(next_job.messages) == {TARO, HANAKO, JIRO}


def test_an_unreadable_or_missing_result_is_never_delivered(kakao: HubStack) -> None:
    # GIVEN SENS answers something for taro the hub cannot read, and does not list hanako's message
    unreadable = MessageResult("pending", "result_unreadable", detail="0000 with fail")
    lookup, queue = FakeLookup({"m-1": unreadable, "m-3": DELIVERED}), FakeResultQueue()

    make(kakao, lookup, queue, ACCEPTED_AT + 15).check(job())

    assert (record(kakao, TARO)["status"], record(kakao, TARO)["reason"]) == ("sent", "result_unreadable")
    assert (record(kakao, HANAKO)["status"], record(kakao, HANAKO)["reason"]) == ("sent", "result_not_listed")
    assert record(kakao, JIRO)["status"] == "delivered"
    assert set(queue.sent[0][0].messages) == {TARO, HANAKO}


def test_an_sms_failover_that_reached_the_employee_counts_as_delivered(kakao: HubStack) -> None:
    failover = {"channel": "sms", "status": "delivered"}
    by_sms = MessageResult("delivered", "sms_failover", "3019", "", failover)
    lookup, queue = FakeLookup({"m-1": by_sms}), FakeResultQueue()

    make(kakao, lookup, queue, ACCEPTED_AT + 15).check(job(**{TARO: "m-1"}))

    taro = record(kakao, TARO)
    assert (taro["status"], taro["reason"], taro["error_code"]) == ("delivered", "sms_failover", "3019")
    assert taro["failover"] == failover and taro["history"][-1]["failover"] == failover


def test_without_a_request_id_each_message_is_looked_up_by_its_id(kakao: HubStack) -> None:
    # GIVEN a send answer that carried no requestId: the job names only the messages
    lookup, queue = FakeLookup({"m-1": DELIVERED, "m-2": NOT_ON_KAKAO}), FakeResultQueue()

    make(kakao, lookup, queue, ACCEPTED_AT + 15).check(job(request_id=None))

    # THEN one lookup per message, and the results recorded as with a request's listing
    assert [call[1] for call in lookup.calls] == ["m-1", "m-2", "m-3"]
    assert [record(kakao, u)["status"] for u in (TARO, HANAKO, JIRO)] == ["delivered", "failed", "sent"]
    assert record(kakao, JIRO)["reason"] == "result_not_listed"
    ((next_job, _),) = queue.sent
    assert next_job.request_id is None and next_job.messages == {JIRO: "m-3"}


# ---------------------------------------------------------------- the window, and repeats


def test_still_unresolved_when_the_window_ends_is_recorded_result_unknown_and_looked_up_no_more(
    kakao: HubStack,
) -> None:
    # GIVEN jiro's message still processing when the lookup at the window's end runs
    lookup, queue = FakeLookup({"m-3": PROCESSING}), FakeResultQueue()
    last = job(lookup=7, **{JIRO: "m-3"})
    kakao.dynamodb.Table("deliveries").update_item(
        Key=key(JIRO).key(), UpdateExpression="SET result_lookups = :n", ExpressionAttributeValues={":n": 7}
    )

    make(kakao, lookup, queue, ACCEPTED_AT + TIMING.window).check(last)

    # THEN it stays sent, as result_unknown, and no further lookup is scheduled
    jiro = record(kakao, JIRO)
    assert (jiro["status"], jiro["reason"]) == ("sent", "result_unknown")
    assert jiro["history"][-1]["status"] == "result_unknown"
    assert queue.sent == []

    # WHEN the result arrives after the window and the same job is delivered again
    lookup.results = {"m-3": DELIVERED}
    make(kakao, lookup, queue, ACCEPTED_AT + TIMING.window + 600).check(last)

    # THEN nothing changes, and SENS is not even asked
    assert (record(kakao, JIRO)["status"], record(kakao, JIRO)["reason"]) == ("sent", "result_unknown")
    assert len(lookup.calls) == 1


def test_the_last_lookup_is_due_at_the_window_end_not_after_it(kakao: HubStack) -> None:
    lookup, queue = FakeLookup({"m-3": PROCESSING}), FakeResultQueue()
    make(kakao, lookup, queue, ACCEPTED_AT + TIMING.window - 10).check(job(**{JIRO: "m-3"}))
    ((_, delay),) = queue.sent
    assert delay == 10  # not the 30 s the backoff would wait


def test_a_redelivered_lookup_job_changes_nothing_and_starts_no_second_chain(kakao: HubStack) -> None:
    # GIVEN a first lookup that settled taro and left the others for later
    lookup, queue = FakeLookup({"m-1": DELIVERED, "m-2": PROCESSING, "m-3": PROCESSING}), FakeResultQueue()
    worker = make(kakao, lookup, queue, ACCEPTED_AT + 15)
    worker.check(job())
    before = {u: raw(kakao, u) for u in (TARO, HANAKO, JIRO)}

    # WHEN SQS delivers the same job again (through the SQS handler), SENS now saying hanako's was delivered
    lookup.results = {"m-1": DELIVERED, "m-2": DELIVERED, "m-3": DELIVERED}
    worker.handle_record(sqs_record(json.dumps(job().model_dump()), receive_count=2))

    # THEN no lookup, no record changed, no second next-lookup job
    assert len(lookup.calls) == 1
    assert {u: raw(kakao, u) for u in (TARO, HANAKO, JIRO)} == before
    assert len(queue.sent) == 1


def test_when_the_next_lookup_cannot_be_enqueued_the_job_comes_back_and_does_it_again(kakao: HubStack) -> None:
    lookup, queue = FakeLookup({"m-3": PROCESSING}), FakeResultQueue()
    queue.fail_with = RuntimeError("SQS down")
    worker = make(kakao, lookup, queue, ACCEPTED_AT + 15)
    with pytest.raises(RuntimeError):
        worker.check(job(**{JIRO: "m-3"}))
    assert "result_lookups" not in raw(kakao, JIRO)  # the lookup is not counted: the job may redo it

    queue.fail_with = None
    worker.check(job(**{JIRO: "m-3"}))
    assert len(queue.sent) == 1 and int(raw(kakao, JIRO)["result_lookups"]) == 1


def test_a_record_that_is_no_longer_sent_is_left_alone(kakao: HubStack) -> None:
    # GIVEN taro's record replaced by another message (a replay sent it again as m-9)
    lookup, queue = FakeLookup({"m-1": NOT_ON_KAKAO}), FakeResultQueue()
    kakao.dynamodb.Table("deliveries").update_item(
        Key=key(TARO).key(), UpdateExpression="SET provider_message_id = :m", ExpressionAttributeValues={":m": "m-9"}
    )
    make(kakao, lookup, queue, ACCEPTED_AT + 15).check(job(**{TARO: "m-1"}))
    assert record(kakao, TARO)["status"] == "sent" and lookup.calls == []


def test_an_invalid_lookup_job_is_dead_lettered(kakao: HubStack) -> None:
    lookup, queue = FakeLookup(), FakeResultQueue()
    make(kakao, lookup, queue, ACCEPTED_AT).handle_record(sqs_record('{"company_id": "acme"}'))
    (dead,) = kakao.drain("kakao_dlq")
    assert "invalid result lookup job" in dead["attributes"]["reason"] and lookup.calls == []


def test_lookup_delays_double_from_the_first_up_to_sqs_maximum() -> None:
    assert [TIMING.delay(n) for n in range(8)] == [15, 30, 60, 120, 240, 480, 900, 900]
    assert Timing(first_delay=1, max_delay=4, window=10).delay(5) == 4


# ---------------------------------------------------------------- the sender schedules the first lookup


def test_the_kakao_sender_schedules_the_first_lookup_of_each_accepted_request(stack: HubStack) -> None:
    # GIVEN Kakao on, two queued deliveries, and SENS accepting both in one request
    stack.configure(COMPANY, Integration.KAKAO, KAKAO_SETTINGS)
    for user_id in (TARO, HANAKO):
        queue_delivery(stack, key(user_id))
    sender = FakeSender("kakao", max_batch=100)
    sender.receipt = AcceptedAlimTalk("m-1", REQUEST_ID)
    queue = FakeResultQueue()
    worker = make_worker(stack, sender, on_accepted=schedule_first_lookups(queue, TIMING, lambda: ACCEPTED_AT))  # type: ignore[arg-type]
    phones = [recipient(u, phone="+821012345678") for u in (TARO, HANAKO)]

    # WHEN the send job is handled
    handle(stack, worker, send_job(channel="kakao", recipients=phones), channel="kakao")

    # THEN both are recorded sent (accepted), and one lookup of the request is due 15 s later
    assert [record(stack, u)["status"] for u in (TARO, HANAKO)] == ["sent", "sent"]
    assert [step["status"] for step in record(stack, TARO)["history"]] == ["queued", "accepted"]
    ((lookup_job, delay),) = queue.sent
    assert (lookup_job.request_id, lookup_job.accepted_at, lookup_job.lookup, delay) == (
        REQUEST_ID,
        ACCEPTED_AT,
        0,
        15.0,
    )
    assert set(lookup_job.messages) == {TARO, HANAKO}


# ---------------------------------------------------------------- summary


def test_summary_counts_each_channel_by_outcome_and_reason(kakao: HubStack) -> None:
    lookup, queue = FakeLookup({"m-1": DELIVERED, "m-2": NOT_ON_KAKAO, "m-3": PROCESSING}), FakeResultQueue()
    make(kakao, lookup, queue, ACCEPTED_AT + 15).check(job())

    summary = kakao.deliveries.summary(COMPANY, EVENT_ID)

    assert summary == {
        "kakao": {
            "total": 3,
            "delivered": 1,
            "sent": 1,
            "failed": 1,
            "skipped": 0,
            "pending": 0,
            "reasons": {"failed": {"kakao_not_delivered": 1}, "sent": {"result_pending": 1}},
        }
    }
