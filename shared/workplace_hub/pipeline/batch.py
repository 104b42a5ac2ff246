"""SQS partial batch responses: each record through the record handler, the failed ones reported back to SQS.

What powertools' `BatchProcessor` + `process_partial_response` did for these functions, with the same answer,
without importing powertools' batch utility: that import brings asyncio (for its async processor) and the
record classes of every event source, about 40 ms of CPU per cold start of each SQS function.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from workplace_hub.observability import logger


class BatchProcessingError(Exception):
    """Every record of the batch failed: the invocation fails and the whole batch comes back (as powertools)."""

    def __init__(self, message: str, child_exceptions: list[BaseException]) -> None:
        super().__init__(message)
        self.child_exceptions = child_exceptions


class SqsAttributes:
    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw

    @property
    def approximate_receive_count(self) -> str:
        return self._raw["ApproximateReceiveCount"]


class SqsMessage:
    """The parts of an SQS event record the pipeline reads, named as powertools' `SQSRecord` names them."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw_event = raw

    @property
    def body(self) -> str:
        return self.raw_event["body"]

    @property
    def message_id(self) -> str:
        return self.raw_event["messageId"]

    @property
    def receipt_handle(self) -> str:
        return self.raw_event["receiptHandle"]

    @property
    def attributes(self) -> SqsAttributes:
        return SqsAttributes(self.raw_event.get("attributes") or {})


def process_partial_response(event: dict[str, Any], record_handler: Callable[..., Any], context: Any) -> dict:
    """{"batchItemFailures": [{"itemIdentifier": message id}, ...]} for the records whose handler raised.

    The handler gets `lambda_context=context` too when it takes that parameter. When every record failed (or
    the event has no records), raises BatchProcessingError instead: a failed invocation, after which SQS makes
    the whole batch visible again.
    """
    records = event.get("Records")
    if not records or not isinstance(records, list):
        raise BatchProcessingError("Unexpected batch event: an SQS event has a non-empty Records list", [])
    pass_context = "lambda_context" in inspect.signature(record_handler).parameters
    failures: list[dict[str, str]] = []
    exceptions: list[BaseException] = []
    for raw in records:
        message = SqsMessage(raw)
        try:
            if pass_context:
                record_handler(record=message, lambda_context=context)
            else:
                record_handler(record=message)
        except Exception as exc:  # each failure is reported for its own record, not raised
            logger.debug("record processing exception: %s", type(exc).__name__)
            exceptions.append(exc)
            failures.append({"itemIdentifier": message.message_id})
    if len(exceptions) == len(records):
        raise BatchProcessingError(
            f"All records failed processing. {len(exceptions)} individual errors logged separately below.",
            exceptions,
        )
    return {"batchItemFailures": failures}
