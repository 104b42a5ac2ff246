"""The delivery log's writes: new records, outcomes (batched, retried when throttled), delivery results,
dead letters and replays; and the reads the pipeline makes of one event's records."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import BotoCoreError, ClientError

from workplace_hub.clock import utc_now_iso
from workplace_hub.storage.delivery_records import (
    DEAD_LETTER_CHANNEL,
    HISTORY_FIELDS,
    REPLAY_BODY_BYTES,
    RETENTION_SECONDS,
    SUMMARY_BUCKETS,
    SUMMARY_COUNTS,
    DeliveryKey,
    DeliveryStatus,
    NewDelivery,
    Outcome,
    Replay,
    event_partition,
    new_item,
)
from workplace_hub.storage.delivery_table import DeliveriesTable
from workplace_hub.storage.keys import byte_size

_BATCH_WRITE_LIMIT = 25
# Pauses between tries of an outcome write that was throttled (after the SDK's own retries).
_RETRY_PAUSES = (0.1, 0.3, 0.9)
_RETRYABLE_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "InternalServerError"}
)
_OUTCOME_FIELDS = ("reason", "error_code", "provider_message_id")


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


class DeliveryLog(DeliveriesTable):
    """Writes to the delivery log, and the pipeline's reads of one event's records."""

    def statuses_for_event(self, company_id: str, event_id: str) -> dict[tuple[str, str], str]:
        """(user_id, channel) → status of every record already written for this event."""
        found: dict[tuple[str, str], str] = {}
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(event_partition(company_id, event_id)),
            "ProjectionExpression": "user_id, channel, #status",
            "ExpressionAttributeNames": {"#status": "status"},
        }
        while True:
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
            unprocessed = client.batch_write_item(RequestItems={self._table.name: requests}).get("UnprocessedItems")
            requests = (unprocessed or {}).get(self._table.name, [])
            if not requests:
                return
            if pause is None:
                break
            time.sleep(pause)
        raise RuntimeError(f"{len(requests)} delivery outcomes stayed unprocessed")

    def records_of(self, company_id: str, event_id: str, channel: str) -> dict[str, dict[str, Any]]:
        """user_id → the stored record (consistent read) of every delivery of an event on one channel."""
        found: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(event_partition(company_id, event_id)),
            "FilterExpression": Attr("channel").eq(channel),
            "ConsistentRead": True,
        }
        while True:
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
        return Replay(str(old["replay"]["queue"]), str(old["replay"]["body"]))

    def restore(self, key: DeliveryKey, status: DeliveryStatus, reason: str, replay: Replay) -> None:
        """Put a failure back, replayable, after its replay could not be enqueued."""
        self._update(_finish_update(Outcome(key, status, reason, replay=replay)))


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
