"""Property: whatever absence events WORKPLACE sends for one absence, in whatever order and however often, the
calendars end up holding exactly what the absence's latest state says.

The rules (contract workplace-events.md, "Delivery guarantees"), as the model this test checks against:
- for one absence_id the upsert with the latest occurred_at INSTANT wins (offsets differ, so string order is
  not instant order); equal instants: the larger event_id wins; an older upsert never overwrites a newer state;
- a cancellation is final: once any absence.cancelled was received, no calendar holds the absence's event,
  whatever order or occurred_at the events have;
- a redelivered event (same event_id) changes nothing and never creates a second event;
- the winning upsert is in each calendar it names exactly once (Google primary, NAVER WORKS default, a
  NAVER WORKS personal calendar), with its title (empty: the kind's Japanese name) and its all-day dates
  (inclusive end in the contract, exclusive end in both calendars), and in no other calendar.

One company per test (Google consent, and a NAVER WORKS tenant with a linked personal calendar); hypothesis
runs inside the test body, every example with its own absence. An example is 2-5 distinct events (upserts to
random calendars, dates and titles, now and then a cancellation; occurred_at on two instants in three offsets,
so equal instants are frequent) and a delivery order with redeliveries. The events go to the router function
directly, one SQS record per invocation, so the router sees exactly that order; between two deliveries the
calendars either settle (both queues idle) or not (the router races the calendar worker, which runs as deployed,
polling CalendarQueue). The calendars are read through the sandbox before and after the example: what changed
is this absence's doing and must be exactly what the model expects. A few hand-picked sequences run first as
explicit examples; a failing example is printed as its delivery order.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, note, settings
from hypothesis import strategies as st

from infra.local_stack import LocalStack
from infra.local_stack.poller import sqs_event
from infra.sandbox import SandboxClient
from tests.fuzzing import examples
from tests.integration.calendars import (
    absence_cancelled,
    absence_upserted,
    google_events,
    link_google_calendar,
    wait_until_calendars_idle,
    works_events,
)
from tests.integration.helpers import Api
from tests.integration.linking import (
    enable_works_calendar,
    link,
    new_works_calendar_tenant,
    page,
    works_user_signs_in,
)

pytestmark = pytest.mark.integration

PERSONAL_CALENDAR = "cal-private"
# The employee's NAVER WORKS calendars: the default one (written with the service account) and a personal one.
WORKS_CALENDARS = [
    {"calendarId": "cal-home", "calendarName": "ホーム", "isDefault": True},
    {"calendarId": PERSONAL_CALENDAR, "calendarName": "プライベート"},
]
# Calendar names of this test → the contract's `calendars` entries.
TARGETS: dict[str, dict[str, str]] = {
    "google": {"provider": "google"},
    "naver_works": {"provider": "naver_works"},
    f"naver_works:{PERSONAL_CALENDAR}": {"provider": "naver_works", "calendar_id": PERSONAL_CALENDAR},
}
# absence_times.KIND_NAMES["ja"] of the all-day kinds generated here: the title of an untitled absence.
KIND_NAMES = {"vacation": "休暇", "business_trip": "出張", "remote": "在宅勤務", "sick": "病気休暇", "other": "不在"}
TITLES = ["", " ", "年次休暇", "Family trip"]
# occurred_at: this instant or a minute later (equal instants are frequent), written in one of these offsets.
EPOCH = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
OFFSET_HOURS = [9, 0, -5]
# All-day absences of 1-3 days starting in this range, so that month and year ends are crossed.
FIRST_START, LAST_START = date(2026, 11, 29), date(2027, 1, 31)


# ------------------------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Sent:
    """One generated event, an upsert (`calendars` set) or a cancellation (`calendars` None), and when it is
    delivered: once per entry of `deliveries` (two entries: a redelivery)."""

    rank: int  # the event_id is evt-<example>-<rank>: the tie-break order among equal instants
    minute: int  # occurred_at = EPOCH + minute,
    offset_hours: int  # written in this UTC offset
    deliveries: tuple[tuple[int, bool], ...]  # (slot, rushed): see Scenario.order
    calendars: tuple[str, ...] | None = None
    kind: str = "vacation"
    title: str = ""
    start: date = FIRST_START
    days: int = 1

    @property
    def cancel(self) -> bool:
        return self.calendars is None

    @property
    def instant(self) -> datetime:
        return EPOCH + timedelta(minutes=self.minute)

    @property
    def occurred_at(self) -> str:
        return self.instant.astimezone(timezone(timedelta(hours=self.offset_hours))).isoformat()

    @property
    def end(self) -> date:
        """The contract's inclusive end date."""
        return self.start + timedelta(days=self.days - 1)

    def event_id(self, tag: str) -> str:
        return f"evt-{tag}-{self.rank}"

    def payload(self, company_id: str, user_id: str, absence_id: str, tag: str) -> dict[str, Any]:
        if self.calendars is None:
            return absence_cancelled(
                company_id, user_id, absence_id, occurred_at=self.occurred_at, event_id=self.event_id(tag)
            )
        return absence_upserted(
            company_id,
            user_id,
            absence_id,
            [TARGETS[name] for name in self.calendars],
            occurred_at=self.occurred_at,
            event_id=self.event_id(tag),
            kind=self.kind,
            title=self.title,
            start=self.start.isoformat(),
            end=self.end.isoformat(),
        )

    def __repr__(self) -> str:
        when = f"occurred_at={self.occurred_at} (={self.instant:%H:%M}Z)"
        if self.calendars is None:
            return f"evt-{self.rank} cancelled {when}"
        return (
            f"evt-{self.rank} upserted {when} calendars={list(self.calendars)} kind={self.kind} "
            f"title={self.title!r} {self.start}..{self.end}"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """How hypothesis prints a failing example: one line per event."""
        printer.text(repr(self))


@dataclass(frozen=True)
class Scenario:
    """The events WORKPLACE sends for one absence (distinct event_ids), and the order they reach the router."""

    events: tuple[Sent, ...]

    @property
    def order(self) -> list[tuple[Sent, bool]]:
        """(event, rushed) in delivery order: by slot, then as drawn; `rushed`: the delivery follows the one
        before at once, without the calendars settling first."""
        slots = [(slot, i, rushed) for i, event in enumerate(self.events) for slot, rushed in event.deliveries]
        return [(self.events[i], rushed) for _, i, rushed in sorted(slots)]

    def describe(self) -> str:
        lines = ["delivered to the router:"]
        seen: set[int] = set()
        for position, (event, rushed) in enumerate(self.order):
            if position and not rushed:
                lines.append("  -- the calendars settle --")
            again = "  (again: a redelivery)" if event.rank in seen else ""
            lines.append(f"  {position + 1}. {event!r}{again}")
            seen.add(event.rank)
        return "\n".join(lines)


# Hand-picked sequences, run before the generated ones (Sent(rank, minute, offset_hours, deliveries, calendars, ...)).
PERSONAL = f"naver_works:{PERSONAL_CALENDAR}"
EXAMPLES = {
    # Equal instants written in two offsets, the smaller event_id applied first: the larger event_id wins.
    "tie_break": Scenario(
        (
            Sent(0, 1, 9, ((0, False),), ("google", "naver_works"), "vacation", "年次休暇", date(2026, 12, 31), 2),
            Sent(1, 1, -5, ((1, False),), ("naver_works", PERSONAL), "business_trip", "", date(2027, 1, 1)),
        )
    ),
    # Equal instants, the larger event_id first: the smaller one (delivered twice) is superseded.
    "tie_break_superseded": Scenario(
        (
            Sent(1, 0, 0, ((0, False),), ("google",), "remote", "Family trip", date(2026, 11, 30), 3),
            Sent(0, 0, 9, ((1, False), (2, True)), ("google", "naver_works"), "sick", "", date(2026, 12, 1)),
        )
    ),
    # 2026-11-27T19:01:00-05:00 is later than 2026-11-28T09:00:00+09:00 though smaller as a string.
    "instants_not_strings": Scenario(
        (
            Sent(0, 1, -5, ((0, False),), (PERSONAL, "google"), "other", " ", date(2027, 1, 30), 3),
            Sent(1, 0, 9, ((1, False),), ("google", "naver_works"), "vacation", "年次休暇", date(2026, 12, 30)),
        )
    ),
    # An older cancellation after a newer upsert, then the upsert again: nothing anywhere.
    "cancel_is_final": Scenario(
        (
            Sent(0, 0, 9, ((1, False),)),
            Sent(1, 1, 0, ((0, False), (2, True)), ("google", "naver_works", PERSONAL), "vacation", "年次休暇"),
        )
    ),
}


def expected_calendars(scenario: Scenario) -> dict[str, list[dict[str, Any]]]:
    """calendar → the events it must hold for the absence (nothing anywhere once it was cancelled)."""
    if any(event.cancel for event in scenario.events):
        return {}
    # The latest instant wins; equal instants: the larger event_id (the same prefix: the larger rank).
    winner = max(scenario.events, key=lambda event: (event.instant, event.event_id("")))
    assert winner.calendars is not None
    entry = {
        "summary": winner.title.strip() or KIND_NAMES[winner.kind],
        "start": {"date": winner.start.isoformat()},
        "end": {"date": (winner.end + timedelta(days=1)).isoformat()},  # exclusive in both calendars
    }
    return {name: [entry] for name in winner.calendars}


# ------------------------------------------------------------------------------------------- strategies
# Everything about one event (its event_id rank, its delivery slots) is drawn with it, so that the shrinker can
# drop an event without reshuffling the others. Slots shrink to 0 (deliveries in drawn order) and `rushed` to
# False (the calendars settle between deliveries): a minimal failing example does not depend on timing.


@st.composite
def sent_events(draw: st.DrawFn) -> Sent:
    rank = draw(st.integers(0, 9))  # one digit: string order is number order
    minute = draw(st.integers(0, 1))  # few instants: equal ones are frequent (the event_id tie-break)
    offset_hours = draw(st.sampled_from(OFFSET_HOURS))
    rushed = st.sampled_from([False, False, True])
    deliveries = tuple(draw(st.lists(st.tuples(st.integers(0, 9), rushed), min_size=1, max_size=2)))
    if draw(st.sampled_from([False] * 7 + [True])):  # a cancellation, now and then
        return Sent(rank, minute, offset_hours, deliveries)
    # Each calendar named with odds 2:1, in any order ([] is valid: "remove it from every calendar").
    named = st.sampled_from([False, True, True])
    calendars = tuple(name for name in draw(st.permutations(list(TARGETS))) if draw(named))
    return Sent(
        rank,
        minute,
        offset_hours,
        deliveries,
        calendars=calendars,
        kind=draw(st.sampled_from(list(KIND_NAMES))),
        title=draw(st.sampled_from(TITLES)),
        start=draw(st.dates(FIRST_START, LAST_START)),
        days=draw(st.integers(1, 3)),
    )


def scenarios() -> st.SearchStrategy[Scenario]:
    events = st.lists(sent_events(), min_size=2, max_size=5, unique_by=lambda event: event.rank)
    return events.map(lambda drawn: Scenario(tuple(drawn)))


# ------------------------------------------------------------------------------------------- the calendars


def calendar_contents(sandbox: SandboxClient, email: str, domain_id: str, user_id: str) -> dict[tuple[str, str], Any]:
    """(calendar, event id) → what the event shows, for every live event in the employee's calendars."""
    found: dict[tuple[str, str], Any] = {}
    for event in google_events(sandbox, email):
        absence = event.get("extendedProperties", {}).get("private", {}).get("workplaceAbsenceId")
        found["google", event["id"]] = {
            "summary": event.get("summary"),
            "start": event.get("start"),
            "end": event.get("end"),
            "absence_id": absence,
        }
    for event in works_events(sandbox, domain_id, user_id):
        calendar = "naver_works" if event["calendar_id"] == "default" else f"naver_works:{event['calendar_id']}"
        found[calendar, event["eventId"]] = {
            "summary": event.get("summary"),
            "start": event.get("start"),
            "end": event.get("end"),
        }
    return found


# ------------------------------------------------------------------------------------------- the property


def test_the_calendars_hold_exactly_the_latest_state_of_an_absence_whatever_the_delivery_order(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN taro linked Google (consent), and his company writes NAVER WORKS calendars: the default one with the
    # service account, and his personal calendar, which he authorized
    email = link_google_calendar(stack, admin, member, sandbox, f"{company_id}.example")
    tenant = new_works_calendar_tenant(stack, sandbox, [member.user_id])
    enable_works_calendar(admin, tenant)
    works_user_signs_in(sandbox, tenant, member.user_id, calendars=WORKS_CALENDARS)
    assert page(link(member, "naver_works")).result == "linked"
    router = stack.functions["RouterFunction"]
    queue_arn = stack.resolver.attributes["WorkplaceEventsQueue", "Arn"]

    def deliver(event: dict[str, Any]) -> None:
        """One SQS record to the router, handled before this returns."""
        message = {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": uuid.uuid4().hex,
            "Body": json.dumps(event, ensure_ascii=False),
        }
        result = router.invoke(sqs_event([message], queue_arn))
        assert not (result or {}).get("batchItemFailures"), result

    @settings(
        max_examples=examples(quick=10, thorough=100),
        deadline=None,
        derandomize=True,  # the same examples on every run (CI)
        database=None,  # nothing written to .hypothesis/
        phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no explain phase: replays would race the worker
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @example(scenario=EXAMPLES["tie_break"])
    @example(scenario=EXAMPLES["tie_break_superseded"])
    @example(scenario=EXAMPLES["instants_not_strings"])
    @example(scenario=EXAMPLES["cancel_is_final"])
    @given(scenario=scenarios())
    def absence_ends_in_its_latest_state(scenario: Scenario) -> None:
        # GIVEN a fresh absence (also when hypothesis replays an example), and the calendars as they are now
        absence_id, tag = f"abs-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex[:8]
        note(scenario.describe())
        before = calendar_contents(sandbox, email, tenant.domain_id, member.user_id)

        # WHEN WORKPLACE's events reach the router in this order, the calendars settling where the scenario says
        for position, (event, rushed) in enumerate(scenario.order):
            if position and not rushed:
                wait_until_calendars_idle(stack)
            deliver(event.payload(company_id, member.user_id, absence_id, tag))
        wait_until_calendars_idle(stack)

        # THEN no other absence's event was touched
        after = calendar_contents(sandbox, email, tenant.domain_id, member.user_id)
        assert before.keys() <= after.keys(), f"events of other absences vanished: {before.keys() - after.keys()}"
        changed = {key: shown for key, shown in after.items() if before.get(key) != shown}
        assert all(shown.get("absence_id", absence_id) == absence_id for shown in changed.values()), changed
        # AND each calendar holds the latest state's event once if the state names it, and nothing otherwise
        held: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for (calendar, _), shown in sorted(changed.items()):
            held[calendar].append({k: v for k, v in shown.items() if k != "absence_id"})
        assert dict(held) == expected_calendars(scenario)

    absence_ends_in_its_latest_state()
