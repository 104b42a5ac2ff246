"""Provider rate limits shared by every warm container: one token bucket per credential, kept in DynamoDB.

A sender asks `SharedRateLimiter.acquire_many(limits)` for a window of provider calls about to go out together.
Each bucket (`tokens`, `at`) is updated with a conditional write on the `at` it was computed from, so N
containers together never take more than the bucket holds. Each container remembers the state its last write
left; when another container wrote since, the failed condition returns the current state
(ReturnValuesOnConditionCheckFailure) and the next try uses it: one DynamoDB call per window when one container
sends (an UpdateItem for one bucket, a TransactWriteItems for several), two under contention. A bucket idle for
burst / rate seconds is full whatever it holds, so a container's first write to it expects either.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from workplace_hub.storage.keys import PARTITION_KEY_BYTES, fit

ATTEMPTS = 5
IDLE_TTL_SECONDS = 3600  # a bucket nobody used for an hour is full again anyway: let DynamoDB drop it
_deserialize = TypeDeserializer().deserialize


@dataclass(frozen=True)
class RateLimit:
    """`per_second` tokens a second, at most `burst` at once, in the bucket named `key` (never a secret:
    credentials appear only as a fingerprint)."""

    key: str
    per_second: float
    burst: int


def fingerprint(secret: str) -> str:
    """A short, stable, non-reversible name for a credential, for bucket keys."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


class SharedRateLimiter:
    """Token buckets in the rate-limits table; the table resource is injected."""

    def __init__(self, table: Any, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock
        self._known: dict[str, tuple[float, int]] = {}  # key -> (tokens, at in ms) after our last write

    def acquire(self, limit: RateLimit) -> float:
        """Take one token: 0.0 when taken, else the seconds until one will be there (nothing taken)."""
        return self.acquire_many([limit])[0]

    def acquire_many(self, limits: list[RateLimit]) -> list[float]:
        """A token for each call of a window (`limits[i]`: call i's bucket), taken in one conditional write: one
        UpdateItem when the calls share a bucket, else one TransactWriteItems of one update per bucket.

        Per call: 0.0 when its token was taken, else the seconds until one will be there (nothing taken for
        it). A bucket short of tokens gives what it has to the window's first calls on it.
        """
        needed: dict[str, int] = {}
        buckets: dict[str, RateLimit] = {}
        for limit in limits:
            needed[limit.key] = needed.get(limit.key, 0) + 1
            buckets[limit.key] = limit
        known = {key: self._known.get(key) for key in needed}
        for _ in range(ATTEMPTS):
            now_ms = int(self._clock() * 1000)
            available = {key: _available(buckets[key], known[key], now_ms) for key in needed}
            taken = {key: min(needed[key], int(available[key])) for key in needed}
            writes = [
                _Write(buckets[key], taken[key], available[key] - taken[key], known[key], now_ms)
                for key in needed
                if taken[key]
            ]
            if writes:
                try:
                    self._write(writes)
                except _Contention as contention:
                    known.update(contention.seen)
                    continue
                for write in writes:
                    self._known[write.limit.key] = (float(_number(write.left)), now_ms)
            return _waits(limits, taken, available)
        # Heavy contention: say "soon" rather than spin.
        return [1 / limit.per_second for limit in limits]

    def _write(self, writes: list[_Write]) -> None:
        """The buckets' new states, each conditioned on the state it was computed from."""
        if len(writes) == 1:
            try:
                self._table.update_item(**writes[0].update(), ReturnValuesOnConditionCheckFailure="ALL_OLD")
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                item = exc.response.get("Item")
                raise _Contention({writes[0].limit.key: _state(item) if item else None}) from None
            return
        items = [
            {"Update": {"TableName": self._table.name, **w.update(), "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}
            for w in writes
        ]
        try:
            self._table.meta.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            seen: dict[str, tuple[float, int] | None] = {}
            for write, reason in zip(writes, reasons, strict=False):
                if reason.get("Code") == "ConditionalCheckFailed":
                    item = reason.get("Item")
                    seen[write.limit.key] = _state(item) if item else None
            raise _Contention(seen) from None


@dataclass(frozen=True)
class _Write:
    """`count` tokens out of one bucket, leaving `left`, on the state `known` (None: no item yet)."""

    limit: RateLimit
    count: int
    left: float
    known: tuple[float, int] | None
    now_ms: int

    def update(self) -> dict[str, Any]:
        # A bucket nobody wrote for burst / rate seconds is full whatever it held, so the state computed here (a
        # full bucket, for one this container never saw) holds for it too: one write, where a condition on no item
        # at all would fail, read the state and write again (every fresh container's first call on a bucket).
        full_since = self.now_ms - math.ceil(self.limit.burst / self.limit.per_second * 1000)
        values: dict[str, Any] = {":full_since": full_since}
        if self.known is None or self.known[1] <= full_since:
            condition = "attribute_not_exists(pk) OR at_ms <= :full_since"
        else:
            # Both: two containers writing within one millisecond leave the same `at`, and the state one of them
            # remembers must not pass for the other's.
            condition = "(at_ms = :seen AND tokens = :seen_tokens) OR at_ms <= :full_since"
            values.update({":seen": self.known[1], ":seen_tokens": Decimal(str(round(self.known[0], 3)))})
        return {
            "Key": {"pk": fit(self.limit.key, PARTITION_KEY_BYTES)},
            "UpdateExpression": "SET tokens = :tokens, at_ms = :now, expires_at = :expires",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {
                **values,
                ":tokens": _number(self.left),
                ":now": self.now_ms,
                ":expires": int(self.now_ms / 1000) + IDLE_TTL_SECONDS,
            },
        }


class _Contention(Exception):
    """Another container wrote a bucket since: the states it left (None: the bucket is gone)."""

    def __init__(self, seen: dict[str, tuple[float, int] | None]) -> None:
        super().__init__("rate-limit bucket changed")
        self.seen = seen


def _available(limit: RateLimit, known: tuple[float, int] | None, now_ms: int) -> float:
    if known is None:
        return float(limit.burst)
    tokens, at_ms = known
    elapsed = max(0, now_ms - at_ms) / 1000
    return min(float(limit.burst), tokens + elapsed * limit.per_second)


def _waits(limits: list[RateLimit], taken: dict[str, int], available: dict[str, float]) -> list[float]:
    """Per call: 0.0 for the first `taken` calls of each bucket; for the others, when their token will be there."""
    handed: dict[str, int] = {}
    waits: list[float] = []
    for limit in limits:
        index = handed.get(limit.key, 0)
        handed[limit.key] = index + 1
        short = index + 1 - available[limit.key]  # tokens still to come before this call's
        waits.append(0.0 if index < taken[limit.key] else max(short, 0.0) / limit.per_second)
    return waits


def _number(value: float) -> Decimal:
    """DynamoDB numbers are Decimals; a thousandth of a token is precise enough."""
    return Decimal(str(math.floor(value * 1000) / 1000))


def _state(item: dict[str, Any]) -> tuple[float, int]:
    tokens = float(_deserialize(item["tokens"])) if "tokens" in item else 0.0
    at_ms = int(_deserialize(item["at_ms"])) if "at_ms" in item else 0
    return tokens, at_ms
