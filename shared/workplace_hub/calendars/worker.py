"""The calendar worker: takes calendar jobs off CalendarQueue and reconciles each absence's calendars."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from workplace_hub.calendars.sync import AbsenceCalendarSync, CalendarOutcome
from workplace_hub.jobs import CalendarJob
from workplace_hub.observability import logger, per_record_log_keys
from workplace_hub.queues import (
    DeadLetters,
    JobPostponedError,
    JobQueue,
    SqsAttempt,
    failure_reason,
    parse_job,
    retry_delay,
)
from workplace_hub.storage.absences import AbsenceRegistry, AbsenceState
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus, NewDelivery, Replay, final_records

# Another worker holds the absence's lease (it is reconciling it right now): try again this much later.
BUSY_RETRY_SECONDS = 5
# A worker that finishes while newer events keep arriving reconciles again, up to this many times.
MAX_ROUNDS = 3
SUPERSEDED, CANCELLED = "superseded", "absence_cancelled"


class CalendarWorker:
    """One job = one absence: lease it, apply its latest state, record the outcome per calendar."""

    def __init__(
        self,
        *,
        registry: AbsenceRegistry,
        sync: AbsenceCalendarSync,
        deliveries: DeliveriesRepository,
        queue: JobQueue,
        dead_letters: DeadLetters,
        max_receive_count: int,
        lease_seconds: float,
    ) -> None:
        self._registry = registry
        self._sync = sync
        self._deliveries = deliveries
        self._queue = queue
        self._dead_letters = dead_letters
        self._max_receive_count = max_receive_count
        self._lease_seconds = lease_seconds

    @per_record_log_keys
    def handle_record(self, record: SQSRecord, lambda_context: Any = None) -> None:
        """SQS record handler: raises JobPostponedError to have the job retried after a delay."""
        job = parse_job(CalendarJob, record, "calendar job", self._dead_letters)
        if job is None:
            return
        logger.append_keys(company_id=job.company_id, event_id=job.event_id, absence_id=job.absence_id)
        received = SqsAttempt.of(record, lambda_context, self._max_receive_count)
        try:
            delay = self.run(
                job,
                last_attempt=received.last_attempt,
                time_left=received.time_left,
                receive_count=received.receive_count,
            )
        except Exception as exc:
            if not received.last_attempt:
                raise  # SQS brings the job back
            # SQS would move it to the DLQ without a word: keep it there with why, for the admin to replay.
            logger.exception("calendar job failed on its last attempt; dead-lettered")
            self._dead_letter(record.body, job, failure_reason("calendar job failed on the last attempt", exc))
            return
        if delay is None:
            return
        if received.last_attempt:
            self._dead_letter(record.body, job, "calendar job: the absence stayed busy until the last attempt")
            return
        self._queue.postpone(record.receipt_handle, delay)
        raise JobPostponedError(f"retrying in {delay:.0f}s")

    def _dead_letter(self, body: str, job: CalendarJob, reason: str) -> None:
        self._dead_letters.send(
            body, reason, company_id=job.company_id, event_id=job.event_id, item=job.event_type, replayable=True
        )

    def run(
        self,
        job: CalendarJob,
        *,
        last_attempt: bool,
        time_left: Callable[[], float] | None = None,
        receive_count: int = 1,
    ) -> float | None:
        """Reconcile the job's absence; returns the delay before the job must run again, or None when done."""
        owner = str(uuid.uuid4())
        state = self._registry.acquire(job.company_id, job.absence_id, owner, self._lease_seconds)
        if state is None:
            if self._registry.get(job.company_id, job.absence_id) is None:
                # The router records the state before it enqueues the job: this job was not made by it.
                logger.warning("calendar job for an unknown absence")
                self._dead_letters.send(
                    job.model_dump_json(),
                    "calendar job: unknown absence",
                    company_id=job.company_id,
                    event_id=job.event_id,
                    item=job.event_type,
                )
                return None
            logger.info("absence busy: another worker is reconciling it")
            return BUSY_RETRY_SECONDS
        released = False
        delay: float | None = None
        try:
            for _ in range(MAX_ROUNDS):
                result = self._sync.sync(state, last_attempt=last_attempt, time_left=time_left)
                self._record(state, result.outcomes)
                if result.retry_needed:
                    delay = retry_delay(result.retry_after, receive_count)
                    break
                if self._registry.release(job.company_id, job.absence_id, owner, state.event_id):
                    released = True
                    break
                newer = self._registry.get(job.company_id, job.absence_id)
                assert newer is not None  # the item is never deleted while leased
                state = newer
            else:
                delay = 0  # still changing: let the job come back at once rather than hold the function
        finally:
            if not released:
                self._registry.abandon(job.company_id, job.absence_id, owner)
        if job.event_id != state.event_id:
            self._record_superseded(job, state)
        logger.info("absence reconciled", extra={"state": state.state, "retry": delay is not None})
        return delay

    def _record(self, state: AbsenceState, outcomes: list[CalendarOutcome]) -> None:
        """Delivery records of the state's event, one per calendar (written again on each attempt)."""
        self._deliveries.add_many(
            [
                NewDelivery(
                    DeliveryKey(state.company_id, state.event_id, state.user_id, outcome.channel),
                    state.event_type,
                    outcome.status,
                    outcome.reason,
                    error_code=outcome.error_code,
                    action=outcome.action,
                    replay=self._replay(state, outcome),
                )
                for outcome in outcomes
            ]
        )

    @staticmethod
    def _replay(state: AbsenceState, outcome: CalendarOutcome) -> Replay | None:
        """A failed calendar can be tried again (POST /admin/failures/replay): the absence's job once more."""
        if outcome.status != DeliveryStatus.FAILED:
            return None
        job = CalendarJob(
            company_id=state.company_id,
            absence_id=state.absence_id,
            user_id=state.user_id,
            event_id=state.event_id,
            event_type=state.event_type,
            channels=[outcome.channel],
        )
        return Replay("calendar", job.model_dump_json())

    def _record_superseded(self, job: CalendarJob, state: AbsenceState) -> None:
        """The job's own event lost to a newer one before it was applied: say so on its records (those not
        final yet: one left `retrying` by an earlier attempt is closed too)."""
        existing = final_records(self._deliveries.statuses_for_event(job.company_id, job.event_id))
        reason = CANCELLED if state.cancelled else SUPERSEDED
        self._deliveries.add_many(
            [
                NewDelivery(
                    DeliveryKey(job.company_id, job.event_id, job.user_id, channel),
                    job.event_type,
                    DeliveryStatus.SKIPPED,
                    reason,
                )
                for channel in job.channels
                if (job.user_id, channel) not in existing
            ]
        )
