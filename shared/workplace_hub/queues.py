"""SQS helpers shared by the router and the workers: dead-lettering with a reason, postponing, enqueueing, and
the retry policy of a job that comes back (`retry_delay`, `JobPostponedError`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ValidationError

from workplace_hub.errors import HubError
from workplace_hub.events import COMPANY_ID_PATTERN, EVENT_ID_PATTERN
from workplace_hub.observability import logger
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.delivery_records import Replay

Job = TypeVar("Job", bound=BaseModel)

COMPANY_ID_RE = re.compile(COMPANY_ID_PATTERN)
EVENT_ID_RE = re.compile(EVENT_ID_PATTERN)

_SEND_BATCH_LIMIT = 10
_SEND_BATCH_BYTES = 256 * 1024
MAX_VISIBILITY_SECONDS = 12 * 3600


class EnqueueError(HubError):
    """SQS did not accept some messages; the caller's record is retried."""


class JobPostponedError(HubError):
    """Some of this job's work hit a transient error; SQS redelivers the job after a delay."""


class DeadLetters:
    """Puts a message on a dead-letter queue together with the reason it could not be processed, and (when the
    message names its company) records it in that company's delivery log, where its admin sees it and may
    replay it (`GET /admin/failures`)."""

    def __init__(
        self,
        sqs_client: Any,
        queue_url: str,
        source: str,
        *,
        log: DeliveriesRepository | None = None,
        replay_queue: str | None = None,
    ) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._source = source
        self._log = log
        self._replay_queue = replay_queue  # the stage a replay goes back to (see Replay)

    def send(
        self,
        body: str,
        reason: str,
        *,
        company_id: str | None = None,
        event_id: str | None = None,
        item: str = "",
        replayable: bool = False,
    ) -> None:
        """`replayable`: the same message could succeed later (the failure was not the message's fault)."""
        # The reason never carries secrets: callers build it from field names and error codes.
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"},
                "source": {"DataType": "String", "StringValue": self._source},
                "failed_at": {"DataType": "String", "StringValue": datetime.now(UTC).isoformat()},
            },
        )
        if self._log is None or not company_id:
            return
        replay = Replay(self._replay_queue, body) if replayable and self._replay_queue else None
        try:
            self._log.add_dead_letter(company_id, event_id or "unknown", item, self._source, reason, replay)
        except Exception:  # the message is safe on the DLQ; only the admin's view of it is missing
            logger.exception("dead letter not recorded in the delivery log")


def error_name(exc: BaseException) -> str:
    """What failed, fit for a dead letter's reason: the error's type and AWS error code, never its message (an
    HTTP library's message may quote a URL, and a webhook URL carries its token)."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return f"{type(exc).__name__} ({code})" if code else type(exc).__name__


def failure_reason(what: str, exc: BaseException) -> str:
    """The dead-letter reason of a job that failed on its last attempt, the same rule for every stage: what
    failed, then `error_name` (never the error's text)."""
    return f"{what}: {error_name(exc)}"


def message_identity(body: str) -> tuple[str | None, str | None]:
    """(company_id, event_id) of a message body when it names them plausibly, else None: to record a dead
    letter under its company even when the message is otherwise invalid."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to read
        return None, None
    if not isinstance(document, dict):
        return None, None
    company, event = document.get("company_id"), document.get("event_id")
    company = company if isinstance(company, str) and COMPANY_ID_RE.fullmatch(company) else None
    event = event if isinstance(event, str) and EVENT_ID_RE.fullmatch(event) else None
    return company, event


class JobQueues:
    """The stage queues by name (`events`, `calendar`, a channel): where a replayed failure goes back to."""

    def __init__(self, sqs_client: Any, urls: dict[str, str]) -> None:
        self._sqs = sqs_client
        self._urls = urls

    def send(self, stage: str, body: str) -> None:
        url = self._urls.get(stage)
        if url is None:
            raise EnqueueError(f"no queue for {stage!r} is deployed")
        self._sqs.send_message(QueueUrl=url, MessageBody=body)


class JobQueue:
    """One SQS queue: send jobs to it in batches, or push a received job's next attempt back."""

    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self.queue_url = queue_url

    def send_all(self, bodies: list[dict[str, Any]]) -> None:
        """Send in batches of up to 10 messages and 256 KB (SQS's limits for one SendMessageBatch)."""
        texts = [json.dumps(body, ensure_ascii=False, separators=(",", ":")) for body in bodies]
        for chunk in _batches(texts):
            entries = [{"Id": str(index), "MessageBody": text} for index, text in enumerate(chunk)]
            response = self._sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if response.get("Failed"):
                codes = sorted({failure.get("Code", "?") for failure in response["Failed"]})
                raise EnqueueError(f"SQS refused {len(response['Failed'])} job(s): {', '.join(codes)}")

    def postpone(self, receipt_handle: str, seconds: float) -> None:
        """Make a received message visible again only after `seconds` (e.g. the provider's Retry-After)."""
        self._sqs.change_message_visibility(
            QueueUrl=self.queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(1, min(MAX_VISIBILITY_SECONDS, int(seconds + 0.999))),
        )


def _batches(texts: list[str]) -> list[list[str]]:
    batches: list[list[str]] = []
    used = 0
    for text in texts:
        size = len(text.encode())
        if not batches or len(batches[-1]) == _SEND_BATCH_LIMIT or used + size > _SEND_BATCH_BYTES:
            batches.append([])
            used = 0
        batches[-1].append(text)
        used += size
    return batches


def invalid_job_reason(kind: str, exc: ValidationError) -> str:
    """A dead-letter reason naming the job's bad fields (never their values)."""
    where = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors()[:5] if err["loc"])
    return f"invalid {kind}: {where or 'not a JSON object of the right shape'}"


def parse_job(model: type[Job], record: SQSRecord, kind: str, dead_letters: DeadLetters) -> Job | None:
    """The record's job; None when it is not one, after dead-lettering it with the bad fields named."""
    try:
        return model.model_validate_json(record.body)
    except ValidationError as exc:
        company_id, event_id = message_identity(record.body)
        dead_letters.send(record.body, invalid_job_reason(kind, exc), company_id=company_id, event_id=event_id)
        return None


@dataclass(frozen=True)
class SqsAttempt:
    """The attempt at a job that an SQS record stands for: which receive of its message, and the invocation's
    clock."""

    receive_count: int
    last_attempt: bool  # SQS moves the message to its DLQ rather than deliver it again
    time_left: Callable[[], float] | None  # seconds the invocation has left; None: no limit (tests)

    @classmethod
    def of(cls, record: SQSRecord, lambda_context: Any, max_receive_count: int) -> SqsAttempt:
        receive_count = int(record.attributes.approximate_receive_count)
        time_left = (
            (lambda: lambda_context.get_remaining_time_in_millis() / 1000) if lambda_context is not None else None
        )
        return cls(receive_count, receive_count >= max_receive_count, time_left)


def retry_delay(retry_after: float | None, receive_count: int) -> float:
    """How long a job waits before its next attempt.

    The provider's Retry-After on the first failure; from the second on, at least the growing backoff too,
    so that a provider that keeps answering "in 5 s" for a long outage or 429 storm does not use up the
    queue's maxReceiveCount in under a minute (8 attempts then span more than a quarter of an hour).
    """
    if retry_after is None:
        return backoff_seconds(receive_count)
    if receive_count <= 1:
        return retry_after
    return max(retry_after, backoff_seconds(receive_count - 1))


def backoff_seconds(receive_count: int) -> float:
    """Delay before the next attempt when the provider did not say: 15 s, 30 s, 60 s, ... up to 15 min."""
    return float(min(900, 15 * 2 ** max(0, receive_count - 1)))
