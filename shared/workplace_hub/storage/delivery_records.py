"""The delivery log's records: their keys, statuses, and the item each is stored as and shown as.

Keys: pk = `<company>#<event_id>`, sk = `<user_id>#<channel>`. Two indexes list a company's records
newest first (`ByCompanyShard`) and one employee's (`ByUser`). A company's records are spread over
COMPANY_SHARDS index keys (`<company>#<shard>`), so a broadcast's writes never all hit one index partition.
Every key part from outside input is `fit` to DynamoDB's key limits (storage/keys.py): a user ID or channel too
long for its share of the 1,024-byte sort key is kept as a readable prefix and its digest; the record's own
attributes keep the whole values.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from workplace_hub.storage.keys import ITEM_BYTES, PARTITION_KEY_BYTES, SORT_KEY_BYTES, fit

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
        return shard_key(self.company_id, shard)


def shard_key(company_id: str, shard: int) -> str:
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


def public_record(item: dict[str, Any]) -> dict[str, Any]:
    result = {name: item[name] for name in PUBLIC_FIELDS if name in item}
    if item.get("status") in FAILURE_STATUSES:
        result["replayable"] = "replay" in item
    if "attempts" in result:
        result["attempts"] = int(result["attempts"])
    if isinstance(result.get("failover"), dict):
        result["failover"] = {k: str(v) for k, v in result["failover"].items()}
    result["history"] = history(item)
    return result
