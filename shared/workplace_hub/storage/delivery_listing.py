"""The API's listings of the delivery log: one page at a time, newest first, with opaque `next_token`s.

A company's log is read from every one of its ByCompanyShard index keys side by side and merged by the sort key.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from workplace_hub.errors import InvalidPageToken
from workplace_hub.storage.delivery_records import (
    COMPANY_INDEX,
    COMPANY_SHARDS,
    DEAD_LETTER_CHANNEL,
    FAILURE_STATUSES,
    event_partition,
    public_record,
    shard_key,
    user_partition,
    user_prefix,
)
from workplace_hub.storage.delivery_table import DeliveriesTable, built_query


class DeliveryListing(DeliveriesTable):
    """The API's pages of the delivery log."""

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
                raise InvalidPageToken("does not belong to this listing")
            before = start["gsi1sk"]
            if period is not None and before <= period[0]:
                return [], None  # the period's oldest record was shown already

        def query(shard: int) -> dict[str, Any]:
            condition = Key("company_shard").eq(shard_key(company_id, shard))
            if period is not None:
                # Inclusive: the record at `before` itself (the last one shown) is dropped below.
                condition = condition & Key("gsi1sk").between(period[0], min(period[1], before or period[1]))
            elif before is not None:
                condition = condition & Key("gsi1sk").lt(before)
            kwargs: dict[str, Any] = {
                "IndexName": COMPANY_INDEX,
                "ScanIndexForward": False,
                "Limit": limit,
                **built_query(condition, wanted),
            }
            # The low-level client (thread-safe, unlike the Table resource), given expression strings only.
            return self._table.meta.client.query(TableName=self._table.name, **kwargs)

        pages = self._parallel(query, list(range(COMPANY_SHARDS)))
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
        return [public_record(item) for item in shown], token

    def _page(
        self, kwargs: dict[str, Any], partition: tuple[str, str], next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Run one page of a listing query; `next_token` continues it (and only a listing of `partition`)."""
        if next_token:
            start_key = _decode_token(next_token)
            # A token only continues a listing of the same partition: no peeking into other companies.
            if start_key.get(partition[0]) != partition[1]:
                raise InvalidPageToken("does not belong to this listing")
            # And it is exactly a key of what is queried (DynamoDB refuses any other start key: a 500).
            if set(start_key) != _START_KEY_ATTRIBUTES[kwargs.get("IndexName")]:
                raise InvalidPageToken("is not a token this API returned")
            kwargs["ExclusiveStartKey"] = start_key
        page = self._table.query(**kwargs)
        items = [public_record(item) for item in page["Items"]]
        last = page.get("LastEvaluatedKey")
        return items, (_encode_token(last) if last else None)


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
    invalid = InvalidPageToken("is not a token this API returned")
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
