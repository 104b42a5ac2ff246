"""AlimTalk delivery results: after SENS accepted a request, look its messages' results up until each is known.

SENS's send answer only says a message was accepted (`A000`); whether Kakao delivered it (`messageStatusCode`)
comes later, through the lookup API (providers.md §9.1). The Kakao sender puts one lookup job per accepted
request on KakaoResultsQueue, delayed; this worker looks the request up, moves each record from `sent` to
`delivered` or `failed`, and puts the job back, delayed twice as long (at most SQS's 900 s), for the messages
without a result, until the window (24 h) ends: those stay `sent` with the reason `result_unknown`.

It only reads from SENS: nothing here can send a message (it holds a `ResultLookup`, not a sender). A lookup
that fails, times out or answers what the hub cannot read leaves the records `sent`, with the reason, for the
next lookup. Each record counts its lookups (`result_lookups`): a job only acts on records at its own count, so
a redelivered job (SQS delivers at least once) changes nothing and starts no second chain of lookups.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from workplace_hub.catalog import Integration
from workplace_hub.config import KakaoResultTiming
from workplace_hub.errors import HubError, ProviderError
from workplace_hub.events import COMPANY_ID_PATTERN, EVENT_ID_PATTERN
from workplace_hub.integration_settings.credentials import CompanyCredentials
from workplace_hub.kakao.results import MessageResult
from workplace_hub.observability import logger, metrics, per_record_log_keys
from workplace_hub.providers.messenger import SendReceipt
from workplace_hub.queues import DeadLetters, parse_job
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.delivery_records import RESULT_UNKNOWN, DeliveryKey, DeliveryStatus

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

CHANNEL = Integration.KAKAO.value
MAX_SQS_DELAY = 900


class ResultJob(BaseModel):
    """Look up the results of one accepted SENS request's messages. Carries no secrets."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    company_id: str = Field(pattern=COMPANY_ID_PATTERN)
    event_id: str = Field(pattern=EVENT_ID_PATTERN)
    # None: the send answer had no requestId; each message is then looked up by its id.
    request_id: str | None = Field(default=None, min_length=1, max_length=200)
    accepted_at: float = Field(ge=0, description="when SENS accepted the request (Unix time)")
    lookup: int = Field(default=0, ge=0, le=10_000, description="how many lookups of it came before")
    messages: dict[str, str] = Field(min_length=1, max_length=100, description="user_id → SENS messageId")


class ResultLookup(Protocol):
    """The one provider call this worker makes: a read."""

    def lookup_results(self, credentials: dict[str, Any], request_id: str) -> dict[str, MessageResult]: ...

    def lookup_message(self, credentials: dict[str, Any], message_id: str) -> MessageResult: ...


@dataclass(frozen=True)
class Timing:
    first_delay: float
    max_delay: float
    window: float

    @classmethod
    def of(cls, settings: KakaoResultTiming) -> Timing:
        return cls(
            settings.KAKAO_RESULT_FIRST_DELAY_SECONDS,
            settings.KAKAO_RESULT_MAX_DELAY_SECONDS,
            settings.KAKAO_RESULT_WINDOW_SECONDS,
        )

    def delay(self, lookup: int) -> float:
        """Seconds before lookup number `lookup` (0: the first): 15, 30, 60, ... up to the maximum."""
        return float(min(self.max_delay, MAX_SQS_DELAY, self.first_delay * 2 ** min(lookup, 20)))


class ResultQueue:
    """KakaoResultsQueue: a job becomes visible after its delay."""

    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self.queue_url = queue_url

    def send(self, job: ResultJob, delay: float) -> None:
        self._sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(job.model_dump(), separators=(",", ":")),
            DelaySeconds=max(0, min(MAX_SQS_DELAY, int(delay + 0.999))),
        )


def first_lookups(
    job_company: str, event_id: str, accepted: list[tuple[DeliveryKey, SendReceipt]], now: float
) -> list[ResultJob]:
    """One lookup job per accepted request (the receipts carry its requestId and each message's id); messages
    of an answer without a requestId are looked up one by one, by their ids (at most 100 to a job)."""
    by_request: dict[str | None, dict[str, str]] = defaultdict(dict)
    for key, receipt in accepted:
        if receipt.provider_message_id:
            by_request[getattr(receipt, "request_id", None)][key.user_id] = receipt.provider_message_id
    jobs = []
    for request_id, messages in by_request.items():
        items = sorted(messages.items())
        for start in range(0, len(items), 100):
            chunk = dict(items[start : start + 100])
            jobs.append(
                ResultJob(
                    company_id=job_company, event_id=event_id, request_id=request_id, accepted_at=now, messages=chunk
                )
            )
    return jobs


def schedule_first_lookups(queue: ResultQueue, timing: Timing, clock: Callable[[], float] = time.time) -> Any:
    """The Kakao sender's `on_accepted`: the first lookup of each accepted request, `first_delay` later."""

    def schedule(job: Any, accepted: list[tuple[DeliveryKey, SendReceipt]]) -> None:
        for lookup_job in first_lookups(job.company_id, job.event_id, accepted, clock()):
            queue.send(lookup_job, timing.delay(0))

    return schedule


def _open(record: dict[str, Any] | None, message_id: str, lookup: int) -> bool:
    """Still `sent` as this very message, and at this job's lookup count (not settled, not a repeated job)."""
    return (
        record is not None
        and record.get("status") == DeliveryStatus.SENT.value
        and record.get("provider_message_id") == message_id
        and int(record.get("result_lookups", 0)) == lookup
    )


class KakaoResultsWorker:
    """Moves accepted AlimTalk deliveries to `delivered` / `failed` as SENS reports them."""

    def __init__(
        self,
        *,
        lookup: ResultLookup,
        credentials: CompanyCredentials,
        deliveries: DeliveriesRepository,
        queue: ResultQueue,
        dead_letters: DeadLetters,
        timing: Timing,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lookup = lookup
        self._credentials = credentials
        self._deliveries = deliveries
        self._queue = queue
        self._dead_letters = dead_letters
        self._timing = timing
        self._clock = clock

    @per_record_log_keys
    def handle_record(self, record: SQSRecord, lambda_context: Any = None) -> None:
        """SQS record handler; raises (the job comes back) only when the next lookup could not be enqueued."""
        job = parse_job(ResultJob, record, "result lookup job", self._dead_letters)
        if job is not None:
            logger.append_keys(company_id=job.company_id, event_id=job.event_id, channel=CHANNEL)
            self.check(job)

    def check(self, job: ResultJob) -> None:
        records = self._deliveries.records_of(job.company_id, job.event_id, CHANNEL)
        waiting = {user: mid for user, mid in job.messages.items() if _open(records.get(user), mid, job.lookup)}
        if not waiting:
            return  # every result known, or this lookup was already made (a redelivered job)
        results, failure = self._results(job, list(waiting.values()))
        unresolved: dict[str, tuple[str, MessageResult]] = {}
        for user_id, message_id in waiting.items():
            key = DeliveryKey(job.company_id, job.event_id, user_id, CHANNEL)
            result = results.get(message_id) or MessageResult(
                "pending", "result_lookup_failed" if failure else "result_not_listed", failure
            )
            if result.state in ("delivered", "failed"):
                status = DeliveryStatus.DELIVERED if result.state == "delivered" else DeliveryStatus.FAILED
                if self._deliveries.settle_result(
                    key,
                    message_id,
                    status,
                    reason=result.reason,
                    error_code=result.error_code,
                    failover=result.failover,
                ):
                    metrics.add_metric(name=f"AlimTalk{result.state.capitalize()}", unit=MetricUnit.Count, value=1)
                continue
            unresolved[user_id] = (message_id, result)
        if unresolved:
            self._carry_on(job, unresolved)

    def _results(self, job: ResultJob, message_ids: list[str]) -> tuple[dict[str, MessageResult], str | None]:
        """The lookup's results by messageId, and the code of why the lookup failed (None: it did not)."""
        results: dict[str, MessageResult] = {}
        try:
            # Looked up even if the integration was turned off since: the messages went out.
            credentials = self._credentials.resolve(self._credentials.company(job.company_id), Integration.KAKAO)
            if job.request_id is not None:
                return self._lookup.lookup_results(credentials, job.request_id), None
            for message_id in message_ids:
                results[message_id] = self._lookup.lookup_message(credentials, message_id)
            return results, None
        except ProviderError as exc:
            logger.info("result lookup failed", extra={"code": exc.code, "lookup": job.lookup})
            return results, exc.code
        except HubError as exc:  # settings gone or unreadable: the window still ends it
            logger.info("result lookup impossible", extra={"error": type(exc).__name__})
            return {}, "settings_unavailable"

    def _carry_on(self, job: ResultJob, unresolved: dict[str, tuple[str, MessageResult]]) -> None:
        """Look again later, or (the window over) record the results as unknown. The next job is enqueued before
        the records count this lookup: if enqueueing fails, this job comes back and does it again."""
        now = self._clock()
        deadline = job.accepted_at + self._timing.window
        last = now >= deadline
        if not last:
            delay = min(self._timing.delay(job.lookup + 1), max(0.0, deadline - now))
            messages = {user_id: message_id for user_id, (message_id, _) in unresolved.items()}
            self._queue.send(job.model_copy(update={"lookup": job.lookup + 1, "messages": messages}), delay)
        for user_id, (message_id, result) in unresolved.items():
            self._deliveries.note_unresolved(
                DeliveryKey(job.company_id, job.event_id, user_id, CHANNEL),
                message_id,
                job.lookup,
                reason=RESULT_UNKNOWN if last else str(result.reason),
                error_code=result.error_code,
                failover=result.failover,
            )
        if last:
            metrics.add_metric(name="AlimTalkResultUnknown", unit=MetricUnit.Count, value=len(unresolved))
            logger.info("results still unknown when the lookup window ended", extra={"count": len(unresolved)})
