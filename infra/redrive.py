"""`make redrive DLQ=SendSlackDLQ`: move every message of a dead-letter queue back to the queue it came from.

For operators: after an outage is fixed, the whole DLQ goes back at once (the hub's stages are idempotent,
so a message that had already been replayed by an admin sends nothing twice). The source queue is the one
whose RedrivePolicy names the DLQ in template.yaml. Queue URLs come from the running local stack
(.local/stack.json) or, with --stack-name, from the deployed CloudFormation stack. On AWS, `aws sqs
start-message-move-task --source-arn <DLQ arn>` does the same natively.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import boto3

from infra.local_stack.aws import client
from infra.template import load_template, resources_of_type

BATCH = 10


def source_of(template: dict[str, Any], dlq: str) -> str:
    """The logical ID of the queue whose redrive policy sends to `dlq`."""
    for logical_id, queue in resources_of_type(template, "AWS::SQS::Queue").items():
        target = queue.get("Properties", {}).get("RedrivePolicy", {}).get("deadLetterTargetArn", {})
        if target == {"Fn::GetAtt": [dlq, "Arn"]}:
            return logical_id
    raise SystemExit(f"{dlq} is no dead-letter queue of template.yaml")


def queue_urls(stack_name: str | None) -> dict[str, str]:
    if stack_name is None:
        description = json.loads(Path(".local/stack.json").read_text(encoding="utf-8"))
        return description["queues"]
    resources = boto3.client("cloudformation").describe_stack_resources(StackName=stack_name)["StackResources"]
    queues = [r for r in resources if r["ResourceType"] == "AWS::SQS::Queue"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in queues}


def redrive(sqs: Any, dlq_url: str, source_url: str, limit: int) -> int:
    """Move up to `limit` messages; returns how many moved. Each is deleted only after it was sent."""
    moved = 0
    while moved < limit:
        messages = sqs.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=min(BATCH, limit - moved), WaitTimeSeconds=1, VisibilityTimeout=60
        ).get("Messages", [])
        if not messages:
            return moved
        entries = [{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(messages)]
        sent = sqs.send_message_batch(QueueUrl=source_url, Entries=entries)
        done = {int(entry["Id"]) for entry in sent.get("Successful", [])}
        for index in sorted(done):
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=messages[index]["ReceiptHandle"])
        moved += len(done)
        if len(done) < len(messages):
            raise SystemExit(f"SQS refused {len(messages) - len(done)} message(s); they stay on the DLQ")
    return moved


def main() -> None:
    parser = argparse.ArgumentParser(description="Move a dead-letter queue's messages back to their queue.")
    parser.add_argument("dlq", help="logical ID of the DLQ in template.yaml, e.g. SendSlackDLQ")
    parser.add_argument("--stack-name", help="a deployed stack (default: the running local stack)")
    parser.add_argument("--limit", type=int, default=10_000, help="move at most this many (default 10000)")
    args = parser.parse_args()
    source = source_of(load_template(), args.dlq)
    urls = queue_urls(args.stack_name)
    if args.stack_name is None:
        endpoint = json.loads(Path(".local/stack.json").read_text(encoding="utf-8"))["aws_endpoint_url"]
        sqs = client("sqs", endpoint)
    else:
        sqs = boto3.client("sqs")
    moved = redrive(sqs, urls[args.dlq], urls[source], args.limit)
    print(f"moved {moved} message(s) from {args.dlq} back to {source}")


if __name__ == "__main__":
    main()
