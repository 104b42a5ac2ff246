"""The delivery log: one record per event × recipient × channel.

Keys: pk = `<company>#<event_id>`, sk = `<user_id>#<channel>`. Two indexes list a company's records
newest first (`ByCompanyShard`) and one employee's (`ByUser`). A company's records are spread over
COMPANY_SHARDS index keys (`<company>#<shard>`), so a broadcast's writes never all hit one index partition;
a listing queries every shard and merges them by the sort key. Every key part from outside input is `fit` to
DynamoDB's key limits (storage/keys.py): a user ID or channel too long for its share of the 1,024-byte sort key
is kept as a readable prefix and its digest; the record's own attributes keep the whole values.

The record is also the state machine that makes sending at-most-once: a sender must *claim* a
`queued`/`retrying` record before it calls the provider, and only one claim can win.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import time
import uuid
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import BotoCoreError, ClientError

from workplace_hub.clock import utc_now_iso
from workplace_hub.errors import SettingsValidationError
from workplace_hub.storage.keys import ITEM_BYTES, PARTITION_KEY_BYTES, SORT_KEY_BYTES, byte_size, fit

_BATCH_WRITE_LIMIT = 25
_PARALLEL_CALLS = 10
# Pauses between tries of an outcome write that was throttled (after the SDK's own retries).
_RETRY_PAUSES = (0.1, 0.3, 0.9)
_RETRYABLE_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "InternalServerError"}
)
RETENTION_SECONDS = 400 * 24 * 3600
# Index keys per company in ByCompanyShard: each takes 1,000 writes a second (a partition's limit), so a
# company's log takes 16,000 (over 5,000 deliveries a second at ~3 writes each); a listing page costs 16 queries.
COMPANY_SHARDS = 16
COMPANY_INDEX = "ByCompanyShard"
# A `sent` record whose result the hub stopped looking for (the lookup window ended without one).
RESULT_UNKNOWN = "result_unknown"
# The largest message a dead letter's record keeps for a replay: the item's other attributes take a few KB.
REPLAY_BODY_BYTES = ITEM_BYTES - 16 * 1024


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    SENT = "sent"  # the provider accepted it (AlimTalk: the result lookup may still move it on)
    DELIVERED = "delivered"  # the provider reported it delivered (AlimTalk's messageStatusCode 0000)
    SKIPPED = "skipped"
    FAILED = "failed"
    # A message a stage could not process, kept on its dead-letter queue (the record says why) ...
    DEAD_LETTERED = "dead_lettered"
    # ... and one an admin has since replayed.
    REPLAYED = "replayed"


FINAL_STATUSES = frozenset(
    {DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.SKIPPED, DeliveryStatus.FAILED}
)
FAILURE_STATUSES = frozenset({DeliveryStatus.FAILED, DeliveryStatus.DEAD_LETTERED})
DEAD_LETTER_CHANNEL = "dead_letter"


def final_records(statuses: dict[tuple[str, str], str]) -> set[tuple[str, str]]:
    """The (user_id, channel) keys of `statuses_for_event` whose record is final (sent, skipped, failed)."""
    return {key for key, status in statuses.items() if status in FINAL_STATUSES}


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


@dataclass(frozen=True)
class DeliveryKey:
    company_id: str
    event_id: str
    user_id: str
    channel: str

    def key(self) -> dict[str, str]:
        return {"pk": event_partition(self.company_id, self.event_id), "sk": sort_key(self.user_id, self.channel)}

    def company_shard(self) -> str:
        """The record's ByCompanyShard key: a stable hash of the record's key picks one of the company's shards."""
        shard = zlib.crc32(f"{self.event_id}#{self.user_id}#{self.channel}".encode()) % COMPANY_SHARDS
        return _shard_key(self.company_id, shard)


def _shard_key(company_id: str, shard: int) -> str:
    return f"{company_id}#{shard:02d}"


# The sort key's 1,024 bytes, shared: a channel (`naver_works_calendar:<calendarId>`, a dead letter's stage) gets
# up to 200, the user ID the rest (a 256-character ID of three-byte characters still fits whole).
CHANNEL_KEY_BYTES = 200
USER_KEY_BYTES = SORT_KEY_BYTES - 1 - CHANNEL_KEY_BYTES


def event_partition(company_id: str, event_id: str) -> str:
    return fit(f"{company_id}#{event_id}", PARTITION_KEY_BYTES)


def user_prefix(user_id: str) -> str:
    """The start of every sort key of this user's records of one event."""
    return f"{fit(user_id, USER_KEY_BYTES)}#"


def sort_key(user_id: str, channel: str) -> str:
    return user_prefix(user_id) + fit(channel, CHANNEL_KEY_BYTES)


def user_partition(company_id: str, user_id: str) -> str:
    return fit(f"{company_id}#{user_id}", PARTITION_KEY_BYTES)


def _order(created_at: str, key: DeliveryKey) -> str:
    """The index sort key: creation time first (listings are newest first and filter by time), then the record
    (so it is unique within a company: distinct records never share a fit key either)."""
    return fit(f"{created_at}#{key.event_id}#{key.user_id}#{key.channel}", SORT_KEY_BYTES)


@dataclass(frozen=True)
class Outcome:
    """What became of a claimed delivery."""

    key: DeliveryKey
    status: DeliveryStatus
    reason: str | None = None
    error_code: str | None = None
    provider_message_id: str | None = None
    # How to try a failed delivery again (see Replay); None: it cannot be replayed.
    replay: Replay | None = None
    # The record as claimed: the outcome is written as a whole record over it (batched). Without it, an update.
    claimed: dict[str, Any] | None = None
    # Only write when the record still has this status (an update); None: unconditionally.
    expected: DeliveryStatus | None = None


@dataclass(frozen=True)
class Replay:
    """What an admin's replay puts back on a queue: `queue` is a stage (`events`, `calendar`, or a channel)
    whose URL the API knows; `body` the message. Kept on failure records only; never shown by the API."""

    queue: str
    body: str

    def item(self) -> dict[str, str]:
        return {"queue": self.queue, "body": self.body}


_OUTCOME_FIELDS = ("reason", "error_code", "provider_message_id")
# The moment a record reached a status, kept as its history (GET /admin/deliveries, /me/deliveries).
HISTORY_FIELDS = {
    DeliveryStatus.SENT: "accepted_at",
    DeliveryStatus.DELIVERED: "delivered_at",
    DeliveryStatus.FAILED: "failed_at",
}


def _finished_record(outcome: Outcome) -> dict[str, Any]:
    """The claimed record with its outcome: what a batch put writes."""
    assert outcome.claimed is not None
    item = {k: v for k, v in outcome.claimed.items() if k not in ("lease_until", "replay", *_OUTCOME_FIELDS)}
    now = utc_now_iso()
    item.update(status=outcome.status.value, updated_at=now)
    if outcome.status in HISTORY_FIELDS:
        item[HISTORY_FIELDS[outcome.status]] = now
    for name in _OUTCOME_FIELDS:
        value = getattr(outcome, name)
        if value is not None:
            item[name] = value
    if outcome.replay is not None:
        item["replay"] = outcome.replay.item()
    return item


def _finish_update(outcome: Outcome) -> dict[str, Any]:
    values: dict[str, Any] = {":status": outcome.status.value, ":now": utc_now_iso()}
    sets = ["#status = :status", "updated_at = :now"]
    if outcome.status in HISTORY_FIELDS:
        sets.append(f"{HISTORY_FIELDS[outcome.status]} = :now")
    removes = ["lease_until"]
    if outcome.replay is None:
        removes.append("replay")
    else:
        sets.append("replay = :replay")
        values[":replay"] = outcome.replay.item()
    for name in _OUTCOME_FIELDS:
        value = getattr(outcome, name)
        if value is None:
            removes.append(name)
        else:
            sets.append(f"{name} = :{name}")
            values[f":{name}"] = value
    update = {
        "Key": outcome.key.key(),
        "UpdateExpression": "SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes),
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values,
    }
    if outcome.expected is not None:
        update["ConditionExpression"] = "#status = :expected"
        values[":expected"] = outcome.expected.value
    return update


@dataclass(frozen=True)
class NewDelivery:
    """A record the router writes: `queued`, or `skipped` with its reason."""

    key: DeliveryKey
    item: str
    status: DeliveryStatus
    reason: str | None = None
    error_code: str | None = None
    action: str | None = None  # calendar records: `registered` or `removed`
    replay: Replay | None = None


def new_item(record: NewDelivery, now: str, expires_at: int) -> dict[str, Any]:
    """The item a new record is written as: its keys and the index keys, each within DynamoDB's limits."""
    key = record.key
    order = _order(now, key)
    item: dict[str, Any] = {
        **key.key(),
        "company_id": key.company_id,
        "event_id": key.event_id,
        "user_id": key.user_id,
        "channel": key.channel,
        "item": record.item,
        "status": record.status.value,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
        "expires_at": expires_at,
        "company_shard": key.company_shard(),
        "gsi1sk": order,
        "gsi2pk": user_partition(key.company_id, key.user_id),
        "gsi2sk": order,
    }
    for name in ("reason", "error_code", "action"):
        value = getattr(record, name)
        if value:
            item[name] = value
    if record.replay is not None:
        item["replay"] = record.replay.item()
    return item


PUBLIC_FIELDS = (
    "event_id",
    "user_id",
    "channel",
    "item",
    "status",
    "action",
    "reason",
    "error_code",
    "provider_message_id",
    "attempts",
    "created_at",
    "updated_at",
    "replayed_at",
    "accepted_at",
    "delivered_at",
    "failed_at",
    "failover",
    "result_checked_at",
)

# GET /admin/deliveries/summary: the bucket each status counts in.
SUMMARY_BUCKETS = {
    DeliveryStatus.DELIVERED.value: "delivered",
    DeliveryStatus.SENT.value: "sent",
    DeliveryStatus.FAILED.value: "failed",
    DeliveryStatus.DEAD_LETTERED.value: "failed",
    DeliveryStatus.SKIPPED.value: "skipped",
}
SUMMARY_COUNTS = ("delivered", "sent", "failed", "skipped", "pending")


class DeliveriesRepository:
    """Reads and writes the deliveries table; the table resource is injected."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self._pool: ThreadPoolExecutor | None = None
        self.reads = 0
        self.writes = 0

    def statuses_for_event(self, company_id: str, event_id: str) -> dict[tuple[str, str], str]:
        """(user_id, channel) → status of every record already written for this event."""
        found: dict[tuple[str, str], str] = {}
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(event_partition(company_id, event_id)),
            "ProjectionExpression": "user_id, channel, #status",
            "ExpressionAttributeNames": {"#status": "status"},
        }
        while True:
            self.reads += 1
            page = self._table.query(**kwargs)
            for item in page["Items"]:
                found[(item["user_id"], item["channel"])] = item["status"]
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def add_many(self, records: list[NewDelivery]) -> None:
        """Write new records in batches (the caller has checked they do not exist yet)."""
        now = utc_now_iso()
        expires_at = int(time.time()) + RETENTION_SECONDS
        with self._table.batch_writer() as batch:
            for record in records:
                batch.put_item(Item=new_item(record, now, expires_at))
        self.writes += -(-len(records) // _BATCH_WRITE_LIMIT)

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
        self.reads += 1
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

    def finish(
        self,
        key: DeliveryKey,
        status: DeliveryStatus,
        *,
        reason: str | None = None,
        error_code: str | None = None,
        provider_message_id: str | None = None,
    ) -> None:
        """Record the outcome of a claimed delivery (`sent`, `failed`, or `retrying` for later)."""
        self.finish_many([Outcome(key, status, reason, error_code, provider_message_id)])

    def finish_many(self, outcomes: list[Outcome]) -> None:
        """Record several outcomes: claimed records as whole records, 25 to a batch write; the others (a
        write-off, a replay put back) as updates side by side. Every write is tried, and tried again when
        throttled: an outcome lost here leaves its record `sending`, to be written off as outcome_unknown."""
        whole = [_finished_record(o) for o in outcomes if o.claimed is not None]
        batches = [whole[i : i + _BATCH_WRITE_LIMIT] for i in range(0, len(whole), _BATCH_WRITE_LIMIT)]
        updates = [o for o in outcomes if o.claimed is None]
        calls: list[Callable[[], None]] = [lambda b=batch: self._put_batch(b) for batch in batches]
        calls += [lambda o=outcome: self._finish_one(o) for outcome in updates]
        self._parallel(lambda call: _with_retries(call), calls)

    def _finish_one(self, outcome: Outcome) -> None:
        try:
            self._update(_finish_update(outcome))
        except ClientError as exc:
            # A conditional write whose record moved on (a write-off another attempt already made): nothing to do.
            if outcome.expected is None or exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def _put_batch(self, items: list[dict[str, Any]]) -> None:
        client, requests = self._table.meta.client, [{"PutRequest": {"Item": item}} for item in items]
        for pause in (*_RETRY_PAUSES, None):
            self.writes += 1
            unprocessed = client.batch_write_item(RequestItems={self._table.name: requests}).get("UnprocessedItems")
            requests = (unprocessed or {}).get(self._table.name, [])
            if not requests:
                return
            if pause is None:
                break
            time.sleep(pause)
        raise RuntimeError(f"{len(requests)} delivery outcomes stayed unprocessed")

    def _update(self, arguments: dict[str, Any]) -> dict[str, Any]:
        self.writes += 1
        # The resource's low-level client (thread-safe, unlike the Table resource) with its value serializer.
        return self._table.meta.client.update_item(TableName=self._table.name, **arguments).get("Attributes", {})

    def _parallel(self, call: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        if len(items) <= 1:
            return [call(item) for item in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=_PARALLEL_CALLS, thread_name_prefix="deliveries")
        # Every call runs even when one fails (map would drop the ones not started yet): a throttled write must
        # not leave the job's other outcomes unwritten. The first failure is raised once all are done.
        futures = [self._pool.submit(call, item) for item in items]
        wait(futures)
        for future in futures:
            error = future.exception()
            if error is not None:
                raise error
        return [future.result() for future in futures]

    def records_of(self, company_id: str, event_id: str, channel: str) -> dict[str, dict[str, Any]]:
        """user_id → the stored record (consistent read) of every delivery of an event on one channel."""
        found: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(event_partition(company_id, event_id)),
            "FilterExpression": Attr("channel").eq(channel),
            "ConsistentRead": True,
        }
        while True:
            self.reads += 1
            page = self._table.query(**kwargs)
            found.update((item["user_id"], item) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def settle_result(
        self,
        key: DeliveryKey,
        message_id: str,
        status: DeliveryStatus,
        *,
        reason: str | None,
        error_code: str | None,
        failover: dict[str, str] | None,
    ) -> bool:
        """Move a `sent` record (of this provider message) to its delivery result; False when it is no longer
        `sent` or is another message's (a repeated lookup: nothing to do)."""
        values: dict[str, Any] = {
            ":status": status.value,
            ":now": utc_now_iso(),
            ":sent": DeliveryStatus.SENT.value,
            ":mid": message_id,
        }
        sets = ["#status = :status", "updated_at = :now", "result_checked_at = :now"]
        if status in HISTORY_FIELDS:
            sets.append(f"{HISTORY_FIELDS[status]} = :now")
        removes = []
        for name, value in (("reason", reason), ("error_code", error_code), ("failover", failover)):
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = value
        return self._conditional(
            {
                "Key": key.key(),
                "UpdateExpression": "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
                "ConditionExpression": "#status = :sent AND provider_message_id = :mid",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": values,
            }
        )

    def note_unresolved(
        self,
        key: DeliveryKey,
        message_id: str,
        lookup: int,
        *,
        reason: str,
        error_code: str | None = None,
        failover: dict[str, str] | None = None,
    ) -> bool:
        """Keep a `sent` record `sent`, saying why its result is not known yet (or `result_unknown`), and count
        the lookup: only lookup number `lookup` of it may do so, so a repeated lookup job changes nothing."""
        values: dict[str, Any] = {
            ":reason": reason,
            ":now": utc_now_iso(),
            ":sent": DeliveryStatus.SENT.value,
            ":mid": message_id,
            ":lookup": lookup,
            ":next": lookup + 1,
        }
        sets = ["reason = :reason", "updated_at = :now", "result_checked_at = :now", "result_lookups = :next"]
        removes = []
        for name, value in (("error_code", error_code), ("failover", failover)):
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = value
        condition = "#status = :sent AND provider_message_id = :mid AND "
        condition += "(result_lookups = :lookup" + (" OR attribute_not_exists(result_lookups))" if lookup == 0 else ")")
        return self._conditional(
            {
                "Key": key.key(),
                "UpdateExpression": "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": values,
            }
        )

    def _conditional(self, update: dict[str, Any]) -> bool:
        try:
            self._update(update)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def summary(self, company_id: str, event_id: str) -> dict[str, dict[str, Any]]:
        """Per channel: how many records are delivered, sent (accepted, no result yet or none to come), failed,
        skipped or still pending (queued, sending, retrying), and the reasons of each, with their counts."""
        channels: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(event_partition(company_id, event_id)),
            "ProjectionExpression": "channel, #status, reason",
            "ExpressionAttributeNames": {"#status": "status"},
        }
        while True:
            self.reads += 1
            page = self._table.query(**kwargs)
            for item in page["Items"]:
                channel = str(item["channel"])
                if channel.startswith(f"{DEAD_LETTER_CHANNEL}:"):
                    channel = DEAD_LETTER_CHANNEL
                bucket = SUMMARY_BUCKETS.get(str(item["status"]), "pending")
                entry = channels.setdefault(channel, {"total": 0, **dict.fromkeys(SUMMARY_COUNTS, 0), "reasons": {}})
                entry["total"] += 1
                entry[bucket] += 1
                if item.get("reason"):
                    reasons = entry["reasons"].setdefault(bucket, {})
                    reasons[str(item["reason"])] = reasons.get(str(item["reason"]), 0) + 1
            if "LastEvaluatedKey" not in page:
                return channels
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get(self, key: DeliveryKey) -> dict[str, Any] | None:
        item = self._table.get_item(Key=key.key(), ConsistentRead=True).get("Item")
        return _public(item) if item else None

    def add_dead_letter(
        self, company_id: str, event_id: str, item: str, source: str, reason: str, replay: Replay | None
    ) -> DeliveryKey:
        """Record a message a stage dead-lettered, so the company's admin can see (and replay) it. A message too
        large to keep in the record (an item holds 400 KB, a message up to 1 MiB) is recorded without its replay:
        it stays on the DLQ, where a redrive moves it back."""
        key = DeliveryKey(company_id, event_id, "", f"{DEAD_LETTER_CHANNEL}:{source}:{uuid.uuid4().hex[:12]}")
        if replay is not None and byte_size(replay.body) > REPLAY_BODY_BYTES:
            replay, reason = None, f"{reason[:900]}; too large to replay from here: redrive the DLQ"
        self.add_many([NewDelivery(key, item, DeliveryStatus.DEAD_LETTERED, reason[:1000], replay=replay)])
        return key

    def failures(
        self,
        company_id: str,
        *,
        event_id: str | None = None,
        item: str | None = None,
        channel: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
        next_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the company's failed deliveries and dead letters, newest first (by the time the
        delivery was recorded). `channel` also matches a dead letter's stage (`router`, `send_slack`...)."""
        wanted = Attr("status").is_in([s.value for s in FAILURE_STATUSES])
        if item:
            wanted = wanted & Attr("item").eq(item)
        if channel:
            wanted = wanted & (
                Attr("channel").eq(channel) | Attr("channel").begins_with(f"{DEAD_LETTER_CHANNEL}:{channel}:")
            )
        if not event_id:
            # gsi1sk starts with the record's creation time; "~" sorts after every character of a key.
            period = (since or "0000", (until or "9999") + "~") if since or until else None
            return self._company_page(company_id, period, wanted, limit, next_token)
        partition = ("pk", event_partition(company_id, event_id))
        kwargs: dict[str, Any] = {
            "Limit": limit,
            "KeyConditionExpression": Key("pk").eq(partition[1]),
            "FilterExpression": wanted,
        }
        return self._page(kwargs, partition, next_token)

    def reopen(self, key: DeliveryKey) -> Replay | None:
        """Take a failure's replay: a failed delivery becomes `queued` again (its sender may claim it), a dead
        letter `replayed`. Only one caller wins; None when it is no (replayable) failure any more. A replay is
        a new request: the record's retry key goes (sent alone under it, it could be taken for its old call's)."""
        dead_letter = key.channel.startswith(f"{DEAD_LETTER_CHANNEL}:")
        expected = DeliveryStatus.DEAD_LETTERED if dead_letter else DeliveryStatus.FAILED
        new = DeliveryStatus.REPLAYED if dead_letter else DeliveryStatus.QUEUED
        try:
            old = self._table.update_item(
                Key=key.key(),
                UpdateExpression=(
                    "SET #status = :new, replayed_at = :now, updated_at = :now, "
                    "replays = if_not_exists(replays, :zero) + :one REMOVE reason, error_code, retry_key"
                ),
                ConditionExpression="#status = :expected AND attribute_exists(replay)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":new": new.value,
                    ":expected": expected.value,
                    ":now": utc_now_iso(),
                    ":zero": 0,
                    ":one": 1,
                },
                ReturnValues="ALL_OLD",
            )["Attributes"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        self.writes += 1
        return Replay(str(old["replay"]["queue"]), str(old["replay"]["body"]))

    def restore(self, key: DeliveryKey, status: DeliveryStatus, reason: str, replay: Replay) -> None:
        """Put a failure back, replayable, after its replay could not be enqueued."""
        self._update(_finish_update(Outcome(key, status, reason, replay=replay)))

    def search(
        self,
        company_id: str,
        *,
        event_id: str | None = None,
        user_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
        next_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a company's delivery log, newest first unless filtered by event."""
        wanted = Attr("status").eq(status) if status else None
        if not event_id and not user_id:
            return self._company_page(company_id, None, wanted, limit, next_token)
        kwargs: dict[str, Any] = {"Limit": limit}
        if event_id:
            partition = ("pk", event_partition(company_id, event_id))
            condition = Key("pk").eq(partition[1])
            if user_id:
                condition = condition & Key("sk").begins_with(user_prefix(user_id))
                # The prefix of user `a` also starts the keys of user `a#b`.
                mine = Attr("user_id").eq(user_id)
                wanted = mine if wanted is None else wanted & mine
        else:
            partition = ("gsi2pk", user_partition(company_id, user_id))
            kwargs.update(IndexName="ByUser", ScanIndexForward=False)
            condition = Key("gsi2pk").eq(partition[1])
        kwargs["KeyConditionExpression"] = condition
        if wanted is not None:
            kwargs["FilterExpression"] = wanted
        return self._page(kwargs, partition, next_token)

    def _company_page(
        self,
        company_id: str,
        period: tuple[str, str] | None,
        wanted: Any,
        limit: int,
        next_token: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a company's log, newest first: every shard queried side by side, merged by gsi1sk.

        gsi1sk is unique within a company (it ends with the record's event, user and channel), so a page ends at
        one sort key and the token is that key: the next page is everything older, in every shard. A shard that
        stopped early (its Limit, before or after a filter) has not shown what is older than where it stopped, so
        the page ends there at the latest; the next page goes on from there.
        """
        before = None
        if next_token:
            start = _decode_token(next_token)
            # A token only continues a listing of the same company: no peeking into other companies.
            if start.get("gsi1pk") != company_id or "gsi1sk" not in start:
                raise SettingsValidationError("next_token", "does not belong to this listing")
            before = start["gsi1sk"]
            if period is not None and before <= period[0]:
                return [], None  # the period's oldest record was shown already

        def query(shard: int) -> dict[str, Any]:
            condition = Key("company_shard").eq(_shard_key(company_id, shard))
            if period is not None:
                # Inclusive: the record at `before` itself (the last one shown) is dropped below.
                condition = condition & Key("gsi1sk").between(period[0], min(period[1], before or period[1]))
            elif before is not None:
                condition = condition & Key("gsi1sk").lt(before)
            kwargs: dict[str, Any] = {
                "IndexName": COMPANY_INDEX,
                "ScanIndexForward": False,
                "KeyConditionExpression": condition,
                "Limit": limit,
            }
            if wanted is not None:
                kwargs["FilterExpression"] = wanted
            # The low-level client: thread-safe, unlike the Table resource.
            return self._table.meta.client.query(TableName=self._table.name, **kwargs)

        pages = self._parallel(query, list(range(COMPANY_SHARDS)))
        self.reads += len(pages)
        # A shard that stopped early has not shown what is older than where it stopped: the newest such stop is
        # as far as this page can go.
        stops = [page["LastEvaluatedKey"]["gsi1sk"] for page in pages if "LastEvaluatedKey" in page]
        frontier = max(stops, default=None)
        found = heapq.merge(
            *([item for item in page["Items"] if item["gsi1sk"] != before] for page in pages),
            key=lambda item: item["gsi1sk"],
            reverse=True,
        )
        known = [item for item in found if frontier is None or item["gsi1sk"] >= frontier]
        shown = known[:limit]
        # Where the next page starts: after the last one shown when more are known; else from where the shards
        # stopped (everything down to there is shown), None when every shard was read to its end.
        last = shown[-1]["gsi1sk"] if len(known) > limit else frontier
        token = _encode_token({"gsi1pk": company_id, "gsi1sk": last}) if last is not None else None
        return [_public(item) for item in shown], token

    def _page(
        self, kwargs: dict[str, Any], partition: tuple[str, str], next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Run one page of a listing query; `next_token` continues it (and only a listing of `partition`)."""
        if next_token:
            start_key = _decode_token(next_token)
            # A token only continues a listing of the same partition: no peeking into other companies.
            if start_key.get(partition[0]) != partition[1]:
                raise SettingsValidationError("next_token", "does not belong to this listing")
            # And it is exactly a key of what is queried (DynamoDB refuses any other start key: a 500).
            if set(start_key) != _START_KEY_ATTRIBUTES[kwargs.get("IndexName")]:
                raise SettingsValidationError("next_token", "is not a token this API returned")
            kwargs["ExclusiveStartKey"] = start_key
        self.reads += 1
        page = self._table.query(**kwargs)
        items = [_public(item) for item in page["Items"]]
        last = page.get("LastEvaluatedKey")
        return items, (_encode_token(last) if last else None)


def _with_retries(call: Callable[[], None]) -> None:
    """Run a write, again after a pause when DynamoDB throttled it or failed on its side."""
    for pause in (*_RETRY_PAUSES, None):
        try:
            call()
            return
        except ClientError as exc:
            if pause is None or exc.response["Error"]["Code"] not in _RETRYABLE_CODES:
                raise
        except BotoCoreError:
            if pause is None:
                raise
        time.sleep(pause)


def history(item: dict[str, Any]) -> list[dict[str, Any]]:
    """What became of a record, oldest first: queued, accepted by the provider, delivered / failed (with the
    SMS failover when one was used), or the lookup given up (`result_unknown`)."""
    steps: list[dict[str, Any]] = [{"status": "queued", "at": item["created_at"]}] if "created_at" in item else []
    for status, field in (("accepted", "accepted_at"), ("delivered", "delivered_at"), ("failed", "failed_at")):
        if item.get(field):
            steps.append({"status": status, "at": item[field]})
    failover = item.get("failover")
    if isinstance(failover, dict) and steps:
        steps[-1]["failover"] = {k: str(v) for k, v in failover.items()}
    if item.get("reason") == RESULT_UNKNOWN and item.get("result_checked_at"):
        steps.append({"status": RESULT_UNKNOWN, "at": item["result_checked_at"]})
    return sorted(steps, key=lambda step: step["at"])


def _public(item: dict[str, Any]) -> dict[str, Any]:
    result = {name: item[name] for name in PUBLIC_FIELDS if name in item}
    if item.get("status") in FAILURE_STATUSES:
        result["replayable"] = "replay" in item
    if "attempts" in result:
        result["attempts"] = int(result["attempts"])
    if isinstance(result.get("failover"), dict):
        result["failover"] = {k: str(v) for k, v in result["failover"].items()}
    result["history"] = history(item)
    return result


def _encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode()


# The attributes of a LastEvaluatedKey: the table's key, plus the index's key when an index is queried.
_START_KEY_ATTRIBUTES: dict[str | None, frozenset[str]] = {
    None: frozenset({"pk", "sk"}),
    "ByCompany": frozenset({"pk", "sk", "gsi1pk", "gsi1sk"}),
    "ByUser": frozenset({"pk", "sk", "gsi2pk", "gsi2sk"}),
}
# Four key values of at most 1,024 bytes (DynamoDB's limit for a sort key; 2,048 for a partition key), as JSON
# in base64: anything longer is no token this API returned, and is refused before it is decoded.
_TOKEN_MAX_LENGTH = 12 * 1024
_KEY_VALUE_MAX_BYTES = 1024


def _decode_token(token: str) -> dict[str, Any]:
    invalid = SettingsValidationError("next_token", "is not a token this API returned")
    if len(token) > _TOKEN_MAX_LENGTH:
        raise invalid
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeError, RecursionError):
        raise invalid from None
    if not isinstance(decoded, dict) or not all(_is_key_value(v) for v in decoded.values()):
        raise invalid
    return decoded


def _is_key_value(value: Any) -> bool:
    """A string DynamoDB takes as a key: UTF-8 (JSON can carry a lone surrogate), 1 to 1,024 bytes."""
    if not isinstance(value, str):
        return False
    try:
        return 0 < len(value.encode("utf-8")) <= _KEY_VALUE_MAX_BYTES
    except UnicodeEncodeError:
        return False
