"""Concurrent sends within a job (SEND_CONCURRENCY): windows of calls claimed together in one transaction, their
rate-limit tokens taken in one write, at most `concurrency` calls in flight, and at most once whatever happens."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.unit.aws import HubStack
from tests.unit.builders import COMPANY, EVENT_ID, SLACK_TOKEN, recipient, send_job
from tests.unit.delivery.test_worker import make_worker, queue_delivery, record
from tests.unit.fakes import FakeSender
from workplace_hub.catalog import Integration
from workplace_hub.jobs import SendJob
from workplace_hub.providers.messenger import Destination
from workplace_hub.storage.delivery_claims import ClaimOutcome
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus, Outcome
from workplace_hub.storage.rate_limits import RateLimit, SharedRateLimiter

LEASE = 60.0


@contextmanager
def counting(stack: HubStack) -> Iterator[Counter[str]]:
    """Calls on the deliveries and rate-limits tables made with the stack's client meanwhile, by operation."""
    calls: Counter[str] = Counter()

    def count(model: Any, params: dict[str, Any], **_: Any) -> None:
        items = [next(iter(item.values())) for item in params.get("TransactItems", [])]
        tables = {params.get("TableName"), *params.get("RequestItems", {}), *(i["TableName"] for i in items)} - {None}
        if tables <= {"deliveries", "rate_limits"}:  # the claims, outcomes and tokens (not settings, links)
            calls[model.name] += 1

    events = stack.dynamodb.meta.client.meta.events
    events.register("provide-client-params.dynamodb", count, unique_id="window-counter")
    try:
        yield calls
    finally:
        events.unregister("provide-client-params.dynamodb", unique_id="window-counter")


def users(count: int) -> list[str]:
    return [f"emp{index:02d}@acme.example" for index in range(count)]


def queued(stack: HubStack, people: list[str]) -> list[DeliveryKey]:
    """Queued Slack deliveries for these employees, each linked to a member ID of their own."""
    keys = []
    for index, user_id in enumerate(people):
        stack.link_slack(COMPANY, user_id, f"U0WINDOW{index:02d}")
        keys.append(DeliveryKey(COMPANY, EVENT_ID, user_id, "slack"))
        queue_delivery(stack, keys[-1])
    return keys


def job_for(people: list[str]) -> SendJob:
    return SendJob.model_validate(send_job(recipients=[recipient(u) for u in people]))


# ------------------------------------------------------------------------------------------- window claims


def test_a_window_is_claimed_by_one_read_and_one_transaction(stack: HubStack) -> None:
    # GIVEN five queued deliveries, one already sent and one held by another attempt
    keys = queued(stack, users(7))
    stack.deliveries.finish_many([Outcome(keys[5], DeliveryStatus.SENT)])
    assert stack.deliveries.claim(keys[6], LEASE).outcome == ClaimOutcome.CLAIMED

    # WHEN the seven are claimed as one window
    with counting(stack) as calls:
        claims = stack.deliveries.claim_window(keys, LEASE, retry_keys={k: "key-1" for k in keys})

    # THEN one BatchGetItem and one TransactWriteItems did it: no claim of its own per record
    assert calls == Counter({"BatchGetItem": 1, "TransactWriteItems": 1})
    assert [claims[k].outcome for k in keys] == [ClaimOutcome.CLAIMED] * 5 + [
        ClaimOutcome.ALREADY_FINAL,
        ClaimOutcome.IN_FLIGHT,
    ]
    # AND each claimed record is what DynamoDB stored (its outcome is written over it)
    for key in keys[:5]:
        stored = stack.dynamodb.Table("deliveries").get_item(Key=key.key(), ConsistentRead=True)["Item"]
        assert (stored["status"], stored["attempts"], stored["retry_key"]) == ("sending", 1, "key-1")
        assert claims[key].record == stored


def test_a_conflict_cancels_the_window_and_claims_one_by_one_take_exactly_the_free_ones(stack: HubStack) -> None:
    # GIVEN five queued deliveries, and another attempt that claims the third between the window's read and its
    # transaction
    keys = queued(stack, users(5))
    raced: list[Any] = []

    def race(**_: Any) -> None:
        if not raced:
            raced.append(stack.deliveries.claim(keys[2], LEASE))

    events = stack.dynamodb.meta.client.meta.events
    events.register("before-call.dynamodb.TransactWriteItems", race, unique_id="window-race")
    try:
        # WHEN the five are claimed as one window
        with counting(stack) as calls:
            claims = stack.deliveries.claim_window(keys, LEASE)
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="window-race")

    # THEN the transaction was cancelled (it changed nothing), and the records were claimed one by one: the four
    # free ones by this window, the raced one left to the attempt that holds it
    assert raced[0].outcome == ClaimOutcome.CLAIMED
    # (UpdateItem: the other attempt's claim, then one per record of the window; GetItem: why the raced one failed)
    assert (calls["TransactWriteItems"], calls["UpdateItem"], calls["GetItem"]) == (1, 1 + 5, 1)
    assert [claims[k].outcome for k in keys] == [ClaimOutcome.CLAIMED] * 2 + [ClaimOutcome.IN_FLIGHT] + [
        ClaimOutcome.CLAIMED
    ] * 2
    # AND every record was claimed exactly once
    assert [record(stack, k)["attempts"] for k in keys] == [1] * 5


def test_a_window_of_one_or_two_is_claimed_record_by_record(stack: HubStack) -> None:
    # GIVEN two queued deliveries
    keys = queued(stack, users(2))

    # WHEN they are claimed as a window
    with counting(stack) as calls:
        claims = stack.deliveries.claim_window(keys, LEASE)

    # THEN two conditional updates did it (a read and a transaction would be as many calls and twice the writes)
    assert calls == Counter({"UpdateItem": 2})
    assert {c.outcome for c in claims.values()} == {ClaimOutcome.CLAIMED}


# ------------------------------------------------------------------------------------------- rate-limit tokens


def limiter(stack: HubStack, now: list[float]) -> SharedRateLimiter:
    return SharedRateLimiter(stack.dynamodb.Table("rate_limits"), clock=lambda: now[0])


def test_a_windows_tokens_from_one_bucket_take_one_write_and_never_more_than_it_holds(stack: HubStack) -> None:
    now = [1_800_000_000.0]
    bucket = RateLimit("naver_works:acme:message", per_second=4.0, burst=3)

    with counting(stack) as calls:
        waits = limiter(stack, now).acquire_many([bucket] * 5)

    # THEN one UpdateItem took the three the bucket held; the other two calls wait for theirs
    assert calls == Counter({"UpdateItem": 1})
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == [pytest.approx(0.25), pytest.approx(0.5)]


def test_a_windows_tokens_from_several_buckets_take_one_transaction(stack: HubStack) -> None:
    now = [1_800_000_000.0]
    buckets = [RateLimit(f"slack:abc:D{index}", per_second=1.0, burst=3) for index in range(4)]

    with counting(stack) as calls:
        waits = limiter(stack, now).acquire_many(buckets)

    assert calls == Counter({"TransactWriteItems": 1})
    assert waits == [0.0] * 4


def test_containers_taking_windows_of_tokens_together_stay_under_the_buckets(stack: HubStack) -> None:
    # GIVEN three containers taking windows of four calls over two shared buckets, each with its own memory
    now = [1_800_000_000.0]
    buckets = [RateLimit("slack:abc:D1", per_second=2.0, burst=3), RateLimit("slack:abc:D2", per_second=2.0, burst=3)]
    containers = [limiter(stack, now) for _ in range(3)]

    # WHEN they take turns for 5 seconds
    granted: Counter[str] = Counter()
    for _tick in range(50):
        for container in containers:
            window = [buckets[0], buckets[1], buckets[0], buckets[1]]
            for bucket, wait in zip(window, container.acquire_many(window), strict=True):
                granted[bucket.key] += wait == 0.0
        now[0] += 0.1

    # THEN each bucket gave its burst plus 2 a second, not three times that
    assert granted == {bucket.key: 3 + int(2.0 * 4.9 + 1e-9) for bucket in buckets}


# ------------------------------------------------------------------------------------------- the worker


class InFlight(FakeSender):
    """A fake sender that counts its calls in flight; each call waits until `together` calls are in flight (or
    until `release` says it need not), so that a window's calls are seen overlapping without a timed wait."""

    def __init__(self, together: int, limit: RateLimit | None = None) -> None:
        super().__init__("slack")
        self._condition = threading.Condition()
        self._together = together
        self._limit = limit
        self.in_flight = 0
        self.most = 0

    def send(self, notification: Any, destination: Destination, credentials: dict[str, Any]) -> Any:
        with self._condition:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self._condition.notify_all()
            # (The timeout only keeps a broken worker from hanging the run; the assertions count, never time.)
            self._condition.wait_for(lambda: self.most >= self._together, timeout=10)
        try:
            return super().send(notification, destination, credentials)
        finally:
            with self._condition:
                self.in_flight -= 1

    def rate_limit(self, credentials: dict[str, Any], destinations: list[Destination]) -> RateLimit | None:
        return self._limit


@pytest.fixture
def slack(stack: HubStack) -> HubStack:
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    return stack


def test_a_job_sends_its_calls_side_by_side_never_more_than_its_concurrency(slack: HubStack) -> None:
    # GIVEN nine queued Slack deliveries in one job, and a worker sending three at once
    people = users(9)
    keys = queued(slack, people)
    sender = InFlight(together=3)
    worker = make_worker(slack, sender, concurrency=3)

    # WHEN the job is delivered
    with counting(slack) as calls:
        worker.deliver(job_for(people), last_attempt=False)

    # THEN three calls were in flight at once, never more; everyone got one message
    assert sender.most == 3
    assert sorted(s.destination.user_id for s in sender.sent) == sorted(people)
    assert {record(slack, k)["status"] for k in keys} == {"sent"}
    # AND each window of three was claimed by one read and one transaction, its outcomes written by one batch write
    assert (calls["BatchGetItem"], calls["TransactWriteItems"], calls["BatchWriteItem"]) == (3, 3, 3)
    assert calls["UpdateItem"] == 0


def test_a_windows_rate_limit_tokens_take_one_write(slack: HubStack) -> None:
    # GIVEN six queued deliveries whose calls count against one shared bucket, and a worker sending three at once
    people = users(6)
    queued(slack, people)
    now = [1_800_000_000.0]
    sender = InFlight(together=3, limit=RateLimit("slack:abc:workspace", per_second=100.0, burst=100))
    worker = make_worker(slack, sender, concurrency=3, limiter=limiter(slack, now))

    # WHEN the job is delivered
    with counting(slack) as calls:
        worker.deliver(job_for(people), last_attempt=False)

    # THEN the tokens of each window of three took one write: two in all, not six
    rate_limit_writes = calls["UpdateItem"]
    assert rate_limit_writes == 2
    assert len(sender.sent) == 6


def test_with_concurrency_one_a_job_is_sent_call_after_call_as_before(slack: HubStack) -> None:
    people = users(4)
    queued(slack, people)
    sender = InFlight(together=1)
    worker = make_worker(slack, sender)

    with counting(slack) as calls:
        worker.deliver(job_for(people), last_attempt=False)

    assert sender.most == 1 and len(sender.sent) == 4
    assert calls["UpdateItem"] == 4 and calls["TransactWriteItems"] == 0  # one claim per call, as before


class ContainerDeath(BaseException):
    """The container is gone: nothing after this point of the invocation runs."""


class DiesOnSecondWindow(InFlight):
    """Accepts every call; the container dies while the second window's calls are in flight."""

    def __init__(self, victim: str) -> None:
        super().__init__(together=1)
        self._victim = victim

    def send(self, notification: Any, destination: Destination, credentials: dict[str, Any]) -> Any:
        receipt = super().send(notification, destination, credentials)
        if destination.user_id == self._victim:
            raise ContainerDeath
        return receipt


def test_a_crash_inside_a_window_leaves_outcome_unknown_only_for_the_calls_in_flight(slack: HubStack) -> None:
    # GIVEN nine queued deliveries sent three at once, and a container that dies during the second window
    people = users(9)
    keys = queued(slack, people)
    sender = DiesOnSecondWindow(victim=people[4])
    worker = make_worker(slack, sender, concurrency=3, lease_seconds=-5.0)  # expired when the job is back

    with pytest.raises(ContainerDeath):
        worker.deliver(job_for(people), last_attempt=False)

    # THEN the first window is recorded sent, the second is left `sending` (in flight: nobody knows), and the
    # third was never claimed
    statuses = [record(slack, k)["status"] for k in keys]
    assert statuses == ["sent"] * 3 + ["sending"] * 3 + ["queued"] * 3

    # WHEN the job comes back after the claims' lease
    survivor = InFlight(together=1)
    make_worker(slack, survivor, concurrency=3).deliver(job_for(people), last_attempt=False)

    # THEN only the calls that were in flight are written off (outcome_unknown: at most once); the third window
    # is sent, once; the first is not sent again
    outcomes = [(record(slack, k)["status"], record(slack, k).get("reason")) for k in keys]
    assert outcomes == [("sent", None)] * 3 + [("failed", "outcome_unknown")] * 3 + [("sent", None)] * 3
    assert sorted(s.destination.user_id for s in survivor.sent) == sorted(people[6:])
