"""parse_event against the WORKPLACE event contract (shared/contracts/workplace-events.md)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import pytest

from tests.unit.builders import (
    HANAKO,
    TARO,
    absence_cancelled_event,
    absence_upserted_event,
    body,
    message,
    notification_event,
    recipient,
    without,
)
from workplace_hub.errors import InvalidEventError
from workplace_hub.events import AbsenceCancelledEvent, AbsenceUpsertedEvent, NotificationEvent, parse_event


def rejection(document: Any) -> str:
    """The reason parse_event gives for refusing `document` (fails the test if it is accepted)."""
    with pytest.raises(InvalidEventError) as raised:
        parse_event(document if isinstance(document, str) else body(document))
    assert raised.value.reason == str(raised.value)
    return raised.value.reason


# ---------------------------------------------------------------- the contract's examples


def test_parse_event_notification_example_returns_notification_event() -> None:
    # GIVEN the contract's notification example
    raw = body(notification_event())

    # WHEN it is parsed
    event = parse_event(raw)

    # THEN every field is carried over
    assert isinstance(event, NotificationEvent)
    assert (event.event_id, event.company_id, event.item) == ("evt-2026-11-28-000123", "acme", "approval.requested")
    assert [r.user_id for r in event.recipients] == [TARO, HANAKO]
    assert event.recipients[0].phone == "+819012345678"
    assert event.recipients[1].phone is None
    assert event.recipients[0].name == "山田 太郎"
    assert event.message.url == "https://acme.workplace.example/approvals/8812"
    assert event.occurred_at.utcoffset() is not None
    assert event.occurred_at.isoformat() == "2026-11-28T09:15:00+09:00"


def test_parse_event_absence_upserted_example_returns_dates_and_calendars() -> None:
    # GIVEN the contract's absence.upserted example (all-day, inclusive end)
    raw = body(absence_upserted_event())

    # WHEN it is parsed
    event = parse_event(raw)

    # THEN start/end are dates and the three calendar choices are kept in order
    assert isinstance(event, AbsenceUpsertedEvent)
    assert event.absence.start == date(2026, 12, 1)
    assert type(event.absence.start) is date
    assert event.absence.end == date(2026, 12, 2)
    assert event.absence.timezone == "Asia/Tokyo"
    assert [(c.provider, c.calendar_id) for c in event.absence.calendars] == [
        ("naver_works", None),
        ("naver_works", "c-77f0"),
        ("google", None),
    ]


def test_parse_event_absence_cancelled_example_returns_reference() -> None:
    # GIVEN the contract's absence.cancelled example
    raw = body(absence_cancelled_event())

    # WHEN it is parsed
    event = parse_event(raw)

    # THEN it names the absence to delete
    assert isinstance(event, AbsenceCancelledEvent)
    assert (event.absence.absence_id, event.absence.user_id) == ("abs-5531", TARO)


def test_parse_event_one_day_all_day_absence_accepted() -> None:
    # GIVEN an all-day absence whose inclusive end equals its start (a one-day absence)
    raw = body(absence_upserted_event(start="2026-12-01", end="2026-12-01"))

    # WHEN / THEN it is valid
    assert parse_event(raw).absence.end == date(2026, 12, 1)


def test_parse_event_timed_absence_accepted_as_datetimes() -> None:
    # GIVEN a half-day absence with RFC 3339 date-times
    raw = body(
        absence_upserted_event(
            kind="half_day_am", all_day=False, start="2026-12-01T09:00:00+09:00", end="2026-12-01T13:00:00+09:00"
        )
    )

    # WHEN it is parsed
    event = parse_event(raw)

    # THEN start and end are aware date-times
    assert isinstance(event.absence.start, datetime)
    assert event.absence.start.utcoffset() is not None


def test_parse_event_empty_calendar_list_accepted() -> None:
    # GIVEN an upsert with no calendar ("remove it from every calendar")
    raw = body(absence_upserted_event(calendars=[]))

    # WHEN / THEN it is valid and the list stays empty
    assert parse_event(raw).absence.calendars == []


# ---------------------------------------------------------------- defaults and forward compatibility


def test_parse_event_locale_and_product_omitted_defaults_ja_and_workplace() -> None:
    # GIVEN a notification without product and a recipient without locale
    raw = body(notification_event(recipients=[recipient(TARO)]))

    # WHEN it is parsed
    event = parse_event(raw)

    # THEN the contract's defaults apply
    assert event.product == "workplace"
    assert event.recipients[0].locale == "ja"


def test_parse_event_collabo_product_and_en_locale_kept() -> None:
    # GIVEN a Collabo event for an English-speaking recipient
    raw = body(notification_event(product="collabo", recipients=[recipient(TARO, locale="en")]))

    # WHEN / THEN both values are kept
    event = parse_event(raw)
    assert (event.product, event.recipients[0].locale) == ("collabo", "en")


def test_parse_event_unknown_extra_fields_ignored() -> None:
    # GIVEN unknown fields on the envelope, a recipient and the message
    document = notification_event(
        trace_id="t-1",
        recipients=[recipient(TARO, department="sales")],
        message=message(priority="high"),
    )

    # WHEN it is parsed
    event = parse_event(body(document))

    # THEN it is accepted and the unknown fields are dropped, not kept
    assert "trace_id" not in event.model_dump()
    assert "department" not in event.recipients[0].model_dump()
    assert "priority" not in event.message.model_dump()


# ---------------------------------------------------------------- rejections


@pytest.mark.parametrize("version", ["2", 1, "1.0", None])
def test_parse_event_wrong_version_rejected_naming_version(version: Any) -> None:
    # GIVEN an event of another contract version
    # WHEN / THEN it is rejected and the reason names the version (a version number is a code, so it is shown)
    reason = rejection(notification_event(version=version))
    assert "version" in reason
    if isinstance(version, str):
        assert repr(version) in reason


def test_parse_event_missing_version_rejected_naming_version() -> None:
    # GIVEN an event without version
    # WHEN / THEN it is rejected and the reason names it
    assert "version" in rejection(without(notification_event(), "version"))


@pytest.mark.parametrize("raw", ["{not json", "", "null-ish"])
def test_parse_event_non_json_rejected(raw: str) -> None:
    # GIVEN a body that is not JSON
    # WHEN / THEN it is rejected with "not JSON"
    assert "not JSON" in rejection(raw)


@pytest.mark.parametrize(
    "raw",
    ["9" * 5000, '{"version": "1", "n": ' + "1" * 4301 + "}", "[" * 100_000 + "]" * 100_000],
    ids=["long number", "long number inside", "deep nesting"],
)
def test_parse_event_json_python_cannot_read_rejected_not_raised(raw: str) -> None:
    # GIVEN valid JSON that json.loads refuses: a 5000-digit number (ValueError), or arrays nested deeper than
    # the recursion limit (RecursionError); both used to escape parse_event (found by test_router_fuzz.py)
    # WHEN / THEN it is rejected like any body that is not JSON
    assert "not JSON" in rejection(raw)


@pytest.mark.parametrize("raw", ["[]", '"notification"', "42", "null"])
def test_parse_event_json_not_object_rejected(raw: str) -> None:
    # GIVEN JSON that is not an object
    # WHEN / THEN it is rejected as such
    assert "not a JSON object" in rejection(raw)


@pytest.mark.parametrize(
    "path",
    [
        "event_id",
        "company_id",
        "occurred_at",
        "item",
        "recipients",
        "message",
        "message.title",
        "message.url",
    ],
)
def test_parse_event_missing_required_field_rejected_naming_it(path: str) -> None:
    # GIVEN a notification without one required field
    document = without(notification_event(), path)

    # WHEN it is parsed
    reason = rejection(document)

    # THEN the reason names the missing field
    assert path.split(".")[-1] in reason
    assert "required" in reason.lower()


def test_parse_event_missing_type_rejected_naming_type() -> None:
    # GIVEN an event without its type discriminator
    # WHEN / THEN the reason names `type`
    assert "type" in rejection(without(notification_event(), "type"))


@pytest.mark.parametrize("event_type", ["absence.deleted", "Notification", 7, None])
def test_parse_event_unknown_type_rejected_naming_type(event_type: Any) -> None:
    # GIVEN an event of a type the contract does not define
    # WHEN / THEN the reason names the type field
    assert "type" in rejection(notification_event(type=event_type))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", "evt 2026"),
        ("event_id", "evt/2026"),
        ("event_id", ""),
        ("event_id", "e" * 129),
        ("company_id", "acme.corp"),
        ("company_id", "acme:corp"),
        ("company_id", ""),
        ("company_id", "c" * 65),
        ("item", "Approval.requested"),
        ("item", "1approval"),
        ("item", "approval requested"),
        ("item", "a" * 65),
        ("occurred_at", "2026-11-28T09:15:00"),
        ("occurred_at", "yesterday"),
        ("product", "slack"),
    ],
)
def test_parse_event_malformed_envelope_field_rejected_naming_it(field: str, value: str) -> None:
    # GIVEN a notification with one malformed field
    # WHEN / THEN it is rejected and the reason names that field
    assert field in rejection(notification_event(**{field: value}))


@pytest.mark.parametrize(
    ("field", "value"),
    [("event_id", "e" * 128), ("event_id", "A-z_0.9:x"), ("company_id", "c" * 64), ("item", "a" * 64)],
)
def test_parse_event_pattern_boundary_values_accepted(field: str, value: str) -> None:
    # GIVEN values at the edge of what the contract allows
    # WHEN / THEN they are accepted unchanged
    assert getattr(parse_event(body(notification_event(**{field: value}))), field) == value


@pytest.mark.parametrize("count", [0, 1001])
def test_parse_event_recipient_count_out_of_range_rejected(count: int) -> None:
    # GIVEN 0 or 1001 recipients (the contract allows 1-1000)
    recipients = [recipient(f"user{i}@acme.example") for i in range(count)]

    # WHEN / THEN it is rejected naming recipients
    assert "recipients" in rejection(notification_event(recipients=recipients))


def test_parse_event_thousand_recipients_accepted() -> None:
    # GIVEN exactly 1000 distinct recipients
    recipients = [recipient(f"user{i}@acme.example") for i in range(1000)]

    # WHEN / THEN all of them are kept
    assert len(parse_event(body(notification_event(recipients=recipients))).recipients) == 1000


def test_parse_event_duplicate_user_ids_rejected() -> None:
    # GIVEN the same user twice
    recipients = [recipient(TARO), recipient(HANAKO), recipient(TARO, locale="en")]

    # WHEN it is parsed
    reason = rejection(notification_event(recipients=recipients))

    # THEN the reason names recipients and the positions of the duplicate, not the user ID (personal data)
    assert "recipients" in reason
    assert "recipients 0 and 2 have the same user_id" in reason
    assert TARO not in reason


@pytest.mark.parametrize("phone", ["09012345678", "+0901234567", "+81 90 1234 5678", "+81-90-1234-5678", "+8190"])
def test_parse_event_non_e164_phone_sets_that_recipient_aside(phone: str) -> None:
    # GIVEN a recipient phone that is not E.164, beside a valid recipient
    raw = body(notification_event(recipients=[recipient(HANAKO), recipient(TARO, phone=phone)]))

    # WHEN it is parsed
    event = parse_event(raw)

    # THEN only that recipient is set aside, its phone named (never its value); the other stays
    assert isinstance(event, NotificationEvent)
    assert [r.user_id for r in event.recipients] == [HANAKO]
    assert [(r.index, r.user_id, r.fields) for r in event.invalid_recipients] == [(1, TARO, ["phone"])]


@pytest.mark.parametrize(
    ("entry", "fields"),
    [
        (recipient(TARO, locale="fr"), ["locale"]),
        (recipient(TARO, name="x" * 201, locale="JA"), ["name", "locale"]),
        (recipient(TARO, name=5), ["name"]),
    ],
)
def test_parse_event_recipient_with_a_bad_field_alone_still_parses(entry: dict[str, Any], fields: list[str]) -> None:
    # GIVEN an event whose one recipient has bad fields but a usable user_id
    # WHEN it is parsed
    event = parse_event(body(notification_event(recipients=[entry])))

    # THEN it is no invalid event: the recipient is set aside with the fields named (the router records it failed)
    assert isinstance(event, NotificationEvent)
    assert event.recipients == []
    assert [(r.user_id, r.fields) for r in event.invalid_recipients] == [(TARO, fields)]


@pytest.mark.parametrize(
    "entry",
    [{"phone": "+819012345678"}, recipient("", locale="fr"), recipient("x" * 257), recipient(5), "taro", None],
    ids=["no user_id", "empty user_id", "user_id too long", "user_id a number", "a string", "null"],
)
def test_parse_event_recipient_without_usable_user_id_rejects_the_event(entry: Any) -> None:
    # GIVEN a recipient entry with no user_id the hub could record it under, beside a valid one
    # WHEN / THEN the whole event is invalid, and the reason names the entry's position
    assert "recipients.1" in rejection(notification_event(recipients=[recipient(HANAKO), entry]))


def test_parse_event_lone_surrogate_user_id_rejects_the_event() -> None:
    # GIVEN a user_id that is no Unicode text (a lone surrogate escaped in the JSON)
    raw = body(notification_event(recipients=[recipient(HANAKO), recipient("@")])).replace('"@"', '"\\ud800@"')

    # WHEN / THEN the event is invalid (nothing could record that recipient), its position named
    assert "recipients.1.user_id" in rejection(raw)


def test_parse_event_invalid_recipients_field_of_the_event_ignored() -> None:
    # GIVEN an event that itself carries an `invalid_recipients` field
    document = notification_event(invalid_recipients=[{"index": 0, "user_id": TARO, "fields": ["phone"]}])

    # WHEN it is parsed
    event = parse_event(body(document))

    # THEN only the hub decides who is set aside
    assert isinstance(event, NotificationEvent)
    assert event.invalid_recipients == []
    assert [r.user_id for r in event.recipients] == [TARO, HANAKO]


def test_parse_event_set_aside_recipient_still_counts_for_duplicates() -> None:
    # GIVEN Taro twice, once with a bad phone
    recipients = [recipient(TARO), recipient(HANAKO), recipient(TARO, phone="bad")]

    # WHEN / THEN the event is refused as before: each recipient once
    assert "recipients 0 and 2 have the same user_id" in rejection(notification_event(recipients=recipients))


@pytest.mark.parametrize(
    "url",
    [
        "http://acme.workplace.example/approvals/8812",
        "ftp://acme.workplace.example/x",
        "acme.workplace.example/approvals/8812",
        "https://",
        "https://acme.workplace.example/a b",
        "javascript:alert(1)",
    ],
)
def test_parse_event_non_https_url_rejected(url: str) -> None:
    # GIVEN a message link that is not an https:// URL
    # WHEN / THEN the reason names message.url
    assert "message.url" in rejection(notification_event(message=message(url=url)))


def test_parse_event_title_longer_than_200_rejected() -> None:
    # GIVEN a 201-character title
    # WHEN / THEN the reason names message.title
    assert "message.title" in rejection(notification_event(message=message(title="題" * 201)))


def test_parse_event_title_of_200_accepted() -> None:
    # GIVEN a 200-character title (the limit)
    # WHEN / THEN it is accepted
    assert len(parse_event(body(notification_event(message=message(title="題" * 200)))).message.title) == 200


def test_parse_event_empty_title_rejected() -> None:
    # GIVEN an empty title (1-200 chars required)
    # WHEN / THEN the reason names message.title
    assert "message.title" in rejection(notification_event(message=message(title="")))


def test_parse_event_body_longer_than_2000_rejected() -> None:
    # GIVEN a 2001-character body
    # WHEN / THEN the reason names message.body
    assert "message.body" in rejection(notification_event(message=message(body="x" * 2001)))


def test_parse_event_all_day_absence_with_datetimes_rejected() -> None:
    # GIVEN an all-day absence whose start/end are date-times
    document = absence_upserted_event(start="2026-12-01T09:00:00+09:00", end="2026-12-02T18:00:00+09:00")

    # WHEN it is parsed
    reason = rejection(document)

    # THEN the reason says all-day absences need dates
    assert "absence" in reason
    assert "all_day" in reason


def test_parse_event_timed_absence_with_dates_rejected() -> None:
    # GIVEN a timed absence whose start/end are plain dates
    # WHEN / THEN it is rejected: timed absences need date-times
    assert "date-times" in rejection(absence_upserted_event(all_day=False))


@pytest.mark.parametrize(
    ("all_day", "start", "end"),
    [
        (True, "2026-12-02", "2026-12-01"),
        (False, "2026-12-01T13:00:00+09:00", "2026-12-01T09:00:00+09:00"),
    ],
)
def test_parse_event_absence_end_before_start_rejected(all_day: bool, start: str, end: str) -> None:
    # GIVEN an absence that ends before it starts
    # WHEN / THEN the reason says so
    reason = rejection(absence_upserted_event(all_day=all_day, start=start, end=end))
    assert "end is before start" in reason


@pytest.mark.parametrize("zone", ["Asia/Osaka", "JST+9", "", "../../etc/passwd"])
def test_parse_event_unknown_time_zone_rejected_naming_timezone(zone: str) -> None:
    # GIVEN an absence in a zone that is not an IANA name
    # WHEN / THEN the reason names the timezone field
    assert "absence.timezone" in rejection(absence_upserted_event(timezone=zone))


@pytest.mark.parametrize(("field", "value"), [("kind", "holiday"), ("calendars", [{"provider": "outlook"}])])
def test_parse_event_absence_bad_enum_rejected_naming_it(field: str, value: Any) -> None:
    # GIVEN an unknown absence kind or calendar provider
    # WHEN / THEN the reason names the field
    assert f"absence.{field}" in rejection(absence_upserted_event(**{field: value}))


def test_parse_event_reason_never_contains_message_text() -> None:
    # GIVEN an invalid event whose message body is personal data
    document = notification_event(event_id="bad id", message=message(body="給与明細 佐藤 花子 ¥512,000"))

    # WHEN it is rejected
    reason = rejection(document)

    # THEN the reason (which goes to the DLQ and the logs) names fields, not content
    assert "event_id" in reason
    assert "給与明細" not in reason


@pytest.mark.parametrize(
    "document",
    [
        notification_event(version="v-zqLEAK-1"),
        notification_event(recipients=[recipient("zqLEAK@acme.example"), recipient("zqLEAK@acme.example")]),
        absence_upserted_event(timezone="Zq/LEAK"),
    ],
    ids=["version", "duplicate user_id", "timezone"],
)
def test_parse_event_reason_never_repeats_a_value(document: dict[str, Any]) -> None:
    # GIVEN an event rejected by one of the hub's own checks (found by tests/unit/routing/test_router_fuzz.py)
    # WHEN / THEN the reason names the field but not the value that was sent
    assert "leak" not in rejection(document).lower()


@pytest.mark.parametrize(
    "document",
    [
        notification_event(occurred_at=1764289200),
        notification_event(occurred_at=1764289200.5),
        notification_event(occurred_at="1764289200"),
        absence_upserted_event(all_day=False, start=1764543600, end="2026-12-01T18:00:00+09:00"),
        absence_upserted_event(all_day=False, start="2026-12-01T09:00:00+09:00", end="1764583200"),
        absence_upserted_event(all_day=1),
        absence_upserted_event(all_day="true"),
    ],
    ids=["number", "float", "numeric string", "number start", "numeric string end", "all_day 1", "all_day text"],
)
def test_parse_event_timestamps_are_rfc3339_text_and_all_day_a_boolean(document: dict[str, Any]) -> None:
    # GIVEN a timestamp that is a number (or digits) rather than RFC 3339 text, or all_day that is not true/false
    # (pydantic's lax mode read them as Unix times and booleans: found by tests/unit/routing/test_router_fuzz.py)
    # WHEN / THEN the event is rejected, naming the field
    reason = rejection(document)
    assert any(field in reason for field in ("occurred_at", "absence.start", "absence.end", "absence.all_day"))


def test_parse_event_rfc3339_with_a_space_and_fractions_still_accepted() -> None:
    # GIVEN RFC 3339 forms other than the contract's example (a space separator, fractions, Z)
    document = notification_event(occurred_at="2026-11-28 00:15:00.250Z")

    # WHEN / THEN it is accepted as that instant
    assert parse_event(body(document)).occurred_at.isoformat() == "2026-11-28T00:15:00.250000+00:00"


def test_parse_event_reason_lists_at_most_five_problems() -> None:
    # GIVEN an event with many broken recipients (without a usable user_id: each one makes the event invalid)
    recipients = [recipient("", phone="bad") for i in range(20)]

    # WHEN it is rejected
    reason = rejection(notification_event(recipients=recipients))

    # THEN the reason stays short (five problems at most)
    assert reason.count("recipients.") == 5


# ---------------------------------------------------------------- known bugs


def test_parse_event_timed_absence_starting_at_midnight_accepted() -> None:
    # GIVEN a timed business trip from 00:00 to 12:00 JST
    raw = body(
        absence_upserted_event(
            kind="business_trip", all_day=False, start="2026-12-01T00:00:00+09:00", end="2026-12-01T12:00:00+09:00"
        )
    )

    # WHEN it is parsed
    event = parse_event(raw)

    # THEN start is the aware date-time that was sent
    assert isinstance(event.absence.start, datetime)
    assert event.absence.start.isoformat() == "2026-12-01T00:00:00+09:00"


def test_parse_event_all_day_absence_with_midnight_datetimes_rejected() -> None:
    # GIVEN an all-day absence whose start/end are date-times at midnight
    document = absence_upserted_event(start="2026-12-01T00:00:00+09:00", end="2026-12-02T00:00:00+09:00")

    # WHEN / THEN it is rejected like any other all-day absence with date-times
    assert "all_day" in rejection(document)


def test_parse_event_body_round_trips_through_json() -> None:
    # GIVEN a parsed event
    event = parse_event(body(notification_event()))

    # WHEN it is dumped as JSON and parsed again
    again = parse_event(json.dumps({**event.model_dump(mode="json"), "version": "1"}))

    # THEN nothing changed
    assert again == event
