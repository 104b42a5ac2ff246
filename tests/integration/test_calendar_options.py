"""GET /me/calendar-options: what WORKPLACE's absence form offers an employee under カレンダー登録."""

from __future__ import annotations

import pytest
import requests

from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from tests.integration.calendars import link_google_calendar
from tests.integration.helpers import Api, ok
from tests.integration.linking import (
    enable_google_calendar,
    enable_works_calendar,
    link,
    new_works_calendar_tenant,
    page,
    register_workspace_id,
    works_user_signs_in,
)

pytestmark = pytest.mark.integration


def test_with_no_calendar_integration_the_form_shows_no_calendar_area(member: Api) -> None:
    # WHEN an employee of a company without calendar integrations asks
    options = ok(member.get("/me/calendar-options"))

    # THEN there is nothing to offer
    assert options == {
        "calendar_registration": False,
        "naver_works": {"enabled": False},
        "google": {"enabled": False},
    }


def test_an_employee_who_linked_nothing_is_told_what_to_link(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN both calendar integrations on, and taro with no Google Workspace ID and no NAVER WORKS authorization
    enable_works_calendar(admin, new_works_calendar_tenant(stack, sandbox, [member.user_id]))
    enable_google_calendar(stack, admin, sandbox, f"{company_id}.example")

    # WHEN he opens the absence form
    options = ok(member.get("/me/calendar-options"))

    # THEN the NAVER WORKS default calendar is usable; his personal calendars and Google say what is missing
    assert options["calendar_registration"] is True
    assert options["naver_works"] == {
        "enabled": True,
        "default_calendar": {"usable": True, "reason": None, "target": {"provider": "naver_works"}},
        "personal_calendars": {
            "usable": False,
            "reason": "naver_works_calendar_not_authorized",
            "calendars": [],
            "authorize_path": "/me/links/naver_works/authorize",
        },
    }
    # AND the Workspace ID is the admin's to register: no link for him to follow yet
    assert options["google"] == {"enabled": True, "usable": False, "reason": "google_workspace_id_missing"}

    # WHEN the admin registers his Workspace ID
    register_workspace_id(admin, member.user_id, f"taro@{company_id}.example")

    # THEN he is asked for his consent
    google = ok(member.get("/me/calendar-options"))["google"]
    assert google == {
        "enabled": True,
        "usable": False,
        "reason": "google_calendar_not_authorized",
        "authorize_path": "/me/links/google/authorize",
    }


def test_a_linked_employee_gets_every_calendar_with_the_target_to_send(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN taro linked Google and NAVER WORKS, where he has a default and two other calendars
    link_google_calendar(stack, admin, member, sandbox, f"{company_id}.example")
    tenant = new_works_calendar_tenant(stack, sandbox, [member.user_id])
    enable_works_calendar(admin, tenant)
    calendars = [
        {"calendarId": "cal-home", "calendarName": "個人", "isDefault": True},
        {"calendarId": "cal-team", "calendarName": "チーム"},
        {"calendarId": "cal-proj", "calendarName": "プロジェクト"},
    ]
    works_user_signs_in(sandbox, tenant, member.user_id, calendars=calendars)
    assert page(link(member, "naver_works")).result == "linked"

    # WHEN he opens the absence form
    options = ok(member.get("/me/calendar-options"))

    # THEN Google and both NAVER WORKS choices are usable; his default calendar is offered once, as the default
    assert options["google"] == {"enabled": True, "usable": True, "reason": None, "target": {"provider": "google"}}
    personal = options["naver_works"]["personal_calendars"]
    assert (personal["usable"], personal["reason"]) == (True, None)
    assert personal["calendars"] == [
        {"calendar_id": "cal-team", "name": "チーム", "target": {"provider": "naver_works", "calendar_id": "cal-team"}},
        {
            "calendar_id": "cal-proj",
            "name": "プロジェクト",
            "target": {"provider": "naver_works", "calendar_id": "cal-proj"},
        },
    ]


def test_a_revoked_naver_works_grant_is_reported_as_needing_a_relink(
    stack: LocalStack, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN taro linked NAVER WORKS, then revoked the hub's access there
    tenant = new_works_calendar_tenant(stack, sandbox, [member.user_id], token_ttl=1)
    enable_works_calendar(admin, tenant)
    works_user_signs_in(sandbox, tenant, member.user_id)
    assert page(link(member, "naver_works")).result == "linked"
    sandbox.control("naver_works", "revoke_user", {"domain_id": tenant.domain_id, "user_id": member.user_id})

    # WHEN he opens the absence form
    personal = ok(member.get("/me/calendar-options"))["naver_works"]["personal_calendars"]

    # THEN his personal calendars need him to link again; the default calendar is still offered
    assert (personal["usable"], personal["reason"]) == (False, "naver_works_calendar_needs_relink")
    assert personal["authorize_path"] == "/me/links/naver_works/authorize"
    assert ok(member.get("/me/calendar-options"))["naver_works"]["default_calendar"]["usable"] is True


def test_calendar_options_need_a_token(stack: LocalStack) -> None:
    assert requests.get(stack.api_url + "/me/calendar-options", timeout=5).status_code == 401
