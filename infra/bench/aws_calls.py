"""Part 3: AWS API calls for one Slack event, on a cold container and then on the warm one.

The router and the Slack sender are fresh containers (see containers.py). Every client they built,
the idempotency layer's included, gets botocore `before-call` hooks (the only count of the tables' calls);
`Keyring.kms_calls` is read as a cross-check of the KMS ones. The event source mapping's receive/delete calls
are made with the benchmark's own client and are not counted (they are not the functions' calls).
"""

from __future__ import annotations

from typing import Any

from botocore.client import BaseClient

from infra.bench import report
from infra.bench.containers import Container, Drive, EventSourceMapping
from infra.bench.probes import AwsCalls
from infra.bench.scenario import Scenario
from workplace_hub.crypto import Keyring


class Instrumented:
    """A container with its AWS calls counted and a mapping that feeds it from its queue."""

    def __init__(self, container: Container, scenario: Scenario) -> None:
        self.container = container
        self.calls = AwsCalls(scenario.resource_names())
        self.calls.attach(container.find(BaseClient))
        self.keyrings = container.find(Keyring)
        url, arn = scenario.queue(container.queue_logical_id)
        self.mapping = EventSourceMapping(scenario.sqs, url, arn, container)

    def repository_counters(self) -> dict[str, int]:
        return {"Keyring.kms_calls": sum(int(keyring.kms_calls) for keyring in self.keyrings)}


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {key: value - before.get(key, 0) for key, value in after.items()}


def one_event(scenario: Scenario, router: Instrumented, sender: Instrumented) -> dict[str, Any]:
    """Route one event and send all its Slack jobs; the calls each function made."""
    event = scenario.event()
    recipients = len(event["recipients"])
    scenario.publish(event)
    result: dict[str, Any] = {"recipients": recipients, "functions": {}}
    # The router enqueues every send job before its invocation returns: the sender drains its queue.
    for function, expected in ((router, 1), (sender, None)):
        before_calls = function.calls.snapshot()
        before_repositories = function.repository_counters()
        drive: Drive = function.mapping.drain(expected)
        counts, _ = function.calls.since(before_calls)
        result["functions"][function.container.logical_id] = {
            "invocations": drive.invocations,
            "records": drive.records,
            "failures": drive.failures,
            "calls": {" ".join(key): count for key, count in sorted(counts.items()) if count},
            "repository_counters": _diff(function.repository_counters(), before_repositories),
        }
    return result


def run(scenario: Scenario, router: Instrumented, sender: Instrumented) -> dict[str, Any]:
    cold = one_event(scenario, router, sender)
    warm = one_event(scenario, router, sender)
    return {"cold": cold, "warm": warm}


def render(result: dict[str, Any]) -> str:
    cold, warm = result["cold"], result["warm"]
    recipients = cold["recipients"]
    rows = []
    keys: dict[tuple[str, str], None] = {}
    for phase in (cold, warm):
        for function, figures in phase["functions"].items():
            for call in figures["calls"]:
                keys[(function, call)] = None
    for function, call in keys:
        service, operation, resource = call.split(" ", 2)
        rows.append(
            [
                report.kind(function),
                f"{service} {operation}",
                resource,
                cold["functions"][function]["calls"].get(call, 0),
                warm["functions"][function]["calls"].get(call, 0),
                report.purpose(function, service, operation, resource),
            ]
        )

    def total(phase: dict[str, Any], match: Any) -> int:
        return sum(
            count
            for function, figures in phase["functions"].items()
            for call, count in figures["calls"].items()
            if match(report.kind(function), *call.split(" ", 2))
        )

    def summary(label: str, match: Any, target: str) -> list[Any]:
        return [label, total(cold, match), total(warm, match), target]

    summaries = [
        summary(
            "settings reads (Query SettingsTable), router",
            lambda k, s, o, r: k == "router" and o == "Query" and r == "SettingsTable",
            "O(1) per warm container: 0 warm",
        ),
        summary(
            "settings reads (Query SettingsTable), sender",
            lambda k, s, o, r: k == "sender" and o == "Query" and r == "SettingsTable",
            "O(1) per warm container: 0 warm",
        ),
        summary(
            "links reads (BatchGetItem LinksTable), router",
            lambda k, s, o, r: k == "router" and r == "LinksTable",
            f"1 per event (<=100 recipients): {-(-recipients // 100)}",
        ),
        summary(
            "links reads (BatchGetItem LinksTable), sender",
            lambda k, s, o, r: k == "sender" and r == "LinksTable",
            f"1 per event: {-(-recipients // 100)}",
        ),
        summary(
            "deliveries writes (BatchWriteItem/UpdateItem)",
            lambda k, s, o, r: r == "DeliveriesTable" and o in ("BatchWriteItem", "UpdateItem", "PutItem"),
            f"router {-(-recipients // 25)} batches + 1 claim per message + 1 outcome batch per job",
        ),
        summary(
            "idempotency table calls",
            lambda k, s, o, r: r == "IdempotencyTable",
            "2 per event (claim + complete)",
        ),
        summary("KMS calls (all)", lambda k, s, o, r: s == "kms", "<=1 per company per cold container, 0 warm"),
        summary("DynamoDB calls (all)", lambda k, s, o, r: s == "dynamodb", ""),
        summary(
            "SQS calls by the functions", lambda k, s, o, r: s == "sqs", f"{-(-recipients // 10)} SendMessageBatch"
        ),
    ]
    kms = [total(phase, lambda k, s, o, r: s == "kms") / recipients for phase in (cold, warm)]
    summaries.insert(7, ["KMS calls per message", f"{kms[0]:.2f}", f"{kms[1]:.2f}", "0 (no KMS call per message)"])
    checks = ["", "  Per function (KMS cross-checked with Keyring.kms_calls):"]
    for name, phase in (("cold", cold), ("warm", warm)):
        for function, figures in phase["functions"].items():
            counters = figures["repository_counters"]
            hooked = sum(
                count
                for call, count in figures["calls"].items()
                if call.startswith("dynamodb ") and not call.endswith("IdempotencyTable")
            )
            kms = sum(count for call, count in figures["calls"].items() if call.startswith("kms "))
            checks.append(
                f"  {name} {report.kind(function)}: {figures['invocations']} invocation(s),"
                f" {figures['records']} record(s),"
                f" {figures['failures']} failure(s); hub-table DynamoDB calls {hooked};"
                f" KMS {kms} (hook) / {counters.get('Keyring.kms_calls', 0)} (Keyring)"
            )
    checks.append("  (the idempotency table's calls are powertools'; they are counted in the table above)")
    return "\n".join(
        [
            f"3. AWS API calls for one {recipients}-recipient Slack event (botocore before-call hooks on the"
            " functions' own clients)",
            "   cold = first event on freshly imported router and sender containers; warm = a second event after it",
            report.table(["function", "call", "table/queue/key", "cold", "warm", "what for"], rows, "lllrrl"),
            "",
            report.table(["per event", "cold", "warm", "target"], summaries, "lrrl"),
            *checks,
        ]
    )
