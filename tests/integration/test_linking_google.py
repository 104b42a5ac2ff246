"""Google Workspace calendar linking through the local stack: per-employee consent (authorize URL, callback,
ID-token checks against the registered Google Workspace ID and the company domain, sealed tokens), refresh and
revocation, and domain-wide delegation (no employee consent; the admin's verify).

Each test registers its own OAuth client (and service account) in the sandbox Google fake and configures
google_calendar as the company's admin; the registered Google Workspace ID is set through the admin's
連携ID route. The sandbox's "signed-in Google user" is whoever the test says signs in on the consent page.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from tests.integration.helpers import Api, ok, user
from tests.integration.linking import (
    CALENDAR_EVENTS,
    LINKED_TITLE,
    admin_links,
    assert_failed,
    authorize_url,
    consent,
    delegation_settings,
    enable_google_calendar,
    get,
    google_token_answers,
    google_user_signs_in,
    link,
    linking_service,
    my_links,
    page,
    query_of,
    raw_links,
    register_workspace_id,
)
from workplace_hub.errors import NeedsRelinkError

pytestmark = pytest.mark.integration


def domain_of(company_id: str) -> str:
    return f"{company_id}.example"


@pytest.fixture
def workspace(stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient) -> Any:
    """google_calendar on (user consent) for the company domain; the member's Google Workspace ID registered."""
    domain = domain_of(company_id)
    configured = enable_google_calendar(stack, admin, sandbox, domain)
    register_workspace_id(admin, member.user_id, f"taro@{domain}")
    return configured


def calendar_state(api: Api) -> dict[str, Any]:
    return my_links(api)["google_calendar"]


# ------------------------------------------------------------------------------------------- the flow


def test_authorize_asks_google_for_offline_calendar_access_for_the_registered_account(
    stack: LocalStack, company_id: str, admin: Api, member: Api, workspace: Any
) -> None:
    # GIVEN google_calendar in user-consent mode and taro's Google Workspace ID registered
    redirect_url = ok(admin.get("/admin/integrations/google_calendar"))["read_only"]["redirect_url"]

    # WHEN taro asks where to go
    url = authorize_url(member, "google")

    # THEN it is Google's consent page (the sandbox's) for the company's OAuth client and the hub's callback
    assert url.startswith(stack.provider_env["GOOGLE_ACCOUNTS_BASE"] + "/o/oauth2/v2/auth?")
    params = query_of(url)
    assert params["client_id"] == workspace.client_id
    assert params["redirect_uri"] == redirect_url == stack.api_url + "/oauth/google/callback"
    assert params["response_type"] == "code"
    # AND it asks for calendar events with a refresh token, re-consenting every time
    assert CALENDAR_EVENTS in params["scope"].split() and "openid" in params["scope"].split()
    assert (params["access_type"], params["prompt"]) == ("offline", "consent")
    # AND it hints Google at the registered account and the company domain
    assert params["login_hint"] == f"taro@{domain_of(company_id)}"
    assert params["hd"] == domain_of(company_id)
    # AND it carries a state, a nonce and a PKCE S256 challenge
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["state"].count(".") == 1 and params["nonce"]


def test_the_registered_employee_links_their_calendar_and_the_tokens_are_stored_sealed(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient, workspace: Any
) -> None:
    # GIVEN taro signs in on Google with his registered account, in the company domain
    domain = domain_of(company_id)
    google_user_signs_in(sandbox, f"taro@{domain}", domain)

    # WHEN he goes through authorize → Google consent → the hub's callback (Korean browser)
    shown = page(link(member, "google", lang="ko"))

    # THEN the page says linked, in Korean
    assert (shown.status, shown.result, shown.lang, shown.title) == (200, "linked", "ko", LINKED_TITLE["ko"])
    # AND the link is healthy (consent given) for him and for the admin
    assert calendar_state(member) == {"state": "linked"}
    assert admin_links(admin)[member.user_id]["google_calendar"] == {"state": "linked"}
    # AND the code was exchanged with PKCE, and Google's tokens are stored only sealed
    (exchange,) = google_token_answers(sandbox, "authorization_code")
    assert exchange["status"] == 200 and len(exchange["body"]["code_verifier"]) >= 43
    answer = exchange["response"]
    assert answer["refresh_token"] and answer["access_token"]
    stored = raw_links(stack, company_id, member.user_id)
    assert stored["google_calendar_tokens"]
    raw = json.dumps(stored, default=str)
    for token in (answer["access_token"], answer["refresh_token"], answer["id_token"]):
        assert token not in raw
    # AND GET /me/links never shows them either
    assert answer["access_token"] not in member.get("/me/links").text


def test_signing_in_with_another_account_of_the_domain_shows_email_mismatch(
    stack: LocalStack, company_id: str, member: Api, sandbox: SandboxClient, workspace: Any
) -> None:
    # GIVEN taro signs in on Google as hanako (same domain), not his registered account
    domain = domain_of(company_id)
    google_user_signs_in(sandbox, f"hanako@{domain}", domain)

    # WHEN he comes back to the hub
    response = link(member, "google", lang="en")

    # THEN the page says the account is not his registered Google Workspace ID, and nothing is linked
    shown = assert_failed(response, "email_mismatch", lang="en")
    assert "registered Google Workspace ID" in shown.text
    assert "google_calendar_tokens" not in raw_links(stack, company_id, member.user_id)
    assert calendar_state(member) == {"state": "not_linked", "reason": "google_consent_missing"}


@pytest.mark.parametrize(
    ("email", "hd"),
    [("taro@gmail.com", None), ("taro@elsewhere.example", "elsewhere.example")],
    ids=["consumer account", "another workspace"],
)
def test_signing_in_outside_the_company_domain_shows_hosted_domain_mismatch(
    stack: LocalStack, company_id: str, member: Api, sandbox: SandboxClient, workspace: Any, email: str, hd: str | None
) -> None:
    # GIVEN taro signs in on Google with an account outside the company's Workspace
    google_user_signs_in(sandbox, email, hd)

    # WHEN he comes back to the hub
    response = link(member, "google")

    # THEN the page (Japanese) says only company-domain accounts can be linked, and nothing is linked
    assert_failed(response, "hosted_domain_mismatch")
    assert "google_calendar_tokens" not in raw_links(stack, company_id, member.user_id)


def test_an_employee_without_a_registered_google_workspace_id_cannot_start(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN google_calendar configured but no Google Workspace ID registered for taro
    enable_google_calendar(stack, admin, sandbox, domain_of(company_id))

    # WHEN taro asks to link Google (JSON and redirect forms)
    response = member.get("/me/links/google/authorize")
    redirect = member.get("/me/links/google/authorize", params={"redirect": "true"}, allow_redirects=False)

    # THEN both answer 409 google_workspace_id_missing with a message saying what to do
    assert response.status_code == 409 and redirect.status_code == 409
    body = response.json()
    assert body["error"] == "google_workspace_id_missing"
    assert "admin" in body["message"]
    # AND he sees why: no Google Workspace ID, and nothing was stored for him
    assert calendar_state(member) == {"state": "not_linked", "reason": "google_workspace_id_missing"}
    assert member.user_id not in admin_links(admin)


def test_consent_denied_on_google_shows_access_denied(
    stack: LocalStack, company_id: str, member: Api, sandbox: SandboxClient, workspace: Any
) -> None:
    # GIVEN taro declines on Google's consent page
    domain = domain_of(company_id)
    google_user_signs_in(sandbox, f"taro@{domain}", domain, consent="deny")

    # WHEN Google sends him back
    callback = consent(authorize_url(member, "google"))
    assert query_of(callback)["error"] == "access_denied"

    # THEN the page says access was not granted, and no tokens are stored
    assert_failed(get(callback), "access_denied")
    assert "google_calendar_tokens" not in raw_links(stack, company_id, member.user_id)


def test_an_expired_google_code_shows_code_invalid(
    stack: LocalStack, company_id: str, member: Api, sandbox: SandboxClient, workspace: Any
) -> None:
    # GIVEN taro back from Google, whose code expired before the callback was opened
    domain = domain_of(company_id)
    google_user_signs_in(sandbox, f"taro@{domain}", domain)
    callback = consent(authorize_url(member, "google"))
    sandbox.control("google_oauth", "expire_codes", {})

    # WHEN the callback is opened
    response = get(callback)

    # THEN the page says the code was invalid or expired, and nothing is stored
    assert_failed(response, "code_invalid")
    assert "google_calendar_tokens" not in raw_links(stack, company_id, member.user_id)


# ------------------------------------------------------------------------------------------- refresh and revoke


def test_an_expired_access_token_is_refreshed_and_a_revoked_grant_marks_the_link_needs_relink(
    stack: LocalStack, company_id: str, member: Api, sandbox: SandboxClient, workspace: Any
) -> None:
    # GIVEN taro linked his calendar
    domain = domain_of(company_id)
    google_user_signs_in(sandbox, f"taro@{domain}", domain)
    assert page(link(member, "google")).result == "linked"
    (exchange,) = google_token_answers(sandbox, "authorization_code")
    first_access = exchange["response"]["access_token"]
    # (no public route uses the Google token in this issue: the linking service is driven directly, wired like
    # the linking function, with a clock two hours ahead so the stored access token has expired)
    later = linking_service(stack, clock=lambda: time.time() + 2 * 3600)

    # WHEN the hub needs his access token after it expired
    fresh = later.access_token(company_id, member.user_id, "google")

    # THEN it refreshed it at Google with the stored refresh token, and the link is still healthy
    (refresh,) = google_token_answers(sandbox, "refresh_token")
    assert refresh["status"] == 200
    assert refresh["body"]["refresh_token"] == exchange["response"]["refresh_token"]
    assert fresh == refresh["response"]["access_token"] != first_access
    assert calendar_state(member) == {"state": "linked"}

    # WHEN taro revokes the hub's access in his Google account, and the token is needed again later
    sandbox.control("google_oauth", "revoke_user", {"email": f"taro@{domain}"})
    even_later = linking_service(stack, clock=lambda: time.time() + 4 * 3600)
    with pytest.raises(NeedsRelinkError) as refused:
        even_later.access_token(company_id, member.user_id, "google")

    # THEN Google refused the refresh (invalid_grant), and the link needs relinking, with the reason
    assert refused.value.code == "invalid_grant"
    assert google_token_answers(sandbox, "refresh_token")[-1]["response"]["error"] == "invalid_grant"
    state = calendar_state(member)
    assert (state["state"], state["reason"]) == ("needs_relink", "invalid_grant")

    # WHEN taro links again
    assert page(link(member, "google")).result == "linked"

    # THEN the link is healthy again
    assert calendar_state(member) == {"state": "linked"}


# ------------------------------------------------------------------------------------------- delegation


def test_with_domain_wide_delegation_employees_need_no_consent(
    company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN google_calendar in domain-wide delegation mode, and taro's Google Workspace ID registered
    domain = domain_of(company_id)
    settings = delegation_settings(sandbox, company_id, f"admin@{domain}")
    saved = ok(admin.put("/admin/integrations/google_calendar", {"enabled": True, "settings": settings}))
    register_workspace_id(admin, member.user_id, f"taro@{domain}")

    # THEN the admin sees it configured, with the key file masked
    assert saved["configured"] is True
    assert saved["settings"]["auth_mode"] == "domain_wide_delegation"
    assert "PRIVATE KEY" not in json.dumps(saved)
    # AND taro's calendar counts as linked without his consent
    assert calendar_state(member) == {"state": "linked"}

    # WHEN taro tries to start a consent flow anyway
    response = member.get("/me/links/google/authorize")

    # THEN he is told his company needs no consent from him
    assert response.status_code == 409 and response.json()["error"] == "consent_not_needed"


def test_the_admin_verifies_domain_wide_delegation(company_id: str, admin: Api, sandbox: SandboxClient) -> None:
    # GIVEN google_calendar in delegation mode with a service account delegated for the company domain
    domain = domain_of(company_id)
    settings = delegation_settings(sandbox, company_id, f"admin@{domain}")
    ok(admin.put("/admin/integrations/google_calendar", {"enabled": True, "settings": settings}))

    # WHEN the admin verifies it
    verified = ok(admin.post("/admin/integrations/google_calendar/verify"))

    # THEN a calendar token was issued acting as verify_subject, and the status is ok
    assert verified["status"]["state"] == "ok", verified["status"]
    (grant,) = google_token_answers(sandbox, "urn:ietf:params:oauth:grant-type:jwt-bearer")
    assert grant["status"] == 200

    # WHEN the delegation does not cover the subject (an address outside the domain)
    settings["verify_subject"] = "someone@elsewhere.example"
    ok(admin.put("/admin/integrations/google_calendar", {"enabled": True, "settings": settings}))
    refused = ok(admin.post("/admin/integrations/google_calendar/verify"))

    # THEN the status is an error naming Google's refusal
    assert refused["status"]["state"] == "error"
    assert refused["status"]["code"] == "unauthorized_client"


def test_the_google_workspace_id_is_per_company(
    api_as: Any, company_id: str, other_company_id: str, admin: Api, member: Api, sandbox: SandboxClient, workspace: Any
) -> None:
    # GIVEN company A's taro with a registered Google Workspace ID, and company B's admin
    admin_b = api_as(other_company_id, user(other_company_id, "admin"), "admin")

    # WHEN B's admin sets a Google Workspace ID for A's taro's user id
    ok(admin_b.put(f"/admin/users/{member.user_id}/links", {"google_workspace_id": "mallory@evil.example"}))

    # THEN A's taro still has his own, and his flow still hints his own account
    assert ok(member.get("/me/links"))["google_workspace_id"] == f"taro@{domain_of(company_id)}"
    assert query_of(authorize_url(member, "google"))["login_hint"] == f"taro@{domain_of(company_id)}"
