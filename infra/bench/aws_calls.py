"""Part 3: AWS API calls for one Slack event, on a cold container and then on the warm one.

The router and the Slack sender are fresh containers (see containers.py). Every client they built,
the idempotency layer's included, gets botocore `before-call` hooks (the only count of the tables' calls);
`Keyring.kms_calls` is read as a cross-check of the KMS ones. The event source mapping's receive/delete calls
are made with the benchmark's own client and are not counted (they are not the functions' calls).
"""

from __future__ import annotations

from typing import Any

from botocore.client import BaseClient

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
