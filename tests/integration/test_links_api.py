"""Employees' own links (/me/links) and the admin's 連携ID field (/admin/users/{user_id}/links)."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from tests.integration.helpers import Api, new_webhook, ok, user

pytestmark = pytest.mark.integration

MASK = "********"


def test_an_employee_sets_and_clears_their_links_and_never_sees_the_webhook_secrets(
    member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN a Google Chat space webhook (its URL carries a key and a token)
    webhook = new_webhook(sandbox)

    # WHEN the employee links their Slack member ID and the webhook
    saved = ok(member.put("/me/links", {"slack_member_id": "U012AB3CD", "google_chat_webhook_url": webhook.url}))

    # THEN both are stored; the webhook comes back with key and token masked, everything else kept
    parts = urlsplit(webhook.url)
    masked = f"{parts.scheme}://{parts.netloc}{parts.path}?key={MASK}&token={MASK}"
    assert saved["user_id"] == member.user_id
    assert saved["slack_member_id"] == "U012AB3CD"
    assert saved["google_chat_webhook_url"] == masked
    assert ok(member.get("/me/links")) == saved
    for response in member.responses:
        assert webhook.key not in response.text and webhook.token not in response.text

    # WHEN the employee clears the Slack link only (null), leaving the webhook out of the body
    cleared_slack = ok(member.put("/me/links", {"slack_member_id": None}))

    # THEN the Slack link is gone and the webhook is untouched
    assert cleared_slack["slack_member_id"] is None
    assert cleared_slack["google_chat_webhook_url"] == masked

    # WHEN the employee clears the webhook with an empty string
    cleared_all = ok(member.put("/me/links", {"google_chat_webhook_url": ""}))

    # THEN no link is left
    assert cleared_all["google_chat_webhook_url"] is None
    assert ok(member.get("/me/links"))["google_chat_webhook_url"] is None


@pytest.mark.parametrize("member_id", ["U012AB3CD", "W0A1B2C3D4E"], ids=["U member", "W enterprise member"])
def test_an_employee_links_a_slack_member_id_and_their_google_workspace_id(member: Api, member_id: str) -> None:
    # GIVEN a Slack member ID (U… or W…) and a Google Workspace address in mixed case
    # WHEN the employee links both
    saved = ok(member.put("/me/links", {"slack_member_id": member_id, "google_workspace_id": "Taro@Acme.Example"}))

    # THEN both are stored (the address normalised)
    assert saved["slack_member_id"] == member_id
    assert saved["google_workspace_id"] == "taro@acme.example"
    assert ok(member.get("/me/links")) == saved


@pytest.mark.parametrize(
    "member_id",
    ["C012AB3CD", "u012ab3cd", "U12", "<@U012AB3CD>", "U012AB3CD/../x"],
    ids=["a channel ID", "lower case", "too short", "a mention", "with a path"],
)
def test_a_slack_member_id_that_is_not_one_is_refused(member: Api, member_id: str) -> None:
    # GIVEN a value that is not a Slack member ID
    # WHEN the employee links it
    response = member.put("/me/links", {"slack_member_id": member_id})

    # THEN it is refused naming the field, and nothing is stored
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "slack_member_id"
    assert ok(member.get("/me/links"))["slack_member_id"] is None


# Each builder gets the sandbox's GOOGLE_CHAT_BASE (e.g. http://127.0.0.1:PORT/google_chat).
REFUSED_WEBHOOKS: dict[str, Callable[[str], str]] = {
    "another host": lambda base: "https://evil.example/v1/spaces/AAAA1/messages?key=Kevil0001&token=Tevil0001",
    "the real Chat host over plain http": lambda base: (
        "http://chat.googleapis.com/v1/spaces/AAAA1/messages?key=Kevil0001&token=Tevil0001"
    ),
    "the configured base with another scheme": lambda base: (
        base.replace("http://", "https://", 1) + "/v1/spaces/AAAA1/messages?key=Kevil0001&token=Tevil0001"
    ),
    "cloud metadata address": lambda base: (
        "http://169.254.169.254/latest/meta-data/?u=/v1/spaces/A/messages&key=Kevil0001&token=Tevil0001"
    ),
    "user-info trick": lambda base: (
        f"{base.split('/google_chat')[0]}@evil.example/google_chat/v1/spaces/AAAA1/messages"
        "?key=Kevil0001&token=Tevil0001"
    ),
    "under the base but another API": lambda base: base + "/v1/spaces/AAAA1/members?key=Kevil0001&token=Tevil0001",
    "under the base but not spaces": lambda base: base + "/v1/other/AAAA1/messages?key=Kevil0001&token=Tevil0001",
    "no space": lambda base: base + "/v1/spaces//messages?key=Kevil0001&token=Tevil0001",
    "path traversal": lambda base: base + "/v1/spaces/AAAA1/../../../../admin/messages?key=Kevil0001&token=Tevil0001",
    "messages without key and token": lambda base: base + "/v1/spaces/AAAA1/messages",
    "messages without token": lambda base: base + "/v1/spaces/AAAA1/messages?key=Kevil0001",
    "messages with an empty token": lambda base: base + "/v1/spaces/AAAA1/messages?key=Kevil0001&token=",
    "not a URL": lambda base: "javascript:alert(1)//v1/spaces/AAAA1/messages?key=Kevil0001&token=Tevil0001",
}


@pytest.mark.parametrize("case", sorted(REFUSED_WEBHOOKS))
def test_a_webhook_url_that_is_not_a_google_chat_webhook_is_refused(
    stack: LocalStack, member: Api, sandbox: SandboxClient, case: str
) -> None:
    # GIVEN an employee with a valid webhook linked, and a URL that must never be called
    webhook = new_webhook(sandbox)
    before = ok(member.put("/me/links", {"google_chat_webhook_url": webhook.url}))
    url = REFUSED_WEBHOOKS[case](stack.provider_env["GOOGLE_CHAT_BASE"])

    # WHEN the employee tries to link it
    response = member.put("/me/links", {"google_chat_webhook_url": url})

    # THEN it is refused naming the field, without echoing the URL's secrets
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "google_chat_webhook_url"
    assert "Kevil0001" not in response.text and "Tevil0001" not in response.text
    # AND the previous link is still the one stored
    assert ok(member.get("/me/links"))["google_chat_webhook_url"] == before["google_chat_webhook_url"]


def test_the_admin_sets_an_employees_google_workspace_id(
    api_as: Callable[..., Api], company_id: str, admin: Api
) -> None:
    # GIVEN an employee, hanako, with a Slack link of her own
    hanako = api_as(company_id, user(company_id, "hanako"), "member")
    ok(hanako.put("/me/links", {"slack_member_id": "U0HANAKO01"}))

    # WHEN the admin sets her Google Workspace ID (the 連携ID field), in mixed case
    saved = ok(admin.put(f"/admin/users/{hanako.user_id}/links", {"google_workspace_id": "Hanako.Sato@Acme.Example"}))

    # THEN it is stored normalised for her, and her own link is untouched
    assert saved["user_id"] == hanako.user_id
    assert saved["google_workspace_id"] == "hanako.sato@acme.example"
    mine = ok(hanako.get("/me/links"))
    assert mine["google_workspace_id"] == "hanako.sato@acme.example"
    assert mine["slack_member_id"] == "U0HANAKO01"
    # AND the admin's own links did not get it
    assert ok(admin.get("/me/links"))["google_workspace_id"] is None

    # WHEN the admin tries to set anything else through that route, or a value that is not an address
    other_field = admin.put(f"/admin/users/{hanako.user_id}/links", {"slack_member_id": "U0INTRUDER"})
    not_email = admin.put(f"/admin/users/{hanako.user_id}/links", {"google_workspace_id": "hanako"})

    # THEN both are refused and her links are unchanged
    assert other_field.status_code == 422
    assert not_email.status_code == 400 and not_email.json()["field"] == "google_workspace_id"
    assert ok(hanako.get("/me/links")) == mine


def test_the_google_workspace_id_must_be_in_the_company_domain_once_it_is_known(
    api_as: Callable[..., Api], company_id: str, admin: Api
) -> None:
    # GIVEN Google Calendar configured for the company domain acme.example
    oauth = {
        "web": {
            "client_id": "123-abc.apps.googleusercontent.com",
            "client_secret": "GOCSPX-client-secret-value-0001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    }
    settings = {"oauth_client_json": json.dumps(oauth), "company_domain": "acme.example"}
    ok(admin.put("/admin/integrations/google_calendar", {"enabled": True, "settings": settings}))
    hanako = user(company_id, "hanako")

    # WHEN the admin sets an address outside the domain, then one inside it
    outside = admin.put(f"/admin/users/{hanako}/links", {"google_workspace_id": "hanako@gmail.com"})
    inside = admin.put(f"/admin/users/{hanako}/links", {"google_workspace_id": "hanako@acme.example"})

    # THEN only the company-domain address is accepted
    assert outside.status_code == 400 and outside.json()["field"] == "google_workspace_id"
    assert ok(inside)["google_workspace_id"] == "hanako@acme.example"
    # AND an employee is held to the same rule
    taro = api_as(company_id, user(company_id, "taro"), "member")
    refused = taro.put("/me/links", {"google_workspace_id": "taro@gmail.com"})
    assert refused.status_code == 400 and refused.json()["field"] == "google_workspace_id"
