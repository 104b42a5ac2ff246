"""NAVER WORKS calendar linking through the local stack: user OAuth (authorize, consent, callback), the
employee's personal calendars (GET /me/calendars), refresh before expiry, and a revoked grant.

Each test registers its own tenant in the sandbox NAVER WORKS fake, with a user OAuth app whose Redirect URL is
the hub's callback, and configures naver_works_calendar (API 2.0) as the company's admin. The employee's
WORKPLACE user ID is their NAVER WORKS user ID (the contract), so that is who signs in on the consent page.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from tests.integration.helpers import Api, ok
from tests.integration.linking import (
    LINKED_TITLE,
    admin_links,
    assert_failed,
    authorize_url,
    consent,
    enable_works_calendar,
    get,
    link,
    my_links,
    new_works_calendar_tenant,
    page,
    query_of,
    raw_links,
    works_user_signs_in,
)

pytestmark = pytest.mark.integration

CALENDARS = [
    {"calendarId": "cal-work", "calendarName": "仕事"},
    {"calendarId": "cal-home", "calendarName": "プライベート", "isDefault": True},
    {"calendarId": "cal-team", "calendarName": "チーム", "isShowOnLNBList": False},
]


def calendar_state(api: Api) -> dict[str, Any]:
    return my_links(api)["naver_works_calendar"]


def token_calls(sandbox: SandboxClient, client_id: str, grant_type: str) -> list[dict[str, Any]]:
    """Token-endpoint calls the sandbox got from this OAuth client, for a grant type."""
    return [
        r
        for r in sandbox.requests("naver_works")
        if r["path"] == "/works/auth/oauth2/v2.0/token"
        and isinstance(r["body"], dict)
        and r["body"].get("client_id") == client_id
        and r["body"].get("grant_type") == grant_type
    ]


# ------------------------------------------------------------------------------------------- the flow


def test_authorize_sends_the_employee_to_naver_works_user_oauth_with_the_hubs_redirect_url(
    stack: LocalStack, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN naver_works_calendar configured with a user OAuth app
    tenant = new_works_calendar_tenant(stack, sandbox, [member.user_id])
    saved = enable_works_calendar(admin, tenant)

    # WHEN the employee asks where to go
    url = authorize_url(member, "naver_works")

    # THEN the admin was shown the hub's redirect URL to register in the NAVER WORKS console
    assert saved["read_only"]["redirect_url"] == tenant.redirect_url == stack.api_url + "/oauth/naver_works/callback"
    # AND the URL is NAVER WORKS' authorize endpoint for the user OAuth app, calendar scope, the tenant's domain
    assert url.startswith(stack.provider_env["WORKS_AUTH_BASE"] + "/authorize?")
    params = query_of(url)
    assert params["client_id"] == tenant.oauth_client_id
    assert params["redirect_uri"] == tenant.redirect_url
    assert (params["scope"], params["response_type"]) == ("calendar", "code")
    assert params["domain"] == tenant.domain_id
    assert params["state"].count(".") == 1


def test_the_employee_links_naver_works_and_lists_their_personal_calendars(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN naver_works_calendar configured, and the employee signing in on NAVER WORKS with three calendars
    tenant = new_works_calendar_tenant(stack, sandbox, [member.user_id])
    enable_works_calendar(admin, tenant)
    works_user_signs_in(sandbox, tenant, member.user_id, calendars=CALENDARS)
    assert calendar_state(member) == {"state": "not_linked", "reason": "naver_works_calendar_tokens_missing"}

    # WHEN they go through authorize → consent → the hub's callback (English browser)
    shown = page(link(member, "naver_works", lang="en"))

    # THEN the page says linked, and the link is healthy for them and for the admin
    assert (shown.status, shown.result, shown.lang, shown.title) == (200, "linked", "en", LINKED_TITLE["en"])
    assert calendar_state(member) == {"state": "linked"}
    assert admin_links(admin)[member.user_id]["naver_works_calendar"] == {"state": "linked"}
    # AND the tokens NAVER WORKS issued are stored only sealed
    (exchange,) = token_calls(sandbox, tenant.oauth_client_id, "authorization_code")
    assert exchange["status"] == 200 and exchange["body"]["redirect_uri"] == tenant.redirect_url
    raw = str(raw_links(stack, company_id, member.user_id))
    assert exchange["response"]["access_token"] not in raw and exchange["response"]["refresh_token"] not in raw

    # WHEN they list their calendars
    calendars = ok(member.get("/me/calendars"))["naver_works"]

    # THEN every calendar of theirs is there, in NAVER WORKS' order, the default one marked
    assert [(c["calendar_id"], c["name"], c["is_default"], c["visible"]) for c in calendars] == [
        ("cal-work", "仕事", False, True),
        ("cal-home", "プライベート", True, True),
        ("cal-team", "チーム", False, False),
    ]


def test_calendars_before_linking_answer_409_not_authorized(
    stack: LocalStack, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN naver_works_calendar turned on, but the employee has not authorized yet
    enable_works_calendar(admin, new_works_calendar_tenant(stack, sandbox, [member.user_id]))

    # WHEN they list calendars
    not_yet = member.get("/me/calendars")

    # THEN they are told to authorize NAVER WORKS calendars first, and NAVER WORKS was not called
    assert not_yet.status_code == 409, not_yet.text
    assert not_yet.json()["error"] == "naver_works_calendar_not_authorized"
    assert not [r for r in sandbox.requests("naver_works") if "/calendar" in r["path"]]


def test_a_company_without_naver_works_calendar_cannot_start_linking(member: Api) -> None:
    # GIVEN a company without naver_works_calendar
    # WHEN an employee tries to link
    start = member.get("/me/links/naver_works/authorize")

    # THEN it is a clear 409
    assert start.status_code == 409 and start.json()["error"] == "integration_unavailable"


def test_calendars_with_the_integration_turned_off_answer_409_integration_unavailable(
    stack: LocalStack, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN a linked employee whose calendars are listed
    tenant = new_works_calendar_tenant(stack, sandbox, [member.user_id])
    enable_works_calendar(admin, tenant)
    works_user_signs_in(sandbox, tenant, member.user_id)
    assert page(link(member, "naver_works")).result == "linked"
    assert ok(member.get("/me/calendars"))["naver_works"]
    calls = len(sandbox.requests("naver_works"))

    # WHEN the admin turns naver_works_calendar off and the employee lists calendars again
    ok(admin.put("/admin/integrations/naver_works_calendar", {"enabled": False, "settings": tenant.settings()}))
    off = member.get("/me/calendars")

    # THEN the hub answers 409 integration_unavailable without using the employee's token
    assert off.status_code == 409, off.text
    assert off.json()["error"] == "integration_unavailable"
    assert len(sandbox.requests("naver_works")) == calls


def test_consent_denied_on_naver_works_shows_access_denied(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN the employee declines on NAVER WORKS' consent page
    tenant = new_works_calendar_tenant(stack, sandbox, [member.user_id])
    enable_works_calendar(admin, tenant)
    works_user_signs_in(sandbox, tenant, member.user_id, consent="deny")

    # WHEN NAVER WORKS sends them back
    callback = consent(authorize_url(member, "naver_works"))
    assert query_of(callback)["error"] == "access_denied"

    # THEN the page (Korean) says access was not granted, and nothing is stored
    assert_failed(get(callback, lang="ko"), "access_denied", lang="ko")
    assert "naver_works_calendar_tokens" not in raw_links(stack, company_id, member.user_id)


def test_an_expired_naver_works_code_shows_code_invalid(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN the employee back from NAVER WORKS, whose code expired before the callback was opened
    tenant = new_works_calendar_tenant(stack, sandbox, [member.user_id])
    enable_works_calendar(admin, tenant)
    works_user_signs_in(sandbox, tenant, member.user_id)
    callback = consent(authorize_url(member, "naver_works"))
    assert sandbox.control("naver_works", "expire_codes", {"domain_id": tenant.domain_id})["expired"] == 1

    # WHEN the callback is opened
    response = get(callback)

    # THEN the page says the code was invalid or expired, and nothing is stored
    assert_failed(response, "code_invalid")
    assert "naver_works_calendar_tokens" not in raw_links(stack, company_id, member.user_id)


def test_a_replayed_naver_works_callback_shows_state_used(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN the employee linked NAVER WORKS
    tenant = new_works_calendar_tenant(stack, sandbox, [member.user_id])
    enable_works_calendar(admin, tenant)
    works_user_signs_in(sandbox, tenant, member.user_id)
    callback = consent(authorize_url(member, "naver_works"))
    assert page(get(callback)).result == "linked"
    before = raw_links(stack, company_id, member.user_id)

    # WHEN the callback is opened again
    replay = get(callback, lang="en")

    # THEN it is refused as used, and the stored tokens are the same
    assert_failed(replay, "state_used", lang="en")
    assert raw_links(stack, company_id, member.user_id) == before


# ------------------------------------------------------------------------------------------- refresh and revoke


def test_tokens_are_refreshed_before_expiry_and_a_revoked_grant_needs_relinking(
    stack: LocalStack, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN a tenant whose access tokens live one second (so the hub refreshes before every use), and a linked employee
    tenant = new_works_calendar_tenant(stack, sandbox, [member.user_id], token_ttl=1)
    enable_works_calendar(admin, tenant)
    works_user_signs_in(sandbox, tenant, member.user_id, calendars=CALENDARS[:1])
    assert page(link(member, "naver_works")).result == "linked"

    # WHEN they list their calendars
    calendars = ok(member.get("/me/calendars"))["naver_works"]

    # THEN the hub refreshed the token first (with the stored refresh token) and the list came back
    assert [c["calendar_id"] for c in calendars] == ["cal-work"]
    (exchange,) = token_calls(sandbox, tenant.oauth_client_id, "authorization_code")
    (refresh,) = token_calls(sandbox, tenant.oauth_client_id, "refresh_token")
    assert refresh["status"] == 200
    assert refresh["body"]["refresh_token"] == exchange["response"]["refresh_token"]

    # WHEN the employee's grant is revoked in NAVER WORKS and they list their calendars again
    sandbox.control("naver_works", "revoke_user", {"domain_id": tenant.domain_id, "user_id": member.user_id})
    refused = member.get("/me/calendars")

    # THEN the hub says to authorize again, and the link needs relinking with the reason
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "naver_works_calendar_not_authorized"
    assert token_calls(sandbox, tenant.oauth_client_id, "refresh_token")[-1]["status"] == 400
    state = calendar_state(member)
    assert (state["state"], state["reason"]) == ("needs_relink", "invalid_grant")
    assert admin_links(admin)[member.user_id]["naver_works_calendar"]["state"] == "needs_relink"

    # WHEN they link again
    works_user_signs_in(sandbox, tenant, member.user_id)
    assert page(link(member, "naver_works")).result == "linked"

    # THEN the link is healthy and the calendars are listed again
    assert calendar_state(member) == {"state": "linked"}
    assert ok(member.get("/me/calendars"))["naver_works"]


def test_a_token_refused_by_the_calendar_api_marks_the_link_needs_relink(
    stack: LocalStack, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN a linked employee whose access token the hub still believes valid (24 h)
    tenant = new_works_calendar_tenant(stack, sandbox, [member.user_id])
    enable_works_calendar(admin, tenant)
    works_user_signs_in(sandbox, tenant, member.user_id)
    assert page(link(member, "naver_works")).result == "linked"
    assert ok(member.get("/me/calendars"))["naver_works"]

    # WHEN their grant is revoked in NAVER WORKS (the access token now answers 401) and they list calendars
    sandbox.control("naver_works", "revoke_user", {"domain_id": tenant.domain_id, "user_id": member.user_id})
    refused = member.get("/me/calendars")

    # THEN the hub says to authorize again
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "naver_works_calendar_not_authorized"
    # AND the 401 marks the link needs_relink, as a refused refresh does
    state = calendar_state(member)
    assert state["state"] == "needs_relink", state
