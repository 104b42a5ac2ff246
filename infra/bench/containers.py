"""Fresh function 'containers' in this process, driven the way a Lambda SQS event source mapping is.

A container is the function's handler module imported anew, under its template environment, after
the composition root's client cache is cleared: it builds its own AWS clients, settings cache,
keyring cache and HTTP session exactly as a cold start does. Its real `lambda_handler` (powertools
logger/metrics decorators, batch processor) is then invoked with SQS-shaped events.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import time
from dataclasses import dataclass, field
from types import BuiltinFunctionType, FunctionType, ModuleType
from typing import Any

from infra.bench.probes import reachable
from infra.local_stack.functions import LocalFunction
from infra.local_stack.poller import sqs_event
from infra.template import ROOT, Resolver, function_environment
from workplace_hub import observability, wiring

_SEQUENCE = itertools.count(1)


@dataclass
class Container:
    logical_id: str
    module: ModuleType
    function: LocalFunction
    batch_size: int
    queue_logical_id: str

    def roots(self) -> list[Any]:
        """The objects the module built at cold start (router / worker / processor / app).

        Imported names (classes, functions, modules) and the process-wide logger/metrics
        are left out: they are shared, not this container's.
        """
        shared = {id(observability.logger), id(observability.metrics)}
        return [
            value
            for name, value in vars(self.module).items()
            if not name.startswith("_")
            and id(value) not in shared
            and not isinstance(value, type | ModuleType | FunctionType | BuiltinFunctionType)
        ]

    def find(self, *wanted: type) -> list[Any]:
        return reachable(self.roots(), wanted)


def load_container(
    template: dict[str, Any], resolver: Resolver, logical_id: str, overrides: dict[str, str] | None = None
) -> Container:
    """Import the function's handler module afresh with its own environment (a cold start); `overrides` (e.g.
    SEND_CONCURRENCY) are set over the template's variables, which the handler module reads at import."""
    globals_ = template.get("Globals", {}).get("Function", {})
    properties = template["Resources"][logical_id]["Properties"]
    module_name, attribute = properties.get("Handler", globals_.get("Handler", "app.lambda_handler")).rsplit(".", 1)
    path = ROOT / properties["CodeUri"] / (module_name.replace(".", "/") + ".py")
    environment = {**function_environment(template, logical_id, resolver), **(overrides or {})}
    sqs_events = [e["Properties"] for e in properties.get("Events", {}).values() if e["Type"] == "SQS"]
    wiring.reset_clients()  # a new container creates its own clients
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{logical_id}_{next(_SEQUENCE)}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    timeout = int(properties.get("Timeout", globals_.get("Timeout", 3)))
    return Container(
        logical_id=logical_id,
        module=module,
        function=LocalFunction(logical_id, getattr(module, attribute), timeout),
        batch_size=int(sqs_events[0].get("BatchSize", 10)) if sqs_events else 10,
        queue_logical_id=sqs_events[0]["Queue"]["Fn::GetAtt"][0] if sqs_events else "",
    )


@dataclass
class Drive:
    """What draining a queue into a function cost: function time vs. the mapping's own SQS calls."""

    function_seconds: float = 0.0
    mapping_seconds: float = 0.0
    invocations: int = 0
    records: int = 0
    failures: int = 0
    results: list[Any] = field(default_factory=list)

    def add(self, other: Drive) -> None:
        self.function_seconds += other.function_seconds
        self.mapping_seconds += other.mapping_seconds
        self.invocations += other.invocations
        self.records += other.records
        self.failures += other.failures
        self.results.extend(other.results)


class EventSourceMapping:
    """Receive up to BatchSize, invoke, delete what succeeded; the SQS calls are the mapping's, timed apart."""

    def __init__(self, sqs: Any, queue_url: str, queue_arn: str, container: Container) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._container = container

    def drain(self, expected: int | None = None, patience: float = 30.0) -> Drive:
        """Feed the function until `expected` records were handled, or (None) until the queue is empty."""
        drive = Drive()
        deadline = time.monotonic() + patience
        while (expected is None or drive.records < expected) and time.monotonic() < deadline:
            started = time.perf_counter()
            messages = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=self._container.batch_size,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            drive.mapping_seconds += time.perf_counter() - started
            if not messages:
                if expected is None:
                    break
                time.sleep(0.01)
                continue
            started = time.perf_counter()
            result = self._container.function.invoke(sqs_event(messages, self._queue_arn))
            drive.function_seconds += time.perf_counter() - started
            drive.invocations += 1
            drive.records += len(messages)
            drive.results.append(result)
            failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
            drive.failures += len(failed)
            done = [m for m in messages if m["MessageId"] not in failed]
            started = time.perf_counter()
            if done:
                self._sqs.delete_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
            drive.mapping_seconds += time.perf_counter() - started
        return drive
