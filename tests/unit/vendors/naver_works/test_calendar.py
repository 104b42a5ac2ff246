"""NAVER WORKS calendar: event ids, the API 2.0 body and the API 1.0 iCalendar builders, and the client's
outcomes and error mapping (providers.md §4.5-4.7). No network: a scripted session answers every call.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from tests.unit.builders import absence as absence_doc
from tests.unit.builders import http_response
from tests.unit.fakes import FakeSession
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    RetryableProviderError,
)
from workplace_hub.events import Absence
from workplace_hub.naver_works.calendar import (
    LEGACY_DEFAULT_CALENDAR,
    PROVIDER,
    REASON_FORBIDDEN,
    REASON_NOT_FOUND,
    NaverWorksCalendarClient,
    calendar_error,
    is_duplicate,
)
from workplace_hub.naver_works.calendar_events import SUMMARY_MAX, build_event, event_id
from workplace_hub.naver_works.ical import build_ical, fold_line, ical_escape

ENDPOINTS = ProviderEndpoints()
API = "https://www.worksapis.com/v1.0"
LEGACY = "https://apis.worksmobile.com"
USER = "taro.yamada+hub@acme.example"
USER_PATH = "taro.yamada%2Bhub%40acme.example"
TOKEN = "kr1AAAAsecretTOKEN"
STAMP = datetime(2026, 11, 28, 0, 15, tzinfo=UTC)
EID = "wp-0123456789abcdef0123456789abcdef"


def absence(**overrides: Any) -> Absence:
    return Absence.model_validate(absence_doc(**overrides))


def timed(start: str, end: str, zone: str = "Asia/Tokyo", **overrides: Any) -> Absence:
    return absence(all_day=False, start=start, end=end, timezone=zone, kind="business_trip", **overrides)


def client(*outcomes: requests.Response | BaseException) -> tuple[NaverWorksCalendarClient, FakeSession]:
    session = FakeSession(list(outcomes))
    return NaverWorksCalendarClient(session, ENDPOINTS, timeout=(1.0, 2.0)), session  # type: ignore[arg-type]


def body() -> dict[str, Any]:
    return build_event(absence(), title="年次休暇", event_id=EID)


# --- event ids ---------------------------------------------------------------------------------------


def test_event_id_is_deterministic_short_and_distinct_per_input() -> None:
    first = event_id("acme", "abs-5531", "default")
    assert first == event_id("acme", "abs-5531", "default")
    assert first.startswith("wp-") and len(first) == 35
    others = {
        event_id("acme", "abs-5531", "c-77f0"),
        event_id("acme", "abs-5532", "default"),
        event_id("other", "abs-5531", "default"),
        event_id("acme:abs", "5531", "default"),
        event_id("acme", "abs:5531", "default"),
    }
    assert first not in others and len(others) == 5


# --- API 2.0 body ------------------------------------------------------------------------------------


def test_all_day_body_has_an_exclusive_end_date_and_no_notification() -> None:
    built = build_event(absence(start="2026-12-01", end="2026-12-02"), title="年次休暇", event_id=EID)
    assert built == {
        "eventComponents": [
            {
                "eventId": EID,
                "summary": "年次休暇",
                "start": {"date": "2026-12-01"},
                "end": {"date": "2026-12-03"},
                "transparency": "OPAQUE",
            }
        ],
        "sendNotification": False,
    }
    assert "attendees" not in built["eventComponents"][0]


@pytest.mark.parametrize(
    ("start", "end", "exclusive_end"),
    [
        ("2026-12-01", "2026-12-01", "2026-12-02"),  # one day: start == end in the contract
        ("2026-11-30", "2026-11-30", "2026-12-01"),  # month end
        ("2026-12-31", "2026-12-31", "2027-01-01"),  # year end
        ("2028-02-28", "2028-02-29", "2028-03-01"),  # leap day
        ("2026-12-28", "2027-01-03", "2027-01-04"),  # across the year
    ],
)
def test_all_day_end_is_the_day_after_the_inclusive_end(start: str, end: str, exclusive_end: str) -> None:
    component = build_event(absence(start=start, end=end), title="t", event_id=EID)["eventComponents"][0]
    assert component["start"] == {"date": start}
    assert component["end"] == {"date": exclusive_end}


def test_timed_body_uses_local_times_without_offset_and_the_zone() -> None:
    built = build_event(timed("2026-12-01T00:30:00Z", "2026-12-01T09:00:00+00:00"), title="出張", event_id=EID)
    component = built["eventComponents"][0]
    assert component["start"] == {"dateTime": "2026-12-01T09:30:00", "timeZone": "Asia/Tokyo"}
    assert component["end"] == {"dateTime": "2026-12-01T18:00:00", "timeZone": "Asia/Tokyo"}


def test_timed_body_in_a_dst_zone_keeps_each_local_wall_time() -> None:
    # 2026-03-08 is the US DST change: 09:00 PST and 09:00 PDT the next day.
    built = build_event(
        timed("2026-03-07T17:00:00Z", "2026-03-08T16:00:00Z", zone="America/Los_Angeles"), title="t", event_id=EID
    )
    component = built["eventComponents"][0]
    assert component["start"] == {"dateTime": "2026-03-07T09:00:00", "timeZone": "America/Los_Angeles"}
    assert component["end"] == {"dateTime": "2026-03-08T09:00:00", "timeZone": "America/Los_Angeles"}


def test_half_day_all_day_absence_becomes_a_timed_block() -> None:
    component = build_event(absence(kind="half_day_pm", start="2026-12-01", end="2026-12-01"), title="t", event_id=EID)
    assert component["eventComponents"][0]["start"] == {"dateTime": "2026-12-01T13:00:00", "timeZone": "Asia/Tokyo"}
    assert component["eventComponents"][0]["end"] == {"dateTime": "2026-12-01T18:00:00", "timeZone": "Asia/Tokyo"}


def test_summary_is_one_line_and_cut_to_the_limit() -> None:
    component = build_event(absence(), title="a\nb\tc  " + "x" * 300, event_id=EID)["eventComponents"][0]
    assert component["summary"].startswith("a b c x")
    assert len(component["summary"]) == SUMMARY_MAX and component["summary"].endswith("…")


@pytest.mark.parametrize("bad", ["", "x" * 256])
def test_event_id_length_is_checked(bad: str) -> None:
    with pytest.raises(ValueError, match="event_id"):
        build_event(absence(), title="t", event_id=bad)


# --- API 1.0 iCalendar -------------------------------------------------------------------------------


def test_all_day_ical_uses_value_date_with_an_exclusive_end_and_crlf() -> None:
    ical = build_ical(absence(start="2026-12-31", end="2026-12-31"), "uid-1", "休暇", stamp=STAMP)
    assert ical == (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//WORKPLACE//Integration Hub//EN\r\nCALSCALE:GREGORIAN\r\n"
        "BEGIN:VEVENT\r\nUID:uid-1\r\nDTSTAMP:20261128T001500Z\r\n"
        "DTSTART;VALUE=DATE:20261231\r\nDTEND;VALUE=DATE:20270101\r\nSUMMARY:休暇\r\n"
        "CLASS:PUBLIC\r\nTRANSP:OPAQUE\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    assert "\n" not in ical.replace("\r\n", "")


def test_timed_ical_uses_tzid_local_times_with_a_vtimezone() -> None:
    ical = build_ical(timed("2026-12-01T00:30:00Z", "2026-12-01T09:00:00Z"), "uid-2", "出張", stamp=STAMP)
    lines = ical.split("\r\n")
    assert "DTSTART;TZID=Asia/Tokyo:20261201T093000" in lines
    assert "DTEND;TZID=Asia/Tokyo:20261201T180000" in lines
    assert lines[lines.index("BEGIN:VTIMEZONE") + 1] == "TZID:Asia/Tokyo"
    assert "TZOFFSETFROM:+0900" in lines and "TZOFFSETTO:+0900" in lines
    assert ical.endswith("END:VCALENDAR\r\n")


def test_timed_ical_across_a_dst_change_falls_back_to_utc() -> None:
    ical = build_ical(
        timed("2026-03-07T17:00:00Z", "2026-03-08T16:00:00Z", zone="America/Los_Angeles"), "u", "t", stamp=STAMP
    )
    lines = ical.split("\r\n")
    assert "DTSTART:20260307T170000Z" in lines and "DTEND:20260308T160000Z" in lines
    assert "BEGIN:VTIMEZONE" not in lines


def test_ical_escape_follows_rfc_5545_text() -> None:
    assert ical_escape("a,b;c\\d\ne\r\nf") == "a\\,b\\;c\\\\d\\ne\\nf"


def test_ical_summary_is_escaped() -> None:
    ical = build_ical(absence(), "u", "休暇, 午前; C:\\temp", stamp=STAMP)
    assert "SUMMARY:休暇\\, 午前\\; C:\\\\temp\r\n" in ical


def test_long_lines_are_folded_at_75_octets_without_splitting_characters() -> None:
    line = "SUMMARY:" + "休" * 60  # 8 + 180 octets
    folded = fold_line(line)
    pieces = folded.split("\r\n")
    assert all(len(p.encode()) <= 75 for p in pieces)
    assert all(p.startswith(" ") for p in pieces[1:])
    assert "".join(p[1:] if i else p for i, p in enumerate(pieces)) == line
    ical = build_ical(absence(), "u", "休" * 150, stamp=STAMP)
    assert all(len(raw.encode()) <= 75 for raw in ical.split("\r\n"))


# --- client: API 2.0 ---------------------------------------------------------------------------------


def test_upsert_creates_in_the_default_calendar() -> None:
    created = {"eventComponents": [{"eventId": EID}], "organizerCalendarId": "cal-1"}
    calendar, session = client(http_response(201, created))
    assert calendar.upsert(TOKEN, USER, None, EID, body(), user_token=False) == EID
    (call,) = session.requests
    assert call.method == "POST"
    assert call.url == f"{API}/users/{USER_PATH}/calendar/events"
    assert call.headers == {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    assert call.json == body() and call.timeout == (1.0, 2.0)


def test_upsert_in_a_specific_calendar_and_sets_the_event_id_on_every_component() -> None:
    calendar, session = client(http_response(201, {}))
    other = {"eventComponents": [{"summary": "x"}, {"summary": "y", "eventId": "old"}], "sendNotification": False}
    assert calendar.upsert(TOKEN, USER, "c-77f0/x", EID, other, user_token=True) == EID
    (call,) = session.requests
    assert call.url == f"{API}/users/{USER_PATH}/calendars/c-77f0%2Fx/events"
    assert [c["eventId"] for c in call.json["eventComponents"]] == [EID, EID]


@pytest.mark.parametrize(
    "duplicate",
    [
        http_response(409, {"code": "ALREADY_EXISTS", "description": "eventId already exists"}),
        http_response(409),
        http_response(400, {"code": "DUPLICATE_EVENT", "description": "x"}),
        http_response(400, {"code": "INVALID_PARAMETER", "description": "The event already exists."}),
    ],
)
def test_upsert_replaces_an_existing_event(duplicate: requests.Response) -> None:
    calendar, session = client(duplicate, http_response(200, {"eventComponents": [{"eventId": EID}]}))
    assert calendar.upsert(TOKEN, USER, None, EID, body(), user_token=True) == EID
    create, update = session.requests
    assert create.method == "POST"
    assert (update.method, update.url) == ("PUT", f"{API}/users/{USER_PATH}/calendar/events/{EID}")
    assert update.json == body()


def test_upsert_creates_again_when_the_event_vanished_between_calls() -> None:
    dup = http_response(409, {"code": "ALREADY_EXISTS"})
    calendar, session = client(dup, http_response(404, {"code": "NOT_FOUND"}), http_response(201, {}))
    assert calendar.upsert(TOKEN, USER, None, EID, body(), user_token=True) == EID
    assert [r.method for r in session.requests] == ["POST", "PUT", "POST"]


def test_upsert_gives_up_after_a_second_vanishing() -> None:
    dup, gone = http_response(409, {}), http_response(404, {"code": "NOT_FOUND"})
    calendar, session = client(dup, gone, dup, gone)
    with pytest.raises(PermanentProviderError) as caught:
        calendar.upsert(TOKEN, USER, None, EID, body(), user_token=True)
    assert caught.value.reason == REASON_NOT_FOUND
    assert len(session.requests) == 4


def test_upsert_update_failure_is_mapped() -> None:
    calendar, _ = client(http_response(409, {}), http_response(503, {"code": "SERVICE_UNAVAILABLE"}))
    with pytest.raises(RetryableProviderError):
        calendar.upsert(TOKEN, USER, None, EID, body(), user_token=True)


def test_upsert_rejects_a_body_without_components() -> None:
    calendar, session = client()
    with pytest.raises(ValueError, match="eventComponents"):
        calendar.upsert(TOKEN, USER, None, EID, {"eventComponents": []}, user_token=True)
    assert session.requests == []


@pytest.mark.parametrize("status", [200, 204])
def test_delete_without_notification(status: int) -> None:
    calendar, session = client(http_response(status))
    assert calendar.delete(TOKEN, USER, "c-77f0", EID, user_token=True) is True
    (call,) = session.requests
    assert call.method == "DELETE"
    assert call.url == f"{API}/users/{USER_PATH}/calendars/c-77f0/events/{EID}?sendNotification=false"
    assert call.headers == {"Authorization": f"Bearer {TOKEN}"}


def test_delete_of_a_missing_event_is_not_an_error() -> None:
    calendar, _ = client(http_response(404, {"code": "NOT_FOUND", "description": "event not found"}))
    assert calendar.delete(TOKEN, USER, None, EID, user_token=False) is False


def test_delete_failure_is_mapped() -> None:
    calendar, _ = client(http_response(401, {"code": "UNAUTHORIZED"}))
    with pytest.raises(NeedsRelinkError):
        calendar.delete(TOKEN, USER, None, EID, user_token=True)


@pytest.mark.parametrize(
    ("failure", "code"),
    [(requests.ConnectTimeout("x"), "timeout"), (requests.ConnectionError("x"), "connection_error")],
)
def test_network_failures_are_retryable(failure: BaseException, code: str) -> None:
    calendar, _ = client(failure)
    with pytest.raises(RetryableProviderError) as caught:
        calendar.upsert(TOKEN, USER, None, EID, body(), user_token=True)
    assert caught.value.code == code and caught.value.provider == PROVIDER


# --- error mapping -----------------------------------------------------------------------------------


def test_401_with_a_user_token_needs_a_relink() -> None:
    error = calendar_error(http_response(401, {"code": "UNAUTHORIZED"}), user_token=True)
    assert type(error) is NeedsRelinkError and error.code == "token_invalid" and error.status_code == 401


def test_401_with_the_service_token_is_the_admins() -> None:
    error = calendar_error(http_response(401, {"code": "UNAUTHORIZED"}), user_token=False)
    assert type(error) is IntegrationCredentialsError and error.code == "UNAUTHORIZED"


def test_403_unauthorized_is_a_refused_token() -> None:
    error = calendar_error(http_response(403, {"code": "UNAUTHORIZED"}), user_token=True)
    assert isinstance(error, NeedsRelinkError)


def test_429_is_retryable_with_the_reset_header() -> None:
    response = http_response(
        429, {"code": "TOO_MANY_REQUESTS", "description": "API rate limit exceeded"}, headers={"rateLimit-reset": "30"}
    )
    error = calendar_error(response, user_token=True)
    assert isinstance(error, RetryableProviderError)
    assert (error.code, error.retry_after) == ("TOO_MANY_REQUESTS", 30.0)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retryable(status: int) -> None:
    error = calendar_error(http_response(status, text="<html>"), user_token=False)
    assert isinstance(error, RetryableProviderError) and error.code == f"http_{status}"


@pytest.mark.parametrize(
    ("status", "reason"),
    [(403, REASON_FORBIDDEN), (404, REASON_NOT_FOUND)],
)
def test_403_and_404_are_permanent_with_a_calendar_reason(status: int, reason: str) -> None:
    error = calendar_error(http_response(status, {"code": "X", "description": "nope"}), user_token=True)
    assert type(error) is PermanentProviderError
    assert (error.reason, error.code, error.detail) == (reason, "X", "nope")


def test_400_is_permanent() -> None:
    error = calendar_error(
        http_response(400, {"code": "INVALID_PARAMETER", "description": "bad start"}), user_token=False
    )
    assert type(error) is PermanentProviderError and error.reason is None and error.code == "INVALID_PARAMETER"


def test_is_duplicate_only_for_409_and_400_that_says_so() -> None:
    assert is_duplicate(http_response(409))
    assert is_duplicate(http_response(400, {"code": "x", "message": "Duplicated UID"}))
    assert not is_duplicate(http_response(400, {"code": "INVALID_PARAMETER", "description": "bad"}))
    assert not is_duplicate(http_response(404, {"code": "ALREADY_EXISTS"}))


# --- client: API 1.0 ---------------------------------------------------------------------------------


def legacy_ok(process: str = "CREATE", uid: str = "uid-1") -> requests.Response:
    return http_response(
        200, {"result": "success", "code": 200, "returnValue": {"processType": process, "icalUid": uid}}
    )


def test_upsert_legacy_creates_with_the_consumer_key_in_the_default_calendar() -> None:
    calendar, session = client(legacy_ok())
    assert calendar.upsert_legacy("srv", "ck", "jp1API", USER, None, "uid-1", "BEGIN:VCALENDAR\r\n") == "uid-1"
    (call,) = session.requests
    assert call.method == "POST"
    assert call.url == f"{LEGACY}/r/jp1API/calendar/v1/{USER_PATH}/calendars/{LEGACY_DEFAULT_CALENDAR}/events"
    assert call.headers == {
        "Authorization": "Bearer srv",
        "consumerKey": "ck",
        "Content-Type": "application/json; charset=UTF-8",
    }
    assert call.json == {"ical": "BEGIN:VCALENDAR\r\n"}


def test_upsert_legacy_modifies_an_existing_uid() -> None:
    dup = http_response(409, {"code": "ALREADY_EXISTS", "message": "exists"})
    calendar, session = client(dup, legacy_ok("UPDATE"))
    assert calendar.upsert_legacy("srv", "ck", "jp1API", USER, "cal-9", "uid-1", "ICAL") == "uid-1"
    update = session.requests[1]
    assert (update.method, update.url) == (
        "PUT",
        f"{LEGACY}/r/jp1API/calendar/v1/{USER_PATH}/calendars/cal-9/events/uid-1",
    )
    assert update.json == {"ical": "ICAL"}


def test_legacy_result_other_than_success_is_a_failure() -> None:
    calendar, _ = client(http_response(200, {"result": "fail", "code": "SOMETHING", "message": "no"}))
    with pytest.raises(PermanentProviderError) as caught:
        calendar.upsert_legacy("srv", "ck", "jp1API", USER, None, "uid-1", "ICAL")
    assert caught.value.code == "SOMETHING"


def test_legacy_401_is_the_admins() -> None:
    calendar, _ = client(http_response(401, {"code": "UNAUTHORIZED", "message": "invalid token"}))
    with pytest.raises(IntegrationCredentialsError):
        calendar.upsert_legacy("srv", "ck", "jp1API", USER, None, "uid-1", "ICAL")


def test_delete_legacy() -> None:
    calendar, session = client(http_response(200, {"result": "success", "code": 200}), http_response(404, {}))
    assert calendar.delete_legacy("srv", "ck", "jp1API", USER, None, "uid-1") is True
    assert calendar.delete_legacy("srv", "ck", "jp1API", USER, None, "uid-1") is False
    assert session.requests[0].method == "DELETE"
    assert session.requests[0].url.endswith(f"/calendars/{LEGACY_DEFAULT_CALENDAR}/events/uid-1")
    assert session.requests[0].headers["consumerKey"] == "ck"


def test_delete_legacy_failure_is_mapped() -> None:
    calendar, _ = client(http_response(429, {"code": "TOO_MANY_REQUESTS"}))
    with pytest.raises(RetryableProviderError):
        calendar.delete_legacy("srv", "ck", "jp1API", USER, None, "uid-1")


def test_repr_shows_no_secrets() -> None:
    calendar, _ = client()
    assert "worksapis" in repr(calendar)
