"""Router fuzzing: batches of generated SQS records through powertools' BatchProcessor, as functions/router does.

Three kinds of record: (a) arbitrary JSON (and text that is not JSON), (b) valid WORKPLACE events
(shared/contracts/workplace-events.md: notification, absence.upserted, absence.cancelled) and (c) valid events with
one mutation: a field deleted, a value of another JSON type, a value the contract refuses (too long, malformed, the
wrong version), a recipient repeated, or unknown extra fields (which keep the event valid: forward compatibility).
What the contract says of each field is written down here (FIELDS), apart from workplace_hub.events, so the test
does not grade the parser with itself. Besides random batches of (c), every field is broken every way it can be
(BREAKAGES), a few examples each, so that no combination is left to chance.

For every batch: the batch never fails (no record fails, so SQS deletes them all); every invalid record is on the
events DLQ, once, with a non-empty `reason` that repeats no value of the event; every valid one is routed (a
delivery record per recipient, or a calendar job) and not dead-lettered. A recipient whose entry is broken in a
field other than its user_id does not make the event invalid: that recipient is recorded `failed:
invalid_recipient` and the event's others are routed.

Every free-text value the strategies make contains MARK, and every number they put where it does not belong is
at least 10**8: a reason containing either repeats a value.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from tests.fuzzing import examples
from tests.unit.aws import HubStack
from tests.unit.builders import COMPANY, SLACK_TOKEN, WEBHOOK_URL, sqs_record
from tests.unit.routing.test_router import make_router
from workplace_hub.catalog import ITEM_CATALOG, Integration
from workplace_hub.jobs import CalendarJob
from workplace_hub.routing.router import EventRouter

MARK = "zq"
BIG = 10**8
# Bounded even when a property fails: no shrinking (every example's records are in the failure's notes).
FUZZ = settings(
    max_examples=examples(quick=10, thorough=100),
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LINKED = ("taro@acme.example", "hanako@acme.example")  # acme's employees with Slack and Google Chat linked
EVENT_TYPES = ("notification", "absence.upserted", "absence.cancelled")
KINDS = ("vacation", "half_day_am", "half_day_pm", "business_trip", "remote", "sick", "other")
ZONES = ("Asia/Tokyo", "Asia/Seoul", "UTC", "America/New_York", "Europe/London")
OFFSETS = tuple(timezone(timedelta(minutes=m)) for m in (0, 540, -300, 345))


# ------------------------------------------------------------------------------------------- valid events

# What an SQS message body can carry (no surrogates, controls or non-characters).
CHARACTERS = st.characters(exclude_categories=("Cs", "Cc", "Cn"))


def marked(min_size: int = 0, max_size: int = 20) -> st.SearchStrategy[str]:
    """Free text, always containing MARK (so min_size is at least 2)."""
    return st.text(CHARACTERS, min_size=max(0, min_size - len(MARK)), max_size=max_size).map(lambda s: MARK + s)


def word(pattern: str = "[a-z0-9]{1,10}") -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True).map(lambda s: MARK + s)


timestamps = st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.sampled_from(OFFSETS))
user_ids = st.sampled_from(LINKED) | word("[a-z0-9._-]{1,12}").map(lambda s: f"{s}@acme.example")
companies = st.just(COMPANY) | word("[A-Za-z0-9_-]{1,20}")

recipient = st.fixed_dictionaries(
    {"user_id": user_ids},
    optional={
        "name": marked(max_size=30),
        "phone": st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True),
        "locale": st.sampled_from(["ja", "ko", "en"]),
    },
)
message = st.fixed_dictionaries(
    {
        "title": marked(max_size=60),
        "url": st.tuples(word(), st.from_regex(r"[A-Za-z0-9/_.~%-]{0,30}", fullmatch=True)).map(
            lambda p: f"https://{p[0]}.example/{p[1]}"
        ),
    },
    optional={"body": st.just("") | marked(max_size=200)},
)


def envelope(event_type: str, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "version": st.just("1"),
            "event_id": st.just("replaced-by-a-unique-id"),
            "company_id": companies,
            "type": st.just(event_type),
            "occurred_at": timestamps.map(datetime.isoformat),
            **fields,
        },
        optional={"product": st.sampled_from(["workplace", "collabo"])},
    )


notifications = envelope(
    "notification",
    item=st.sampled_from(ITEM_CATALOG) | word("[a-z0-9_.-]{0,20}"),
    recipients=st.lists(recipient, min_size=1, max_size=4, unique_by=lambda r: r["user_id"]),
    message=message,
)


@st.composite
def absence_times(draw: Any) -> dict[str, Any]:
    """all_day with inclusive dates, or a timed absence with RFC 3339 date-times; the end never before the start."""
    if draw(st.booleans()):
        start = draw(st.dates(date(2025, 1, 1), date(2028, 1, 1)))
        end = start + timedelta(days=draw(st.integers(0, 10)))
        return {"all_day": True, "start": start.isoformat(), "end": end.isoformat()}
    start_at = draw(timestamps)
    end_at = (start_at + timedelta(minutes=draw(st.integers(0, 72 * 60)))).astimezone(draw(st.sampled_from(OFFSETS)))
    return {"all_day": False, "start": start_at.isoformat(), "end": end_at.isoformat()}


calendar_target = st.fixed_dictionaries(
    {"provider": st.sampled_from(["naver_works", "google"])}, optional={"calendar_id": word()}
)
absence = st.tuples(
    st.fixed_dictionaries(
        {
            "absence_id": st.just("replaced-by-a-unique-id"),
            "user_id": user_ids,
            "kind": st.sampled_from(KINDS),
            "timezone": st.sampled_from(ZONES),
            "calendars": st.lists(calendar_target, max_size=4),
        },
        optional={"title": st.just("") | marked(max_size=60)},
    ),
    absence_times(),
).map(lambda parts: {**parts[0], **parts[1]})
upserts = envelope("absence.upserted", absence=absence)
cancellations = envelope(
    "absence.cancelled", absence=st.fixed_dictionaries({"absence_id": st.just("replaced"), "user_id": user_ids})
)
valid_events = st.one_of(notifications, upserts, cancellations)


# ------------------------------------------------------------------------------------------- mutations

Path = tuple[Any, ...]


def pattern_of(path: Path) -> Path:
    """The field's place in the contract: ("recipients", 2, "phone") → ("recipients", "*", "phone")."""
    return tuple("*" if isinstance(part, int) else part for part in path)


@dataclass(frozen=True)
class Spec:
    """What the contract says of one field: required or not, its JSON type, and values it refuses."""

    required: bool
    type: str  # string, boolean, array, object
    refused: tuple[Any, ...] = ()
    nullable: bool = False  # an optional field that may also be null (its model default is None)


TOO_LONG = MARK * 1025  # 2050 characters: longer than any limit of the contract
# Not RFC 3339 text: pydantic alone reads digits as Unix times.
DATE_TEXT = ("zq", "1764543600", "2026-02-30", "2026-12-01T09:00:00", "2026/12/01")
FIELDS: dict[Path, Spec] = {
    ("version",): Spec(True, "string", ("2", "1.0", " 1", "v1", "zq", 1, 1.0)),
    ("event_id",): Spec(True, "string", ("", "zq id", "zq/id", MARK * 65)),
    ("company_id",): Spec(True, "string", ("", "zq.co", "zq co", MARK * 33)),
    ("type",): Spec(True, "string", ("zq", "Notification", "absence")),
    ("occurred_at",): Spec(True, "string", (*DATE_TEXT, "2026-11-28")),
    ("product",): Spec(False, "string", ("zq", "Workplace", "slack")),
    ("item",): Spec(True, "string", ("", "Zq.item", "9zq", "zq item", MARK * 33)),
    ("recipients",): Spec(True, "array", ([],)),
    ("recipients", "*"): Spec(True, "object"),
    ("recipients", "*", "user_id"): Spec(True, "string", ("", TOO_LONG)),
    ("recipients", "*", "name"): Spec(False, "string", (TOO_LONG,), nullable=True),
    ("recipients", "*", "phone"): Spec(False, "string", ("zq123", "09012345678", "+0901234567", "+81 90 1"), True),
    ("recipients", "*", "locale"): Spec(False, "string", ("zq", "JA", "fr")),
    ("message",): Spec(True, "object"),
    ("message", "title"): Spec(True, "string", ("", TOO_LONG)),
    ("message", "body"): Spec(False, "string", (TOO_LONG,)),
    ("message", "url"): Spec(True, "string", ("http://zq.example/", "zq.example/a", "https://zq.example/a b", "zq")),
    ("absence",): Spec(True, "object"),
    ("absence", "absence_id"): Spec(True, "string", ("", TOO_LONG)),
    ("absence", "user_id"): Spec(True, "string", ("", TOO_LONG)),
    ("absence", "kind"): Spec(True, "string", ("zq", "Vacation")),
    ("absence", "title"): Spec(False, "string", (TOO_LONG,)),
    # pydantic's lax mode reads these as booleans.
    ("absence", "all_day"): Spec(True, "boolean", (0, 1, 1.0, "true", "false", "yes")),
    ("absence", "start"): Spec(True, "string", DATE_TEXT),
    ("absence", "end"): Spec(True, "string", DATE_TEXT),
    ("absence", "timezone"): Spec(True, "string", ("Zq/Nowhere", "", "../zq", "+09:00")),
    ("absence", "calendars"): Spec(True, "array", ([{"provider": "google"}] * 21,)),
    ("absence", "calendars", "*"): Spec(True, "object"),
    ("absence", "calendars", "*", "provider"): Spec(True, "string", ("zq", "outlook", "Google")),
    ("absence", "calendars", "*", "calendar_id"): Spec(False, "string", ("", TOO_LONG), nullable=True),
}

big_numbers = st.integers(BIG, 100 * BIG) | st.floats(BIG, 100 * BIG)
junk = st.dictionaries(word("[a-z]{1,6}"), big_numbers | word(), max_size=2)
# A value of each JSON type; numbers are the ones pydantic's lax mode turns into times.
VALUES_OF_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "number": big_numbers,
    "boolean": st.booleans(),
    "string": word(),
    "array": st.lists(word() | big_numbers, max_size=2),
    "object": junk,
    "null": st.none(),
}


def ways_to_break(pattern: Path) -> list[str]:
    """deleted, refused, and `type:<t>` for every other JSON type (null only where the field is not nullable)."""
    spec = FIELDS[pattern]
    ways = ["deleted"] if pattern[-1] != "*" else []  # a list element is no field of its own
    ways += ["refused"] if spec.refused else []
    return ways + [f"type:{t}" for t in VALUES_OF_TYPE if t != spec.type and not (t == "null" and spec.nullable)]


def fields_of(document: Any, path: Path = ()) -> Iterator[tuple[Path, Spec]]:
    """Every field of the contract present in `document`, with list indices as they are."""
    items: Any = ()
    if isinstance(document, dict):
        items = document.items()
    elif isinstance(document, list):
        items = enumerate(document)
    for key, value in items:
        here = (*path, key)
        spec = FIELDS.get(pattern_of(here))
        if spec is not None:
            yield here, spec
            yield from fields_of(value, here)


def objects_of(document: dict[str, Any]) -> list[Path]:
    """Paths of every JSON object in the event (the envelope, message, recipients, absence, calendar targets)."""
    return [()] + [path for path, spec in fields_of(document) if spec.type == "object"]


def at(document: Any, path: Path) -> Any:
    for part in path:
        document = document[part]
    return document


def changed(document: dict[str, Any], path: Path, change: Callable[[Any, Any], None]) -> dict[str, Any]:
    result = copy.deepcopy(document)
    change(at(result, path[:-1]), path[-1])
    return result


def replaced(document: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    return changed(document, path, lambda parent, key: parent.__setitem__(key, value))


def deleted(document: dict[str, Any], path: Path) -> dict[str, Any]:
    return changed(document, path, lambda parent, key: parent.__delitem__(key))


@dataclass(frozen=True)
class Record:
    document: Any
    valid: bool
    what: str
    set_aside: str | None = None  # the user_id of a recipient whose broken entry is recorded failed

    @property
    def body(self) -> str:
        return self.document if isinstance(self.document, str) else json.dumps(self.document, ensure_ascii=False)


# Broken, these fields of a recipient fail only that recipient (it still has a user_id to record it under).
RECIPIENT_OWN_FIELDS = ("name", "phone", "locale")


def broken(document: dict[str, Any], path: Path, way: str) -> st.SearchStrategy[Record]:
    """`document` with the field at `path` broken that `way`; only a deleted optional field stays valid."""
    spec = FIELDS[pattern_of(path)]
    label = f"{'.'.join(map(str, pattern_of(path)))}: {way}"
    if way == "deleted":
        return st.just(Record(deleted(document, path), not spec.required, label))
    values = st.sampled_from(spec.refused) if way == "refused" else VALUES_OF_TYPE[way.removeprefix("type:")]
    if path[0] == "recipients" and len(path) == 3 and path[2] in RECIPIENT_OWN_FIELDS:
        user_id = document["recipients"][path[1]]["user_id"]
        return values.map(lambda v: Record(replaced(document, path, v), True, f"{label} {str(v)[:40]!r}", user_id))
    return values.map(lambda v: Record(replaced(document, path, v), False, f"{label} {str(v)[:40]!r}"))


def mutations(document: dict[str, Any]) -> st.SearchStrategy[Record]:
    """One mutation of a valid event (a field broken some way, an unknown field added, a recipient repeated), and
    whether the contract still accepts the result."""
    fields = [path for path, _ in fields_of(document)]
    options = [
        st.sampled_from(fields).flatmap(
            lambda path: st.sampled_from(ways_to_break(pattern_of(path))).flatmap(
                lambda way: broken(document, path, way)
            )
        ),
        st.tuples(st.sampled_from(objects_of(document)), word("[a-z_]{1,10}"), junk | word() | big_numbers).map(
            lambda extra: Record(
                replaced(document, (*extra[0], f"{MARK}_{extra[1]}"), extra[2]), True, f"extra field at {extra[0]}"
            )
        ),
    ]
    recipients = document.get("recipients")
    if isinstance(recipients, list) and recipients:
        # The same user twice (with other details): the contract wants each recipient once.
        options.append(
            st.sampled_from(recipients).map(
                lambda r: Record({**document, "recipients": [*recipients, {**r, "locale": "en"}]}, False, "duplicate")
            )
        )
    return st.one_of(options)


def events_with(pattern: Path) -> st.SearchStrategy[dict[str, Any]]:
    """Valid events that carry the field (optional ones are not always there)."""
    if pattern[0] in ("item", "recipients", "message"):
        events = notifications
    elif pattern[0] == "absence" and pattern[1:] not in ((), ("absence_id",), ("user_id",)):
        events = upserts
    elif pattern[0] == "absence":
        events = upserts | cancellations
    else:
        events = valid_events
    return events.filter(lambda document: any(pattern_of(path) == pattern for path, _ in fields_of(document)))


def broken_field(pattern: Path, way: str) -> st.SearchStrategy[Record]:
    return events_with(pattern).flatmap(
        lambda document: st.sampled_from([p for p, _ in fields_of(document) if pattern_of(p) == pattern]).flatmap(
            lambda path: broken(document, path, way)
        )
    )


BREAKAGES = [(pattern, way) for pattern in FIELDS for way in ways_to_break(pattern)]


mutated_events = valid_events.flatmap(mutations)
untouched_events = valid_events.map(lambda d: Record(d, True, "valid"))


# ------------------------------------------------------------------------------------------- anything else

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(CHARACTERS, max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(CHARACTERS, max_size=8), children),
    max_leaves=10,
)
# Objects that get past the first checks (a version and a type) with the contract's own field names.
look_alikes = st.tuples(
    st.dictionaries(st.sampled_from(sorted({str(path[0]) for path in FIELDS})), json_values, max_size=6),
    st.sampled_from(EVENT_TYPES),
).map(lambda parts: {**parts[0], "version": "1", "type": parts[1]})
anything = st.one_of(
    json_values.map(lambda v: Record(json.dumps(v), False, "arbitrary JSON")),
    look_alikes.map(lambda v: Record(v, False, "look-alike")),
    st.text(CHARACTERS, max_size=40).map(lambda s: Record(s, False, "text")),
)


# ------------------------------------------------------------------------------------------- the batch


@pytest.fixture
def acme(stack: HubStack) -> HubStack:
    """acme routes the whole catalog to Slack and Google Chat; two employees linked both."""
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    stack.configure(COMPANY, Integration.GOOGLE_CHAT, {})
    stack.route(COMPANY, {item: ["slack", "google_chat"] for item in ITEM_CATALOG})
    for index, user_id in enumerate(LINKED):
        stack.link_slack(COMPANY, user_id, f"U0LINKED{index}")
        stack.link_google_chat(COMPANY, user_id, WEBHOOK_URL)
    return stack


class Harness:
    """The router function's wiring over moto: one BatchProcessor, process_partial_response, the router."""

    def __init__(self, stack: HubStack) -> None:
        self.stack = stack
        self.router: EventRouter = make_router(stack, calendars=True)
        self.processor = BatchProcessor(event_type=EventType.SQS)
        self._ids = itertools.count()

    def unique(self, record: Record) -> Record:
        """A valid event with an event_id (and absence_id) no other record has: what it routes is its own."""
        if not record.valid:
            return record
        n = next(self._ids)
        document = {**record.document, "event_id": f"{MARK}-event-{n}"}
        if "absence" in document:
            document["absence"] = {**document["absence"], "absence_id": f"{MARK}-absence-{n}"}
        return Record(document, True, record.what, record.set_aside)

    def run(self, records: list[Record], *, explain: Callable[[str], None] = note) -> None:
        records = [self.unique(record) for record in records]
        for record in records:
            explain(f"{'valid' if record.valid else 'invalid'} ({record.what}): {record.body[:300]}")
        event = {
            "Records": [
                sqs_record(record.body, message_id=f"m-{i}", receipt_handle=f"r-{i}").raw_event
                for i, record in enumerate(records)
            ]
        }

        # WHEN the batch goes through the router as the function hands it over
        response = process_partial_response(
            event=event, record_handler=self.router.handle_record, processor=self.processor, context=None
        )

        # THEN no record failed: nothing comes back, nothing fails the batch
        assert response == {"batchItemFailures": []}
        # AND exactly the invalid records are dead-lettered, each once, with a reason that repeats no value
        dead = self.take("events_dlq")
        assert Counter(m["body"] for m in dead) == Counter(r.body for r in records if not r.valid)
        for message in dead:
            reason = message["attributes"].get("reason", "")
            assert reason.strip(), message
            assert MARK not in reason.lower(), reason
            assert not [n for n in numbers_in(loaded(message["body"])) if str(n) in reason], reason
        # AND every valid event is routed: a record per recipient, or a calendar job
        jobs = {CalendarJob.model_validate_json(m["body"]).event_id for m in self.take("calendar")}
        for record in records:
            if record.valid:
                self.assert_routed(record.document, jobs, record.set_aside)

    def take(self, queue: str) -> list[dict[str, Any]]:
        """Every message on the queue, deleted (a message only received would come back after its timeout)."""
        messages = self.stack.drain(queue)
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["receipt_handle"]} for i, m in enumerate(messages[start : start + 10])
            ]
            self.stack.sqs.delete_message_batch(QueueUrl=self.stack.queue_urls[queue], Entries=entries)
        return messages

    def assert_routed(self, document: dict[str, Any], jobs: set[str], set_aside: str | None = None) -> None:
        if document["type"] == "notification":
            records = self.stack.records(document["company_id"], document["event_id"])
            recorded = {user for user, _ in records}
            assert recorded == {r["user_id"] for r in document["recipients"]}, document["event_id"]
            for (user, _), stored in records.items():
                failed = (stored["status"], stored.get("reason")) == ("failed", "invalid_recipient")
                assert failed == (user == set_aside), (user, stored)
                assert MARK not in stored.get("error_code", ""), stored
        else:
            assert document["event_id"] in jobs, document["event_id"]


def loaded(body: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def numbers_in(value: Any) -> Iterator[int | float]:
    """Every number of at least BIG in a JSON value (what the mutations put where it does not belong)."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float) and abs(value) >= BIG:
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from numbers_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from numbers_in(item)


def batches(records: st.SearchStrategy[Record], max_size: int = 6) -> st.SearchStrategy[list[Record]]:
    return st.lists(records, min_size=1, max_size=max_size)


# ------------------------------------------------------------------------------------------- the properties


def test_arbitrary_bodies_are_dead_lettered_and_never_fail_the_batch(stack: HubStack) -> None:
    harness = Harness(stack)

    @FUZZ
    @given(batches(anything))
    def property_(records: list[Record]) -> None:
        harness.run(records)

    property_()


def test_valid_events_are_routed(acme: HubStack) -> None:
    harness = Harness(acme)

    @FUZZ
    @given(batches(untouched_events))
    def property_(records: list[Record]) -> None:
        harness.run(records)

    property_()


def test_every_field_broken_every_way_is_dead_lettered_with_a_reason_naming_no_value(acme: HubStack) -> None:
    # Every field of the contract, each way (deleted, a value it refuses, each other JSON type), in a batch with
    # another mutated or valid event.
    harness = Harness(acme)
    others = st.lists(mutated_events | untouched_events, max_size=1)
    for pattern, way in BREAKAGES:

        @settings(
            FUZZ,
            max_examples=examples(quick=1, thorough=5),
            suppress_health_check=[*FUZZ.suppress_health_check, HealthCheck.filter_too_much],
        )
        @given(st.tuples(broken_field(pattern, way), others).flatmap(lambda t: st.permutations([t[0], *t[1]])))
        def property_(records: list[Record]) -> None:
            harness.run(records)

        try:
            property_()
        except Exception as failure:
            failure.add_note(f"breaking {'.'.join(map(str, pattern))} ({way})")
            raise


def test_batches_of_mutated_events_never_fail_and_only_valid_ones_are_routed(acme: HubStack) -> None:
    harness = Harness(acme)

    @settings(FUZZ, max_examples=examples(quick=15, thorough=150))
    @given(batches(mutated_events, max_size=8))
    def property_(records: list[Record]) -> None:
        harness.run(records)

    property_()


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("9" * 5000, id="5000-digit number"),
        pytest.param(
            '{"version": "1", "type": "notification", "n": ' + "1" * 4301 + "}", id="5000-digit number inside"
        ),
        pytest.param(
            "[" * 100_000 + "]" * 100_000,
            id="arrays nested 100000 deep",
        ),
    ],
)
def test_json_python_cannot_read_is_dead_lettered_and_never_fails_the_batch(stack: HubStack, raw: str) -> None:
    # GIVEN valid JSON that json.loads refuses (ValueError, RecursionError), alone in its batch
    # WHEN / THEN it is dead-lettered with a reason like any other body that is not JSON
    Harness(stack).run([Record(raw, False, "unreadable JSON")], explain=print)
