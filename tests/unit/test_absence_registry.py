"""AbsenceRegistry on moto (the absences table from template.yaml): ordering of events, the lease, registrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.unit.aws import HubStack
from tests.unit.builders import COMPANY, TARO
from tests.unit.builders import absence as absence_document
from workplace_hub.storage.absences import (
    RETENTION_SECONDS,
    AbsenceRegistry,
    AbsenceState,
    Acceptance,
    Registration,
    version_of,
)

ABSENCE_ID = "abs-5531"
NOON_JST = "2026-11-28T12:00:00+09:00"
CHANNELS = ["naver_works_calendar", "google_calendar"]
LEASE_SECONDS = 60.0


class Clock:
    """A settable clock (epoch seconds) for the registry's leases and retention."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


def upsert(
    registry: AbsenceRegistry,
    event_id: str,
    occurred_at: str = NOON_JST,
    *,
    targets: list[str] | None = None,
    **absence_overrides: Any,
) -> Acceptance:
    """Offer an absence.upserted event of Taro's absence to the registry."""
    return registry.accept(
        company_id=COMPANY,
        absence_id=ABSENCE_ID,
        user_id=TARO,
        event_id=event_id,
        event_type="absence.upserted",
        occurred_at=at(occurred_at),
        cancelled=False,
        targets=list(CHANNELS if targets is None else targets),
        absence=absence_document(**absence_overrides),
    )


def cancel(registry: AbsenceRegistry, event_id: str, occurred_at: str = NOON_JST) -> Acceptance:
    """Offer an absence.cancelled event of Taro's absence to the registry."""
    return registry.accept(
        company_id=COMPANY,
        absence_id=ABSENCE_ID,
        user_id=TARO,
        event_id=event_id,
        event_type="absence.cancelled",
        occurred_at=at(occurred_at),
        cancelled=True,
        targets=[],
        absence=None,
    )


def current(registry: AbsenceRegistry) -> AbsenceState:
    state = registry.get(COMPANY, ABSENCE_ID)
    assert state is not None
    return state


def raw_item(stack: HubStack) -> dict[str, Any]:
    """The stored item itself (lease attributes are not part of AbsenceState)."""
    return stack.dynamodb.Table("absences").get_item(Key={"pk": f"{COMPANY}#{ABSENCE_ID}"})["Item"]


@pytest.fixture
def registry(stack: HubStack) -> AbsenceRegistry:
    return stack.registry


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed_registry(stack: HubStack, clock: Clock) -> AbsenceRegistry:
    """The registry on the stack's table with a clock the test moves."""
    return AbsenceRegistry(stack.dynamodb.Table("absences"), clock=clock)


# ---------------------------------------------------------------- accept: ordering


def test_accept_first_event_of_an_absence_becomes_its_state(registry: AbsenceRegistry) -> None:
    # GIVEN no state for the absence yet
    assert registry.get(COMPANY, ABSENCE_ID) is None

    # WHEN its first upsert arrives
    acceptance = upsert(registry, "evt-1", title="夏季休暇")

    # THEN it is accepted and stored as the active state, with no registrations yet
    assert acceptance == Acceptance.ACCEPTED
    state = current(registry)
    assert (state.state, state.cancelled, state.event_id, state.event_type) == (
        "active",
        False,
        "evt-1",
        "absence.upserted",
    )
    assert (state.company_id, state.absence_id, state.user_id) == (COMPANY, ABSENCE_ID, TARO)
    assert state.version == version_of(at(NOON_JST))
    assert state.targets == CHANNELS
    assert state.desired == CHANNELS
    assert state.absence is not None and state.absence["title"] == "夏季休暇"
    assert state.registrations == {}


def test_accept_later_occurred_at_replaces_the_state(registry: AbsenceRegistry) -> None:
    # GIVEN an absence whose state was set at noon JST
    upsert(registry, "evt-2", NOON_JST, title="old")

    # WHEN an upsert that occurred a minute later arrives (with a smaller event_id: time decides, not the id)
    acceptance = upsert(registry, "evt-1", "2026-11-28T12:01:00+09:00", targets=["google_calendar"], title="new")

    # THEN it becomes the state, targets and absence included
    assert acceptance == Acceptance.ACCEPTED
    state = current(registry)
    assert state.event_id == "evt-1"
    assert state.targets == ["google_calendar"]
    assert state.absence is not None and state.absence["title"] == "new"


def test_accept_compares_instants_not_strings_of_different_offsets(registry: AbsenceRegistry) -> None:
    # GIVEN a state set at 02:00Z
    upsert(registry, "evt-a", "2026-11-28T02:00:00+00:00", title="at 02:00Z")

    # WHEN an upsert stamped 10:00+09:00 arrives: it sorts after as a string, but it is 01:00Z, an hour EARLIER
    acceptance = upsert(registry, "evt-b", "2026-11-28T10:00:00+09:00", title="at 01:00Z")

    # THEN it is the older event: superseded, and the state is untouched
    assert acceptance == Acceptance.SUPERSEDED
    state = current(registry)
    assert state.event_id == "evt-a"
    assert state.absence is not None and state.absence["title"] == "at 02:00Z"


def test_accept_later_instant_with_smaller_local_time_wins(registry: AbsenceRegistry) -> None:
    # GIVEN a state stamped 10:00+09:00 (01:00Z)
    upsert(registry, "evt-b", "2026-11-28T10:00:00+09:00")

    # WHEN an upsert stamped 02:00+00:00 arrives (an hour later, though "02" < "10" as text)
    acceptance = upsert(registry, "evt-a", "2026-11-28T02:00:00+00:00")

    # THEN it wins
    assert acceptance == Acceptance.ACCEPTED
    assert current(registry).event_id == "evt-a"


def test_accept_older_upsert_superseded_and_state_unchanged(registry: AbsenceRegistry) -> None:
    # GIVEN an absence in its newest state, already registered in a calendar
    upsert(registry, "evt-2", "2026-11-28T12:00:00+09:00", title="new")
    registry.applied(COMPANY, ABSENCE_ID, "google_calendar", "g-1", "evt-2")
    before = current(registry)

    # WHEN an upsert that occurred earlier arrives late
    acceptance = upsert(registry, "evt-3", "2026-11-28T11:59:59+09:00", targets=["google_calendar"], title="old")

    # THEN it is superseded and nothing of the state changed
    assert acceptance == Acceptance.SUPERSEDED
    assert current(registry) == before


@pytest.mark.parametrize(
    ("first", "second", "winner"),
    [
        ("evt-a", "evt-b", "evt-b"),  # the larger id arrives second: it wins
        ("evt-b", "evt-a", "evt-b"),  # the smaller id arrives second: superseded
    ],
)
def test_accept_equal_instants_larger_event_id_wins(
    registry: AbsenceRegistry, first: str, second: str, winner: str
) -> None:
    # GIVEN a state set by `first`
    upsert(registry, first, "2026-11-28T10:00:00+09:00")

    # WHEN `second` arrives with the same instant written in another offset
    acceptance = upsert(registry, second, "2026-11-28T01:00:00+00:00")

    # THEN the larger event_id is the state, whatever the arrival order
    assert acceptance == (Acceptance.ACCEPTED if second == winner else Acceptance.SUPERSEDED)
    assert current(registry).event_id == winner


def test_accept_same_event_again_accepted_for_redelivery(registry: AbsenceRegistry) -> None:
    # GIVEN an accepted upsert with a registration already written
    upsert(registry, "evt-1")
    registry.applied(COMPANY, ABSENCE_ID, "google_calendar", "g-1", "evt-1")

    # WHEN WORKPLACE delivers the same event again
    acceptance = upsert(registry, "evt-1")

    # THEN it is accepted again (an interrupted run can finish) and the registration is kept
    assert acceptance == Acceptance.ACCEPTED
    state = current(registry)
    assert state.event_id == "evt-1"
    assert state.registrations == {"google_calendar": Registration("g-1", True, "evt-1")}


def test_accept_same_event_redelivered_after_a_newer_one_is_superseded(registry: AbsenceRegistry) -> None:
    # GIVEN evt-1 accepted, then the newer evt-2
    upsert(registry, "evt-1", NOON_JST)
    upsert(registry, "evt-2", "2026-11-28T13:00:00+09:00")

    # WHEN evt-1 is redelivered
    acceptance = upsert(registry, "evt-1", NOON_JST)

    # THEN it no longer counts as "the same event": evt-2 stays the state
    assert acceptance == Acceptance.SUPERSEDED
    assert current(registry).event_id == "evt-2"


def test_accept_cancel_wins_over_a_newer_upsert(registry: AbsenceRegistry) -> None:
    # GIVEN an absence whose latest upsert occurred at 13:00, registered in a calendar
    upsert(registry, "evt-2", "2026-11-28T13:00:00+09:00")
    registry.applied(COMPANY, ABSENCE_ID, "google_calendar", "g-1", "evt-1")

    # WHEN a cancellation stamped earlier (12:00) arrives
    acceptance = cancel(registry, "evt-c", "2026-11-28T12:00:00+09:00")

    # THEN the absence is cancelled regardless of occurred_at; nothing is desired, the registration is kept
    assert acceptance == Acceptance.ACCEPTED
    state = current(registry)
    assert (state.state, state.cancelled, state.event_id, state.event_type) == (
        "cancelled",
        True,
        "evt-c",
        "absence.cancelled",
    )
    assert state.desired == []
    assert set(state.registrations) == {"google_calendar"}


def test_accept_cancel_of_an_unknown_absence_leaves_a_tombstone(registry: AbsenceRegistry) -> None:
    # GIVEN an absence the hub never heard of
    # WHEN its cancellation arrives first
    acceptance = cancel(registry, "evt-c")

    # THEN a cancelled state is recorded, and the late upsert that follows is refused
    assert acceptance == Acceptance.ACCEPTED
    assert current(registry).cancelled
    assert upsert(registry, "evt-1", "2026-11-28T08:00:00+09:00") == Acceptance.CANCELLED


@pytest.mark.parametrize("occurred_at", ["2026-11-28T11:00:00+09:00", "2026-11-29T12:00:00+09:00"])
def test_accept_upsert_after_cancel_refused_as_cancelled(registry: AbsenceRegistry, occurred_at: str) -> None:
    # GIVEN a cancelled absence
    upsert(registry, "evt-1", "2026-11-28T10:00:00+09:00")
    cancel(registry, "evt-c", NOON_JST)
    before = current(registry)

    # WHEN an upsert arrives, older or (a day) newer than the cancellation, with a larger event_id
    acceptance = upsert(registry, "evt-z", occurred_at)

    # THEN it is refused as cancelled: nothing brings the absence back
    assert acceptance == Acceptance.CANCELLED
    assert current(registry) == before


def test_accept_second_different_cancel_refused_as_cancelled(registry: AbsenceRegistry) -> None:
    # GIVEN a cancelled absence
    upsert(registry, "evt-1", "2026-11-28T10:00:00+09:00")
    cancel(registry, "evt-c1", NOON_JST)

    # WHEN another cancellation (a newer one) arrives
    acceptance = cancel(registry, "evt-c2", "2026-11-28T13:00:00+09:00")

    # THEN it is refused and the first cancellation stays the state
    assert acceptance == Acceptance.CANCELLED
    assert current(registry).event_id == "evt-c1"


def test_accept_same_cancel_again_accepted(registry: AbsenceRegistry) -> None:
    # GIVEN a cancelled absence
    upsert(registry, "evt-1", "2026-11-28T10:00:00+09:00")
    cancel(registry, "evt-c", NOON_JST)

    # WHEN the same cancellation is redelivered
    acceptance = cancel(registry, "evt-c", NOON_JST)

    # THEN it is accepted again (its calendar job may not have run yet)
    assert acceptance == Acceptance.ACCEPTED
    assert current(registry).event_id == "evt-c"


def test_accept_keeps_the_cancelled_absence_document(registry: AbsenceRegistry) -> None:
    # GIVEN an upserted absence
    upsert(registry, "evt-1", title="年次休暇")

    # WHEN it is cancelled (a cancellation carries no absence document)
    cancel(registry, "evt-c", "2026-11-28T13:00:00+09:00")

    # THEN the last known document is kept, but nothing is desired any more
    state = current(registry)
    assert state.absence is not None and state.absence["title"] == "年次休暇"
    assert state.desired == []


def test_accept_sets_expiry_from_the_injected_clock(
    stack: HubStack, timed_registry: AbsenceRegistry, clock: Clock
) -> None:
    # GIVEN a registry whose clock reads a fixed time
    # WHEN an event is accepted
    upsert(timed_registry, "evt-1")

    # THEN the item expires (DynamoDB TTL) the retention period after that time
    assert int(raw_item(stack)["expires_at"]) == int(clock.now) + RETENTION_SECONDS


# ---------------------------------------------------------------- lease


def test_acquire_returns_the_state_and_records_the_lease(
    stack: HubStack, timed_registry: AbsenceRegistry, clock: Clock
) -> None:
    # GIVEN an accepted absence
    upsert(timed_registry, "evt-1")

    # WHEN a worker takes its lease
    state = timed_registry.acquire(COMPANY, ABSENCE_ID, "worker-1", LEASE_SECONDS)

    # THEN it gets the state, and the lease names it until now + lease_seconds
    assert state is not None and state.event_id == "evt-1"
    item = raw_item(stack)
    assert item["lease_owner"] == "worker-1"
    assert int(item["lease_until"]) == int(clock.now + LEASE_SECONDS)


def test_acquire_of_an_unknown_absence_returns_none_and_creates_nothing(registry: AbsenceRegistry) -> None:
    # GIVEN no state for the absence
    # WHEN a worker tries to take its lease
    state = registry.acquire(COMPANY, ABSENCE_ID, "worker-1", LEASE_SECONDS)

    # THEN it gets nothing, and no item is created by the attempt
    assert state is None
    assert registry.get(COMPANY, ABSENCE_ID) is None


def test_acquire_refused_while_another_owner_holds_the_lease(timed_registry: AbsenceRegistry, clock: Clock) -> None:
    # GIVEN worker-1 holds the lease
    upsert(timed_registry, "evt-1")
    assert timed_registry.acquire(COMPANY, ABSENCE_ID, "worker-1", LEASE_SECONDS) is not None

    # WHEN worker-2 tries just before it expires
    clock.now += LEASE_SECONDS - 1
    state = timed_registry.acquire(COMPANY, ABSENCE_ID, "worker-2", LEASE_SECONDS)

    # THEN it is refused
    assert state is None


def test_acquire_by_the_same_owner_succeeds_and_extends(
    stack: HubStack, timed_registry: AbsenceRegistry, clock: Clock
) -> None:
    # GIVEN worker-1 holds the lease
    upsert(timed_registry, "evt-1")
    timed_registry.acquire(COMPANY, ABSENCE_ID, "worker-1", LEASE_SECONDS)

    # WHEN worker-1 takes it again 30 s later
    clock.now += 30
    state = timed_registry.acquire(COMPANY, ABSENCE_ID, "worker-1", LEASE_SECONDS)

    # THEN it gets it, extended from the new time
    assert state is not None
    assert int(raw_item(stack)["lease_until"]) == int(clock.now + LEASE_SECONDS)


def test_acquire_of_an_expired_lease_by_another_owner_succeeds(
    stack: HubStack, timed_registry: AbsenceRegistry, clock: Clock
) -> None:
    # GIVEN worker-1 took the lease and crashed
    upsert(timed_registry, "evt-1")
    timed_registry.acquire(COMPANY, ABSENCE_ID, "worker-1", LEASE_SECONDS)

    # WHEN worker-2 tries after the lease ran out
    clock.now += LEASE_SECONDS + 1
    state = timed_registry.acquire(COMPANY, ABSENCE_ID, "worker-2", LEASE_SECONDS)

    # THEN it takes over
    assert state is not None
    assert raw_item(stack)["lease_owner"] == "worker-2"


def test_release_frees_the_lease_when_the_state_is_unchanged(stack: HubStack, registry: AbsenceRegistry) -> None:
    # GIVEN worker-1 holds the lease of the state evt-1
    upsert(registry, "evt-1")
    registry.acquire(COMPANY, ABSENCE_ID, "worker-1", LEASE_SECONDS)

    # WHEN it releases it having reconciled evt-1
    released = registry.release(COMPANY, ABSENCE_ID, "worker-1", "evt-1")

    # THEN the lease is gone and another worker can take it at once
    assert released is True
    assert "lease_owner" not in raw_item(stack)
    assert registry.acquire(COMPANY, ABSENCE_ID, "worker-2", LEASE_SECONDS) is not None


def test_release_fails_and_keeps_the_lease_when_a_newer_event_arrived(
    stack: HubStack, registry: AbsenceRegistry
) -> None:
    # GIVEN worker-1 holds the lease of evt-1, and evt-2 was accepted meanwhile
    upsert(registry, "evt-1", NOON_JST)
    registry.acquire(COMPANY, ABSENCE_ID, "worker-1", LEASE_SECONDS)
    assert upsert(registry, "evt-2", "2026-11-28T13:00:00+09:00") == Acceptance.ACCEPTED

    # WHEN worker-1 tries to release having reconciled evt-1
    released = registry.release(COMPANY, ABSENCE_ID, "worker-1", "evt-1")

    # THEN it is told to reconcile again, and still holds the lease
    assert released is False
    assert raw_item(stack)["lease_owner"] == "worker-1"
    assert registry.acquire(COMPANY, ABSENCE_ID, "worker-2", LEASE_SECONDS) is None


def test_release_by_a_worker_not_holding_the_lease_fails(stack: HubStack, registry: AbsenceRegistry) -> None:
    # GIVEN worker-1 holds the lease
    upsert(registry, "evt-1")
    registry.acquire(COMPANY, ABSENCE_ID, "worker-1", LEASE_SECONDS)

    # WHEN worker-2 tries to release it
    released = registry.release(COMPANY, ABSENCE_ID, "worker-2", "evt-1")

    # THEN nothing changes
    assert released is False
    assert raw_item(stack)["lease_owner"] == "worker-1"


def test_abandon_frees_the_lease_even_when_the_state_changed(stack: HubStack, registry: AbsenceRegistry) -> None:
    # GIVEN worker-1 holds the lease of evt-1, and evt-2 was accepted meanwhile
    upsert(registry, "evt-1", NOON_JST)
    registry.acquire(COMPANY, ABSENCE_ID, "worker-1", LEASE_SECONDS)
    upsert(registry, "evt-2", "2026-11-28T13:00:00+09:00")

    # WHEN worker-1 abandons its run
    registry.abandon(COMPANY, ABSENCE_ID, "worker-1")

    # THEN the lease is free for the next worker
    item = raw_item(stack)
    assert "lease_owner" not in item and "lease_until" not in item
    assert registry.acquire(COMPANY, ABSENCE_ID, "worker-2", LEASE_SECONDS) is not None


def test_abandon_by_a_former_owner_leaves_the_new_owners_lease(
    stack: HubStack, timed_registry: AbsenceRegistry, clock: Clock
) -> None:
    # GIVEN worker-1's lease expired and worker-2 took over
    upsert(timed_registry, "evt-1")
    timed_registry.acquire(COMPANY, ABSENCE_ID, "worker-1", LEASE_SECONDS)
    clock.now += LEASE_SECONDS + 1
    timed_registry.acquire(COMPANY, ABSENCE_ID, "worker-2", LEASE_SECONDS)

    # WHEN the slow worker-1 finally abandons (without raising)
    timed_registry.abandon(COMPANY, ABSENCE_ID, "worker-1")

    # THEN worker-2 still holds the lease
    assert raw_item(stack)["lease_owner"] == "worker-2"


# ---------------------------------------------------------------- registrations


def test_intend_records_an_unapplied_registration(registry: AbsenceRegistry) -> None:
    # GIVEN an accepted absence
    upsert(registry, "evt-1")

    # WHEN the worker is about to create its Google event
    registry.intend(COMPANY, ABSENCE_ID, "google_calendar", "g-1")

    # THEN the registry names the event, not yet applied
    assert current(registry).registrations == {"google_calendar": Registration("g-1", False, "")}


def test_intend_keeps_an_existing_registrations_applied_flag(registry: AbsenceRegistry) -> None:
    # GIVEN a calendar that holds the event as of version 7
    upsert(registry, "evt-1")
    registry.applied(COMPANY, ABSENCE_ID, "google_calendar", "g-1", "evt-7")

    # WHEN the worker intends to update it
    registry.intend(COMPANY, ABSENCE_ID, "google_calendar", "g-1")

    # THEN the registration still says applied at version 7 (the event does exist)
    assert current(registry).registrations["google_calendar"] == Registration("g-1", True, "evt-7")


def test_applied_and_removed_update_only_their_calendar(registry: AbsenceRegistry) -> None:
    # GIVEN an absence registered in two calendars
    upsert(registry, "evt-1")
    registry.intend(COMPANY, ABSENCE_ID, "google_calendar", "g-1")
    registry.applied(COMPANY, ABSENCE_ID, "google_calendar", "g-1", "evt-5")
    registry.applied(COMPANY, ABSENCE_ID, "naver_works_calendar:c-77f0", "w-1", "evt-5")

    # WHEN one is re-applied at a newer version and the other removed
    registry.applied(COMPANY, ABSENCE_ID, "google_calendar", "g-1", "evt-6")
    registry.removed(COMPANY, ABSENCE_ID, "naver_works_calendar:c-77f0")

    # THEN the map holds exactly the remaining one, at the new version
    assert current(registry).registrations == {"google_calendar": Registration("g-1", True, "evt-6")}


def test_removed_of_an_unregistered_calendar_is_harmless(registry: AbsenceRegistry) -> None:
    # GIVEN an absence registered in Google only
    upsert(registry, "evt-1")
    registry.applied(COMPANY, ABSENCE_ID, "google_calendar", "g-1", "evt-5")

    # WHEN a calendar it was never in is removed
    registry.removed(COMPANY, ABSENCE_ID, "naver_works_calendar")

    # THEN the other registration is untouched
    assert current(registry).registrations == {"google_calendar": Registration("g-1", True, "evt-5")}
