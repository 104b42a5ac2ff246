"""Absence → Google EventDateTime: exclusive all-day ends, half days as local hours, DST zones, titles."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

import pytest

from tests.unit.builders import absence as absence_document
from workplace_hub.absence_times import (
    HALF_DAY_AM_HOURS,
    HALF_DAY_PM_HOURS,
    KIND_NAMES,
    google_times,
    localized_title,
)
from workplace_hub.events import Absence


def absence(**overrides: Any) -> Absence:
    return Absence.model_validate(absence_document(**overrides))


def test_half_day_hours_are_the_documented_company_default() -> None:
    assert (time(9), time(13)) == HALF_DAY_AM_HOURS
    assert (time(13), time(18)) == HALF_DAY_PM_HOURS


@pytest.mark.parametrize(
    ("start", "end", "google_end"),
    [
        ("2026-12-01", "2026-12-01", "2026-12-02"),  # one day: start == end
        ("2026-12-01", "2026-12-02", "2026-12-03"),  # the contract example
        ("2026-04-29", "2026-04-30", "2026-05-01"),  # month end
        ("2026-12-30", "2026-12-31", "2027-01-01"),  # year end
        ("2028-02-28", "2028-02-28", "2028-02-29"),  # into a leap day
        ("2028-02-29", "2028-02-29", "2028-03-01"),  # the leap day itself
        ("2027-02-28", "2027-02-28", "2027-03-01"),  # no leap day in 2027
    ],
)
def test_all_day_end_becomes_exclusive(start: str, end: str, google_end: str) -> None:
    assert google_times(absence(start=start, end=end)) == ({"date": start}, {"date": google_end})


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin", "Asia/Tokyo"])
def test_all_day_dates_ignore_the_zone_even_on_dst_days(zone: str) -> None:
    # 2026-03-08 is New York's spring-forward day, 2026-10-25 Berlin's fall-back day.
    times = google_times(absence(start="2026-03-08", end="2026-10-25", timezone=zone))
    assert times == ({"date": "2026-03-08"}, {"date": "2026-10-26"})


@pytest.mark.parametrize(
    ("kind", "day", "zone", "start", "end"),
    [
        ("half_day_am", "2026-12-01", "Asia/Tokyo", "2026-12-01T09:00:00+09:00", "2026-12-01T13:00:00+09:00"),
        ("half_day_pm", "2026-12-01", "Asia/Tokyo", "2026-12-01T13:00:00+09:00", "2026-12-01T18:00:00+09:00"),
        ("half_day_am", "2026-12-01", "Asia/Seoul", "2026-12-01T09:00:00+09:00", "2026-12-01T13:00:00+09:00"),
        # New York springs forward at 02:00 on 2026-03-08: the day before is EST, the day itself EDT.
        (
            "half_day_am",
            "2026-03-07",
            "America/New_York",
            "2026-03-07T09:00:00-05:00",
            "2026-03-07T13:00:00-05:00",
        ),
        (
            "half_day_am",
            "2026-03-08",
            "America/New_York",
            "2026-03-08T09:00:00-04:00",
            "2026-03-08T13:00:00-04:00",
        ),
        (
            "half_day_pm",
            "2026-03-08",
            "America/New_York",
            "2026-03-08T13:00:00-04:00",
            "2026-03-08T18:00:00-04:00",
        ),
        # Berlin falls back at 03:00 on 2026-10-25: CEST (+02:00) before, CET (+01:00) on the day.
        ("half_day_pm", "2026-10-24", "Europe/Berlin", "2026-10-24T13:00:00+02:00", "2026-10-24T18:00:00+02:00"),
        ("half_day_am", "2026-10-25", "Europe/Berlin", "2026-10-25T09:00:00+01:00", "2026-10-25T13:00:00+01:00"),
        ("half_day_pm", "2026-10-25", "Europe/Berlin", "2026-10-25T13:00:00+01:00", "2026-10-25T18:00:00+01:00"),
        ("half_day_am", "2028-02-29", "Asia/Tokyo", "2028-02-29T09:00:00+09:00", "2028-02-29T13:00:00+09:00"),
    ],
)
def test_half_days_become_timed_local_hours(kind: str, day: str, zone: str, start: str, end: str) -> None:
    times = google_times(absence(kind=kind, start=day, end=day, timezone=zone))
    assert times == ({"dateTime": start, "timeZone": zone}, {"dateTime": end, "timeZone": zone})


def test_a_multi_day_half_day_runs_from_the_first_opening_to_the_last_closing_hour() -> None:
    times = google_times(absence(kind="half_day_pm", start="2026-12-31", end="2027-01-01"))
    assert times == (
        {"dateTime": "2026-12-31T13:00:00+09:00", "timeZone": "Asia/Tokyo"},
        {"dateTime": "2027-01-01T18:00:00+09:00", "timeZone": "Asia/Tokyo"},
    )


def test_timed_half_day_keeps_its_own_times() -> None:
    times = google_times(
        absence(kind="half_day_am", all_day=False, start="2026-12-01T08:30:00+09:00", end="2026-12-01T12:00:00+09:00")
    )
    assert times[0] == {"dateTime": "2026-12-01T08:30:00+09:00", "timeZone": "Asia/Tokyo"}
    assert times[1] == {"dateTime": "2026-12-01T12:00:00+09:00", "timeZone": "Asia/Tokyo"}


def test_timed_absence_is_written_in_its_zone_with_the_same_instants() -> None:
    doc = absence(all_day=False, start="2026-12-01T01:00:00Z", end="2026-12-01T10:30:00+00:00")
    start, end = google_times(doc)
    assert start == {"dateTime": "2026-12-01T10:00:00+09:00", "timeZone": "Asia/Tokyo"}
    assert end == {"dateTime": "2026-12-01T19:30:00+09:00", "timeZone": "Asia/Tokyo"}
    assert datetime.fromisoformat(start["dateTime"]) == doc.start


def test_timed_absence_across_the_new_york_spring_forward_gap() -> None:
    # 01:30 EST to 03:30 EDT is one real hour: 02:00-03:00 local does not exist that night.
    doc = absence(
        all_day=False,
        start="2026-03-08T06:30:00Z",
        end="2026-03-08T07:30:00Z",
        timezone="America/New_York",
    )
    start, end = google_times(doc)
    assert start["dateTime"] == "2026-03-08T01:30:00-05:00"
    assert end["dateTime"] == "2026-03-08T03:30:00-04:00"
    assert start["timeZone"] == end["timeZone"] == "America/New_York"


def test_timed_absence_across_the_berlin_fall_back_hour() -> None:
    # 02:30 happens twice on 2026-10-25 in Berlin; the offsets keep the two apart.
    doc = absence(
        all_day=False,
        start="2026-10-25T00:30:00Z",
        end="2026-10-25T01:30:00Z",
        timezone="Europe/Berlin",
    )
    start, end = google_times(doc)
    assert start["dateTime"] == "2026-10-25T02:30:00+02:00"
    assert end["dateTime"] == "2026-10-25T02:30:00+01:00"


def test_timed_absence_across_a_year_end() -> None:
    doc = absence(all_day=False, start="2026-12-31T22:00:00+09:00", end="2027-01-01T02:00:00+09:00")
    assert google_times(doc) == (
        {"dateTime": "2026-12-31T22:00:00+09:00", "timeZone": "Asia/Tokyo"},
        {"dateTime": "2027-01-01T02:00:00+09:00", "timeZone": "Asia/Tokyo"},
    )


def test_title_wins_over_the_kind_name() -> None:
    assert localized_title(absence(title="年次休暇")) == "年次休暇"
    assert localized_title(absence(title="  有給  ")) == "有給"


@pytest.mark.parametrize("kind", list(KIND_NAMES["ja"]))
@pytest.mark.parametrize("title", ["", "   "])
def test_empty_title_falls_back_to_the_kind_name_in_japanese(kind: str, title: str) -> None:
    assert localized_title(absence(kind=kind, title=title)) == KIND_NAMES["ja"][kind]


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("ja", "午前休"), ("ko", "오전 반차"), ("en", "Half day off (morning)"), ("fr", "午前休")],
)
def test_kind_names_per_locale(locale: str, expected: str) -> None:
    assert localized_title(absence(kind="half_day_am", title=""), locale) == expected


def test_every_locale_names_every_kind() -> None:
    kinds = set(Absence.model_fields["kind"].annotation.__args__)  # type: ignore[union-attr]
    for names in KIND_NAMES.values():
        assert set(names) == kinds
        assert all(names.values())
