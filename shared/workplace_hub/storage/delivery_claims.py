"""Claims on delivery records: the state machine that makes sending at-most-once.

A sender must *claim* a `queued`/`retrying` record (moving it to `sending`, with a lease) before it calls the
provider, and only one claim can win.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from workplace_hub.clock import utc_now_iso
from workplace_hub.storage.delivery_records import FINAL_STATUSES, DeliveryKey, DeliveryStatus
from workplace_hub.storage.delivery_table import DeliveriesTable


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"
    ALREADY_FINAL = "already_final"
    IN_FLIGHT = "in_flight"  # another attempt holds it, its lease still running (Claim.record: the record)
    REOPENED = "reopened"  # queued again since this try (an admin's replay): that replay's job sends it
    LEASE_EXPIRED = "lease_expired"
    MISSING = "missing"
    # The claim could not be tried (a throttled or failed write): the record is as it was; try again later.
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Claim:
    """How a claim ended; when CLAIMED, `record` is the claimed record as stored (its outcome is written
    over it, in batches, and it keeps the `retry_key` the first claim stored); when IN_FLIGHT, as read."""

    outcome: ClaimOutcome
    record: dict[str, Any] | None = None

    @property
    def retry_key(self) -> str | None:
        return str(self.record["retry_key"]) if self.record and "retry_key" in self.record else None


class DeliveryClaims(DeliveriesTable):
    """Claims on the deliveries table's records."""

    def _claim_update(
        self, key: DeliveryKey, lease_seconds: float, now: float, reclaim_expired: bool, retry_key: str | None
    ) -> dict[str, Any]:
        """The conditional update that moves a record to `sending` (see `claim`)."""
        condition = "#status IN (:queued, :retrying)"
        values: dict[str, Any] = {
            ":sending": DeliveryStatus.SENDING.value,
            ":queued": DeliveryStatus.QUEUED.value,
            ":retrying": DeliveryStatus.RETRYING.value,
            ":lease": int(now + lease_seconds),
            ":now": utc_now_iso(),
            ":zero": 0,
            ":one": 1,
        }
        sets = (
            "#status = :sending, lease_until = :lease, updated_at = :now, "
            "attempts = if_not_exists(attempts, :zero) + :one"
        )
        if retry_key is not None:
            # The first claim's key stays: every later attempt repeats exactly the request that may have gone out.
            sets += ", retry_key = if_not_exists(retry_key, :retry_key)"
            values[":retry_key"] = retry_key
        if reclaim_expired:
            condition += " OR (#status = :sending AND lease_until < :epoch)"
            values[":epoch"] = int(now)
        return {
            "Key": key.key(),
            "UpdateExpression": "SET " + sets,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
        }

    def claim(
        self,
        key: DeliveryKey,
        lease_seconds: float,
        now: float | None = None,
        *,
        reclaim_expired: bool = False,
        retry_key: str | None = None,
    ) -> Claim:
        """Take the right to send this delivery; exactly one caller wins.

        `reclaim_expired` also takes over a claim whose lease ran out (its sender died mid-call); only
        for providers that deduplicate a repeated request themselves (LINE's retry key). `retry_key` is
        stored with the first claim and kept by later ones (`Claim.retry_key`).
        """
        now = time.time() if now is None else now
        try:
            record = self._update(self._claim_update(key, lease_seconds, now, reclaim_expired, retry_key))
            return Claim(ClaimOutcome.CLAIMED, record)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        return self._why_not_claimed(key, now)

    def claim_many(
        self,
        keys: list[DeliveryKey],
        lease_seconds: float,
        *,
        reclaim_expired: bool = False,
        retry_keys: dict[DeliveryKey, str] | None = None,
    ) -> dict[DeliveryKey, Claim]:
        """Claim several deliveries at once: the conditional updates run side by side, so a job of ten
        waits about as long as one. (Not a transaction: it would cost twice the writes, and one taken
        delivery would make the whole job's claim fail.) A claim that fails (a throttled write) is
        UNAVAILABLE; the others stand, so the caller knows exactly which records it holds."""
        now, retry_keys = time.time(), retry_keys or {}

        def claim(key: DeliveryKey) -> Claim:
            try:
                retry_key = retry_keys.get(key)
                return self.claim(key, lease_seconds, now, reclaim_expired=reclaim_expired, retry_key=retry_key)
            except (ClientError, BotoCoreError):
                return Claim(ClaimOutcome.UNAVAILABLE)

        return dict(zip(keys, self._parallel(claim, keys), strict=True))

    def _why_not_claimed(self, key: DeliveryKey, now: float) -> Claim:
        current = self._table.get_item(Key=key.key(), ConsistentRead=True).get("Item")
        if current is None:
            return Claim(ClaimOutcome.MISSING)
        if current["status"] in FINAL_STATUSES:
            return Claim(ClaimOutcome.ALREADY_FINAL)
        if current["status"] != DeliveryStatus.SENDING.value:
            # Claimable again since our try (an admin's replay reopened it): its own job will claim it.
            return Claim(ClaimOutcome.REOPENED)
        # Whole seconds, as the claim's condition compares them: a lease the claim saw as live is not expired here.
        if int(current.get("lease_until", 0)) < int(now):
            return Claim(ClaimOutcome.LEASE_EXPIRED)
        return Claim(ClaimOutcome.IN_FLIGHT, current)
