"""Part 6: fairness between companies. Company A's Slack answers 429 (Retry-After 5 s) for a whole minute;
company B's deliveries must not wait for it.

Two companies, each with its own Slack workspace in the sandbox and `recipients` linked employees, send the
same load at the same time: an event to every employee every `interval` seconds for `seconds` seconds. The
router and the Slack sender run as they do deployed, fed by their event source mappings (one container each,
one thread each, batches of the template's BatchSize; a message whose record failed comes back when its
visibility timeout ends, as SQS returns it). Run twice: a baseline where both companies' Slack is healthy,
then the storm, where A's Slack refuses everything for `seconds` seconds. Latency is from putting the event
on WorkplaceEventsQueue to the delivery record's `sent` (its updated_at), per message, for each company.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from boto3.dynamodb.conditions import Key

from infra.bench import report
from infra.bench.companies import ITEM, MESSAGE, Admin, Bench
from infra.bench.containers import Container, load_container
from infra.local_stack import LocalStack
from infra.local_stack.poller import sqs_event
from infra.template import Resolver

RETRY_AFTER = 5
DRAIN_PATIENCE = 120.0


def _pump(stop: threading.Event, sqs: Any, url: str, arn: str, container: Container) -> None:
    """An event source mapping: receive a batch, invoke, delete what succeeded, until told to stop."""
    while not stop.is_set():
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=container.batch_size, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            continue
        try:
            result = container.function.invoke(sqs_event(messages, arn)) or {}
        except BatchProcessingError:
            continue  # every record failed (postponed): all stay on the queue
        failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
            )


def _company(bench: Bench, name: str, recipients: int) -> dict[str, Any]:
    token = f"xoxb-{uuid.uuid4().int % 10**12:012d}-{uuid.uuid4().hex}"
    members = [f"UFAIR{name.upper()}{index:04d}" for index in range(recipients)]
    bench.sandbox.add_slack_workspace(token, team=name, members=members)
    admin = Admin(bench.stack, name)
    admin.call("PUT", "/admin/integrations/slack", {"enabled": True, "settings": {"bot_token": token}})
    admin.call("PUT", "/admin/notification-settings", {"items": {ITEM: ["slack"]}})
    links = bench.table("LinksTable")
    users = [f"fair{index:04d}@{name}.example" for index in range(recipients)]
    with links.batch_writer() as batch:
        for user_id, member in zip(users, members, strict=True):
            batch.put_item(Item={"pk": name, "sk": user_id, "slack_member_id": member})
    return {"name": name, "token": token, "users": users}


def _latencies(bench: Bench, company: dict[str, Any], sent_at: dict[str, float]) -> dict[str, Any]:
    table = bench.table("DeliveriesTable")
    seconds: list[float] = []
    states: dict[str, int] = {}
    for event_id, started in sent_at.items():
        items = table.query(KeyConditionExpression=Key("pk").eq(f"{company['name']}#{event_id}"))["Items"]
        for item in items:
            states[item["status"]] = states.get(item["status"], 0) + 1
            if item["status"] == "sent":
                seconds.append(datetime.fromisoformat(item["updated_at"].replace("Z", "+00:00")).timestamp() - started)
    seconds.sort()
    if not seconds:
        return {"sent": 0, "states": states}
    return {
        "sent": len(seconds),
        "states": states,
        "p50": round(statistics.median(seconds), 2),
        "p95": round(seconds[int(0.95 * (len(seconds) - 1))], 2),
        "p99": round(seconds[int(0.99 * (len(seconds) - 1))], 2),
        "max": round(seconds[-1], 2),
    }


def _run(
    bench: Bench,
    template: dict[str, Any],
    resolver: Resolver,
    storm: bool,
    recipients: int,
    seconds: float,
    interval: float,
) -> dict[str, Any]:
    a, b = (_company(bench, f"fair{label}{uuid.uuid4().hex[:6]}", recipients) for label in ("a", "b"))
    stop = threading.Event()
    pumps = []
    for function in ("RouterFunction", "SendSlackFunction"):
        container = load_container(template, resolver, function)
        url = bench.stack.queues[container.queue_logical_id]
        arn = resolver.attributes[(container.queue_logical_id, "Arn")]
        pumps.append(threading.Thread(target=_pump, args=(stop, bench.sqs, url, arn, container), daemon=True))
    fault = None
    if storm:
        fault = bench.sandbox.add_fault("slack", "rate_limited", match={"token": a["token"]}, retry_after=RETRY_AFTER)
    for pump in pumps:
        pump.start()
    sent_at: dict[str, dict[str, float]] = {a["name"]: {}, b["name"]: {}}
    started = time.monotonic()
    queue = bench.stack.queues["WorkplaceEventsQueue"]
    while time.monotonic() - started < seconds:
        for company in (a, b):
            event_id = f"evt-fair-{uuid.uuid4().hex[:12]}"
            event = {
                "version": "1",
                "event_id": event_id,
                "company_id": company["name"],
                "type": "notification",
                "occurred_at": "2026-11-28T09:15:00+09:00",
                "item": ITEM,
                "recipients": [{"user_id": user_id} for user_id in company["users"]],
                "message": MESSAGE,
            }
            sent_at[company["name"]][event_id] = time.time()
            bench.sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event, ensure_ascii=False))
        time.sleep(interval)
    if fault is not None:
        bench.sandbox.clear_faults()  # the storm is over: A's retries now go through
    expected = len(sent_at[a["name"]]) * recipients
    deadline = time.monotonic() + DRAIN_PATIENCE
    while time.monotonic() < deadline and _latencies(bench, a, sent_at[a["name"]])["sent"] < expected:
        time.sleep(1)
    stop.set()
    for pump in pumps:
        pump.join(timeout=10)
    return {
        "a": _latencies(bench, a, sent_at[a["name"]]),
        "b": _latencies(bench, b, sent_at[b["name"]]),
        "messages_per_company": expected,
    }


def run(
    stack: LocalStack,
    template: dict[str, Any],
    resolver: Resolver,
    *,
    recipients: int = 10,
    seconds: float = 60.0,
    interval: float = 2.0,
) -> dict[str, Any]:
    bench = Bench(stack, template, resolver)
    bench.sandbox.set_limits("slack", enabled=False)
    baseline = _run(bench, template, resolver, False, recipients, seconds, interval)
    storm = _run(bench, template, resolver, True, recipients, seconds, interval)
    return {
        "recipients": recipients,
        "seconds": seconds,
        "interval": interval,
        "retry_after": RETRY_AFTER,
        "baseline": baseline,
        "storm": storm,
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"Part 6: fairness — two companies each send an event to {result['recipients']} employees every "
        f"{result['interval']:.0f} s for {result['seconds']:.0f} s on Slack; in the storm run A's Slack answers 429 "
        f"(Retry-After {result['retry_after']} s) the whole time. Latency: event queued → delivery sent, seconds",
    ]
    rows = []
    for run_label, run_key in (("baseline", "baseline"), ("A's 429 storm", "storm")):
        for company_label, company_key in (("A", "a"), ("B", "b")):
            figures = result[run_key][company_key]
            rows.append(
                [
                    run_label,
                    company_label,
                    f"{figures['sent']}/{result[run_key]['messages_per_company']}",
                    figures.get("p50", "-"),
                    figures.get("p95", "-"),
                    figures.get("p99", "-"),
                    figures.get("max", "-"),
                ]
            )
    lines.append(report.table(["run", "company", "sent", "p50", "p95", "p99", "max"], rows, "llrrrrr"))
    lines += report.wrap(
        "B's row in the storm run should match its baseline: A's refused jobs go back to the queue with the "
        "provider's Retry-After instead of holding the sender, and A's own messages arrive once its Slack "
        "recovers (A's latency is the storm's length)."
    )
    return "\n".join(lines)
