"""CalendarWorker on moto (absences, deliveries, settings, SQS) with in-memory calendar writers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.absences import (
    ABSENCE_ID,
    GOOGLE,
    T1,
    T2,
    T3,
    WORKS,
    accept_cancel_of,
    accept_upsert_of,
)
from tests.unit.aws import HubStack
from tests.unit.builders import COMPANY, TARO, body, sqs_record
from tests.unit.fakes import CalendarCall, FakeCalendarWriter
from workplace_hub.calendars.sync import AbsenceCalendarSync
from workplace_hub.calendars.worker import BUSY_RETRY_SECONDS, MAX_ROUNDS, CalendarWorker
from workplace_hub.errors import RetryableProviderError
from workplace_hub.integration_settings.credentials import CompanyCredentials
from workplace_hub.jobs import CalendarJob
from workplace_hub.queues import DeadLetters, JobPostponedError, JobQueue, backoff_seconds
from workplace_hub.storage.absences import Acceptance
from workplace_hub.storage.settings import CachedSettings

GOOGLE_ID = f"google-{ABSENCE_ID}-default"
MAX_RECEIVE_COUNT = 8
LEASE_SECONDS = 60.0


class LambdaContextStub:
    """The one LambdaContext method the worker uses."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def make_worker(stack: HubStack, google: FakeCalendarWriter, works: FakeCalendarWriter) -> CalendarWorker:
    """The worker as wiring.build_calendar_worker assembles it, with fake writers."""
    sync = AbsenceCalendarSync(
        writers={"google": google, "naver_works": works},
        registry=stack.registry,
        credentials=CompanyCredentials(
            settings_repo=stack.settings_repository,
            keyring=stack.keyring,
            links=stack.links,
            settings_cache=CachedSettings(stack.settings_repository, 0.0),
        ),
        links=stack.links,
        call_budget_seconds=15.0,
    )
    return CalendarWorker(
        registry=stack.registry,
        sync=sync,
        deliveries=stack.deliveries,
        queue=JobQueue(stack.sqs, stack.queue_urls["calendar"]),
        dead_letters=DeadLetters(stack.sqs, stack.queue_urls["calendar_dlq"], "register_calendars"),
        max_receive_count=MAX_RECEIVE_COUNT,
        lease_seconds=LEASE_SECONDS,
    )


def accept_upsert(
    stack: HubStack, event_id: str = "evt-1", occurred_at: str = T1, targets: list[str] | None = None, **overrides: Any
) -> Acceptance:
    """Accept an upsert of Taro's absence (default: Google and the NAVER WORKS default calendar)."""
    return accept_upsert_of(stack, event_id, occurred_at, [GOOGLE, WORKS] if targets is None else targets, **overrides)


def accept_cancel(stack: HubStack, event_id: str = "evt-c", occurred_at: str = T3) -> Acceptance:
    return accept_cancel_of(stack, event_id, occurred_at)


def calendar_job(
    event_id: str = "evt-1", channels: list[str] | None = None, event_type: str = "absence.upserted"
) -> CalendarJob:
    """The job the router enqueues for an accepted event."""
    return CalendarJob(
        company_id=COMPANY,
        absence_id=ABSENCE_ID,
        user_id=TARO,
        event_id=event_id,
        event_type=event_type,
        channels=[GOOGLE, WORKS] if channels is None else channels,
    )


def handle(
    stack: HubStack,
    worker: CalendarWorker,
    job: CalendarJob | str,
    *,
    receive_count: int = 1,
    lambda_context: Any = None,
) -> None:
    """Put the job on CalendarQueue, receive it (for a real receipt handle) and hand it to the worker."""
    raw = job if isinstance(job, str) else job.model_dump_json()
    stack.sqs.send_message(QueueUrl=stack.queue_urls["calendar"], MessageBody=raw)
    received = stack.drain("calendar")
    assert len(received) == 1
    record = sqs_record(raw, receive_count=receive_count, receipt_handle=received[0]["receipt_handle"])
    worker.handle_record(record, lambda_context)


def visibility_changes(stack: HubStack) -> list[dict[str, Any]]:
    """Records the parameters of every ChangeMessageVisibility call made with the stack's SQS client."""
    calls: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    stack.sqs.meta.events.register("provide-client-params.sqs.ChangeMessageVisibility", capture)
    return calls


def records(stack: HubStack, event_id: str) -> dict[str, tuple[str, str | None, str | None]]:
    """channel → (status, action, reason) of Taro's records of the event."""
    found = stack.records(COMPANY, event_id)
    assert {user for user, _ in found} <= {TARO}
    return {channel: (item["status"], item.get("action"), item.get("reason")) for (_, channel), item in found.items()}


def lease_owner(stack: HubStack) -> str | None:
    item = stack.dynamodb.Table("absences").get_item(Key={"pk": f"{COMPANY}#{ABSENCE_ID}"})["Item"]
    return item.get("lease_owner")


@pytest.fixture
def worker(calendars: HubStack, google: FakeCalendarWriter, works: FakeCalendarWriter) -> CalendarWorker:
    return make_worker(calendars, google, works)


# ---------------------------------------------------------------- the normal run


def test_worker_applies_the_state_records_each_calendar_and_releases_the_lease(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter, works: FakeCalendarWriter
) -> None:
    # GIVEN an accepted upsert for Google and the NAVER WORKS default calendar
    accept_upsert(calendars)

    # WHEN its job is handled
    handle(calendars, worker, calendar_job())

    # THEN both calendars hold the event, each has a sent/registered record, and the lease is free again
    assert [call.action for call in google.calls + works.calls] == ["upsert", "upsert"]
    assert records(calendars, "evt-1") == {GOOGLE: ("sent", "registered", None), WORKS: ("sent", "registered", None)}
    record = calendars.record(COMPANY, "evt-1", TARO, GOOGLE)
    assert record is not None and record["item"] == "absence.upserted"
    assert lease_owner(calendars) is None
    assert calendars.drain("calendar_dlq") == []


def test_worker_redelivered_job_makes_no_call(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter, works: FakeCalendarWriter
) -> None:
    # GIVEN a job already handled
    accept_upsert(calendars)
    handle(calendars, worker, calendar_job())

    # WHEN SQS delivers it again
    handle(calendars, worker, calendar_job(), receive_count=2)

    # THEN no provider is called again, and the records still say sent
    assert len(google.calls) == 1 and len(works.calls) == 1
    assert records(calendars, "evt-1") == {GOOGLE: ("sent", "registered", None), WORKS: ("sent", "registered", None)}


def test_worker_cancel_job_removes_the_events_and_records_removed(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter
) -> None:
    # GIVEN an absence registered in Google, then cancelled
    accept_upsert(calendars, targets=[GOOGLE])
    handle(calendars, worker, calendar_job(channels=[GOOGLE]))
    accept_cancel(calendars)

    # WHEN the cancellation's job is handled
    handle(calendars, worker, calendar_job("evt-c", [], "absence.cancelled"))

    # THEN the event is deleted and the cancellation's record says removed
    assert google.events == {}
    assert records(calendars, "evt-c") == {GOOGLE: ("sent", "removed", None)}
    record = calendars.record(COMPANY, "evt-c", TARO, GOOGLE)
    assert record is not None and record["item"] == "absence.cancelled"


# ---------------------------------------------------------------- jobs that cannot run


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        ("{}", "company_id, absence_id, user_id, event_id, event_type"),
        (body({**calendar_job().model_dump(), "absence_id": None}), "absence_id"),
        (body({**calendar_job().model_dump(), "channels": "google_calendar"}), "channels"),
    ],
)
def test_worker_invalid_job_dead_lettered_with_the_fields_named(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter, raw: str, fields: str
) -> None:
    # GIVEN a calendar job that is not one
    # WHEN it is handled (it must not raise: one bad record never fails its batch)
    handle(calendars, worker, raw)

    # THEN it is on the calendar DLQ, unchanged, with the invalid fields named
    dead = calendars.drain("calendar_dlq")
    assert len(dead) == 1
    assert dead[0]["body"] == raw
    assert dead[0]["attributes"]["reason"] == f"invalid calendar job: {fields}"
    assert dead[0]["attributes"]["source"] == "register_calendars"
    assert google.calls == []


@pytest.mark.parametrize("raw", ["{not json", "[]"])
def test_worker_job_that_is_not_a_json_object_dead_lettered_with_a_reason(
    calendars: HubStack, worker: CalendarWorker, raw: str
) -> None:
    # GIVEN a message that is not a JSON object
    # WHEN it is handled
    handle(calendars, worker, raw)

    # THEN it is dead-lettered with a reason that says what is wrong
    dead = calendars.drain("calendar_dlq")
    assert len(dead) == 1
    assert dead[0]["attributes"]["reason"].startswith("invalid calendar job: ")
    assert dead[0]["attributes"]["reason"] != "invalid calendar job: "


def test_worker_job_for_an_unknown_absence_dead_lettered(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter
) -> None:
    # GIVEN a job for an absence the registry has never seen (the router always records the state first)
    job = calendar_job()

    # WHEN it is handled
    handle(calendars, worker, job)

    # THEN it is dead-lettered with the reason, no calendar is touched and no record written
    dead = calendars.drain("calendar_dlq")
    assert len(dead) == 1
    assert CalendarJob.model_validate_json(dead[0]["body"]) == job
    assert dead[0]["attributes"]["reason"] == "calendar job: unknown absence"
    assert google.calls == []
    assert calendars.records(COMPANY, "evt-1") == {}


def test_worker_absence_leased_by_another_worker_is_tried_again_later(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter
) -> None:
    # GIVEN another worker is reconciling the absence right now
    accept_upsert(calendars)
    assert calendars.registry.acquire(COMPANY, ABSENCE_ID, "other-worker", LEASE_SECONDS) is not None

    # WHEN the job runs
    delay = worker.run(calendar_job(), last_attempt=False)

    # THEN it asks to come back a few seconds later, having done nothing and left the other's lease alone
    assert delay == BUSY_RETRY_SECONDS
    assert google.calls == []
    assert calendars.records(COMPANY, "evt-1") == {}
    assert lease_owner(calendars) == "other-worker"


def test_worker_busy_absence_postpones_the_message_and_raises(calendars: HubStack, worker: CalendarWorker) -> None:
    # GIVEN another worker holds the absence's lease
    accept_upsert(calendars)
    calendars.registry.acquire(COMPANY, ABSENCE_ID, "other-worker", LEASE_SECONDS)
    changes = visibility_changes(calendars)

    # WHEN the job's record is handled
    # THEN the message is made visible again after BUSY_RETRY_SECONDS and the record reported failed
    with pytest.raises(JobPostponedError):
        handle(calendars, worker, calendar_job())
    assert [change["VisibilityTimeout"] for change in changes] == [BUSY_RETRY_SECONDS]
    assert calendars.drain("calendar_dlq") == []


def test_worker_busy_absence_on_the_last_attempt_dead_lettered(calendars: HubStack, worker: CalendarWorker) -> None:
    # GIVEN another worker holds the absence's lease
    accept_upsert(calendars)
    calendars.registry.acquire(COMPANY, ABSENCE_ID, "other-worker", LEASE_SECONDS)

    # WHEN the job's last attempt is handled
    handle(calendars, worker, calendar_job(), receive_count=MAX_RECEIVE_COUNT)

    # THEN the job is kept on the DLQ with the reason instead of being retried
    dead = calendars.drain("calendar_dlq")
    assert [item["attributes"]["reason"] for item in dead] == [
        "calendar job: the absence stayed busy until the last attempt"
    ]


@pytest.mark.parametrize("receive_count", [1, MAX_RECEIVE_COUNT])
def test_worker_unexpected_error_retried_by_sqs_and_on_the_last_attempt_dead_lettered_with_its_type(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter, receive_count: int
) -> None:
    # GIVEN Google's writer failing with an error nobody expected (its message quotes a secret)
    accept_upsert(calendars)
    google.fail_next(RuntimeError("token=s3cr3t"))

    # WHEN the job is handled
    if receive_count < MAX_RECEIVE_COUNT:
        # THEN before the last attempt the error reaches SQS, which brings the job back
        with pytest.raises(RuntimeError):
            handle(calendars, worker, calendar_job(), receive_count=receive_count)
        assert calendars.drain("calendar_dlq") == []
    else:
        # THEN on the last attempt the job is kept on the DLQ with the error's type, never its message
        handle(calendars, worker, calendar_job(), receive_count=receive_count)
        dead = calendars.drain("calendar_dlq")
        assert [d["attributes"]["reason"] for d in dead] == ["calendar job failed on the last attempt: RuntimeError"]
    # AND the absence's lease is free for the next attempt or the replay
    assert calendars.registry.acquire(COMPANY, ABSENCE_ID, "next", LEASE_SECONDS) is not None


# ---------------------------------------------------------------- retries


def test_worker_retryable_error_postpones_by_retry_after_and_frees_the_lease(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter
) -> None:
    # GIVEN Google answers 429 with Retry-After: 40
    accept_upsert(calendars)
    google.fail_next(RetryableProviderError("google", "http_429", status_code=429, retry_after=40))
    changes = visibility_changes(calendars)

    # WHEN the job is handled
    with pytest.raises(JobPostponedError):
        handle(calendars, worker, calendar_job())

    # THEN the job comes back after Google's delay, Google's record says retrying, and the lease is free
    assert [change["VisibilityTimeout"] for change in changes] == [40]
    assert records(calendars, "evt-1") == {
        GOOGLE: ("retrying", "registered", "provider_unavailable"),
        WORKS: ("sent", "registered", None),
    }
    assert lease_owner(calendars) is None


def test_worker_retryable_error_without_retry_after_backs_off_by_receive_count(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter
) -> None:
    # GIVEN Google times out
    accept_upsert(calendars)
    google.fail_next(RetryableProviderError("google", "timeout"))

    # WHEN the job's third attempt runs
    delay = worker.run(calendar_job(), last_attempt=False, receive_count=3)

    # THEN it backs off as the delivery worker does
    assert delay == backoff_seconds(3) == 60


def test_worker_retry_then_success_turns_the_record_sent(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter, works: FakeCalendarWriter
) -> None:
    # GIVEN a job whose first attempt met a Google outage
    accept_upsert(calendars)
    google.fail_next(RetryableProviderError("google", "http_503", status_code=503))
    with pytest.raises(JobPostponedError):
        handle(calendars, worker, calendar_job())

    # WHEN the job comes back and Google works again
    handle(calendars, worker, calendar_job(), receive_count=2)

    # THEN Google's record is sent, and NAVER WORKS (done the first time) was not called again
    assert records(calendars, "evt-1")[GOOGLE] == ("sent", "registered", None)
    assert (GOOGLE, GOOGLE_ID) in google.events
    assert len(google.calls) == 2
    assert len(works.calls) == 1


def test_worker_retryable_error_on_the_last_attempt_fails_without_postponing(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter
) -> None:
    # GIVEN Google is still unavailable on the job's last attempt
    accept_upsert(calendars)
    google.fail_next(RetryableProviderError("google", "http_503", status_code=503, retry_after=30))
    changes = visibility_changes(calendars)

    # WHEN the job is handled
    handle(calendars, worker, calendar_job(), receive_count=MAX_RECEIVE_COUNT)

    # THEN Google's record failed for good; the message is neither postponed nor dead-lettered
    assert records(calendars, "evt-1")[GOOGLE] == ("failed", "registered", "retries_exhausted")
    assert changes == []
    assert calendars.drain("calendar_dlq") == []


def test_worker_uses_the_lambda_time_left_to_postpone_calls(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter, works: FakeCalendarWriter
) -> None:
    # GIVEN an invocation with 3 s left
    accept_upsert(calendars)
    changes = visibility_changes(calendars)

    # WHEN the job is handled
    with pytest.raises(JobPostponedError):
        handle(calendars, worker, calendar_job(), lambda_context=LambdaContextStub(3_000))

    # THEN no provider is called; the job comes back after the default backoff
    assert google.calls == [] and works.calls == []
    assert {status for status, _, _ in records(calendars, "evt-1").values()} == {"retrying"}
    assert [change["VisibilityTimeout"] for change in changes] == [backoff_seconds(1)]


# ---------------------------------------------------------------- superseded jobs and newer events


def test_worker_job_superseded_before_it_ran_applies_the_newer_state_and_marks_its_records(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter, works: FakeCalendarWriter
) -> None:
    # GIVEN evt-1 (Google and NAVER WORKS) was superseded by evt-2 (Google only, new title) before its job ran
    accept_upsert(calendars, "evt-1", T1, title="old")
    accept_upsert(calendars, "evt-2", T2, targets=[GOOGLE], title="new")

    # WHEN evt-1's job runs
    handle(calendars, worker, calendar_job("evt-1"))

    # THEN the latest state is applied (never evt-1's) and recorded under evt-2 ...
    assert google.events[(GOOGLE, GOOGLE_ID)].title == "new"
    assert works.calls == []
    assert records(calendars, "evt-2") == {GOOGLE: ("sent", "registered", None)}
    # ... and evt-1's own calendars are recorded as skipped, superseded
    assert records(calendars, "evt-1") == {
        GOOGLE: ("skipped", None, "superseded"),
        WORKS: ("skipped", None, "superseded"),
    }
    assert lease_owner(calendars) is None


def test_worker_job_of_a_cancelled_absence_marks_its_records_absence_cancelled(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter
) -> None:
    # GIVEN evt-1 was cancelled before its job ran
    accept_upsert(calendars, "evt-1")
    accept_cancel(calendars)

    # WHEN evt-1's job runs
    handle(calendars, worker, calendar_job("evt-1"))

    # THEN nothing is written and evt-1's calendars say why
    assert google.calls == []
    assert records(calendars, "evt-1") == {
        GOOGLE: ("skipped", None, "absence_cancelled"),
        WORKS: ("skipped", None, "absence_cancelled"),
    }


def test_worker_superseded_job_keeps_the_records_its_event_already_has(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter
) -> None:
    # GIVEN evt-1 applied to both calendars, then superseded by evt-2
    accept_upsert(calendars, "evt-1")
    handle(calendars, worker, calendar_job("evt-1"))
    accept_upsert(calendars, "evt-2", T2, title="new")

    # WHEN evt-1's job is redelivered
    handle(calendars, worker, calendar_job("evt-1"), receive_count=2)

    # THEN evt-1's records still say sent (they were), and evt-2 was applied
    assert records(calendars, "evt-1") == {GOOGLE: ("sent", "registered", None), WORKS: ("sent", "registered", None)}
    assert records(calendars, "evt-2") == {GOOGLE: ("sent", "registered", None), WORKS: ("sent", "registered", None)}
    assert google.events[(GOOGLE, GOOGLE_ID)].title == "new"


def test_worker_superseded_job_closes_its_retrying_records(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter
) -> None:
    # GIVEN evt-1's first attempt left Google retrying, then evt-2 superseded evt-1 and was applied
    accept_upsert(calendars, "evt-1", targets=[GOOGLE])
    google.fail_next(RetryableProviderError("google", "http_503", status_code=503))
    with pytest.raises(JobPostponedError):
        handle(calendars, worker, calendar_job("evt-1", [GOOGLE]))
    accept_upsert(calendars, "evt-2", T2, targets=[GOOGLE], title="new")
    handle(calendars, worker, calendar_job("evt-2", [GOOGLE]))

    # WHEN evt-1's job comes back
    handle(calendars, worker, calendar_job("evt-1", [GOOGLE]), receive_count=2)

    # THEN evt-1's Google record is final: it will never be retried, evt-2 replaced it
    status, _, reason = records(calendars, "evt-1")[GOOGLE]
    assert (status, reason) == ("skipped", "superseded")


def test_worker_newer_event_accepted_mid_run_is_reconciled_before_releasing(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter, works: FakeCalendarWriter
) -> None:
    # GIVEN evt-1 (Google only), and evt-2 (Google and NAVER WORKS, new title) arrives while Google is being written
    accept_upsert(calendars, "evt-1", T1, targets=[GOOGLE], title="old")
    arrived: list[Acceptance] = []

    def newer_event_arrives(call: CalendarCall) -> None:
        if not arrived:
            arrived.append(accept_upsert(calendars, "evt-2", T2, title="new"))

    google.on_call = newer_event_arrives

    # WHEN evt-1's job runs
    delay = worker.run(calendar_job("evt-1", [GOOGLE]), last_attempt=False)

    # THEN a second round applied evt-2 before the lease was given back
    assert arrived == [Acceptance.ACCEPTED]
    assert delay is None
    assert [call.absence.title for call in google.calls if call.absence] == ["old", "new"]
    assert google.events[(GOOGLE, GOOGLE_ID)].title == "new"
    assert [call.action for call in works.calls] == ["upsert"]
    assert records(calendars, "evt-2") == {GOOGLE: ("sent", "registered", None), WORKS: ("sent", "registered", None)}
    # ... evt-1's own record (written in the first round) is not overwritten as superseded
    assert records(calendars, "evt-1") == {GOOGLE: ("sent", "registered", None)}
    state = calendars.registry.get(COMPANY, ABSENCE_ID)
    assert state is not None and state.event_id == "evt-2"
    assert all(
        registration.applied and registration.state == state.event_id for registration in state.registrations.values()
    )
    assert lease_owner(calendars) is None


def test_worker_state_still_changing_after_max_rounds_comes_back_at_once(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter
) -> None:
    # GIVEN a newer event arrives during every Google call
    accept_upsert(calendars, "evt-1", T1, targets=[GOOGLE])
    newer = iter(range(2, 100))

    def another_event_arrives(call: CalendarCall) -> None:
        n = next(newer)
        accept_upsert(calendars, f"evt-{n}", f"2026-11-28T10:{n:02d}:00+09:00", targets=[GOOGLE])

    google.on_call = another_event_arrives

    # WHEN the job runs
    delay = worker.run(calendar_job("evt-1", [GOOGLE]), last_attempt=False)

    # THEN it stops after MAX_ROUNDS, frees the lease and asks to run again at once
    assert delay == 0
    assert len(google.calls) == MAX_ROUNDS
    assert lease_owner(calendars) is None


def test_worker_unexpected_writer_exception_frees_the_lease_and_propagates(
    calendars: HubStack, worker: CalendarWorker, google: FakeCalendarWriter
) -> None:
    # GIVEN a writer that fails with an unexpected exception
    accept_upsert(calendars)
    google.fail_next(RuntimeError("bug in a writer"))

    # WHEN the job is handled
    # THEN the exception reaches the batch processor (SQS retries the record) and the lease is free again
    with pytest.raises(RuntimeError, match="bug in a writer"):
        handle(calendars, worker, calendar_job())
    assert lease_owner(calendars) is None
    assert calendars.registry.acquire(COMPANY, ABSENCE_ID, "next-worker", LEASE_SECONDS) is not None


def test_worker_job_body_is_the_routers_json(calendars: HubStack, worker: CalendarWorker) -> None:
    # GIVEN a job serialized as the router does (model_dump(mode="json") through JobQueue.send_all)
    accept_upsert(calendars)
    raw = json.dumps(calendar_job().model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))

    # WHEN it is handled
    handle(calendars, worker, raw)

    # THEN it is understood and applied
    assert set(records(calendars, "evt-1")) == {GOOGLE, WORKS}
