"""The admin settings API: integrations (masking, keep-on-omit, delete, validation, verify), routing,
Collabo defaults and the OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from tests.integration.helpers import (
    Api,
    enable_slack,
    new_slack_token,
    notification,
    ok,
    route,
    user,
    wait_for_deliveries,
)

pytestmark = pytest.mark.integration

MASK = "********"
ALL_INTEGRATIONS = {
    "naver_works": "messenger",
    "kakao": "messenger",
    "slack": "messenger",
    "google_chat": "messenger",
    "line": "messenger",
    "naver_works_calendar": "calendar",
    "google_calendar": "calendar",
}


def _rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _oauth_client_json() -> str:
    return json.dumps(
        {
            "web": {
                "client_id": "123-abc.apps.googleusercontent.com",
                "client_secret": "GOCSPX-client-secret-value-0001",
                "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        }
    )


def valid_settings(integration: str) -> dict[str, str]:
    """A complete, valid admin-console form for each integration with fields."""
    return {
        "slack": lambda: {"bot_token": new_slack_token()},
        "kakao": lambda: {
            "access_key_id": "AKIA1234ABCD5678",
            "secret_key": "kakaoSecretKey0123456789ABCDEFxyz",
            "channel_id": "@acme-approvals",
            "service_id": "ncp:kkobizmsg:kr:1234567:acme",
            "template_code": "APPROVAL_01",
        },
        "line": lambda: {
            "login_channel_id": "1234567890",
            "login_channel_secret": "0123456789abcdef0123456789abcdef",
            "channel_access_token": "lineChannelAccessToken0123456789ABCDEFGHIJ",
            "channel_secret": "fedcba9876543210fedcba9876543210",
            "friend_link_url": "https://lin.ee/AbCdEfG",
        },
        "naver_works": lambda: {
            "api_version": "2.0",
            "domain_id": "10000001",
            "admin_email": "admin@acme.example",
            "client_id": "worksClientId0001",
            "client_secret": "worksClientSecret0001",
            "service_account": "abcde.serviceaccount@acme.example",
            "private_key": _rsa_pem(),
            "bot_id": "2000001",
        },
        "google_calendar": lambda: {"oauth_client_json": _oauth_client_json(), "company_domain": "acme.example"},
    }[integration]()


# ------------------------------------------------------------------------------------------- listing


def test_the_list_shows_all_seven_integrations_off_with_their_copy_paste_urls(
    stack: LocalStack, company_id: str, admin: Api
) -> None:
    # GIVEN a company that configured nothing
    # WHEN its admin lists the integrations
    listed = ok(admin.get("/admin/integrations"))["integrations"]

    # THEN all seven are there, each with its kind, off, unverified and without settings
    assert {i["integration"]: i["kind"] for i in listed} == ALL_INTEGRATIONS
    assert len(listed) == 7
    for view in listed:
        assert set(view) >= {"integration", "kind", "enabled", "configured", "status", "settings", "read_only"}
        assert view["enabled"] is False, view
        assert view["status"]["state"] == "unverified", view
        assert view["settings"] == {}, view
    by_id = {i["integration"]: i for i in listed}
    # AND the read-only URLs admins paste into provider consoles are on the hub's own URL
    assert by_id["line"]["read_only"] == {
        "callback_url": f"{stack.api_url}/oauth/line/callback",
        "webhook_url": f"{stack.api_url}/webhooks/line/{company_id}",
    }
    assert by_id["google_calendar"]["read_only"] == {"redirect_url": f"{stack.api_url}/oauth/google/callback"}
    assert by_id["naver_works_calendar"]["read_only"] == {"redirect_url": f"{stack.api_url}/oauth/naver_works/callback"}
    assert by_id["slack"]["read_only"] == {}
    # AND the single GET agrees with the list
    assert ok(admin.get("/admin/integrations/line")) == by_id["line"]


# ------------------------------------------------------------------------------------------- secrets


def test_a_slack_token_is_only_ever_shown_masked_and_is_kept_when_omitted(admin: Api, sandbox: SandboxClient) -> None:
    # GIVEN a Slack workspace in the sandbox
    token = new_slack_token()
    sandbox.add_slack_workspace(token, team="Acme")

    # WHEN the admin saves the bot token
    saved = ok(admin.put("/admin/integrations/slack", {"enabled": True, "settings": {"bot_token": token}}))

    # THEN the answer shows it masked: the mask and at most the last 4 characters
    assert saved["settings"]["bot_token"] == MASK + token[-4:]
    assert saved["enabled"] is True and saved["configured"] is True
    assert saved["status"]["state"] == "unverified"
    assert ok(admin.get("/admin/integrations/slack"))["settings"]["bot_token"] == MASK + token[-4:]

    # WHEN the admin saves again without the token, and then with the masked value sent back
    omitted = ok(admin.put("/admin/integrations/slack", {"enabled": True}))
    echoed = ok(admin.put("/admin/integrations/slack", {"enabled": True, "settings": {"bot_token": MASK + token[-4:]}}))

    # THEN the stored token is still the original one: verify calls Slack with it
    assert omitted["settings"]["bot_token"] == echoed["settings"]["bot_token"] == MASK + token[-4:]
    verified = ok(admin.post("/admin/integrations/slack/verify"))
    assert verified["status"]["state"] == "ok", verified
    auth_tests = [r for r in sandbox.requests("slack") if r["path"].endswith("/auth.test")]
    assert [r["headers"].get("Authorization") for r in auth_tests] == [f"Bearer {token}"]
    # AND no answer ever carried more of the token than its last 4 characters
    for response in admin.responses:
        assert token[:-4] not in response.text


def test_a_secret_left_out_of_a_multi_field_form_is_kept(admin: Api) -> None:
    # GIVEN KakaoTalk AlimTalk configured with its secret key
    form = valid_settings("kakao")
    saved = ok(admin.put("/admin/integrations/kakao", {"enabled": True, "settings": form}))
    assert saved["settings"]["secret_key"] == MASK + form["secret_key"][-4:]

    # WHEN the admin changes the channel ID and sends the form without the secret key
    changed = {k: v for k, v in form.items() if k != "secret_key"} | {"channel_id": "@acme-hr"}
    updated = ok(admin.put("/admin/integrations/kakao", {"enabled": True, "settings": changed}))

    # THEN the change is saved, the secret is still there (still required to stay on), never in clear
    assert updated["settings"]["channel_id"] == "@acme-hr"
    assert updated["settings"]["secret_key"] == MASK + form["secret_key"][-4:]
    assert updated["enabled"] is True and updated["configured"] is True
    assert form["secret_key"] not in json.dumps(updated)


def test_delete_turns_the_integration_off_and_erases_its_secrets(admin: Api, sandbox: SandboxClient) -> None:
    # GIVEN Slack configured and verified
    token = enable_slack(admin, sandbox, members=[])
    assert ok(admin.post("/admin/integrations/slack/verify"))["status"]["state"] == "ok"

    # WHEN the admin deletes it
    deleted = ok(admin.delete("/admin/integrations/slack"))

    # THEN it is off, unconfigured, unverified, and shows no token at all
    for view in (deleted, ok(admin.get("/admin/integrations/slack"))):
        assert view["enabled"] is False
        assert view["configured"] is False
        assert "bot_token" not in view["settings"]
        assert view["status"]["state"] == "unverified"
    # AND verify has nothing to check
    verify = admin.post("/admin/integrations/slack/verify")
    assert verify.status_code == 409 and verify.json()["error"] == "not_configured"
    # AND the secret is really gone: turning Slack back on without a token is refused
    again = admin.put("/admin/integrations/slack", {"enabled": True})
    assert again.status_code == 400 and again.json()["field"] == "settings.bot_token"
    assert token[:-4] not in deleted["settings"].get("bot_token", "")


# ------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("integration", "integration_settings", "field"),
    [
        ("kakao", {"channel_id": "acme-approvals"}, "settings.channel_id"),
        ("line", {"friend_link_url": "http://lin.ee/AbCdEfG"}, "settings.friend_link_url"),
        ("line", {"friend_link_url": "https://evil.example/add"}, "settings.friend_link_url"),
        ("naver_works", {"private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n"}, "settings.private_key"),
        ("naver_works", {"private_key": "just-some-text-not-pem"}, "settings.private_key"),
        ("google_calendar", {"oauth_client_json": json.dumps({"installed": {}})}, "settings.oauth_client_json"),
        ("google_calendar", {"oauth_client_json": "{not json"}, "settings.oauth_client_json"),
        ("slack", {"bot_token": "xoxp-1234567890-user-token-not-bot"}, "settings.bot_token"),
        ("line", {"callback_url": "https://hub.example/cb"}, "settings.callback_url"),
        ("naver_works", {"credentials_source": "platform"}, "settings.credentials_source"),
    ],
    ids=[
        "kakao channel_id without @",
        "line friend link over http",
        "line friend link on another host",
        "naver_works private_key not a key",
        "naver_works private_key not PEM",
        "google_calendar oauth json not a web client",
        "google_calendar oauth json not JSON",
        "slack user token instead of bot token",
        "line read-only URL sent as a setting",
        "platform credentials for a non-Collabo company",
    ],
)
def test_a_bad_setting_is_refused_with_the_field_named(
    admin: Api, integration: str, integration_settings: dict[str, str], field: str
) -> None:
    # GIVEN an otherwise complete and valid form with one bad field
    form = valid_settings(integration) | integration_settings

    # WHEN the admin saves it
    response = admin.put(f"/admin/integrations/{integration}", {"enabled": True, "settings": form})

    # THEN it is refused with a 4xx naming that field, without echoing the value
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["field"] == field
    for value in integration_settings.values():
        if len(value) >= 12:  # a value, not a word the message may well use ("platform")
            assert value not in response.text
    # AND nothing was stored
    view = ok(admin.get(f"/admin/integrations/{integration}"))
    assert view["enabled"] is False and view["settings"] == {}


@pytest.mark.parametrize("integration", ["kakao", "line", "naver_works", "google_calendar", "slack"])
def test_the_valid_forms_are_accepted(admin: Api, integration: str) -> None:
    # GIVEN a complete valid form (the control case of the refusals above)
    form = valid_settings(integration)

    # WHEN the admin saves it
    saved = ok(admin.put(f"/admin/integrations/{integration}", {"enabled": True, "settings": form}))

    # THEN it is on and configured, and no secret comes back in clear
    assert saved["enabled"] is True and saved["configured"] is True
    for name, value in saved["settings"].items():
        if isinstance(value, str) and value.startswith(MASK):
            assert len(value) <= len(MASK) + 4, (name, value)
            assert form[name] not in json.dumps(saved)
    assert saved["settings"].get("private_key", MASK) == MASK  # multi-line keys show no tail
    assert saved["settings"].get("oauth_client_json", MASK) == MASK


def test_a_form_missing_a_required_field_cannot_be_turned_on(admin: Api) -> None:
    # GIVEN a LINE form without its channel access token
    form = {k: v for k, v in valid_settings("line").items() if k != "channel_access_token"}

    # WHEN the admin tries to turn it on
    response = admin.put("/admin/integrations/line", {"enabled": True, "settings": form})

    # THEN the missing field is named
    assert response.status_code == 400
    assert response.json()["field"] == "settings.channel_access_token"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/integrations/teams"),
        ("PUT", "/admin/integrations/teams"),
        ("DELETE", "/admin/integrations/teams"),
        ("POST", "/admin/integrations/teams/verify"),
    ],
)
def test_an_unknown_integration_is_refused(admin: Api, method: str, path: str) -> None:
    # GIVEN an integration ID the hub does not have
    # WHEN the admin addresses it
    response = admin.session.request(method, admin.base + path, json={"enabled": True}, timeout=10)

    # THEN a 4xx names the path parameter
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["field"] == "integration"


# ------------------------------------------------------------------------------------------- verify


def test_verify_checks_slack_credentials_and_stores_the_outcome(admin: Api, sandbox: SandboxClient) -> None:
    # GIVEN Slack configured with a token the sandbox workspace knows
    token = enable_slack(admin, sandbox, members=[])

    # WHEN the admin verifies
    verified = ok(admin.post("/admin/integrations/slack/verify"))

    # THEN auth.test succeeded and the ok status is stored
    assert verified["status"]["state"] == "ok"
    assert verified["status"]["checked_at"]
    assert ok(admin.get("/admin/integrations/slack"))["status"]["state"] == "ok"

    # WHEN Slack revokes the token and the admin verifies again
    sandbox.revoke_slack_token(token)
    refused = ok(admin.post("/admin/integrations/slack/verify"))

    # THEN the status is an error with Slack's code, stored, and the token is still not shown
    assert refused["status"]["state"] == "error"
    assert refused["status"]["code"] == "token_revoked"
    stored = ok(admin.get("/admin/integrations/slack"))
    assert stored["status"]["state"] == "error" and stored["status"]["code"] == "token_revoked"
    assert token[:-4] not in json.dumps(refused) + json.dumps(stored)


# ------------------------------------------------------------------------------------------- routing


def test_notification_settings_route_items_only_to_enabled_messengers(admin: Api, sandbox: SandboxClient) -> None:
    # GIVEN a company with nothing configured
    initial = ok(admin.get("/admin/notification-settings"))
    assert initial["items"] == {}
    assert "approval.requested" in initial["catalog"] and "notice.posted" in initial["catalog"]
    assert initial["channels"] == {
        "naver_works": False,
        "kakao": False,
        "slack": False,
        "google_chat": False,
        "line": False,
    }

    # WHEN the admin routes an item to Slack before enabling it
    refused = admin.put("/admin/notification-settings", {"items": {"approval.requested": ["slack"]}})

    # THEN it is a conflict naming the item, and nothing is stored
    assert refused.status_code == 409
    assert refused.json()["error"] == "channel_not_enabled"
    assert refused.json()["field"] == "items.approval.requested"
    assert ok(admin.get("/admin/notification-settings"))["items"] == {}

    # WHEN Slack is on and the admin routes two items (one channel named twice)
    enable_slack(admin, sandbox, members=[])
    saved = route(admin, {"approval.requested": ["slack", "slack"], "notice.posted": []})

    # THEN the routing is stored (duplicates dropped) and Slack shows as enabled
    assert saved["items"] == {"approval.requested": ["slack"], "notice.posted": []}
    assert saved["channels"]["slack"] is True
    assert ok(admin.get("/admin/notification-settings"))["items"] == saved["items"]

    # WHEN the admin routes to a calendar, to a channel still off, or uses a bad item key
    calendar = admin.put("/admin/notification-settings", {"items": {"approval.requested": ["google_calendar"]}})
    still_off = admin.put("/admin/notification-settings", {"items": {"approval.approved": ["slack", "google_chat"]}})
    bad_key = admin.put("/admin/notification-settings", {"items": {"Approval Requested": ["slack"]}})

    # THEN each is refused, and the stored routing did not change
    assert calendar.status_code == 409 and calendar.json()["error"] == "not_a_messenger"
    assert still_off.status_code == 409 and still_off.json()["field"] == "items.approval.approved"
    assert 400 <= bad_key.status_code < 500
    assert ok(admin.get("/admin/notification-settings"))["items"] == saved["items"]


# ------------------------------------------------------------------------------------------- Collabo


def test_a_collabo_event_makes_the_company_collabo_with_naver_works_calendar_on(
    company_id: str, admin: Api, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a company the hub has never heard of
    assert ok(admin.get("/admin/company"))["product"] == "workplace"

    # WHEN WORKPLACE sends an event that says the company runs Collabo
    event = notification(company_id, [{"user_id": user(company_id, "taro")}], product="collabo", item="notice.posted")
    send_event(event)
    wait_for_deliveries(admin, event["event_id"], 1)

    # THEN the company is Collabo and its NAVER WORKS calendar is on, on the platform's credentials
    assert ok(admin.get("/admin/company"))["product"] == "collabo"
    calendar = ok(admin.get("/admin/integrations/naver_works_calendar"))
    assert calendar["enabled"] is True and calendar["configured"] is True
    assert calendar["settings"] == {"credentials_source": "platform"}


def test_a_collabo_admin_can_turn_the_default_calendar_off_and_it_stays_off(
    company_id: str, admin: Api, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a Collabo company (set by its admin)
    assert ok(admin.put("/admin/company", {"product": "collabo"}))["product"] == "collabo"
    assert ok(admin.get("/admin/integrations/naver_works_calendar"))["enabled"] is True

    # WHEN the admin turns the NAVER WORKS calendar off, and a later Collabo event arrives
    off = ok(admin.put("/admin/integrations/naver_works_calendar", {"enabled": False}))
    event = notification(company_id, [{"user_id": user(company_id, "taro")}], product="collabo", item="notice.posted")
    send_event(event)
    wait_for_deliveries(admin, event["event_id"], 1)

    # THEN it is off and stays off (still on the platform credentials)
    assert off["enabled"] is False
    after = ok(admin.get("/admin/integrations/naver_works_calendar"))
    assert after["enabled"] is False
    assert after["settings"].get("credentials_source") == "platform"


def test_a_collabo_company_gets_naver_works_on_by_default_and_the_admin_can_turn_it_off(admin: Api) -> None:
    # GIVEN a company whose admin says it runs WORKPLACE Collabo
    ok(admin.put("/admin/company", {"product": "collabo"}))

    # WHEN the admin lists the integrations
    listed = {i["integration"]: i for i in ok(admin.get("/admin/integrations"))["integrations"]}

    # THEN both NAVER WORKS integrations are on by default, on the platform's credentials
    for integration in ("naver_works", "naver_works_calendar"):
        assert listed[integration]["enabled"] is True
        assert listed[integration]["configured"] is True
        assert listed[integration]["settings"]["credentials_source"] == "platform"
    assert listed["slack"]["enabled"] is False

    # WHEN the admin turns NAVER WORKS off
    off = ok(admin.put("/admin/integrations/naver_works", {"enabled": False}))

    # THEN it is off, and items can no longer be routed to it
    assert off["enabled"] is False
    refused = admin.put("/admin/notification-settings", {"items": {"approval.requested": ["naver_works"]}})
    assert refused.status_code == 409 and refused.json()["error"] == "channel_not_enabled"


# ------------------------------------------------------------------------------------------- OpenAPI


def test_the_openapi_document_is_served_without_a_token(stack: LocalStack) -> None:
    # GIVEN no token at all
    # WHEN the OpenAPI document is fetched
    response = requests.get(f"{stack.api_url}/openapi.json", timeout=10)

    # THEN it is served and lists every route of the settings API with its methods
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = {path: set(operations) for path, operations in document["paths"].items()}
    expected = {
        "/admin/integrations": {"get"},
        "/admin/integrations/{integration}": {"get", "put", "delete"},
        "/admin/integrations/{integration}/verify": {"post"},
        "/admin/notification-settings": {"get", "put"},
        "/admin/company": {"get", "put"},
        "/admin/users/{user_id}/links": {"put"},
        "/admin/deliveries": {"get"},
        "/admin/deliveries/summary": {"get"},
        "/me": {"get"},
        "/me/links": {"get", "put"},
        "/me/deliveries": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, sorted(paths)
        assert methods <= paths[path], (path, paths[path])
    # AND it declares the bearer token the routes need
    assert any(scheme.get("scheme") == "bearer" for scheme in document["components"]["securitySchemes"].values())
    # AND a route that needs a token still refuses a request without one
    assert requests.get(f"{stack.api_url}/admin/integrations", timeout=10).status_code == 401
