"""NAVER WORKS fake, calendar events: create, duplicate eventId, update, delete, who may write which calendar,
body validation, API 1.0 iCalendar events and faults; then `NaverWorksCalendarClient` end to end over 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from infra.keys import rsa_key_pair
from infra.sandbox import Sandbox, SandboxClient
from infra.sandbox.naver_works import NaverWorksFake
from infra.sandbox.server import SANDBOX_PATHS
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    RetryableProviderError,
)
from workplace_hub.events import Absence
from workplace_hub.naver_works.auth import WorksTokenProvider
from workplace_hub.naver_works.calendar import REASON_FORBIDDEN, REASON_NOT_FOUND, NaverWorksCalendarClient
from workplace_hub.naver_works.calendar_events import build_event, event_id
from workplace_hub.naver_works.ical import build_ical

DOMAIN = "10000001"
CLIENT_ID, CLIENT_SECRET = "CLIENTid01", "SECRETclient"
SERVICE_ACCOUNT = "abcde.serviceaccount@acme.example"
API_ID, SERVER_LIST_ID, CONSUMER_KEY = "jp1ABCDEF", "SERVERlist01", "SECRETconsumer"
USER_CLIENT_ID, USER_CLIENT_SECRET = "USERclient02", "SECRETuserClient"
TARO, HANAKO = "taro@acme.example", "hanako@acme.example"
REDIRECT = "https://hub.example/oauth/naver_works/callback"
CALENDARS = [
    {"calendarId": "cal-taro-default", "calendarName": "Taro"},
    {"calendarId": "cal-taro-team", "calendarName": "Team"},
]
EID = "wp-0123456789abcdef0123456789abcdef"


def key_pair() -> tuple[str, str]:
    return rsa_key_pair("naver_works_calendar")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0, providers=[NaverWorksFake]) as sb:
        yield sb


@pytest.fixture
def works(sandbox: Sandbox, control: SandboxClient) -> str:
    """A tenant with 2.0, 1.0 and a user OAuth app; Taro has two calendars. Returns the sandbox URL."""
    control.control(
        "naver_works",
        "tenants",
        {
            "domain_id": DOMAIN,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "service_account": SERVICE_ACCOUNT,
            "public_key_pem": key_pair()[1],
            "api_id": API_ID,
            "server_list_id": SERVER_LIST_ID,
            "server_list_public_key_pem": key_pair()[1],
            "server_api_consumer_key": CONSUMER_KEY,
            "users": [TARO, HANAKO],
            "oauth_apps": [{"client_id": USER_CLIENT_ID, "client_secret": USER_CLIENT_SECRET}],
            "redirect_uris": [REDIRECT],
        },
    )
    control.control("naver_works", "oauth_users", {"domain_id": DOMAIN, "user_id": TARO, "calendars": CALENDARS})
    return sandbox.url


def endpoints(url: str) -> ProviderEndpoints:
    return ProviderEndpoints(**{name: url + path for name, path in SANDBOX_PATHS.items()})


def service_token(url: str, scope: str = "calendar") -> str:
    credentials = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "service_account": SERVICE_ACCOUNT,
        "private_key": key_pair()[0],
    }
    with requests.Session() as session:
        return WorksTokenProvider(session, endpoints(url), (3.0, 5.0)).token(credentials, scope)


def server_token(url: str) -> str:
    credentials = {
        "api_version": "1.0",
        "api_id": API_ID,
        "server_list_id": SERVER_LIST_ID,
        "server_list_private_key": key_pair()[0],
        "server_api_consumer_key": CONSUMER_KEY,
    }
    with requests.Session() as session:
        return WorksTokenProvider(session, endpoints(url), (3.0, 5.0)).token(credentials, "calendar")


def user_token(http: requests.Session, url: str, control: SandboxClient, user: str = TARO) -> str:
    """The access token of `user` after the consent redirect and the code exchange (scope calendar)."""
    control.control("naver_works", "oauth_users", {"domain_id": DOMAIN, "user_id": user})
    query = {
        "client_id": USER_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": "calendar",
        "response_type": "code",
        "state": "s",
    }
    answer = http.get(f"{url}/works/auth/oauth2/v2.0/authorize", params=query, allow_redirects=False, timeout=5)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": USER_CLIENT_ID,
        "client_secret": USER_CLIENT_SECRET,
    }
    return http.post(f"{url}/works/auth/oauth2/v2.0/token", data=form, timeout=5).json()["access_token"]


def events_url(url: str, user: str, calendar_id: str | None = None) -> str:
    base = f"{url}/works/api/v1.0/users/{quote(user, safe='')}"
    return f"{base}/calendar/events" if calendar_id is None else f"{base}/calendars/{calendar_id}/events"


def legacy_url(url: str, user: str, calendar_id: str = "defaultCalendarId") -> str:
    return f"{url}/works/legacy/r/{API_ID}/calendar/v1/{quote(user, safe='')}/calendars/{calendar_id}/events"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def legacy_headers(token: str, consumer_key: str = CONSUMER_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "consumerKey": consumer_key}


def component(**overrides: Any) -> dict[str, Any]:
    return {
        "eventId": EID,
        "summary": "年次休暇",
        "start": {"date": "2026-12-01"},
        "end": {"date": "2026-12-03"},
        **overrides,
    }


def create(http: requests.Session, url: str, token: str, user: str = TARO, calendar_id: str | None = None, **fields):
    body = {"eventComponents": [component(**fields)], "sendNotification": False}
    return http.post(events_url(url, user, calendar_id), json=body, headers=auth(token), timeout=5)


def stored(control: SandboxClient, **filters: str) -> list[dict[str, Any]]:
    return control.control("naver_works", "calendar_events", {"domain_id": DOMAIN, **filters}, method="GET")["events"]


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
        "calendars": [],
        **overrides,
    }
    return Absence.model_validate(document)


# --- API 2.0 over HTTP -------------------------------------------------------------------------------


def test_create_get_update_delete_in_the_default_calendar_with_the_service_token(
    works: str, http: requests.Session, control: SandboxClient
) -> None:
    token = service_token(works)
    created = create(http, works, token, user=HANAKO)
    assert created.status_code == 201, created.text
    assert created.json()["eventComponents"][0]["eventId"] == EID
    item = f"{events_url(works, HANAKO)}/{EID}"
    got = http.get(item, headers=auth(token), timeout=5)
    assert got.status_code == 200 and got.json()["eventComponents"][0]["summary"] == "年次休暇"

    again = create(http, works, token, user=HANAKO, summary="changed")
    assert again.status_code == 409 and again.json()["code"] == "ALREADY_EXISTS"

    body = {"eventComponents": [component(summary="変更")], "sendNotification": False}
    assert http.put(item, json=body, headers=auth(token), timeout=5).status_code == 200
    (event,) = stored(control, user_id=HANAKO)
    assert (event["calendar_id"], event["summary"], event["api"]) == ("default", "変更", "2.0")
    assert event["sendNotification"] is False

    assert http.delete(item, headers=auth(token), timeout=5).status_code == 204
    assert http.delete(item, headers=auth(token), timeout=5).status_code == 404
    assert http.put(item, json=body, headers=auth(token), timeout=5).status_code == 404
    assert stored(control) == []


def test_the_service_token_cannot_write_personal_calendars_or_unknown_users(works: str, http: requests.Session) -> None:
    token = service_token(works)
    assert create(http, works, token, calendar_id="cal-taro-team").status_code == 403
    assert create(http, works, token, user="ghost@acme.example").status_code == 404
    assert create(http, works, token, user="me").status_code == 403
    # The default calendar's own id is the default calendar.
    assert create(http, works, token, calendar_id="cal-taro-default").status_code == 201


def test_a_token_without_the_calendar_scope_is_refused(works: str, http: requests.Session) -> None:
    response = create(http, works, service_token(works, scope="bot"))
    assert response.status_code == 403 and response.json()["code"] == "FORBIDDEN"


def test_a_user_token_writes_only_its_own_calendars(works: str, http: requests.Session, control: SandboxClient) -> None:
    token = user_token(http, works, control)
    assert create(http, works, token, calendar_id="cal-taro-team").status_code == 201
    assert create(http, works, token, user="me").status_code == 201
    assert create(http, works, token, calendar_id="cal-unknown").status_code == 404
    refused = create(http, works, token, user=HANAKO)
    assert refused.status_code == 403 and "another user" in refused.json()["description"]
    keys = sorted((e["user_id"], e["calendar_id"]) for e in stored(control))
    assert keys == [(TARO, "cal-taro-team"), (TARO, "default")]


def test_events_of_another_tenant_are_not_listed(works: str, http: requests.Session, control: SandboxClient) -> None:
    create(http, works, service_token(works))
    assert len(stored(control)) == 1
    assert control.control("naver_works", "calendar_events", {"domain_id": "999"}, method="GET") == {"events": []}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"summary": "x" * 201}, "summary"),
        ({"summary": None}, "summary"),
        ({"end": {"date": "2026-12-01"}}, "after start"),  # all-day end dates are exclusive
        ({"end": {"date": "2026-11-30"}}, "after start"),
        ({"start": {"dateTime": "2026-12-01T09:00:00"}, "end": {"dateTime": "2026-12-01T10:00:00"}}, "timeZone"),
        (
            {
                "start": {"dateTime": "2026-12-01T09:00:00", "timeZone": "Asia/Tokyo"},
                "end": {"dateTime": "2026-12-01T09:00:00", "timeZone": "Asia/Tokyo"},
            },
            "after start",
        ),
        ({"start": {"date": "2026-12-01"}, "end": {"dateTime": "2026-12-02T00:00:00", "timeZone": "UTC"}}, "both"),
        ({"start": {"date": "20261201"}}, "YYYY-MM-DD"),
        ({"start": {"dateTime": "2026-12-01T09:00:00", "timeZone": "Mars/Base"}}, "timeZone"),
        ({"eventId": "x" * 256}, "eventId"),
    ],
)
def test_create_validates_the_event(works: str, http: requests.Session, fields: dict, message: str) -> None:
    response = create(http, works, service_token(works), **fields)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_PARAMETER" and message in response.json()["description"]


def test_create_without_an_event_id_gets_one(works: str, http: requests.Session) -> None:
    body = {"eventComponents": [{k: v for k, v in component().items() if k != "eventId"}]}
    response = http.post(events_url(works, TARO), json=body, headers=auth(service_token(works)), timeout=5)
    assert response.status_code == 201 and response.json()["eventComponents"][0]["eventId"]


# --- API 1.0 over HTTP -------------------------------------------------------------------------------


def test_legacy_create_modify_delete_in_the_default_calendar(
    works: str, http: requests.Session, control: SandboxClient
) -> None:
    token, stamp = server_token(works), datetime(2026, 11, 28, tzinfo=UTC)
    ical = build_ical(absence(), "uid-1", "休暇, 山田; 午後", stamp=stamp)
    created = http.post(legacy_url(works, TARO), json={"ical": ical}, headers=legacy_headers(token), timeout=5)
    assert created.status_code == 200, created.text
    assert created.json()["result"] == "success" and created.json()["returnValue"]["icalUid"] == "uid-1"
    duplicate = http.post(legacy_url(works, TARO), json={"ical": ical}, headers=legacy_headers(token), timeout=5)
    assert duplicate.status_code == 409

    changed = build_ical(absence(end="2026-12-04"), "uid-1", "休暇", stamp=stamp)
    item = f"{legacy_url(works, TARO)}/uid-1"
    assert http.put(item, json={"ical": changed}, headers=legacy_headers(token), timeout=5).status_code == 200
    (event,) = stored(control, user_id=TARO)
    assert (event["api"], event["calendar_id"], event["eventId"]) == ("1.0", "default", "uid-1")
    assert (event["start"], event["end"]) == ({"date": "2026-12-01"}, {"date": "2026-12-05"})
    assert event["ical"] == changed

    assert http.delete(item, headers=legacy_headers(token), timeout=5).status_code == 200
    assert http.delete(item, headers=legacy_headers(token), timeout=5).status_code == 404


def test_legacy_needs_the_consumer_key_and_a_server_token(works: str, http: requests.Session) -> None:
    ical = build_ical(absence(), "uid-1", "t")
    wrong_key = http.post(
        legacy_url(works, TARO), json={"ical": ical}, headers=legacy_headers(server_token(works), "nope"), timeout=5
    )
    assert wrong_key.status_code == 401
    v2 = http.post(
        legacy_url(works, TARO), json={"ical": ical}, headers=legacy_headers(service_token(works)), timeout=5
    )
    assert v2.status_code == 401


@pytest.mark.parametrize(
    ("ical", "message"),
    [
        ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u\r\nSUMMARY:a, b\r\nDTSTART;VALUE=DATE:20261201\r\n"
         "END:VEVENT\r\nEND:VCALENDAR\r\n", "escaped"),
        ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u\r\nSUMMARY:a\r\nDTSTART;VALUE=DATE:20261201\r\n"
         "DTEND;VALUE=DATE:20261201\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "after start"),
        ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u\r\nSUMMARY:" + "x" * 80 + "\r\nDTSTART;VALUE=DATE:20261201\r\n"
         "END:VEVENT\r\nEND:VCALENDAR\r\n", "75 octets"),
        ("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "VEVENT"),
        ("not ical", "VCALENDAR"),
    ],
)  # fmt: skip
def test_legacy_validates_the_ical(works: str, http: requests.Session, ical: str, message: str) -> None:
    response = http.post(
        legacy_url(works, TARO), json={"ical": ical}, headers=legacy_headers(server_token(works)), timeout=5
    )
    assert response.status_code == 400 and message in response.json()["message"]


# --- the client end to end ---------------------------------------------------------------------------


@pytest.fixture
def calendar(works: str) -> Iterator[NaverWorksCalendarClient]:
    with requests.Session() as session:
        yield NaverWorksCalendarClient(session, endpoints(works), timeout=(2.0, 2.0))


def test_client_upsert_creates_then_updates_then_deletes(
    works: str, calendar: NaverWorksCalendarClient, control: SandboxClient
) -> None:
    token = service_token(works)
    eid = event_id("acme", "abs-5531", "default")
    assert calendar.upsert(token, TARO, None, eid, build_event(absence(), title="休暇", event_id=eid), user_token=False)
    moved = build_event(absence(start="2026-12-31", end="2026-12-31"), title="年末休暇", event_id=eid)
    assert calendar.upsert(token, TARO, None, eid, moved, user_token=False) == eid
    (event,) = stored(control)
    assert (event["eventId"], event["summary"]) == (eid, "年末休暇")
    assert (event["start"], event["end"]) == ({"date": "2026-12-31"}, {"date": "2027-01-01"})
    assert calendar.delete(token, TARO, None, eid, user_token=False) is True
    assert calendar.delete(token, TARO, None, eid, user_token=False) is False
    assert stored(control) == []


def test_client_timed_event_in_a_personal_calendar_with_the_user_token(
    works: str, http: requests.Session, calendar: NaverWorksCalendarClient, control: SandboxClient
) -> None:
    token = user_token(http, works, control)
    eid = event_id("acme", "abs-7", "cal-taro-team")
    trip = absence(all_day=False, start="2026-12-01T00:00:00Z", end="2026-12-01T09:00:00Z", kind="business_trip")
    calendar.upsert(token, TARO, "cal-taro-team", eid, build_event(trip, title="出張", event_id=eid), user_token=True)
    (event,) = stored(control, user_id=TARO)
    assert event["calendar_id"] == "cal-taro-team"
    assert event["start"] == {"dateTime": "2026-12-01T09:00:00", "timeZone": "Asia/Tokyo"}
    assert calendar.delete(token, TARO, "cal-taro-team", eid, user_token=True) is True


def test_client_with_another_users_token_is_forbidden(
    works: str, http: requests.Session, calendar: NaverWorksCalendarClient, control: SandboxClient
) -> None:
    token = user_token(http, works, control)
    eid = event_id("acme", "abs-8", "default")
    with pytest.raises(PermanentProviderError) as caught:
        calendar.upsert(token, HANAKO, None, eid, build_event(absence(), title="t", event_id=eid), user_token=True)
    assert caught.value.reason == REASON_FORBIDDEN
    with pytest.raises(PermanentProviderError) as missing:
        calendar.upsert(token, TARO, "cal-gone", eid, build_event(absence(), title="t", event_id=eid), user_token=True)
    assert missing.value.reason == REASON_NOT_FOUND


def test_client_legacy_upsert_and_delete(
    works: str, calendar: NaverWorksCalendarClient, control: SandboxClient
) -> None:
    token, uid = server_token(works), event_id("acme", "abs-5531", "default")
    first = build_ical(absence(), uid, "休暇")
    assert calendar.upsert_legacy(token, CONSUMER_KEY, API_ID, HANAKO, None, uid, first) == uid
    second = build_ical(absence(title="x"), uid, "休暇 (変更)")
    assert calendar.upsert_legacy(token, CONSUMER_KEY, API_ID, HANAKO, None, uid, second) == uid
    (event,) = stored(control, user_id=HANAKO)
    assert (event["api"], event["summary"]) == ("1.0", "休暇 (変更)")
    assert calendar.delete_legacy(token, CONSUMER_KEY, API_ID, HANAKO, None, uid) is True
    assert calendar.delete_legacy(token, CONSUMER_KEY, API_ID, HANAKO, None, uid) is False
    with pytest.raises(IntegrationCredentialsError):
        calendar.upsert_legacy(token, "wrong", API_ID, HANAKO, None, uid, first)


def test_client_expired_tokens(works: str, http: requests.Session, calendar: NaverWorksCalendarClient, control) -> None:
    user, service = user_token(http, works, control), service_token(works)
    control.control("naver_works", "expire_tokens", {"domain_id": DOMAIN})
    body = build_event(absence(), title="t", event_id=EID)
    with pytest.raises(NeedsRelinkError):
        calendar.upsert(user, TARO, None, EID, body, user_token=True)
    with pytest.raises(IntegrationCredentialsError):
        calendar.upsert(service, TARO, None, EID, body, user_token=False)


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        ({"kind": "rate_limited", "retry_after": 7}, RetryableProviderError, "TOO_MANY_REQUESTS"),
        ({"kind": "server_error", "status": 502}, RetryableProviderError, "INTERNAL_SERVER_ERROR"),
        ({"kind": "invalid_auth"}, NeedsRelinkError, "token_invalid"),
        ({"kind": "timeout", "delay": 3.0}, RetryableProviderError, "timeout"),
    ],
)
def test_client_faults(
    works: str,
    http: requests.Session,
    calendar: NaverWorksCalendarClient,
    control: SandboxClient,
    fault: dict[str, Any],
    error: type[Exception],
    code: str,
) -> None:
    token = user_token(http, works, control)
    control.add_fault("naver_works", times=1, match={"api": "event_create", "user_id": TARO}, **fault)
    body = build_event(absence(), title="t", event_id=EID)
    with pytest.raises(error) as caught:
        calendar.upsert(token, TARO, None, EID, body, user_token=True)
    assert caught.value.code == code  # type: ignore[attr-defined]
    if fault["kind"] == "rate_limited":
        assert caught.value.retry_after == 7.0  # type: ignore[attr-defined]
    # The fault was used up: the next try goes through.
    assert calendar.upsert(token, TARO, None, EID, body, user_token=True) == EID


def test_faults_apply_to_legacy_events(works: str, calendar: NaverWorksCalendarClient, control: SandboxClient) -> None:
    token = server_token(works)
    control.add_fault("naver_works", "server_error", times=1, match={"api": "legacy_event_delete"})
    with pytest.raises(RetryableProviderError):
        calendar.delete_legacy(token, CONSUMER_KEY, API_ID, TARO, None, "uid-1")
