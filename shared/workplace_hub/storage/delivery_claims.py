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

TRANSACTION_ITEMS = 100  # DynamoDB's most for one TransactWriteItems (and for one BatchGetItem)
READ_TRIES = 3


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

    def claim_window(
        self,
        keys: list[DeliveryKey],
        lease_seconds: float,
        *,
        reclaim_expired: bool = False,
        retry_keys: dict[DeliveryKey, str] | None = None,
    ) -> dict[DeliveryKey, Claim]:
        """Claim a window of deliveries (the records of the calls about to go out together), outcomes as `claim`.

        Per 100 records: one consistent BatchGetItem reads them, then one TransactWriteItems claims every
        claimable one, each update conditioned on the record as read (status, and `attempts`, which every
        claim increments), so the claimed records are known without reading them again. A transaction that
        is cancelled (another attempt claimed one of them since the read, or DynamoDB throttled one item)
        changes nothing: its records are then claimed one by one (`claim`), which claims exactly the free ones.
        A read or a transaction that fails outright leaves its records UNAVAILABLE, as they were."""
        unique = list(dict.fromkeys(keys))
        if len(unique) <= 2:
            # As few calls one by one (an UpdateItem each, answering the claimed record), in half the writes.
            return self.claim_many(unique, lease_seconds, reclaim_expired=reclaim_expired, retry_keys=retry_keys)
        now, retry_keys = time.time(), retry_keys or {}
        claims: dict[DeliveryKey, Claim] = {}
        for start in range(0, len(unique), TRANSACTION_ITEMS):
            part = unique[start : start + TRANSACTION_ITEMS]
            try:
                records = self._read_many(part)
            except (ClientError, BotoCoreError):
                claims.update(dict.fromkeys(part, Claim(ClaimOutcome.UNAVAILABLE)))
                continue
            claimable: list[DeliveryKey] = []
            for key in part:
                if key not in records:  # unread (DynamoDB kept it unprocessed): claimed on its own
                    claimable.append(key)
                    continue
                found = self._as_read(records[key], now, reclaim_expired)
                if found is None:
                    claimable.append(key)
                else:
                    claims[key] = found
            claims.update(self._transact_claims(claimable, records, lease_seconds, now, reclaim_expired, retry_keys))
        return claims

    def _read_many(self, keys: list[DeliveryKey]) -> dict[DeliveryKey, dict[str, Any] | None]:
        """The records as they are now (None: no record), by a consistent BatchGetItem."""
        by_key = {(key.key()["pk"], key.key()["sk"]): key for key in keys}
        request = {self._table.name: {"Keys": [key.key() for key in keys], "ConsistentRead": True}}
        found: dict[DeliveryKey, dict[str, Any] | None] = dict.fromkeys(keys)
        unread = set(keys)
        for _ in range(READ_TRIES):
            response = self._table.meta.client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self._table.name, []):
                key = by_key[(item["pk"], item["sk"])]
                found[key] = item
                unread.discard(key)
            request = response.get("UnprocessedKeys") or {}
            if not request:
                unread.clear()
                break
        return {key: record for key, record in found.items() if key not in unread}

    @staticmethod
    def _as_read(record: dict[str, Any] | None, now: float, reclaim_expired: bool) -> Claim | None:
        """How a claim of this record would end, read before trying; None: claimable."""
        if record is None:
            return Claim(ClaimOutcome.MISSING)
        if record["status"] in FINAL_STATUSES:
            return Claim(ClaimOutcome.ALREADY_FINAL)
        if record["status"] != DeliveryStatus.SENDING.value:
            return None
        if int(record.get("lease_until", 0)) < int(now):
            return None if reclaim_expired else Claim(ClaimOutcome.LEASE_EXPIRED)
        return Claim(ClaimOutcome.IN_FLIGHT, record)

    def _transact_claims(
        self,
        keys: list[DeliveryKey],
        records: dict[DeliveryKey, dict[str, Any] | None],
        lease_seconds: float,
        now: float,
        reclaim_expired: bool,
        retry_keys: dict[DeliveryKey, str],
    ) -> dict[DeliveryKey, Claim]:
        read = [key for key in keys if records.get(key) is not None]
        unread = [key for key in keys if records.get(key) is None]
        claims: dict[DeliveryKey, Claim] = {}
        if read:
            updates = [
                self._pinned_update(key, records[key] or {}, lease_seconds, now, reclaim_expired, retry_keys.get(key))
                for key in read
            ]
            items = [{"Update": {"TableName": self._table.name, **update}} for update in updates]
            try:
                # (botocore gives the call a ClientRequestToken that its own retries reuse: a retried transaction
                # that had succeeded succeeds again, rather than be cancelled by its own claims.)
                self._table.meta.client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    return dict.fromkeys(keys, Claim(ClaimOutcome.UNAVAILABLE))
                unread = keys
            except BotoCoreError:
                return dict.fromkeys(keys, Claim(ClaimOutcome.UNAVAILABLE))
            else:
                claims = {
                    key: Claim(ClaimOutcome.CLAIMED, _claimed(records[key] or {}, update))
                    for key, update in zip(read, updates, strict=True)
                }
        if unread:
            claims.update(
                self.claim_many(unread, lease_seconds, reclaim_expired=reclaim_expired, retry_keys=retry_keys)
            )
        return claims

    def _pinned_update(
        self,
        key: DeliveryKey,
        record: dict[str, Any],
        lease_seconds: float,
        now: float,
        reclaim_expired: bool,
        retry_key: str | None,
    ) -> dict[str, Any]:
        """`claim`'s conditional update, also conditioned on the record being still as read."""
        update = self._claim_update(key, lease_seconds, now, reclaim_expired, retry_key)
        del update["ReturnValues"]
        if "attempts" in record:
            update["ConditionExpression"] = f"({update['ConditionExpression']}) AND attempts = :seen"
            update["ExpressionAttributeValues"][":seen"] = record["attempts"]
        else:
            update["ConditionExpression"] = f"({update['ConditionExpression']}) AND attribute_not_exists(attempts)"
        return update

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


def _claimed(record: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """The record as the pinned update left it (what `ReturnValues: ALL_NEW` would have answered)."""
    values = update["ExpressionAttributeValues"]
    claimed = {
        **record,
        "status": values[":sending"],
        "lease_until": values[":lease"],
        "updated_at": values[":now"],
        "attempts": record.get("attempts", 0) + 1,
    }
    if ":retry_key" in values and "retry_key" not in record:
        claimed["retry_key"] = values[":retry_key"]
    return claimed
