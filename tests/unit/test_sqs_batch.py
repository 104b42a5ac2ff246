"""pipeline.batch answers SQS exactly as powertools' BatchProcessor + process_partial_response did."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities import batch as powertools

from workplace_hub.pipeline import batch


def sqs_event(bodies: list[str]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{number}",
                "receiptHandle": f"r-{number}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": str(number + 1)},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
            }
            for number, body in enumerate(bodies)
        ]
    }


class Handler:
    """Fails the records whose body says so; remembers what it saw."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, int, Any]] = []

    def __call__(self, record: Any, lambda_context: Any = None) -> None:
        self.seen.append(
            (
                record.message_id,
                record.receipt_handle,
                record.body,
                int(record.attributes.approximate_receive_count),
                lambda_context,
            )
        )
        if record.body == "fail":
            raise RuntimeError("provider down")


def through_powertools(event: dict[str, Any], handler: Any, context: Any) -> Any:
    processor = powertools.BatchProcessor(event_type=powertools.EventType.SQS)
    return powertools.process_partial_response(
        event=event, record_handler=handler, processor=processor, context=context
    )


@pytest.mark.parametrize("bodies", [["ok", "fail", "ok", "fail"], ["ok"], ["ok", "ok"], ["fail", "ok"]], ids=repr)
def test_same_failures_and_same_records_as_powertools(bodies: list[str]) -> None:
    context = object()
    ours, theirs = Handler(), Handler()

    answer = batch.process_partial_response(sqs_event(bodies), ours, context)

    assert answer == through_powertools(sqs_event(bodies), theirs, context)
    assert answer["batchItemFailures"] == [
        {"itemIdentifier": f"m-{number}"} for number, body in enumerate(bodies) if body == "fail"
    ]
    assert ours.seen == theirs.seen


def test_a_batch_that_failed_whole_fails_the_invocation_as_with_powertools() -> None:
    with pytest.raises(powertools.exceptions.BatchProcessingError):
        through_powertools(sqs_event(["fail", "fail"]), Handler(), None)

    with pytest.raises(batch.BatchProcessingError) as raised:
        batch.process_partial_response(sqs_event(["fail", "fail"]), Handler(), None)
    assert len(raised.value.child_exceptions) == 2


def test_a_handler_without_lambda_context_is_called_without_it() -> None:
    seen = []

    def handle_record(record: Any) -> None:
        seen.append(record.body)

    assert batch.process_partial_response(sqs_event(["a", "b"]), handle_record, object()) == {"batchItemFailures": []}
    assert seen == ["a", "b"]


@pytest.mark.parametrize("event", [{"detail": {}}, {"Records": []}], ids=repr)
def test_an_event_without_records_fails_as_with_powertools(event: dict[str, Any]) -> None:
    with pytest.raises(powertools.exceptions.BatchProcessingError):
        through_powertools(event, Handler(), None)
    with pytest.raises(batch.BatchProcessingError, match="Records"):
        batch.process_partial_response(event, Handler(), None)
