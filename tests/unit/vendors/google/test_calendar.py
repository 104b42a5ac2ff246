"""Google Calendar client: event ids, the event body, request builders, error mapping, upsert and delete."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import requests

from tests.unit.builders import absence as absence_document
from tests.unit.builders import http_response
from tests.unit.fakes import FakeSession
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    NeedsRelinkError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
)
from workplace_hub.events import Absence
from workplace_hub.google.calendar import (
    ABSENCE_ID_PROPERTY,
    EVENT_ID_PATTERN,
    GoogleCalendarClient,
    api_error,
    build_delete,
    build_event,
    build_insert,
    build_update,
    error_for_response,
    event_id,
    events_url,
)

BASE = "https://www.googleapis.com/calendar/v3"
TOKEN = "ya29.SECRETcalendarACCESStoken"
EVENT = "3f2a9c0d8b7e4a61b5c2d9e8f7a6b5c4"
EVENTS = f"{BASE}/calendars/primary/events"
BODY = {"summary": "休暇", "start": {"date": "2025-03-10"}, "end": {"date": "2025-03-11"}}


def absence(**overrides: Any) -> Absence:
    return Absence.model_validate(absence_document(**overrides))


def google_error(status: int, reason: str, message: str, domain: str = "global") -> dict[str, Any]:
    errors = [{"domain": domain, "reason": reason, "message": message}]
    return {"error": {"errors": errors, "code": status, "message": message}}


DUPLICATE = google_error(409, "duplicate", "The requested identifier already exists.")
DELETED = google_error(410, "deleted", "Resource has been deleted")
NOT_FOUND = google_error(404, "notFound", "Not Found")
AUTH_ERROR = google_error(401, "authError", "Invalid Credentials")
BACKEND_ERROR = google_error(503, "backendError", "Backend Error")
RATE_LIMIT = google_error(403, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits")


def client(*outcomes: requests.Response | BaseException) -> tuple[GoogleCalendarClient, FakeSession]:
    session = FakeSession(list(outcomes))
    return GoogleCalendarClient(session, ProviderEndpoints(), timeout=(1.0, 2.0)), session  # type: ignore[arg-type]


# --- event_id ------------------------------------------------------------------------------------------


def test_event_id_is_deterministic_base32hex() -> None:
    first = event_id("acme", "abs-5531", "primary")
    assert first == event_id("acme", "abs-5531", "primary")
    assert re.fullmatch(r"[0-9a-f]{32}", first) and EVENT_ID_PATTERN.match(first)
    assert uuid.UUID(hex=first).version == 5


@pytest.mark.parametrize(
    "other",
    [("globex", "abs-5531", "primary"), ("acme", "abs-5532", "primary"), ("acme", "abs-5531", "team@group")],
)
def test_event_id_differs_per_company_absence_and_calendar(other: tuple[str, str, str]) -> None:
    assert event_id(*other) != event_id("acme", "abs-5531", "primary")


def test_event_id_inputs_cannot_run_into_each_other() -> None:
    assert event_id("a:b", "c", "primary") != event_id("a", "b:c", "primary")
    assert event_id("a", "b", "c") != event_id("a", "bc", "")


def test_event_id_is_stable_across_releases() -> None:
    # Registered events are found again by this id: it must never change.
    assert event_id("acme", "abs-5531", "primary") == "d6ef8fe2d84c547db2684dd384aed0e0"


# --- build_event ---------------------------------------------------------------------------------------


def test_build_event_all_day() -> None:
    body = build_event(absence())
    assert body == {
        "summary": "年次休暇",
        "start": {"date": "2026-12-01"},
        "end": {"date": "2026-12-03"},
        "transparency": "opaque",
        "visibility": "default",
        "eventType": "default",
        "extendedProperties": {"private": {ABSENCE_ID_PROPERTY: "abs-5531"}},
    }
    assert "attendees" not in body and "id" not in body


def test_build_event_options_and_localized_empty_title() -> None:
    body = build_event(
        absence(kind="business_trip", title=""), transparency="transparent", visibility="private", locale="ko"
    )
    assert body["summary"] == "출장"
    assert body["transparency"] == "transparent" and body["visibility"] == "private"


@pytest.mark.parametrize(("name", "value"), [("transparency", "busy"), ("visibility", "secret")])
def test_build_event_rejects_unknown_option_values(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        build_event(absence(), **{name: value})


def test_out_of_office_for_a_timed_absence() -> None:
    doc = absence(all_day=False, start="2026-12-01T10:00:00+09:00", end="2026-12-01T15:00:00+09:00")
    body = build_event(doc, out_of_office=True)
    assert body["eventType"] == "outOfOffice"
    assert body["outOfOfficeProperties"] == {"autoDeclineMode": "declineNone"}
    assert body["start"] == {"dateTime": "2026-12-01T10:00:00+09:00", "timeZone": "Asia/Tokyo"}


def test_out_of_office_for_a_half_day_uses_its_timed_hours() -> None:
    body = build_event(absence(kind="half_day_pm", start="2026-12-01", end="2026-12-01"), out_of_office=True)
    assert body["eventType"] == "outOfOffice"
    assert body["start"]["dateTime"] == "2026-12-01T13:00:00+09:00"


def test_out_of_office_falls_back_to_a_default_event_when_all_day() -> None:
    body = build_event(absence(), out_of_office=True)
    assert body["eventType"] == "default"
    assert "outOfOfficeProperties" not in body
    assert body["start"] == {"date": "2026-12-01"}


def test_out_of_office_is_off_by_default() -> None:
    doc = absence(all_day=False, start="2026-12-01T10:00:00+09:00", end="2026-12-01T15:00:00+09:00")
    assert build_event(doc)["eventType"] == "default"


# --- request builders ----------------------------------------------------------------------------------


def test_events_url_encodes_calendar_and_event_ids() -> None:
    assert events_url(BASE + "/", "primary") == EVENTS
    assert events_url(BASE, "taro@acme.example") == f"{BASE}/calendars/taro@acme.example/events"
    assert (
        events_url(BASE, "c_1#x/y@group.calendar.google.com", EVENT)
        == f"{BASE}/calendars/c_1%23x%2Fy@group.calendar.google.com/events/{EVENT}"
    )
    with pytest.raises(ValueError):
        events_url(BASE, "")


def test_build_insert() -> None:
    call = build_insert(BASE, TOKEN, "primary", EVENT, BODY)
    assert (call.method, call.url) == ("POST", f"{EVENTS}?sendUpdates=none")
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.json == {**BODY, "id": EVENT}
    assert TOKEN not in repr(call)


def test_build_update_revives() -> None:
    call = build_update(BASE, TOKEN, "primary", EVENT, BODY)
    assert (call.method, call.url) == ("PUT", f"{EVENTS}/{EVENT}?sendUpdates=none")
    assert call.json == {**BODY, "id": EVENT, "status": "confirmed"}


def test_build_delete() -> None:
    call = build_delete(BASE, TOKEN, "primary", EVENT)
    assert (call.method, call.url, call.json) == ("DELETE", f"{EVENTS}/{EVENT}?sendUpdates=none", None)
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("bad", ["abcd", "ABCDEF", "wxyz0", "3f2a-9c0d", "x" * 5, "a" * 1025, ""])
def test_builders_refuse_ids_google_would_refuse(bad: str) -> None:
    for build in (build_insert, build_update):
        with pytest.raises(ValueError, match="base32hex"):
            build(BASE, TOKEN, "primary", bad, BODY)
    with pytest.raises(ValueError, match="base32hex"):
        build_delete(BASE, TOKEN, "primary", bad)


def test_ids_at_the_length_limits_are_fine() -> None:
    build_insert(BASE, TOKEN, "primary", "a0v9b", BODY)
    build_insert(BASE, TOKEN, "primary", "v" * 1024, BODY)


# --- error mapping -------------------------------------------------------------------------------------


def test_api_error_reads_the_envelope_and_tolerates_anything_else() -> None:
    assert api_error(http_response(409, DUPLICATE)) == (
        "duplicate",
        "global",
        "The requested identifier already exists.",
    )
    assert api_error(http_response(500, text="<html>oops</html>")) == ("", "", "")
    assert api_error(http_response(400, {"error": "invalid_request"})) == ("", "", "")
    assert api_error(http_response(400, [1, 2])) == ("", "", "")
    assert api_error(http_response(400, {"error": {"code": 400, "message": "Bad"}})) == ("", "", "Bad")


@pytest.mark.parametrize(
    ("response", "kind", "code"),
    [
        (http_response(401, AUTH_ERROR), NeedsRelinkError, "invalid_credentials"),
        (http_response(401), NeedsRelinkError, "invalid_credentials"),
        (http_response(403, RATE_LIMIT), RetryableProviderError, "rateLimitExceeded"),
        (
            http_response(403, google_error(403, "userRateLimitExceeded", "User Rate Limit Exceeded", "usageLimits")),
            RetryableProviderError,
            "userRateLimitExceeded",
        ),
        (
            http_response(403, google_error(403, "quotaExceeded", "Calendar usage limits exceeded.", "usageLimits")),
            RetryableProviderError,
            "quotaExceeded",
        ),
        (
            http_response(403, google_error(403, "forbiddenForNonOrganizer", "Forbidden", "calendar")),
            PermanentProviderError,
            "forbiddenForNonOrganizer",
        ),
        (
            http_response(403, google_error(403, "insufficientPermissions", "Insufficient Permission")),
            PermanentProviderError,
            "insufficientPermissions",
        ),
        (http_response(403, text="Forbidden"), PermanentProviderError, "http_403"),
        (http_response(429, RATE_LIMIT), RetryableProviderError, "rateLimitExceeded"),
        (http_response(500, BACKEND_ERROR), RetryableProviderError, "backendError"),
        (http_response(503, text="unavailable"), RetryableProviderError, "http_503"),
        (
            http_response(400, google_error(400, "timeRangeEmpty", "The specified time range is empty.", "calendar")),
            PermanentProviderError,
            "timeRangeEmpty",
        ),
        (http_response(404, NOT_FOUND), PermanentProviderError, "notFound"),
        (http_response(412, google_error(412, "conditionNotMet", "Precondition Failed")), PermanentProviderError, None),
    ],
)
def test_error_mapping(response: requests.Response, kind: type[ProviderError], code: str | None) -> None:
    error = error_for_response(response)
    assert type(error) is kind
    assert error.provider == "google_calendar"
    assert error.status_code == response.status_code
    if code:
        assert error.code == code
    assert error.retryable is (kind is RetryableProviderError)


def test_retry_after_is_kept_when_google_sends_one() -> None:
    error = error_for_response(http_response(429, RATE_LIMIT, headers={"Retry-After": "7"}))
    assert isinstance(error, RetryableProviderError) and error.retry_after == 7.0
    assert error_for_response(http_response(503)).retry_after is None  # type: ignore[attr-defined]


# --- client: upsert ------------------------------------------------------------------------------------


def test_upsert_inserts() -> None:
    calendar, session = client(http_response(200, {"kind": "calendar#event", "id": EVENT, "status": "confirmed"}))
    assert calendar.upsert(TOKEN, "primary", EVENT, BODY) == EVENT
    (sent,) = session.requests
    assert (sent.method, sent.url) == ("POST", f"{EVENTS}?sendUpdates=none")
    assert sent.json == {**BODY, "id": EVENT}
    assert sent.headers == {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
    assert sent.timeout == (1.0, 2.0)


def test_upsert_tolerates_201_and_a_body_without_id() -> None:
    calendar, _ = client(http_response(201, text="not json"))
    assert calendar.upsert(TOKEN, "primary", EVENT, BODY) == EVENT


def test_upsert_updates_on_duplicate() -> None:
    calendar, session = client(http_response(409, DUPLICATE), http_response(200, {"id": EVENT}))
    assert calendar.upsert(TOKEN, "primary", EVENT, BODY) == EVENT
    insert, update = session.requests
    assert insert.method == "POST"
    assert (update.method, update.url) == ("PUT", f"{EVENTS}/{EVENT}?sendUpdates=none")
    assert update.json == {**BODY, "id": EVENT, "status": "confirmed"}


def test_upsert_treats_a_bare_409_as_duplicate() -> None:
    calendar, session = client(http_response(409), http_response(200, {"id": EVENT}))
    assert calendar.upsert(TOKEN, "primary", EVENT, BODY) == EVENT
    assert [r.method for r in session.requests] == ["POST", "PUT"]


def test_upsert_does_not_update_on_another_409() -> None:
    calendar, session = client(http_response(409, google_error(409, "conflict", "Conflict")))
    with pytest.raises(PermanentProviderError) as caught:
        calendar.upsert(TOKEN, "primary", EVENT, BODY)
    assert caught.value.code == "conflict" and len(session.requests) == 1


def test_upsert_404_after_duplicate_is_retryable() -> None:
    calendar, _ = client(http_response(409, DUPLICATE), http_response(404, NOT_FOUND))
    with pytest.raises(RetryableProviderError) as caught:
        calendar.upsert(TOKEN, "primary", EVENT, BODY)
    assert (caught.value.code, caught.value.status_code) == ("notFound", 404)


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (http_response(401, AUTH_ERROR), NeedsRelinkError),
        (http_response(403, RATE_LIMIT), RetryableProviderError),
        (http_response(400, google_error(400, "invalid", "Invalid value")), PermanentProviderError),
    ],
)
def test_upsert_update_errors_are_mapped(response: requests.Response, kind: type[ProviderError]) -> None:
    calendar, _ = client(http_response(409, DUPLICATE), response)
    with pytest.raises(kind):
        calendar.upsert(TOKEN, "primary", EVENT, BODY)


@pytest.mark.parametrize(
    ("response", "kind", "code"),
    [
        (http_response(401, AUTH_ERROR), NeedsRelinkError, "invalid_credentials"),
        (http_response(403, RATE_LIMIT), RetryableProviderError, "rateLimitExceeded"),
        (http_response(429, RATE_LIMIT), RetryableProviderError, "rateLimitExceeded"),
        (http_response(503, BACKEND_ERROR), RetryableProviderError, "backendError"),
        (http_response(404, NOT_FOUND), PermanentProviderError, "notFound"),  # no such calendar
        (
            http_response(400, google_error(400, "timeRangeEmpty", "The specified time range is empty.", "calendar")),
            PermanentProviderError,
            "timeRangeEmpty",
        ),
    ],
)
def test_upsert_insert_errors_are_mapped(response: requests.Response, kind: type[ProviderError], code: str) -> None:
    calendar, session = client(response)
    with pytest.raises(kind) as caught:
        calendar.upsert(TOKEN, "primary", EVENT, BODY)
    assert type(caught.value) is kind and caught.value.code == code
    assert TOKEN not in str(caught.value)
    assert len(session.requests) == 1


@pytest.mark.parametrize(
    ("exception", "code"),
    [(requests.ReadTimeout("slow"), "timeout"), (requests.ConnectionError("refused"), "connection_error")],
)
def test_network_failures_are_retryable(exception: BaseException, code: str) -> None:
    calendar, _ = client(exception)
    with pytest.raises(RetryableProviderError) as caught:
        calendar.upsert(TOKEN, "primary", EVENT, BODY)
    assert caught.value.code == code
    calendar, _ = client(exception)
    with pytest.raises(RetryableProviderError):
        calendar.delete(TOKEN, "primary", EVENT)


def test_client_uses_the_configured_base_and_hides_the_token() -> None:
    session = FakeSession([http_response(200, {"id": EVENT})])
    endpoints = ProviderEndpoints(GOOGLE_CALENDAR_BASE="http://127.0.0.1:9/google/calendar/v3")
    calendar = GoogleCalendarClient(session, endpoints)  # type: ignore[arg-type]
    calendar.upsert(TOKEN, "team@group.calendar.google.com", EVENT, BODY)
    assert session.requests[0].url == (
        "http://127.0.0.1:9/google/calendar/v3/calendars/team@group.calendar.google.com/events?sendUpdates=none"
    )
    assert "127.0.0.1:9" in repr(calendar) and TOKEN not in repr(calendar)


# --- client: delete ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [http_response(204), http_response(200), http_response(410, DELETED), http_response(404, NOT_FOUND)],
)
def test_delete_succeeds_when_the_event_is_gone(response: requests.Response) -> None:
    calendar, session = client(response)
    assert calendar.delete(TOKEN, "primary", EVENT) is None
    (sent,) = session.requests
    assert (sent.method, sent.url, sent.json) == ("DELETE", f"{EVENTS}/{EVENT}?sendUpdates=none", None)


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (http_response(401, AUTH_ERROR), NeedsRelinkError),
        (http_response(403, RATE_LIMIT), RetryableProviderError),
        (http_response(500), RetryableProviderError),
        (
            http_response(403, google_error(403, "requiredAccessLevel", "Forbidden", "calendar")),
            PermanentProviderError,
        ),
    ],
)
def test_delete_errors_are_mapped(response: requests.Response, kind: type[ProviderError]) -> None:
    calendar, _ = client(response)
    with pytest.raises(kind) as caught:
        calendar.delete(TOKEN, "primary", EVENT)
    assert type(caught.value) is kind
