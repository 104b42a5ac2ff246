"""Google Calendar fake: events CRUD with soft delete, validation, bearer auth (own tokens and the OAuth
fake's), per-user calendars, rate limit, faults, control API; and the hub's client against it end to end."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from infra.sandbox import Sandbox, SandboxClient, SandboxError
from infra.sandbox.google_calendar import GoogleCalendarFake
from infra.sandbox.google_oauth import GoogleOAuthFake
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import NeedsRelinkError, PermanentProviderError, RetryableProviderError
from workplace_hub.events import Absence
from workplace_hub.google.calendar import GoogleCalendarClient, build_event, event_id

TARO, HANAKO = "taro.yamada@acme.example", "hanako.sato@acme.example"
TOKEN, HANAKO_TOKEN = "ya29.taro-calendar-token", "ya29.hanako-calendar-token"
EVENT = "3f2a9c0d8b7e4a61b5c2d9e8f7a6b5c4"
ALL_DAY = {
    "id": EVENT,
    "summary": "休暇",
    "transparency": "opaque",
    "start": {"date": "2025-03-10"},
    "end": {"date": "2025-03-11"},
    "extendedProperties": {"private": {"workplaceRequestId": "42"}},
}


def envelope(status: int, reason: str, message: str, domain: str = "global", **extra: str) -> dict[str, Any]:
    return {
        "error": {
            "errors": [{"domain": domain, "reason": reason, "message": message, **extra}],
            "code": status,
            "message": message,
        }
    }


DUPLICATE = envelope(409, "duplicate", "The requested identifier already exists.")
DELETED = envelope(410, "deleted", "Resource has been deleted")
NOT_FOUND = envelope(404, "notFound", "Not Found")
AUTH_ERROR = envelope(401, "authError", "Invalid Credentials", locationType="header", location="Authorization")
RATE_LIMIT = envelope(403, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(providers=[GoogleCalendarFake]) as sb:
        yield sb


@pytest.fixture
def api(sandbox: Sandbox, control: SandboxClient, http: requests.Session):
    """`api(method, path, body=None, token=TOKEN, **params) -> Response`, path relative to calendars/."""
    control.control("google_calendar", "tokens", {"access_token": TOKEN, "email": TARO})
    control.control("google_calendar", "tokens", {"access_token": HANAKO_TOKEN, "email": HANAKO})

    def api(method: str, path: str, body: Any = None, token: str | None = TOKEN, **params: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"{sandbox.url}/google/calendar/v3/calendars/{path}"
        return http.request(method, url, json=body, headers=headers, params=params or None, timeout=5)

    return api


def events(control: SandboxClient, email: str = TARO, calendar_id: str = "primary") -> dict[str, dict[str, Any]]:
    answer = control.control("google_calendar", "events", {"email": email, "calendar_id": calendar_id}, method="GET")
    return {e["id"]: e for e in answer["events"]}


# --- events CRUD -----------------------------------------------------------------------------------------


def test_insert_answers_the_event_resource(api, control: SandboxClient) -> None:
    resp = api("POST", "primary/events", ALL_DAY, sendUpdates="none")
    assert resp.status_code == 200
    event = resp.json()
    assert event["kind"] == "calendar#event" and event["id"] == EVENT and event["status"] == "confirmed"
    assert event["iCalUID"] == f"{EVENT}@google.com"
    assert event["htmlLink"].startswith("https://www.google.com/calendar/event?eid=")
    assert event["etag"].startswith('"') and event["creator"] == {"email": TARO, "self": True}
    assert event["start"] == {"date": "2025-03-10"} and event["end"] == {"date": "2025-03-11"}
    assert event["extendedProperties"] == {"private": {"workplaceRequestId": "42"}}
    assert events(control) == {EVENT: event}
    assert api("GET", f"primary/events/{EVENT}").json() == event


def test_insert_without_id_gets_one(api) -> None:
    body = {k: v for k, v in ALL_DAY.items() if k != "id"}
    resp = api("POST", "primary/events", body)
    assert resp.status_code == 200 and len(resp.json()["id"]) == 32


def test_duplicate_insert_is_409(api) -> None:
    assert api("POST", "primary/events", ALL_DAY).status_code == 200
    resp = api("POST", "primary/events", ALL_DAY)
    assert (resp.status_code, resp.json()) == (409, DUPLICATE)


def test_unknown_event_and_path_are_404(api) -> None:
    for method in ("GET", "DELETE"):
        resp = api(method, "primary/events/nope0")
        assert (resp.status_code, resp.json()) == (404, NOT_FOUND)
    assert api("PUT", "primary/events/nope0", {**ALL_DAY, "id": None}).status_code == 404
    assert api("POST", "primary/events/import", ALL_DAY).status_code == 404
    assert api("GET", "primary").status_code == 404


def test_delete_is_soft_and_update_revives(api, control: SandboxClient) -> None:
    api("POST", "primary/events", ALL_DAY)
    resp = api("DELETE", f"primary/events/{EVENT}", sendUpdates="none")
    assert (resp.status_code, resp.content) == (204, b"")
    resp = api("DELETE", f"primary/events/{EVENT}")
    assert (resp.status_code, resp.json()) == (410, DELETED)
    assert api("GET", f"primary/events/{EVENT}").json()["status"] == "cancelled"
    assert api("POST", "primary/events", ALL_DAY).json() == DUPLICATE  # the id stays taken
    # An update without status leaves it deleted; with status confirmed it comes back.
    assert api("PUT", f"primary/events/{EVENT}", {**ALL_DAY, "summary": "x"}).json()["status"] == "cancelled"
    revived = api("PUT", f"primary/events/{EVENT}", {**ALL_DAY, "summary": "有給", "status": "confirmed"})
    assert revived.status_code == 200
    assert revived.json()["status"] == "confirmed" and revived.json()["summary"] == "有給"
    assert events(control)[EVENT]["status"] == "confirmed"


def test_update_replaces_and_patch_merges(api) -> None:
    created = api("POST", "primary/events", {**ALL_DAY, "description": "d"}).json()
    updated = api("PUT", f"primary/events/{EVENT}", {"start": {"date": "2025-03-11"}, "end": {"date": "2025-03-13"}})
    body = updated.json()
    assert updated.status_code == 200
    assert "description" not in body and "summary" not in body  # full replace
    assert body["sequence"] == 1 and body["etag"] != created["etag"] and body["created"] == created["created"]
    patched = api("PATCH", f"primary/events/{EVENT}", {"summary": "出張"}).json()
    assert patched["summary"] == "出張" and patched["start"] == {"date": "2025-03-11"}
    assert api("PUT", f"primary/events/{EVENT}", {**ALL_DAY, "id": "abcdef0"}).status_code == 400


def test_list_hides_deleted_unless_asked(api) -> None:
    api("POST", "primary/events", ALL_DAY)
    api("POST", "primary/events", {**ALL_DAY, "id": "abcdef01"})
    api("DELETE", f"primary/events/{EVENT}")
    listed = api("GET", "primary/events").json()
    assert listed["kind"] == "calendar#events" and [e["id"] for e in listed["items"]] == ["abcdef01"]
    assert len(api("GET", "primary/events", showDeleted="true").json()["items"]) == 2


# --- validation ----------------------------------------------------------------------------------------


def _timed(start: str, end: str, zone: str | None = "Asia/Tokyo") -> dict[str, Any]:
    extra = {"timeZone": zone} if zone else {}
    return {"start": {"dateTime": start, **extra}, "end": {"dateTime": end, **extra}}


@pytest.mark.parametrize(
    ("body", "reason", "message"),
    [
        ({**ALL_DAY, "id": "ABCDEF0"}, "invalid", "Invalid resource id value."),
        ({**ALL_DAY, "id": "abcd"}, "invalid", "Invalid resource id value."),
        ({**ALL_DAY, "id": "wxyz01"}, "invalid", "Invalid resource id value."),
        ({**ALL_DAY, "id": "a" * 1025}, "invalid", "Invalid resource id value."),
        ({"id": EVENT, "start": {"date": "2025-03-10"}}, "required", "Missing end time."),
        ({"id": EVENT, "end": {"date": "2025-03-10"}}, "required", "Missing start time."),
        ({**ALL_DAY, "start": {}}, "required", "Missing start time."),
        (
            {**ALL_DAY, "end": {"date": "2025-03-11", "dateTime": "2025-03-11T00:00:00Z"}},
            "invalid",
            "Invalid end time.",
        ),
        ({**ALL_DAY, "start": {"date": "2025-02-30"}}, "invalid", "Invalid start time."),
        ({**ALL_DAY, "start": {"date": "20250310"}}, "invalid", "Invalid start time."),
        (
            {**ALL_DAY, "end": {"dateTime": "2025-03-11T00:00:00+09:00"}},
            "invalid",
            "Start and end times must either both be date or both be dateTime.",
        ),
        ({**ALL_DAY, "end": {"date": "2025-03-10"}}, "timeRangeEmpty", "The specified time range is empty."),
        ({**ALL_DAY, "end": {"date": "2025-03-09"}}, "timeRangeEmpty", "The specified time range is empty."),
        (
            {"id": EVENT, **_timed("2025-03-10T10:00:00+09:00", "2025-03-10T09:00:00+09:00")},
            "timeRangeEmpty",
            "The specified time range is empty.",
        ),
        (
            {"id": EVENT, **_timed("2025-03-10T10:00:00", "2025-03-10T11:00:00", zone=None)},
            "invalid",
            "Missing time zone definition for start time.",
        ),
        (
            {"id": EVENT, **_timed("2025-03-10T10:00:00+09:00", "2025-03-10T11:00:00+09:00", zone="Mars/Olympus")},
            "invalid",
            "Invalid time zone definition for start time.",
        ),
        ({"id": EVENT, **_timed("10:00", "11:00")}, "invalid", "Invalid start time."),
        ({**ALL_DAY, "transparency": "busy"}, "invalid", "Invalid value for: transparency"),
        ({**ALL_DAY, "visibility": "secret"}, "invalid", "Invalid value for: visibility"),
        ({**ALL_DAY, "eventType": "vacation"}, "invalid", "Invalid value for: eventType"),
        ({**ALL_DAY, "extendedProperties": {"secret": {}}}, "invalid", "Invalid value for: extendedProperties"),
        (
            {**ALL_DAY, "eventType": "outOfOffice"},
            "invalid",
            "An out of office event cannot be an all-day event. (sandbox rule)",
        ),
    ],
)
def test_insert_validation(api, control: SandboxClient, body: dict[str, Any], reason: str, message: str) -> None:
    resp = api("POST", "primary/events", body)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert (error["code"], error["errors"][0]["reason"], error["message"]) == (400, reason, message)
    assert events(control) == {}


def test_timed_events_zero_length_naive_with_zone_and_utc(api) -> None:
    zero = {"id": "abcdef00", **_timed("2025-03-10T10:00:00+09:00", "2025-03-10T10:00:00+09:00")}
    assert api("POST", "primary/events", zero).status_code == 200
    naive = {"id": "abcdef01", **_timed("2025-03-10T10:00:00", "2025-03-10T11:00:00")}
    assert api("POST", "primary/events", naive).status_code == 200
    utc = {"id": "abcdef02", **_timed("2025-03-10T01:00:00Z", "2025-03-10T02:00:00.5Z", zone=None)}
    assert api("POST", "primary/events", utc).status_code == 200


def test_bad_body_and_send_updates(api) -> None:
    resp = api("POST", "primary/events", [1, 2])
    assert resp.status_code == 400 and resp.json()["error"]["errors"][0]["reason"] == "parseError"
    resp = api("POST", "primary/events", ALL_DAY, sendUpdates="everyone")
    assert resp.status_code == 400 and resp.json()["error"]["message"] == "Invalid value for: sendUpdates"


def test_out_of_office_rules(api) -> None:
    timed = {**_timed("2025-03-10T09:00:00+09:00", "2025-03-10T13:00:00+09:00"), "eventType": "outOfOffice"}
    assert api("POST", "primary/events", {"id": EVENT, **timed}).status_code == 200
    secondary = api("POST", "team01/events", {"id": EVENT, **timed})
    assert secondary.status_code == 400 and "primary calendar" in secondary.json()["error"]["message"]
    changed = api("PUT", f"primary/events/{EVENT}", {**timed, "eventType": "default"})
    assert changed.status_code == 400 and "cannot be changed" in changed.json()["error"]["message"]
    assert api("PUT", f"primary/events/{EVENT}", timed).status_code == 200


# --- auth, calendars per user, rate limit --------------------------------------------------------------


def test_missing_unknown_and_expired_tokens_are_401(api, control: SandboxClient) -> None:
    resp = api("POST", "primary/events", ALL_DAY, token=None)
    assert resp.status_code == 401 and resp.json()["error"]["errors"][0]["reason"] == "required"
    resp = api("POST", "primary/events", ALL_DAY, token="ya29.unknown")
    assert (resp.status_code, resp.json()) == (401, AUTH_ERROR)
    assert control.control("google_calendar", "expire_tokens", {"email": TARO}) == {"expired": 1}
    assert api("GET", "primary/events", token=TOKEN).json() == AUTH_ERROR
    assert api("GET", "primary/events", token=HANAKO_TOKEN).status_code == 200
    control.control("google_calendar", "tokens", {"access_token": "short", "email": TARO, "expires_in": 0})
    assert api("GET", "primary/events", token="short").status_code == 401


def test_scopes_are_checked(api, control: SandboxClient) -> None:
    readonly = "https://www.googleapis.com/auth/calendar.readonly"
    control.control("google_calendar", "tokens", {"access_token": "ro", "email": TARO, "scopes": [readonly]})
    resp = api("POST", "primary/events", ALL_DAY, token="ro")
    assert resp.status_code == 403 and resp.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"
    assert api("GET", "primary/events", token="ro").status_code == 200


def test_each_user_has_own_calendars(api, control: SandboxClient) -> None:
    api("POST", "primary/events", ALL_DAY)
    assert api("GET", f"{TARO}/events/{EVENT}").status_code == 200  # primary == own e-mail
    assert api("GET", f"primary/events/{EVENT}", token=HANAKO_TOKEN).status_code == 404
    assert api("GET", f"{TARO}/events/{EVENT}", token=HANAKO_TOKEN).status_code == 404  # not shared with her
    assert api("POST", "primary/events", ALL_DAY, token=HANAKO_TOKEN).status_code == 200  # ids are per calendar
    secondary = "c_1#x@group.calendar.google.com"
    assert api("POST", "c_1%23x@group.calendar.google.com/events", ALL_DAY).status_code == 200
    assert set(events(control, TARO)) == set(events(control, HANAKO)) == set(events(control, TARO, secondary))
    answer = control.control("google_calendar", f"events/{TARO}", method="GET")
    assert answer["email"] == TARO and [e["id"] for e in answer["events"]] == [EVENT]


def test_per_user_rate_limit_is_403_usage_limits(api, control: SandboxClient) -> None:
    control.set_limits("google_calendar", burst=2, per_second=0.01)
    assert api("GET", "primary/events").status_code == 200
    assert api("GET", "primary/events").status_code == 200
    resp = api("GET", "primary/events")
    assert (resp.status_code, resp.json()) == (403, RATE_LIMIT)
    assert api("GET", "primary/events", token=HANAKO_TOKEN).status_code == 200  # per user


def test_control_api_errors_and_reset(api, control: SandboxClient) -> None:
    with pytest.raises(SandboxError):
        control.control("google_calendar", "tokens", {"access_token": "x"})
    with pytest.raises(SandboxError):
        control.control("google_calendar", "tokens", {"access_token": "x", "email": TARO, "scopes": "all"})
    with pytest.raises(SandboxError):
        control.control("google_calendar", "events", {}, method="GET")
    with pytest.raises(SandboxError):
        control.control("google_calendar", "nope", {})
    api("POST", "primary/events", ALL_DAY)
    control.reset()
    assert events(control) == {}
    assert api("GET", "primary/events").status_code == 401  # tokens are gone too


# --- faults --------------------------------------------------------------------------------------------


def test_faults(api, control: SandboxClient) -> None:
    control.add_fault("google_calendar", "server_error", times=1, match={"operation": "insert"})
    resp = api("POST", "primary/events", ALL_DAY)
    assert resp.status_code == 503 and resp.json()["error"]["errors"][0]["reason"] == "backendError"
    control.add_fault("google_calendar", "rate_limited", times=1, match={"email": TARO}, retry_after=3)
    assert api("GET", "primary/events", token=HANAKO_TOKEN).status_code == 200  # not matched
    resp = api("GET", "primary/events")
    assert (resp.status_code, resp.json(), resp.headers["Retry-After"]) == (403, RATE_LIMIT, "3")
    control.add_fault("google_calendar", "invalid_auth", times=1, match={"event_id": EVENT})
    assert api("GET", f"primary/events/{EVENT}").json() == AUTH_ERROR
    assert api("POST", "primary/events", ALL_DAY).status_code == 200
    logged = control.requests("google_calendar")
    assert [r["status"] for r in logged] == [503, 200, 403, 401, 200]
    assert logged[0]["fault"] and logged[-1]["body"]["id"] == EVENT


# --- the hub's client end to end ------------------------------------------------------------------------


@pytest.fixture
def calendar(sandbox: Sandbox, api, http: requests.Session) -> GoogleCalendarClient:
    endpoints = ProviderEndpoints(GOOGLE_CALENDAR_BASE=f"{sandbox.url}/google/calendar/v3")
    return GoogleCalendarClient(http, endpoints, timeout=(2.0, 5.0))


def absence(**overrides: Any) -> Absence:
    document = {
        "absence_id": "abs-5531",
        "user_id": TARO,
        "kind": "vacation",
        "title": "年次休暇",
        "all_day": True,
        "start": "2026-12-01",
        "end": "2026-12-02",
        "timezone": "Asia/Tokyo",
        "calendars": [{"provider": "google"}],
    }
    return Absence.model_validate({**document, **overrides})


def test_client_upsert_delete_revive(calendar: GoogleCalendarClient, control: SandboxClient) -> None:
    eid = event_id("acme", "abs-5531", "primary")
    assert calendar.upsert(TOKEN, "primary", eid, build_event(absence())) == eid
    stored = events(control)[eid]
    assert stored["summary"] == "年次休暇" and stored["status"] == "confirmed"
    assert stored["start"] == {"date": "2026-12-01"} and stored["end"] == {"date": "2026-12-03"}
    assert stored["extendedProperties"] == {"private": {"workplaceAbsenceId": "abs-5531"}}
    assert "attendees" not in stored

    # A second upsert (changed absence) hits 409 and updates the same event.
    assert calendar.upsert(TOKEN, "primary", eid, build_event(absence(title="", end="2026-12-04"))) == eid
    assert list(events(control)) == [eid]
    assert events(control)[eid]["summary"] == "休暇" and events(control)[eid]["end"] == {"date": "2026-12-05"}

    calendar.delete(TOKEN, "primary", eid)
    assert events(control)[eid]["status"] == "cancelled"
    calendar.delete(TOKEN, "primary", eid)  # 410: already gone
    calendar.delete(TOKEN, "primary", "abcdef0123")  # 404: never existed

    assert calendar.upsert(TOKEN, "primary", eid, build_event(absence())) == eid  # revives the deleted id
    assert events(control)[eid]["status"] == "confirmed"
    methods = [(r["method"], r["status"]) for r in control.requests("google_calendar")]
    assert methods == [
        ("POST", 200),
        ("POST", 409),
        ("PUT", 200),
        ("DELETE", 204),
        ("DELETE", 410),
        ("DELETE", 404),
        ("POST", 409),
        ("PUT", 200),
    ]
    assert all(r["query"] == {"sendUpdates": "none"} for r in control.requests("google_calendar"))


def test_client_out_of_office_half_day_and_all_day_fallback(calendar: GoogleCalendarClient, control) -> None:
    half = absence(
        absence_id="abs-1", kind="half_day_am", start="2026-03-08", end="2026-03-08", timezone="America/New_York"
    )
    eid = event_id("acme", "abs-1", "primary")
    calendar.upsert(TOKEN, "primary", eid, build_event(half, out_of_office=True))
    stored = events(control)[eid]
    assert stored["eventType"] == "outOfOffice"
    assert stored["start"] == {"dateTime": "2026-03-08T09:00:00-04:00", "timeZone": "America/New_York"}
    whole = event_id("acme", "abs-2", "primary")
    calendar.upsert(TOKEN, "primary", whole, build_event(absence(absence_id="abs-2"), out_of_office=True))
    assert events(control)[whole]["eventType"] == "default"


def test_client_errors(calendar: GoogleCalendarClient, control: SandboxClient) -> None:
    eid = event_id("acme", "abs-5531", "primary")
    body = build_event(absence())
    with pytest.raises(NeedsRelinkError) as relink:
        calendar.upsert("ya29.expired", "primary", eid, body)
    assert relink.value.code == "invalid_credentials" and relink.value.status_code == 401
    control.add_fault("google_calendar", "rate_limited", times=1)
    with pytest.raises(RetryableProviderError) as limited:
        calendar.upsert(TOKEN, "primary", eid, body)
    assert (limited.value.code, limited.value.status_code) == ("rateLimitExceeded", 403)
    control.set_limits("google_calendar", burst=1, per_second=0.01)
    calendar.upsert(TOKEN, "primary", eid, body)
    with pytest.raises(RetryableProviderError):
        calendar.delete(TOKEN, "primary", eid)
    control.set_limits("google_calendar", enabled=False)
    control.add_fault("google_calendar", "server_error", times=1, status=500)
    with pytest.raises(RetryableProviderError) as failed:
        calendar.delete(TOKEN, "primary", eid)
    assert failed.value.code == "backendError"
    bad = {**body, "end": {"date": "2026-11-01"}}
    with pytest.raises(PermanentProviderError) as invalid:
        calendar.upsert(TOKEN, "primary", event_id("acme", "abs-9", "primary"), bad)
    assert invalid.value.code == "timeRangeEmpty"
    with pytest.raises(PermanentProviderError) as other:
        calendar.upsert(TOKEN, HANAKO, eid, body)  # somebody else's calendar
    assert other.value.code == "notFound"
    calendar.delete(TOKEN, "primary", eid)
    assert events(control)[eid]["status"] == "cancelled"


def test_client_timeout_then_retry_is_idempotent(sandbox: Sandbox, calendar, control: SandboxClient) -> None:
    eid = event_id("acme", "abs-5531", "primary")
    control.add_fault("google_calendar", "timeout", times=1, delay=0.5)
    hasty = GoogleCalendarClient(
        requests.Session(), ProviderEndpoints(GOOGLE_CALENDAR_BASE=f"{sandbox.url}/google/calendar/v3"), (2.0, 0.1)
    )
    with pytest.raises(RetryableProviderError) as caught:
        hasty.upsert(TOKEN, "primary", eid, build_event(absence()))
    assert caught.value.code == "timeout"
    deadline = time.monotonic() + 5
    while eid not in events(control) and time.monotonic() < deadline:  # the slow insert lands after all
        time.sleep(0.05)
    assert calendar.upsert(TOKEN, "primary", eid, build_event(absence())) == eid  # 409 -> update
    assert list(events(control)) == [eid]


# --- tokens from the Google OAuth fake -------------------------------------------------------------------


@pytest.fixture
def linked_sandbox() -> Iterator[Sandbox]:
    with Sandbox(providers=[GoogleOAuthFake, GoogleCalendarFake]) as sb:
        sb.providers["google_calendar"].attach(sb.providers["google_oauth"])  # type: ignore[attr-defined]
        yield sb


def _oauth_access_token(sandbox: Sandbox, control: SandboxClient, http: requests.Session, scope: str) -> str:
    control.control(
        "google_oauth",
        "clients",
        {"client_id": "c1", "client_secret": "s1", "redirect_uris": ["https://hub.example/cb"]},
    )
    control.control("google_oauth", "users", {"email": TARO, "hd": "acme.example"})
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "client_id": "c1",
        "redirect_uri": "https://hub.example/cb",
        "response_type": "code",
        "scope": scope,
        "state": "st",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    consent = http.get(f"{sandbox.url}/google/accounts/o/oauth2/v2/auth", params=params, allow_redirects=False)
    code = parse_qs(urlsplit(consent.headers["Location"]).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "https://hub.example/cb",
        "client_id": "c1",
        "client_secret": "s1",
        "code_verifier": verifier,
    }
    return http.post(f"{sandbox.url}/google/oauth2/token", data=form, timeout=5).json()["access_token"]


def test_attached_oauth_fake_tokens_are_accepted(linked_sandbox: Sandbox, http: requests.Session) -> None:
    control = SandboxClient(linked_sandbox.url)
    scope = "openid email https://www.googleapis.com/auth/calendar.events"
    token = _oauth_access_token(linked_sandbox, control, http, scope)
    endpoints = ProviderEndpoints(GOOGLE_CALENDAR_BASE=f"{linked_sandbox.url}/google/calendar/v3")
    calendar = GoogleCalendarClient(http, endpoints)
    eid = event_id("acme", "abs-5531", "primary")
    calendar.upsert(token, "primary", eid, build_event(absence()))
    assert eid in events(control, TARO)
    control.control("google_oauth", "expire_tokens", {"email": TARO})
    with pytest.raises(NeedsRelinkError):
        calendar.delete(token, "primary", eid)
    control.close()


def test_oauth_token_without_calendar_scope_is_403(linked_sandbox: Sandbox, http: requests.Session) -> None:
    control = SandboxClient(linked_sandbox.url)
    token = _oauth_access_token(linked_sandbox, control, http, "openid email")
    url = f"{linked_sandbox.url}/google/calendar/v3/calendars/primary/events"
    resp = http.post(url, json=ALL_DAY, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert resp.status_code == 403 and resp.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"
    control.close()


def test_a_sandbox_with_both_fakes_attaches_them_so_oauth_tokens_work(http: requests.Session) -> None:
    with Sandbox(providers=[GoogleOAuthFake, GoogleCalendarFake]) as sb:
        control = SandboxClient(sb.url)
        token = _oauth_access_token(sb, control, http, "openid email https://www.googleapis.com/auth/calendar.events")
        url = f"{sb.url}/google/calendar/v3/calendars/primary/events"
        resp = http.post(url, json=ALL_DAY, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert resp.status_code == 200, resp.text
        unknown = http.post(url, json=ALL_DAY, headers={"Authorization": "Bearer not-a-token"}, timeout=5)
        assert (unknown.status_code, unknown.json()) == (401, AUTH_ERROR)
        control.close()
