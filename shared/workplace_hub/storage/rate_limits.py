"""Provider rate limits shared by every warm container: one token bucket per credential, kept in DynamoDB.

A sender asks `SharedRateLimiter.acquire(limit)` before each provider call. The bucket (`tokens`, `at`) is
updated with a conditional write on the `at` it was computed from, so N containers together never take more
than the bucket holds. Each container remembers the state its last write left; when another container wrote
since, the failed condition returns the current state (ReturnValuesOnConditionCheckFailure) and the next try
uses it: one DynamoDB call per provider call when one container sends, two under contention.
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
        self.calls = 0

    def acquire(self, limit: RateLimit) -> float:
        """Take one token: 0.0 when taken, else the seconds until one will be there (nothing taken)."""
        known = self._known.get(limit.key)
        for _ in range(ATTEMPTS):
            now_ms = int(self._clock() * 1000)
            if known is None:
                available, condition = float(limit.burst), "attribute_not_exists(pk)"
                values: dict[str, Any] = {}
            else:
                tokens, at_ms = known
                elapsed = max(0, now_ms - at_ms) / 1000
                available = min(float(limit.burst), tokens + elapsed * limit.per_second)
                condition, values = "at_ms = :seen", {":seen": at_ms}
            if available < 1:
                return (1 - available) / limit.per_second
            left = available - 1
            try:
                self.calls += 1
                self._table.update_item(
                    Key={"pk": fit(limit.key, PARTITION_KEY_BYTES)},
                    UpdateExpression="SET tokens = :tokens, at_ms = :now, expires_at = :expires",
                    ConditionExpression=condition,
                    ExpressionAttributeValues={
                        **values,
                        ":tokens": _number(left),
                        ":now": now_ms,
                        ":expires": int(now_ms / 1000) + IDLE_TTL_SECONDS,
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                item = exc.response.get("Item")
                known = _state(item) if item else None
                continue
            self._known[limit.key] = (left, now_ms)
            return 0.0
        # Heavy contention: say "soon" rather than spin.
        return 1 / limit.per_second


def _number(value: float) -> Decimal:
    """DynamoDB numbers are Decimals; a thousandth of a token is precise enough."""
    return Decimal(str(math.floor(value * 1000) / 1000))


def _state(item: dict[str, Any]) -> tuple[float, int]:
    tokens = float(_deserialize(item["tokens"])) if "tokens" in item else 0.0
    at_ms = int(_deserialize(item["at_ms"])) if "at_ms" in item else 0
    return tokens, at_ms
