"""Finding a container's AWS clients, repositories and HTTP session, and counting what they do.

Nothing here patches product code: AWS calls are counted through botocore's own event hooks
(`before-call` / `after-call`) registered on the very clients a function built, and provider HTTP
time through a `requests` response hook on the sender's session.
"""

from __future__ import annotations

import json
import threading
import time
import types
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import requests
from boto3.resources.base import ServiceResource
from botocore.client import BaseClient

_MAX_DEPTH = 12


def reachable(roots: Iterable[Any], wanted: tuple[type, ...]) -> list[Any]:
    """Instances of `wanted` reachable from `roots` through attributes, closures and containers.

    Module globals are not followed, so only what a function's own objects hold is found (e.g. the
    idempotency layer's DynamoDB client, held in the router's guard closure).
    """
    found: dict[int, Any] = {}
    seen: set[int] = set()
    pending: list[tuple[Any, int]] = [(root, 0) for root in roots]
    while pending:
        obj, depth = pending.pop()
        if id(obj) in seen or depth > _MAX_DEPTH:
            continue
        seen.add(id(obj))
        if isinstance(obj, wanted):
            found[id(obj)] = obj
        if isinstance(obj, BaseClient | types.ModuleType | type | str | bytes | int | float):
            continue  # a client's internals hold no other client; modules and classes are shared
        if isinstance(obj, ServiceResource):
            pending.append((obj.meta.client, depth + 1))
            continue
        children: list[Any] = []
        if isinstance(obj, types.FunctionType):
            children.extend(cell.cell_contents for cell in obj.__closure__ or () if _filled(cell))
            children.extend(value for name, value in vars(obj).items() if name == "__wrapped__")
        elif isinstance(obj, types.MethodType):
            children.extend((obj.__self__, obj.__func__))
        elif isinstance(obj, dict):
            children.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            children.extend(obj)
        elif hasattr(obj, "__dict__"):
            children.extend(vars(obj).values())
        pending.extend((child, depth + 1) for child in children)
    return list(found.values())


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises ValueError
    except ValueError:
        return False
    return True


class AwsCalls:
    """Counts API calls (and their wall time) by service, operation and table or queue."""

    def __init__(self, resource_names: dict[str, str]) -> None:
        self._names = resource_names  # physical name or URL → template logical id
        self._lock = threading.Lock()
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.seconds: defaultdict[tuple[str, str, str], float] = defaultdict(float)
        self.clients: list[BaseClient] = []

    def attach(self, clients: Iterable[BaseClient]) -> None:
        for client in clients:
            if any(client is known for known in self.clients):
                continue
            client.meta.events.register("before-call", self._before)
            client.meta.events.register("after-call", self._after)
            client.meta.events.register("after-call-error", self._after)
            self.clients.append(client)

    def _resource(self, params: dict[str, Any]) -> str:
        try:
            body = json.loads(params.get("body") or b"{}")
        except ValueError:
            return "?"
        name = body.get("TableName") or body.get("QueueUrl") or body.get("KeyId") or body.get("SecretId")
        if name is None and isinstance(body.get("RequestItems"), dict):
            name = ",".join(sorted(body["RequestItems"]))
        if name is None and "CiphertextBlob" in body:
            return "HubKey"
        return self._names.get(name, name or "-")

    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        key = (model.service_model.service_name, model.name, self._resource(params))
        context["bench_call"] = (key, time.perf_counter())
        with self._lock:
            self.counts[key] += 1

    def _after(self, context: dict[str, Any], **_: Any) -> None:
        started = context.pop("bench_call", None)
        if started is not None:
            with self._lock:
                self.seconds[started[0]] += time.perf_counter() - started[1]

    def snapshot(self) -> tuple[Counter[tuple[str, str, str]], dict[tuple[str, str, str], float]]:
        with self._lock:
            return Counter(self.counts), dict(self.seconds)

    def since(
        self, snapshot: tuple[Counter[tuple[str, str, str]], dict[tuple[str, str, str], float]]
    ) -> tuple[Counter[tuple[str, str, str]], dict[tuple[str, str, str], float]]:
        counts, seconds = self.snapshot()
        return counts - snapshot[0], {k: v - snapshot[1].get(k, 0.0) for k, v in seconds.items()}


class HttpTimer:
    """Sums `response.elapsed` (request sent → response headers read) of a requests.Session."""

    def __init__(self) -> None:
        self.calls = 0
        self.seconds = 0.0

    def attach(self, session: requests.Session) -> None:
        session.hooks["response"].append(self._on_response)

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        self.seconds += response.elapsed.total_seconds()
