"""SharedRateLimiter on moto: token buckets shared by containers, and the worker pacing its calls with them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.aws import HubStack
from tests.unit.builders import COMPANY, SLACK_MEMBER_ID, SLACK_TOKEN, TARO, send_job
from tests.unit.delivery.test_worker import TARO_SLACK, handle, make_worker, queue_delivery, record, visibility_changes
from tests.unit.fakes import FakeSender
from workplace_hub.catalog import Integration
from workplace_hub.delivery.worker import DeliveryWorker
from workplace_hub.providers.messenger import Destination
from workplace_hub.queues import JobPostponedError
from workplace_hub.storage.rate_limits import RateLimit, SharedRateLimiter

LIMIT = RateLimit("slack:abc:D1", per_second=2.0, burst=3)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def container(stack: HubStack, clock: Clock) -> SharedRateLimiter:
    """One warm container's limiter (its own memory of the buckets), on the shared table."""
    return SharedRateLimiter(stack.dynamodb.Table("rate_limits"), clock=clock)


def test_a_full_bucket_gives_its_burst_then_says_how_long_to_wait(stack: HubStack, clock: Clock) -> None:
    limiter = container(stack, clock)

    granted = [limiter.acquire(LIMIT) for _ in range(3)]
    wait = limiter.acquire(LIMIT)

    assert granted == [0.0, 0.0, 0.0]
    assert wait == pytest.approx(0.5)  # one token at 2 per second


def test_the_bucket_refills_at_its_rate_and_never_above_its_burst(stack: HubStack, clock: Clock) -> None:
    limiter = container(stack, clock)
    for _ in range(3):
        limiter.acquire(LIMIT)

    clock.now += 1.0  # two tokens back
    assert [limiter.acquire(LIMIT) for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire(LIMIT) > 0

    clock.now += 60  # long idle: full again, but only `burst` of it
    assert [limiter.acquire(LIMIT) for _ in range(4)][:3] == [0.0, 0.0, 0.0]
    assert limiter.acquire(LIMIT) > 0


def test_containers_share_the_bucket_and_together_stay_under_it(stack: HubStack, clock: Clock) -> None:
    # GIVEN three containers sending against one bucket, each with its own (soon stale) memory of it
    containers = [container(stack, clock) for _ in range(3)]

    # WHEN they take turns for 5 seconds, 10 tries each per 100 ms tick
    granted = 0
    for _tick in range(50):
        for limiter in containers:
            granted += sum(1 for _ in range(10) if limiter.acquire(LIMIT) == 0.0)
        clock.now += 0.1

    # THEN together they got what the bucket allows: the burst plus 2 a second, not 3 times that
    assert granted == 3 + int(2.0 * 4.9 + 1e-9)


def writes_to(stack: HubStack) -> list[str]:
    """The rate-limits table's write calls from here on, by operation name."""
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        if model.name in ("UpdateItem", "TransactWriteItems"):
            calls.append(model.name)

    stack.dynamodb.meta.client.meta.events.register("before-call.dynamodb", count)
    return calls


def test_a_new_container_takes_from_a_bucket_idle_for_burst_over_rate_in_one_write(
    stack: HubStack, clock: Clock
) -> None:
    # GIVEN a bucket another container emptied 1.5 s ago: at 2 a second it is full again (burst 3)
    other = container(stack, clock)
    assert [other.acquire(LIMIT) for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.now += 1.5
    writes = writes_to(stack)

    # WHEN a container that never saw it takes its burst
    fresh = container(stack, clock)
    granted = [fresh.acquire(LIMIT) for _ in range(3)]

    # THEN each take was one write (the first does not expect "no bucket", fail, and write again), and the
    # bucket still holds no more than its burst
    assert granted == [0.0, 0.0, 0.0] and writes == ["UpdateItem"] * 3
    assert fresh.acquire(LIMIT) > 0 and other.acquire(LIMIT) > 0


def test_a_new_container_does_not_take_a_recently_used_bucket_for_full(stack: HubStack, clock: Clock) -> None:
    # GIVEN a bucket emptied 1 s ago (two of its three tokens back at 2 a second)
    other = container(stack, clock)
    for _ in range(3):
        other.acquire(LIMIT)
    clock.now += 1.0

    # WHEN a container that never saw it tries for three
    fresh = container(stack, clock)
    granted = [fresh.acquire(LIMIT) for _ in range(3)]

    # THEN it got the two the bucket has
    assert granted[:2] == [0.0, 0.0] and granted[2] > 0


def test_a_window_over_several_idle_buckets_is_one_transaction(stack: HubStack, clock: Clock) -> None:
    # GIVEN two buckets another container used long ago
    other = container(stack, clock)
    second = RateLimit("slack:abc:D2", per_second=2.0, burst=3)
    assert other.acquire_many([LIMIT, second]) == [0.0, 0.0]
    clock.now += 10
    writes = writes_to(stack)

    # WHEN a new container takes a token of each for one window
    assert container(stack, clock).acquire_many([LIMIT, second]) == [0.0, 0.0]

    # THEN one write took both
    assert writes == ["TransactWriteItems"]


def test_buckets_are_independent(stack: HubStack, clock: Clock) -> None:
    limiter = container(stack, clock)
    other = RateLimit("slack:abc:D2", per_second=2.0, burst=3)
    for _ in range(3):
        limiter.acquire(LIMIT)

    assert limiter.acquire(other) == 0.0
    assert limiter.acquire(LIMIT) > 0


# ------------------------------------------------------------------------------------------- the worker


class PacedSender(FakeSender):
    """A fake sender whose calls count against one shared bucket."""

    def __init__(self, limit: RateLimit) -> None:
        super().__init__("slack")
        self.limit = limit

    def rate_limit(self, credentials: dict[str, Any], destinations: list[Destination]) -> RateLimit | None:
        return self.limit


@pytest.fixture
def slack(stack: HubStack) -> HubStack:
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    stack.link_slack(COMPANY, TARO, SLACK_MEMBER_ID)
    queue_delivery(stack)
    return stack


def paced_worker(stack: HubStack, sender: FakeSender, clock: Clock, sleeps: list[float]) -> DeliveryWorker:
    """The worker as wiring builds it when RATE_LIMITS_TABLE_NAME is set (its own container); sleeping moves
    the clock."""

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.now += seconds

    return make_worker(stack, sender, limiter=container(stack, clock), sleep=sleep)


def test_a_short_wait_for_the_shared_limit_happens_in_place(slack: HubStack, clock: Clock) -> None:
    # GIVEN a bucket another container emptied a moment ago (a token is 0.125 s away)
    limit = RateLimit("slack:abc:D1", per_second=8.0, burst=1)
    other = container(slack, clock)
    assert other.acquire(limit) == 0.0
    sleeps: list[float] = []
    sender = PacedSender(limit)
    worker = paced_worker(slack, sender, clock, sleeps)

    # WHEN the job is handled
    handle(slack, worker, send_job())

    # THEN the worker waited that long, then sent
    assert sleeps == [pytest.approx(0.125)]
    assert len(sender.sent) == 1 and record(slack, TARO_SLACK)["status"] == "sent"


def test_a_long_wait_postpones_the_delivery_without_calling_the_provider(slack: HubStack, clock: Clock) -> None:
    # GIVEN a bucket that refills slowly (next token in 10 s: far longer than a container should sleep for one
    # company while other companies' jobs wait behind it)
    limit = RateLimit("slack:abc:D1", per_second=0.1, burst=1)
    assert container(slack, clock).acquire(limit) == 0.0
    sender = PacedSender(limit)
    sleeps: list[float] = []
    worker = paced_worker(slack, sender, clock, sleeps)
    changes = visibility_changes(slack)

    # WHEN the job is handled
    with pytest.raises(JobPostponedError):
        handle(slack, worker, send_job())

    # THEN nothing was sent, the delivery waits (retrying, rate_limited_locally) and the job comes back in 10 s
    assert sender.attempts == [] and sleeps == []
    found = record(slack, TARO_SLACK)
    assert (found["status"], found["reason"], found["error_code"]) == (
        "retrying",
        "rate_limited_locally",
        "rate_limited_locally",
    )
    assert changes[-1]["VisibilityTimeout"] == 10
