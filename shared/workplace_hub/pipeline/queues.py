"""SQS helpers shared by the router and the workers: dead-lettering with a reason, postponing, enqueueing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from workplace_hub.errors import HubError

_SEND_BATCH_LIMIT = 10
MAX_VISIBILITY_SECONDS = 12 * 3600


class EnqueueError(HubError):
    """SQS did not accept some messages; the caller's record is retried."""


class DeadLetters:
    """Puts a message on a dead-letter queue together with the reason it could not be processed."""

    def __init__(self, sqs_client: Any, queue_url: str, source: str) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._source = source

    def send(self, body: str, reason: str) -> None:
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


class JobQueue:
    """One SQS queue: send jobs to it in batches, or push a received job's next attempt back."""

    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self.queue_url = queue_url
        self.calls = 0

    def send_all(self, bodies: list[dict[str, Any]]) -> None:
        for start in range(0, len(bodies), _SEND_BATCH_LIMIT):
            chunk = bodies[start : start + _SEND_BATCH_LIMIT]
            entries = [
                {"Id": str(index), "MessageBody": json.dumps(body, ensure_ascii=False, separators=(",", ":"))}
                for index, body in enumerate(chunk)
            ]
            self.calls += 1
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


def invalid_job_reason(kind: str, exc: ValidationError) -> str:
    """A dead-letter reason naming the job's bad fields (never their values)."""
    where = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors()[:5] if err["loc"])
    return f"invalid {kind}: {where or 'not a JSON object of the right shape'}"
