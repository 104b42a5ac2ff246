"""Finding a container's AWS clients, repositories and HTTP session, and counting what they do.

Nothing here patches product code: AWS calls are counted through botocore's own event hooks
(`before-call` / `after-call`) registered on the very clients a function built, and provider HTTP
time through a `requests` response hook on the sender's session.
"""

from __future__ import annotations

import base64
import json
import math
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


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it, from its wire form ({"name": {"S": "..."}, ...}): attribute names'
    UTF-8 bytes plus each value's (strings and binaries their bytes, numbers 1 byte per two significant digits
    plus 1, booleans and nulls 1, lists and maps 3 plus their elements and 1 per element)."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: dict[str, Any]) -> int:
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "B":
        return len(base64.b64decode(inner)) if isinstance(inner, str) else len(inner)
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind in ("SS", "NS", "BS"):
        return sum(_value_bytes({kind[0]: member}) for member in inner)
    if kind == "L":
        return 3 + sum(_value_bytes(member) + 1 for member in inner)
    if kind == "M":
        return 3 + sum(len(name.encode()) + _value_bytes(member) + 1 for name, member in inner.items())
    return 1  # BOOL, NULL


def written_items(operation: str, body: dict[str, Any]) -> list[tuple[str, int | None, int]]:
    """(table, item bytes or None when the request does not hold the whole item, units factor) per item a
    DynamoDB write request writes: 1 write unit per KB for a standard write, 2 in a transaction. An update,
    delete or condition check does not carry the item: its size is resolved later (the table's largest)."""
    if operation == "PutItem":
        return [(body["TableName"], item_bytes(body["Item"]), 1)]
    if operation in ("UpdateItem", "DeleteItem"):
        return [(body["TableName"], None, 1)]
    if operation == "BatchWriteItem":
        return [
            (table, item_bytes(request["PutRequest"]["Item"]) if "PutRequest" in request else None, 1)
            for table, requests_ in body.get("RequestItems", {}).items()
            for request in requests_
        ]
    if operation == "TransactWriteItems":
        found = []
        for entry in body.get("TransactItems", []):
            (kind, request), *_ = entry.items()
            found.append((request["TableName"], item_bytes(request["Item"]) if kind == "Put" else None, 2))
        return found
    return []


def _items_read(parsed: dict[str, Any]) -> int:
    if "Item" in parsed:
        return 1
    if "Items" in parsed:
        return len(parsed["Items"])
    if isinstance(parsed.get("Responses"), dict):
        return sum(len(items) for items in parsed["Responses"].values())
    return 0


def _request_chunks(operation: str, body: dict[str, Any]) -> int:
    """SQS requests billed for a send: one per 64 KB of the call's payload (at least one); 1 for the others."""
    if operation == "SendMessage":
        return max(1, math.ceil(len(body.get("MessageBody", "").encode()) / 65536))
    if operation == "SendMessageBatch":
        size = sum(len(entry.get("MessageBody", "").encode()) for entry in body.get("Entries", []))
        return max(1, math.ceil(size / 65536))
    return 0 if operation == "ReceiveMessage" else 1  # a receive is billed by what it returned (_after)


def _payload_chunks(parsed: Any) -> int:
    messages = parsed.get("Messages", []) if isinstance(parsed, dict) else []
    return max(1, math.ceil(sum(len(m.get("Body", "").encode()) for m in messages) / 65536))


class AwsCalls:
    """Counts API calls (and their wall time) by service, operation and table or queue, and the DynamoDB items
    each write request writes (their write units are computed from item sizes: moto reports none)."""

    def __init__(self, resource_names: dict[str, str]) -> None:
        self._names = resource_names  # physical name or URL → template logical id
        self._lock = threading.Lock()
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.seconds: defaultdict[tuple[str, str, str], float] = defaultdict(float)
        # (service, operation, resource) → write units of the items of known size / items whose size is unknown
        self.sized_units: Counter[tuple[str, str, str]] = Counter()
        self.unsized_items: Counter[tuple[str, str, str]] = Counter()
        self.read_items: Counter[tuple[str, str, str]] = Counter()  # items a read returned (read units: 0.5-1 each)
        self.sqs_chunks: Counter[tuple[str, str, str]] = Counter()  # SQS bills every 64 KB of a payload as a request
        self.clients: list[BaseClient] = []

    def attach(self, clients: Iterable[BaseClient]) -> None:
        for client in clients:
            if any(client is known for known in self.clients):
                continue
            client.meta.events.register("before-call", self._before)
            client.meta.events.register("after-call", self._after)
            client.meta.events.register("after-call-error", self._after)
            self.clients.append(client)

    def _resource(self, body: dict[str, Any] | None) -> str:
        if body is None:
            return "?"
        name = body.get("TableName") or body.get("QueueUrl") or body.get("KeyId") or body.get("SecretId")
        if name is None and isinstance(body.get("RequestItems"), dict):
            name = ",".join(sorted(body["RequestItems"]))
        if name is None and isinstance(body.get("TransactItems"), list):  # a window's claims (and its tokens)
            tables = {next(iter(entry.values()), {}).get("TableName") for entry in body["TransactItems"]}
            name = ",".join(sorted(self._names.get(t, t) for t in tables if t))
            return name or "-"
        if name is None and "CiphertextBlob" in body:
            return "HubKey"
        return self._names.get(name, name or "-")

    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        try:
            body = json.loads(params.get("body") or b"{}")
        except ValueError:
            body = None
        service = model.service_model.service_name
        key = (service, model.name, self._resource(body))
        context["bench_call"] = (key, time.perf_counter())
        written = written_items(model.name, body) if service == "dynamodb" and body else []
        chunks = _request_chunks(model.name, body) if service == "sqs" and body else 0
        with self._lock:
            self.counts[key] += 1
            self.sqs_chunks[key] += chunks
            for _, size, factor in written:
                if size is None:
                    self.unsized_items[key] += factor
                else:
                    self.sized_units[key] += factor * max(1, math.ceil(size / 1024))

    def write_units(self, largest: dict[str, int]) -> dict[tuple[str, str, str], float]:
        """Write units per call kind: the items of known size, plus each unsized item at its table's largest
        item (`largest`: logical table id → bytes; 1 KB when unknown)."""
        with self._lock:
            keys = set(self.sized_units) | set(self.unsized_items)
            return {
                key: self.sized_units[key] + self.unsized_items[key] * max(1, math.ceil(largest.get(key[2], 0) / 1024))
                for key in keys
            }

    def _after(self, context: dict[str, Any], parsed: Any = None, **_: Any) -> None:
        started = context.pop("bench_call", None)
        if started is not None:
            key = started[0]
            read = _items_read(parsed) if key[0] == "dynamodb" and isinstance(parsed, dict) else 0
            chunks = _payload_chunks(parsed) if key[:2] == ("sqs", "ReceiveMessage") else 0
            with self._lock:
                self.seconds[key] += time.perf_counter() - started[1]
                self.read_items[key] += read
                self.sqs_chunks[key] += chunks

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
