"""Feeds SQS batches to functions the way a Lambda event source mapping does.

Receives up to BatchSize messages, invokes the function with an SQS event, deletes what succeeded
and leaves the reported `batchItemFailures` (or the whole batch, if the function raised) to come back
after their visibility timeout; SQS itself moves a message to the DLQ after maxReceiveCount.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from infra.local_stack.functions import LocalFunction

log = logging.getLogger("local_stack.poller")


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    records = []
    for message in messages:
        attributes = message.get("Attributes", {})
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": attributes.get("SentTimestamp", "0"),
                    "SenderId": attributes.get("SenderId", "local"),
                    "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0"),
                },
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "dataType": value.get("DataType", "String"),
                        "stringListValues": [],
                        "binaryListValues": [],
                    }
                    for name, value in message.get("MessageAttributes", {}).items()
                },
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "ap-northeast-1",
            }
        )
    return {"Records": records}


class SqsPoller(threading.Thread):
    """One event source mapping: one queue → one function."""

    def __init__(
        self, sqs: Any, queue_url: str, queue_arn: str, function: LocalFunction, batch_size: int, wait_seconds: int = 1
    ) -> None:
        super().__init__(name=f"poller-{function.logical_id}", daemon=True)
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._function = function
        self._batch_size = batch_size
        self._wait_seconds = wait_seconds
        self._stopping = threading.Event()
        self.batches = 0

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception:  # keep polling, as the real event source mapping does
                log.exception("polling %s failed", self._function.logical_id)
                self._stopping.wait(1)

    def poll_once(self) -> int:
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        self.batches += 1
        try:
            result = self._function.invoke(sqs_event(messages, self._queue_arn))
        except Exception:
            log.exception("%s raised: the whole batch will be retried", self._function.logical_id)
            return len(messages)
        failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])
                ],
            )
        return len(messages)
