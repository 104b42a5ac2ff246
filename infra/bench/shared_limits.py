"""Part 5: provider 429s with and without the shared rate limit, for senders running side by side.

One Google Chat space (the sandbox's limit set to the one the hub assumes: 1 message a second, bursts of 5)
gets `jobs` notifications, one per send job, drained by `containers` fresh SendGoogleChatFunction containers
at once (one thread each, as concurrent Lambda invocations would). Twice: once deployed WITHOUT the rate-limits
table (each container only learns of the limit from 429s), once WITH it (the containers share one token
bucket in DynamoDB). Each run uses a space of its own, so neither inherits the other's bucket. One pass over
the queue is measured: a job the provider refused (429) or the hub deferred goes back to the queue for later,
as SQS would retry it; the table counts the provider's answers and the hub's deferrals of that pass.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections import Counter
from typing import Any

import requests
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from infra.bench import report
from infra.bench.companies import ITEM, MESSAGE, Admin, Bench
from infra.bench.containers import Container, load_container
from infra.local_stack import LocalStack
from infra.local_stack.poller import sqs_event
from infra.template import Resolver
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus, NewDelivery

FUNCTION = "SendGoogleChatFunction"
COMPANY = "benchlimits"
# The provider's limit per space, as GoogleChatSender.rate_limit assumes it (it paces 10% under it).
PER_SECOND, BURST = 1.0, 5


def without_shared_limits(template: dict[str, Any]) -> dict[str, Any]:
    """The template with every sender deployed without RATE_LIMITS_TABLE_NAME (each container then only
    reacts to the provider's 429s)."""
    changed = copy.deepcopy(template)
    for resource in changed["Resources"].values():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        variables.pop("RATE_LIMITS_TABLE_NAME", None)
    return changed


def _drain(sqs: Any, queue_url: str, queue_arn: str, container: Container) -> None:
    """One message per invocation until the queue has nothing visible, as one concurrent Lambda would.

    A job whose only record is postponed makes the batch raise (powertools' "all records failed"): the
    message is then left on the queue, postponed, like Lambda leaves a failed batch's messages.
    """
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, AttributeNames=["All"]).get(
            "Messages", []
        )
        if not messages:
            return
        try:
            container.function.invoke(sqs_event(messages, queue_arn))
        except BatchProcessingError:
            continue
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])


def _run(bench: Bench, template: dict[str, Any], resolver: Resolver, containers: int, jobs: int) -> dict[str, Any]:
    space = "AAAA" + uuid.uuid4().hex[:8]
    webhook = bench.sandbox.add_google_chat_space(space, "benchkey" + space, "benchtoken" + space)
    users = [f"chat{index:03d}-{space.lower()}@{COMPANY}.example" for index in range(jobs)]
    for user_id in users:  # every employee of this run posts to the same space
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {bench.stack.token(COMPANY, user_id, 'member')}"
        response = http.put(bench.stack.api_url + "/me/links", json={"google_chat_webhook_url": webhook}, timeout=30)
        response.raise_for_status()
    event_id = f"evt-limits-{space}"
    table = bench.table("DeliveriesTable")
    deliveries = DeliveriesRepository(table)
    keys = [DeliveryKey(COMPANY, event_id, user_id, "google_chat") for user_id in users]
    deliveries.add_many([NewDelivery(key, ITEM, DeliveryStatus.QUEUED) for key in keys])
    queue = bench.stack.queues["SendGoogleChatQueue"]
    for start in range(0, jobs, 10):
        entries = [
            {
                "Id": str(index),
                "MessageBody": json.dumps(
                    {
                        "company_id": COMPANY,
                        "event_id": event_id,
                        "item": ITEM,
                        "channel": "google_chat",
                        "message": MESSAGE,
                        "recipients": [{"user_id": user_id, "locale": "ja"}],
                    },
                    ensure_ascii=False,
                ),
            }
            for index, user_id in enumerate(users[start : start + 10])
        ]
        bench.sqs.send_message_batch(QueueUrl=queue, Entries=entries)
    arn = resolver.attributes[("SendGoogleChatQueue", "Arn")]
    containers_ = [load_container(template, resolver, FUNCTION) for _ in range(containers)]
    started = time.monotonic()
    threads = [threading.Thread(target=_drain, args=(bench.sqs, queue, arn, c)) for c in containers_]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    answers = Counter(r["status"] for r in bench.sandbox.requests("google_chat") if f"/spaces/{space}/" in r["path"])
    records = Counter()
    for key in keys:
        found = table.get_item(Key=key.key(), ConsistentRead=True).get("Item") or {}
        records[(found.get("status"), found.get("error_code"))] += 1
    return {
        "provider_calls": sum(answers.values()),
        "provider_429": answers.get(429, 0),
        "sent": records[("sent", None)],
        "deferred_by_hub": records[("retrying", "rate_limited_locally")],
        "refused_by_provider": sum(
            n for (status, code), n in records.items() if status == "retrying" and code != "rate_limited_locally"
        ),
        "seconds": round(seconds, 1),
    }


def run(
    stack: LocalStack, template: dict[str, Any], resolver: Resolver, containers: int = 4, jobs: int = 24
) -> dict[str, Any]:
    bench = Bench(stack, template, resolver)
    bench.sandbox.set_limits("google_chat", enabled=True, burst=BURST, per_second=PER_SECOND)
    Admin(stack, COMPANY).call("PUT", "/admin/integrations/google_chat", {"enabled": True, "settings": {}})
    try:
        without = _run(bench, without_shared_limits(template), resolver, containers, jobs)
        shared = _run(bench, template, resolver, containers, jobs)
    finally:
        bench.sandbox.set_limits("google_chat", enabled=False)
    return {
        "containers": containers,
        "jobs": jobs,
        "limit": {"per_second": PER_SECOND, "burst": BURST},
        "without_shared_limit": without,
        "with_shared_limit": shared,
    }


def render(result: dict[str, Any]) -> str:
    limit = result["limit"]
    lines = [
        f"Part 5: provider 429s with and without the shared rate limit — {result['containers']} sender containers "
        f"at once, {result['jobs']} messages to one Google Chat space limited to {limit['per_second']:.0f}/s "
        f"(bursts of {limit['burst']}); one pass over the queue",
    ]
    rows = []
    for label, key in (
        ("without (429s only)", "without_shared_limit"),
        ("with (DynamoDB bucket)", "with_shared_limit"),
    ):
        run = result[key]
        rows.append(
            [
                label,
                run["provider_calls"],
                run["provider_429"],
                run["sent"],
                run["refused_by_provider"],
                run["deferred_by_hub"],
                run["seconds"],
            ]
        )
    lines.append(
        report.table(
            ["shared limit", "provider calls", "429 answers", "sent", "refused (429)", "deferred by hub", "s"], rows
        )
    )
    lines += report.wrap(
        "Refused and deferred messages go back to the queue for a later attempt either way; the difference is "
        "whether the provider had to say no (each 429 also counts against the app at the provider)."
    )
    return "\n".join(lines)
