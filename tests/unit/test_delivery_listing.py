"""A company's delivery log over the sharded ByCompanyShard index: spread writes, one newest-first listing."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest

from tests.unit.aws import HubStack
from tests.unit.builders import COMPANY
from workplace_hub.errors import InvalidPageToken
from workplace_hub.storage import delivery_log
from workplace_hub.storage.delivery_records import (
    COMPANY_SHARDS,
    DeliveryKey,
    DeliveryStatus,
    NewDelivery,
    Outcome,
    Replay,
)

CHANNELS = ("slack", "line", "kakao")


@pytest.fixture
def ticking_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every record written gets a later creation time than the one before (the log's order)."""
    ticks = itertools.count()

    def now() -> str:
        tick = next(ticks)
        return f"2026-12-01T{tick // 3600:02d}:{tick // 60 % 60:02d}:{tick % 60:02d}Z"

    monkeypatch.setattr(delivery_log, "utc_now_iso", now)


def _write(stack: HubStack, company: str, count: int, *, status_of: Any = None) -> list[DeliveryKey]:
    """`count` records, one write call each (so each has its own creation time), oldest first."""
    keys = []
    for index in range(count):
        key = DeliveryKey(company, f"evt-{index // 3:04d}", f"user{index:04d}@acme.example", CHANNELS[index % 3])
        status = (status_of(index) if status_of else None) or DeliveryStatus.QUEUED
        reason = "channel_disabled" if status == DeliveryStatus.SKIPPED else None
        stack.deliveries.add_many([NewDelivery(key, "approval.requested", status, reason)])
        keys.append(key)
    return keys


def _ident(record: dict[str, Any]) -> tuple[str, str, str]:
    return record["event_id"], record["user_id"], record["channel"]


def _all_pages(list_page: Any, limit: int) -> list[list[dict[str, Any]]]:
    pages, token = [], None
    while True:
        items, token = list_page(limit=limit, next_token=token)
        pages.append(items)
        if token is None:
            return pages


def test_a_broadcasts_records_are_spread_over_every_shard_of_the_company(stack: HubStack) -> None:
    # GIVEN a broadcast: one event to 1,000 employees
    keys = [DeliveryKey(COMPANY, "evt-broadcast", f"user{i:04d}@acme.example", "slack") for i in range(1000)]

    # WHEN the router writes its records
    stack.deliveries.add_many([NewDelivery(key, "approval.requested", DeliveryStatus.QUEUED) for key in keys])

    # THEN their index keys are the company's 16 shards, none with much more than its share (the table read in one
    # scan: a read per record cost this test ten seconds)
    pages = stack.dynamodb.meta.client.get_paginator("scan").paginate(TableName="deliveries", ConsistentRead=True)
    stored = {(item["pk"], item["sk"]): item["company_shard"] for page in pages for item in page["Items"]}
    assert set(stored) == {(key.key()["pk"], key.key()["sk"]) for key in keys}
    shards = Counter(stored.values())
    assert set(shards) == {f"{COMPANY}#{shard:02d}" for shard in range(COMPANY_SHARDS)}
    assert max(shards.values()) < 2 * 1000 / COMPANY_SHARDS
    # ... and a record keeps its shard through its claim and its outcome (the key never moves)
    table = stack.dynamodb.Table("deliveries")
    claim = stack.deliveries.claim(keys[0], 60)
    stack.deliveries.finish_many([Outcome(keys[0], DeliveryStatus.SENT, claimed=claim.record)])
    assert table.get_item(Key=keys[0].key())["Item"]["company_shard"] == keys[0].company_shard()


@pytest.mark.usefixtures("ticking_clock")
# Pages of one record: 40 records (2-3 in each of the 16 shards) are enough and each page is a query per shard.
@pytest.mark.parametrize(("limit", "count"), [(1, 40), (7, 90), (50, 90)])
def test_the_company_listing_pages_newest_first_across_shards(stack: HubStack, limit: int, count: int) -> None:
    # GIVEN records of one company written one after another, and another company's
    written = _write(stack, COMPANY, count)
    _write(stack, "globex", 5)

    # WHEN an admin pages through the whole log
    pages = _all_pages(lambda **page: stack.deliveries.search(COMPANY, **page), limit)

    # THEN every record comes exactly once, newest first, in full pages (the last one may be short or empty)
    listed = [_ident(record) for page in pages for record in page]
    assert listed == [(k.event_id, k.user_id, k.channel) for k in reversed(written)]
    assert all(len(page) == limit for page in pages[:-1])
    created = [record["created_at"] for page in pages for record in page]
    assert created == sorted(created, reverse=True)


@pytest.mark.usefixtures("ticking_clock")
def test_the_shards_are_queried_side_by_side_with_expressions_built_per_query(stack: HubStack) -> None:
    # GIVEN the queries the client is handed, seen before boto3's shared condition builder would touch them
    sent: list[dict[str, Any]] = []
    stack.dynamodb.meta.client.meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **_: sent.append(dict(params))
    )
    _write(stack, COMPANY, 20, status_of=lambda i: DeliveryStatus.SKIPPED if i % 2 else None)

    # WHEN a filtered company listing runs its shard queries from the pool
    items, _ = stack.deliveries.search(COMPANY, status="skipped", limit=5)

    # THEN every shard's query carries finished expression strings with their own placeholders: the shared
    # builder renumbers per request and, used from threads, mixed two queries' names (a flaky 400 under load)
    assert len(items) == 5
    assert len(sent) == COMPANY_SHARDS
    for query in sent:
        assert isinstance(query["KeyConditionExpression"], str) and isinstance(query["FilterExpression"], str)
        names = query["ExpressionAttributeNames"]
        assert sorted(names.values()) == ["company_shard", "status"]
        assert len(set(names)) == len(names) == 2


@pytest.mark.usefixtures("ticking_clock")
def test_a_filtered_listing_pages_through_every_match_once(stack: HubStack) -> None:
    # GIVEN 80 records, every fourth one skipped
    written = _write(stack, COMPANY, 80, status_of=lambda i: DeliveryStatus.SKIPPED if i % 4 == 0 else None)

    # WHEN the skipped ones are listed 3 to a page
    pages = _all_pages(lambda **page: stack.deliveries.search(COMPANY, status="skipped", **page), 3)

    # THEN each comes once, newest first, and nothing else; no page is larger than asked
    listed = [_ident(record) for page in pages for record in page]
    assert listed == [(k.event_id, k.user_id, k.channel) for i, k in reversed(list(enumerate(written))) if i % 4 == 0]
    assert max(len(page) for page in pages) <= 3


@pytest.mark.usefixtures("ticking_clock")
def test_failures_in_a_period_page_across_shards_with_whether_they_can_be_replayed(stack: HubStack) -> None:
    # GIVEN 60 records, every third one failed (replayable), then one dead letter
    keys = _write(stack, COMPANY, 60)
    failed = keys[::3]
    claims = stack.deliveries.claim_many(failed, 60)
    replay = Replay("slack", '{"job": 1}')
    stack.deliveries.finish_many(
        [Outcome(k, DeliveryStatus.FAILED, reason="rejected", replay=replay, claimed=claims[k].record) for k in failed]
    )
    first, last = (stack.stored(failed[i])["created_at"] for i in (2, 17))

    # WHEN the failures created between the 3rd and the 18th failed record are listed, 4 to a page
    pages = _all_pages(
        lambda **page: stack.deliveries.failures(COMPANY, since=first, until=last, **page),
        4,
    )

    # THEN exactly those 16 come, newest first, each replayable (the projection keeps what the listing shows)
    listed = [_ident(record) for page in pages for record in page]
    assert listed == [(k.event_id, k.user_id, k.channel) for k in reversed(failed[2:18])]
    assert {record["replayable"] for page in pages for record in page} == {True}
    assert {record["reason"] for page in pages for record in page} == {"rejected"}


@pytest.mark.usefixtures("ticking_clock")
def test_a_page_token_continues_only_its_own_companys_listing(stack: HubStack) -> None:
    # GIVEN two companies' logs and a token of acme's
    _write(stack, COMPANY, 12)
    _write(stack, "globex", 12)
    _, token = stack.deliveries.search(COMPANY, limit=5)
    assert token is not None

    # WHEN globex's admin presents it, THEN it is refused
    with pytest.raises(InvalidPageToken):
        stack.deliveries.search("globex", limit=5, next_token=token)
    # ... and acme's listing goes on with it
    items, _ = stack.deliveries.search(COMPANY, limit=5, next_token=token)
    assert len(items) == 5


def test_the_listing_of_an_empty_log_has_no_token(stack: HubStack) -> None:
    assert stack.deliveries.search(COMPANY) == ([], None)
    assert stack.deliveries.failures(COMPANY) == ([], None)
