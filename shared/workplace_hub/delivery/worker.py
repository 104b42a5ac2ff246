"""A delivery worker: takes send jobs off one provider's queue and sends each message at most once."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from workplace_hub.crypto import Keyring
from workplace_hub.delivery.attempt import JobAttempt, SendingParts, count
from workplace_hub.integration_settings.credentials import CompanyCredentials
from workplace_hub.jobs import SendJob
from workplace_hub.observability import logger, per_record_log_keys
from workplace_hub.providers.messenger import Sender, SendReceipt
from workplace_hub.queues import (
    DeadLetters,
    JobPostponedError,
    JobQueue,
    SqsAttempt,
    failure_reason,
    parse_job,
    retry_delay,
)
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.delivery_records import DeliveryKey
from workplace_hub.storage.links import LinksRepository
from workplace_hub.storage.rate_limits import SharedRateLimiter


class DeliveryWorker:
    """Sends the jobs of one channel; records sent / failed / retrying on each delivery record. Holds no state
    of a job: each job's attempt is a `JobAttempt` of its own."""

    def __init__(
        self,
        *,
        sender: Sender,
        credentials: CompanyCredentials,
        links: LinksRepository,
        deliveries: DeliveriesRepository,
        keyring: Keyring,
        queue: JobQueue,
        dead_letters: DeadLetters,
        max_receive_count: int,
        lease_seconds: float,
        call_budget_seconds: float = 15.0,
        limiter: SharedRateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_accepted: Callable[[SendJob, list[tuple[DeliveryKey, SendReceipt]]], None] | None = None,
        concurrency: int = 1,
    ) -> None:
        # `concurrency`: a job's calls in flight at once (SEND_CONCURRENCY); the pool's threads start on first use
        # and serve every job of the container (each job waits for its own calls before the next job starts).
        pool = ThreadPoolExecutor(concurrency, thread_name_prefix=f"send-{sender.channel}") if concurrency > 1 else None
        self._parts = SendingParts(
            sender=sender,
            credentials=credentials,
            links=links,
            deliveries=deliveries,
            keyring=keyring,
            lease_seconds=lease_seconds,
            call_budget_seconds=call_budget_seconds,
            limiter=limiter,
            sleep=sleep,
            concurrency=concurrency,
            pool=pool,
        )
        self._channel = sender.channel
        self._queue = queue
        self._dead_letters = dead_letters
        self._max_receive_count = max_receive_count
        # Called with the deliveries the provider accepted, once they are recorded `sent` (AlimTalk: schedules
        # the lookup of their delivery results).
        self._on_accepted = on_accepted

    @per_record_log_keys
    def handle_record(self, record: SQSRecord, lambda_context: Any = None) -> None:
        """SQS record handler: raises JobPostponedError to have the job retried after a delay."""
        job = parse_job(SendJob, record, "send job", self._dead_letters)
        if job is None:
            return
        if job.channel != self._channel:
            self._dead_letters.send(
                record.body,
                f"send job for {job.channel} on the {self._channel} queue",
                company_id=job.company_id,
                event_id=job.event_id,
                item=job.item,
            )
            return
        logger.append_keys(company_id=job.company_id, event_id=job.event_id, channel=job.channel)
        received = SqsAttempt.of(record, lambda_context, self._max_receive_count)
        try:
            attempt = self.deliver(job, last_attempt=received.last_attempt, time_left=received.time_left)
        except Exception as exc:
            if not received.last_attempt:
                raise  # SQS brings the job back
            # SQS would move it to the DLQ without a word: keep it there with why, for the admin to replay.
            logger.exception("send job failed on its last attempt; dead-lettered")
            self._dead_letter_unsettled(record.body, job, failure_reason("sending failed on the last attempt", exc))
            return
        if attempt.unclaimed and received.last_attempt:
            # A claim throttled, or held by another attempt that may have died: the records are not settled yet.
            self._dead_letter_unsettled(
                record.body, job, "deliveries still unsettled after the last attempt (a claim was throttled or held)"
            )
            return
        if attempt.retry_needed or attempt.unclaimed:
            delay = retry_delay(attempt.retry_after, received.receive_count)
            self._queue.postpone(record.receipt_handle, delay)
            raise JobPostponedError(f"retrying in {delay:.0f}s")

    def _dead_letter_unsettled(self, body: str, job: SendJob, reason: str) -> None:
        """A replay sends the job again: its settled deliveries are skipped by their claims, the rest sent."""
        count("JobsDeadLettered", job.channel)
        self._dead_letters.send(
            body, reason, company_id=job.company_id, event_id=job.event_id, item=job.item, replayable=True
        )

    def deliver(self, job: SendJob, *, last_attempt: bool, time_left: Callable[[], float] | None = None) -> JobAttempt:
        """Deliver the job (a new attempt object of its own) and record every outcome."""
        attempt = JobAttempt(self._parts, job, last_attempt=last_attempt, time_left=time_left)
        attempt.run(on_recorded=lambda accepted: self._follow_up(job, accepted))
        return attempt

    def _follow_up(self, job: SendJob, accepted: list[tuple[DeliveryKey, SendReceipt]]) -> None:
        if self._on_accepted is None:
            return
        try:
            self._on_accepted(job, accepted)
        except Exception:
            # The messages went out and are recorded `sent`; only the later news of them is missing. Raising
            # would not bring it back (a redelivered job finds them final and sends nothing).
            logger.exception("accepted deliveries not followed up", extra={"count": len(accepted)})
