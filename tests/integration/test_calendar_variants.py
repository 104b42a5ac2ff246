"""Absence calendar registration, the variants: NAVER WORKS personal calendars (the employee's authorization)
and API 1.0 tenants, Google domain-wide delegation and the company's event settings (busy/free, visibility,
native out-of-office events), and the time shapes (half days, timed absences across a DST change, year ends).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from infra.keys import rsa_key_pair
from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from tests.integration.calendars import (
    absence_cancelled,
    absence_upserted,
    google_events,
    link_google_calendar,
    wait_for_calendar_records,
    works_events,
)
from tests.integration.conftest import SETTINGS_CACHE_SECONDS
from tests.integration.helpers import Api, ok
from tests.integration.linking import (
    delegation_settings,
    enable_google_calendar,
    enable_works_calendar,
    link,
    new_works_calendar_tenant,
    page,
    register_workspace_id,
    works_user_signs_in,
)
from tests.integration.messengers import header, new_works_tenant

pytestmark = pytest.mark.integration

GOOGLE = {"provider": "google"}
WORKS = {"provider": "naver_works"}
TEAM = {"provider": "naver_works", "calendar_id": "cal-team"}


def new_absence_id() -> str:
    return f"abs-{uuid.uuid4().hex[:10]}"


def statuses(found: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    return {channel: (r["status"], r.get("reason")) for channel, r in found.items()}


# ------------------------------------------------------------------------------------------- NAVER WORKS


def test_a_personal_calendar_is_written_with_the_employees_own_authorization(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient, send_event: Any
) -> None:
    # GIVEN taro authorized the hub for his NAVER WORKS calendars, one of which is "チーム"
    tenant = new_works_calendar_tenant(stack, sandbox, [member.user_id])
    enable_works_calendar(admin, tenant)
    calendars = [{"calendarId": "cal-home", "calendarName": "個人", "isDefault": True}]
    works_user_signs_in(
        sandbox, tenant, member.user_id, calendars=[*calendars, {"calendarId": "cal-team", "calendarName": "チーム"}]
    )
    assert page(link(member, "naver_works")).result == "linked"
    absence_id = new_absence_id()

    # WHEN his absence is sent for his default and his team calendar
    event = absence_upserted(company_id, member.user_id, absence_id, [WORKS, TEAM])
    send_event(event)

    # THEN both calendars hold it: the default one through the service account, the team one through his token
    found = wait_for_calendar_records(admin, event["event_id"], 2)
    assert statuses(found) == {"naver_works_calendar": ("sent", None), "naver_works_calendar:cal-team": ("sent", None)}
    held = {e["calendar_id"]: e for e in works_events(sandbox, tenant.domain_id, member.user_id)}
    assert set(held) == {"default", "cal-team"}
    assert held["default"]["eventId"] != held["cal-team"]["eventId"]
    creates = [r for r in sandbox.requests("naver_works") if r["method"] == "POST" and r["path"].endswith("/events")]
    (team,) = [r for r in creates if r["path"].endswith("/calendars/cal-team/events")]
    (default,) = [r for r in creates if r["path"].endswith("/calendar/events")]
    assert header(team, "Authorization") != header(default, "Authorization")

    # WHEN the absence is cancelled
    cancel = absence_cancelled(company_id, member.user_id, absence_id)
    send_event(cancel)

    # THEN both events are gone
    wait_for_calendar_records(admin, cancel["event_id"], 2)
    assert works_events(sandbox, tenant.domain_id, member.user_id) == []


def enable_works_calendar_1_0(admin: Api, sandbox: SandboxClient, user_id: str) -> Any:
    """An older tenant with `user_id`, on the API 1.0 server API, set up as the company's NAVER WORKS Calendar."""
    tenant = new_works_tenant(sandbox, [user_id])
    form = {
        "api_version": "1.0",
        "domain_id": tenant.domain_id,
        "admin_email": tenant.admin_email,
        "api_id": tenant.api_id,
        "server_api_consumer_key": tenant.consumer_key,
        "server_list_id": tenant.server_list_id,
        "server_list_private_key": rsa_key_pair("works-1.0")[0],
    }
    ok(admin.put("/admin/integrations/naver_works_calendar", {"enabled": True, "settings": form}))
    return tenant


def test_on_an_api_1_0_tenant_an_employee_cannot_start_naver_works_authorization(
    admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN an older tenant on the API 1.0 server API (it has no employee authorization)
    enable_works_calendar_1_0(admin, sandbox, member.user_id)

    # WHEN an employee asks to authorize NAVER WORKS calendars, as a link or a redirect (found by schemathesis:
    # this was a 500)
    answers = [
        member.get("/me/links/naver_works/authorize"),
        member.get("/me/links/naver_works/authorize?redirect=true"),
    ]

    # THEN both answer 409 with the reason the calendar options also give
    assert [(a.status_code, a.json()["error"]) for a in answers] == [
        (409, "naver_works_personal_calendar_needs_api_2_0")
    ] * 2


def test_a_collabo_company_on_platform_credentials_without_an_oauth_client_cannot_start_authorization(
    admin: Api, member: Api
) -> None:
    # GIVEN a Collabo company: NAVER WORKS Calendar on by default, on the platform's credentials, which (as on the
    # local stack until an operator sets them) carry no OAuth client for employees
    assert ok(admin.put("/admin/company", {"product": "collabo"}))["product"] == "collabo"

    # WHEN an employee asks to authorize NAVER WORKS calendars (found by schemathesis: this was a 500)
    answer = member.get("/me/links/naver_works/authorize?redirect=true")

    # THEN a 409 says the settings are incomplete, without naming any value
    assert (answer.status_code, answer.json()["error"]) == (409, "integration_incomplete")


def test_an_api_1_0_tenant_gets_the_absence_in_the_default_calendar_as_icalendar(
    company_id: str, admin: Api, member: Api, sandbox: SandboxClient, send_event: Any
) -> None:
    # GIVEN an older tenant on the API 1.0 server API
    tenant = enable_works_calendar_1_0(admin, sandbox, member.user_id)
    absence_id = new_absence_id()

    # WHEN a year-end vacation is sent for the default and a personal calendar
    event = absence_upserted(
        company_id, member.user_id, absence_id, [WORKS, TEAM], start="2026-12-31", end="2027-01-01", title="年末休暇"
    )
    send_event(event)

    # THEN the default calendar holds a VEVENT with the exclusive end date; the personal one needs API 2.0
    found = wait_for_calendar_records(admin, event["event_id"], 2)
    assert statuses(found) == {
        "naver_works_calendar": ("sent", None),
        "naver_works_calendar:cal-team": ("skipped", "naver_works_personal_calendar_needs_api_2_0"),
    }
    (held,) = works_events(sandbox, tenant.domain_id, member.user_id)
    assert held["api"] == "1.0"
    assert "DTSTART;VALUE=DATE:20261231\r\n" in held["ical"] and "DTEND;VALUE=DATE:20270102\r\n" in held["ical"]
    assert "SUMMARY:年末休暇\r\n" in held["ical"]

    # WHEN it changes, then is cancelled
    changed = absence_upserted(
        company_id,
        member.user_id,
        absence_id,
        [WORKS],
        start="2026-12-30",
        end="2026-12-30",
        occurred_at="2026-11-28T09:30:00+09:00",
    )
    send_event(changed)
    wait_for_calendar_records(admin, changed["event_id"], 1)
    (held,) = works_events(sandbox, tenant.domain_id, member.user_id)
    assert "DTSTART;VALUE=DATE:20261230\r\n" in held["ical"]
    cancel = absence_cancelled(company_id, member.user_id, absence_id)
    send_event(cancel)
    wait_for_calendar_records(admin, cancel["event_id"], 1)

    # THEN the calendar is empty again
    assert works_events(sandbox, tenant.domain_id, member.user_id) == []


# ------------------------------------------------------------------------------------------- Google


def test_with_domain_wide_delegation_the_absence_is_written_without_the_employees_consent(
    company_id: str, admin: Api, member: Api, sandbox: SandboxClient, send_event: Any
) -> None:
    # GIVEN google_calendar in delegation mode and taro's Workspace ID registered (he never consented)
    domain = f"{company_id}.example"
    settings = delegation_settings(sandbox, company_id, f"admin@{domain}")
    ok(admin.put("/admin/integrations/google_calendar", {"enabled": True, "settings": settings}))
    register_workspace_id(admin, member.user_id, f"taro@{domain}")

    # WHEN his absence is sent
    event = absence_upserted(company_id, member.user_id, new_absence_id(), [GOOGLE])
    send_event(event)

    # THEN it is in his primary calendar
    found = wait_for_calendar_records(admin, event["event_id"], 1)
    assert statuses(found) == {"google_calendar": ("sent", None)}
    (held,) = google_events(sandbox, f"taro@{domain}")
    assert held["summary"] == "年次休暇"


def test_company_settings_make_events_free_private_or_native_out_of_office(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient, send_event: Any
) -> None:
    # GIVEN taro linked Google, and the admin wants absences shown as free, private, and as out-of-office
    email = link_google_calendar(stack, admin, member, sandbox, f"{company_id}.example")
    current = ok(admin.get("/admin/integrations/google_calendar"))["settings"]
    chosen = {"event_show_as": "free", "event_visibility": "private", "out_of_office_events": "on"}
    ok(admin.put("/admin/integrations/google_calendar", {"enabled": True, "settings": {**current, **chosen}}))
    absence_id = new_absence_id()
    timed = {
        "kind": "business_trip",
        "title": "大阪出張",
        "all_day": False,
        "start": "2026-12-07T09:00:00+09:00",
        "end": "2026-12-07T18:00:00+09:00",
    }

    # WHEN a timed absence is sent
    event = absence_upserted(company_id, member.user_id, absence_id, [GOOGLE], **timed)
    send_event(event)
    wait_for_calendar_records(admin, event["event_id"], 1)

    # THEN it is a free, private, out-of-office event that declines nothing
    (held,) = google_events(sandbox, email)
    assert (held["transparency"], held["visibility"], held["eventType"]) == ("transparent", "private", "outOfOffice")
    assert held["outOfOfficeProperties"]["autoDeclineMode"] == "declineNone"
    assert held["start"] == {"dateTime": "2026-12-07T09:00:00+09:00", "timeZone": "Asia/Tokyo"}
    first_id = held["id"]

    # WHEN the admin turns out-of-office events off, and (once the workers' settings cache expired) the absence
    # changes
    ok(
        admin.put(
            "/admin/integrations/google_calendar",
            {"enabled": True, "settings": {**current, "out_of_office_events": "off"}},
        )
    )
    time.sleep(SETTINGS_CACHE_SECONDS + 0.2)
    changed = absence_upserted(
        company_id,
        member.user_id,
        absence_id,
        [GOOGLE],
        occurred_at="2026-11-28T09:30:00+09:00",
        **{**timed, "end": "2026-12-07T17:00:00+09:00"},
    )
    send_event(changed)
    wait_for_calendar_records(admin, changed["event_id"], 1, timeout=30)

    # THEN the out-of-office event (whose type Google never changes) is replaced by a default, busy event
    (held,) = google_events(sandbox, email)
    assert held["id"] != first_id
    assert (held["eventType"], held["transparency"]) == ("default", "opaque")
    assert held["end"]["dateTime"] == "2026-12-07T17:00:00+09:00"


def test_half_days_and_timed_absences_keep_their_zone_across_a_dst_change(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient, send_event: Any
) -> None:
    # GIVEN taro linked Google and the company writes NAVER WORKS default calendars
    email = link_google_calendar(stack, admin, member, sandbox, f"{company_id}.example")
    tenant = new_works_calendar_tenant(stack, sandbox, [member.user_id])
    enable_works_calendar(admin, tenant)

    # WHEN a Seoul afternoon off on New Year's Eve, and a New York trip over the DST change, are sent
    half = absence_upserted(
        company_id,
        member.user_id,
        new_absence_id(),
        [GOOGLE, WORKS],
        kind="half_day_pm",
        title="",
        start="2026-12-31",
        end="2026-12-31",
        timezone="Asia/Seoul",
    )
    trip = absence_upserted(
        company_id,
        member.user_id,
        new_absence_id(),
        [GOOGLE, WORKS],
        kind="business_trip",
        title="NY",
        all_day=False,
        start="2027-03-13T14:00:00Z",
        end="2027-03-15T22:00:00Z",
        timezone="America/New_York",
    )
    send_event(half)
    send_event(trip)
    wait_for_calendar_records(admin, half["event_id"], 2)
    wait_for_calendar_records(admin, trip["event_id"], 2)

    # THEN Google has the afternoon block in Seoul time, titled in the default language, and the trip in New York
    # time with the offsets before (-05:00) and after (-04:00) the change
    google = {e["summary"]: e for e in google_events(sandbox, email)}
    assert google["午後休"]["start"] == {"dateTime": "2026-12-31T13:00:00+09:00", "timeZone": "Asia/Seoul"}
    assert google["午後休"]["end"] == {"dateTime": "2026-12-31T18:00:00+09:00", "timeZone": "Asia/Seoul"}
    assert google["NY"]["start"] == {"dateTime": "2027-03-13T09:00:00-05:00", "timeZone": "America/New_York"}
    assert google["NY"]["end"] == {"dateTime": "2027-03-15T18:00:00-04:00", "timeZone": "America/New_York"}
    # AND NAVER WORKS has the same local times with the zone
    works = {e["summary"]: e for e in works_events(sandbox, tenant.domain_id, member.user_id)}
    assert works["午後休"]["start"] == {"dateTime": "2026-12-31T13:00:00", "timeZone": "Asia/Seoul"}
    assert works["NY"]["start"] == {"dateTime": "2027-03-13T09:00:00", "timeZone": "America/New_York"}
    assert works["NY"]["end"] == {"dateTime": "2027-03-15T18:00:00", "timeZone": "America/New_York"}


# ------------------------------------------------------------------------------------------- verify


def test_verify_proves_the_naver_works_calendar_credentials(
    stack: LocalStack, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN naver_works_calendar with the tenant's service account
    tenant = new_works_calendar_tenant(stack, sandbox, [member.user_id])
    enable_works_calendar(admin, tenant)

    # WHEN the admin verifies it
    verified = ok(admin.post("/admin/integrations/naver_works_calendar/verify"))

    # THEN a calendar-scope token was issued
    assert verified["status"]["state"] == "ok", verified["status"]
    (token_call,) = [r for r in sandbox.requests("naver_works") if r["path"].endswith("/token")]
    assert token_call["body"]["scope"] == "calendar" and token_call["status"] == 200

    # WHEN the client secret is wrong
    wrong = {**tenant.settings(), "client_secret": "not-the-secret"}
    ok(admin.put("/admin/integrations/naver_works_calendar", {"enabled": True, "settings": wrong}))
    refused = ok(admin.post("/admin/integrations/naver_works_calendar/verify"))

    # THEN the status is an error, and says nothing of the secret
    assert refused["status"]["state"] == "error"
    assert "not-the-secret" not in str(refused)


def test_verify_proves_the_google_oauth_client(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient
) -> None:
    # GIVEN google_calendar in user-consent mode with the company's OAuth client
    workspace = enable_google_calendar(stack, admin, sandbox, f"{company_id}.example")

    # WHEN the admin verifies it
    verified = ok(admin.post("/admin/integrations/google_calendar/verify"))

    # THEN Google accepted the client (only the made-up code was refused)
    assert verified["status"]["state"] == "ok", verified["status"]

    # WHEN the uploaded client file has a wrong secret
    client = json.loads(json.dumps(workspace.client_json))
    client["web"]["client_secret"] = "GOCSPX-wrong"
    settings = {
        "auth_mode": "user_consent",
        "company_domain": f"{company_id}.example",
        "oauth_client_json": json.dumps(client),
    }
    ok(admin.put("/admin/integrations/google_calendar", {"enabled": True, "settings": settings}))
    refused = ok(admin.post("/admin/integrations/google_calendar/verify"))

    # THEN the status is an error
    assert (refused["status"]["state"], refused["status"]["code"]) == ("error", "invalid_client")
