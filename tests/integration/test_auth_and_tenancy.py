"""The JWT check at the gateway, roles, and company isolation (the company comes from the token only)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import requests

from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from infra.template import load_template
from tests.integration.helpers import (
    BAD_AUTHORIZATION,
    Api,
    enable_slack,
    new_member_id,
    new_webhook,
    notification,
    ok,
    route,
    signed_by_issuer,
    token_claims,
    user,
    wait_for_deliveries,
)

pytestmark = pytest.mark.integration


def _raw(stack: LocalStack, method: str, path: str, authorization: str | None, body: Any = None) -> requests.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return requests.request(method, stack.api_url + path, headers=headers, json=body, timeout=10)


@pytest.mark.parametrize("case", sorted(BAD_AUTHORIZATION))
def test_requests_without_a_valid_token_are_refused_before_any_handler_runs(
    stack: LocalStack, company_id: str, case: str
) -> None:
    # GIVEN a request carrying no usable WORKPLACE token
    authorization = BAD_AUTHORIZATION[case](stack, company_id)
    api_function = stack.functions["SettingsApiFunction"]
    invocations_before = api_function.invocations

    # WHEN it calls an admin read, an admin write and an employee route
    answers = [
        _raw(stack, "GET", "/admin/integrations", authorization),
        _raw(stack, "PUT", "/admin/integrations/google_chat", authorization, {"enabled": True}),
        _raw(stack, "PUT", "/me/links", authorization, {"slack_member_id": "U012AB3CD"}),
    ]

    # THEN the gateway answers 401 each time, and the settings function never ran
    assert [a.status_code for a in answers] == [401, 401, 401], [a.text for a in answers]
    assert api_function.invocations == invocations_before


def test_a_valid_token_reaches_the_handler(stack: LocalStack, admin: Api) -> None:
    # GIVEN a token minted by the stack's issuer (the control case of the 401 tests)
    api_function = stack.functions["SettingsApiFunction"]
    invocations_before = api_function.invocations

    # WHEN it calls the same route
    response = admin.get("/admin/integrations")

    # THEN the handler runs and answers
    assert response.status_code == 200
    assert api_function.invocations == invocations_before + 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"company_id": None},
        {"company_id": "../other-company"},
        {"company_id": ""},
        {"role": "owner"},
        {"role": None},
    ],
    ids=["no company_id", "company_id not an id", "empty company_id", "unknown role", "no role"],
)
def test_tokens_without_a_usable_company_or_role_are_refused(
    stack: LocalStack, company_id: str, overrides: dict[str, Any]
) -> None:
    # GIVEN a correctly signed token whose company_id or role the hub cannot use
    token = signed_by_issuer(stack, token_claims(stack, company_id, **overrides))

    # WHEN it calls an admin route and an employee route
    admin_answer = _raw(stack, "GET", "/admin/integrations", f"Bearer {token}")
    me_answer = _raw(stack, "GET", "/me/links", f"Bearer {token}")

    # THEN both are refused as unauthenticated
    assert admin_answer.status_code == 401, admin_answer.text
    assert me_answer.status_code == 401, me_answer.text


ADMIN_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/admin/integrations", None),
    ("GET", "/admin/integrations/slack", None),
    ("PUT", "/admin/integrations/google_chat", {"enabled": True}),
    ("DELETE", "/admin/integrations/google_chat", None),
    ("POST", "/admin/integrations/slack/verify", None),
    ("GET", "/admin/notification-settings", None),
    ("PUT", "/admin/notification-settings", {"items": {}}),
    ("GET", "/admin/company", None),
    ("PUT", "/admin/company", {"product": "collabo"}),
    ("PUT", "/admin/users/hanako@example.com/links", {"google_workspace_id": "hanako@example.com"}),
    ("GET", "/admin/deliveries", None),
    ("GET", "/admin/deliveries/summary?event_id=ev-1", None),
    ("GET", "/admin/links", None),
    ("GET", "/admin/failures", None),
    ("POST", "/admin/failures/replay", {}),
]


def _template_routes() -> list[tuple[str, str]]:
    """(method, path) of every HttpApi route in template.yaml, paths as templates (`/admin/users/{user_id}`)."""
    routes = []
    for resource in load_template()["Resources"].values():
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event["Type"] == "HttpApi":
                routes.append((event["Properties"]["Method"], event["Properties"]["Path"]))
    return routes


def _matches(template_path: str, path: str) -> bool:
    return re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template_path), path.split("?")[0]) is not None


def test_every_admin_route_of_the_template_is_in_the_member_check() -> None:
    # GIVEN every /admin route the template deploys
    admin_routes = {(m, p) for m, p in _template_routes() if p.startswith("/admin/")}

    # THEN each is called by the member-vs-admin test below (a new admin route without it fails here)
    unchecked = {
        (method, path)
        for method, path in admin_routes
        if not any(m == method and _matches(path, concrete) for m, concrete, _ in ADMIN_ROUTES)
    }
    assert unchecked == set()


def test_no_employee_route_names_a_user_or_a_company() -> None:
    # GIVEN every /me route: the employee is always the token's, so no path can point at another one
    me_routes = [path for _, path in _template_routes() if path.startswith("/me")]

    # THEN no path parameter can name a user or a company
    assert me_routes
    assert [path for path in me_routes if re.search(r"\{(user|company)[^}]*\}", path)] == []


def _call(api: Api, method: str, path: str, body: Any) -> requests.Response:
    if method == "GET":
        return api.get(path)
    if method == "DELETE":
        return api.delete(path)
    if method == "PUT":
        return api.put(path, body)
    return api.post(path, body)


def test_a_member_gets_403_on_every_admin_route_and_changes_nothing(
    api_as: Callable[..., Api], company_id: str, admin: Api, member: Api
) -> None:
    # GIVEN an employee (role member) of the company
    # WHEN they call every /admin route
    answers = {f"{method} {path}": _call(member, method, path, body) for method, path, body in ADMIN_ROUTES}

    # THEN every call is forbidden
    assert {route: a.status_code for route, a in answers.items()} == {route: 403 for route in answers}
    # AND nothing they tried to change changed
    assert ok(admin.get("/admin/integrations/google_chat"))["enabled"] is False
    assert ok(admin.get("/admin/company"))["product"] == "workplace"
    assert ok(admin.get("/admin/notification-settings"))["items"] == {}
    assert ok(api_as(company_id, "hanako@example.com", "member").get("/me/links"))["google_workspace_id"] is None


def test_a_member_only_ever_touches_their_own_links(api_as: Callable[..., Api], company_id: str, member: Api) -> None:
    # GIVEN two employees of one company, taro (the caller) and hanako
    hanako = api_as(company_id, user(company_id, "hanako"), "member")
    ok(hanako.put("/me/links", {"slack_member_id": "U0HANAKO01"}))

    # WHEN taro sets his links, and tries to set hanako's through the admin route
    mine = ok(member.put("/me/links", {"slack_member_id": "U0TARO0001"}))
    forbidden = member.put(f"/admin/users/{hanako.user_id}/links", {"google_workspace_id": "x@example.com"})

    # THEN his own links changed, hanako's did not, and the admin route was refused
    assert mine["user_id"] == member.user_id and mine["slack_member_id"] == "U0TARO0001"
    assert forbidden.status_code == 403
    theirs = ok(hanako.get("/me/links"))
    assert theirs["slack_member_id"] == "U0HANAKO01"
    assert theirs["google_workspace_id"] is None


def test_an_admin_of_one_company_can_neither_read_nor_change_another_companys_settings(
    api_as: Callable[..., Api], company_id: str, other_company_id: str, sandbox: SandboxClient
) -> None:
    # GIVEN company A with Slack configured and verified, routing, and an employee's links;
    # and company B, whose employee has the very same user ID
    shared_user = "taro@shared.example"
    admin_a, admin_b = api_as(company_id), api_as(other_company_id)
    member_a, member_b = api_as(company_id, shared_user, "member"), api_as(other_company_id, shared_user, "member")
    token = enable_slack(admin_a, sandbox, members=[])
    ok(admin_a.post("/admin/integrations/slack/verify"))
    route(admin_a, {"approval.requested": ["slack"]})
    webhook = new_webhook(sandbox)
    ok(member_a.put("/me/links", {"slack_member_id": "U0SHARED01", "google_chat_webhook_url": webhook.url}))

    # WHEN B's admin and B's employee read everything they can
    b_list = ok(admin_b.get("/admin/integrations"))["integrations"]
    b_slack = ok(admin_b.get("/admin/integrations/slack"))
    b_routing = ok(admin_b.get("/admin/notification-settings"))
    b_links = ok(member_b.get("/me/links"))
    b_verify = admin_b.post("/admin/integrations/slack/verify")

    # THEN B sees Slack off, unconfigured and unverified, no routing, no links, nothing to verify
    slack_in_list = next(i for i in b_list if i["integration"] == "slack")
    for view in (slack_in_list, b_slack):
        assert view["enabled"] is False
        assert view["configured"] is False
        assert view["settings"] == {}
        assert view["status"]["state"] == "unverified"
    assert b_routing["items"] == {}
    assert b_routing["channels"]["slack"] is False
    assert b_links["slack_member_id"] is None and b_links["google_chat_webhook_url"] is None
    assert b_verify.status_code == 409 and b_verify.json()["error"] == "not_configured"
    for response in (*admin_b.responses, *member_b.responses):
        assert token[-12:] not in response.text and webhook.token not in response.text

    # WHEN B's admin deletes "its" Slack integration and sets the shared user's Google ID
    ok(admin_b.delete("/admin/integrations/slack"))
    ok(admin_b.put(f"/admin/users/{shared_user}/links", {"google_workspace_id": "intruder@evil.example"}))

    # THEN A's integration and A's employee are untouched
    a_slack = ok(admin_a.get("/admin/integrations/slack"))
    assert a_slack["enabled"] is True and a_slack["configured"] is True
    assert a_slack["status"]["state"] == "ok"
    a_links = ok(member_a.get("/me/links"))
    assert a_links["slack_member_id"] == "U0SHARED01"
    assert a_links["google_workspace_id"] is None


def test_deliveries_and_their_page_tokens_stay_within_the_company(
    api_as: Callable[..., Api], company_id: str, other_company_id: str, send_event: Callable[[Any], None]
) -> None:
    # GIVEN company A has delivery records for three employees (an unrouted item: recorded as skipped)
    admin_a, admin_b = api_as(company_id), api_as(other_company_id)
    recipients = [{"user_id": f"u{i}@shared.example"} for i in range(3)]
    event = notification(company_id, recipients, item="notice.posted")
    send_event(event)
    wait_for_deliveries(admin_a, event["event_id"], 3)
    first_page = ok(admin_a.get("/admin/deliveries", params={"limit": 1}))
    assert first_page["next_token"], "A's log has more than one record"

    # WHEN B's admin and B's employee (same user ID as A's recipient) read the delivery log
    by_event = ok(admin_b.get("/admin/deliveries", params={"event_id": event["event_id"]}))
    everything = ok(admin_b.get("/admin/deliveries"))
    by_user = ok(admin_b.get("/admin/deliveries", params={"user_id": "u0@shared.example"}))
    mine = ok(api_as(other_company_id, "u0@shared.example", "member").get("/me/deliveries"))
    with_a_token = admin_b.get("/admin/deliveries", params={"limit": 1, "next_token": first_page["next_token"]})

    # THEN B sees none of A's records, and A's page token is refused naming the field
    assert by_event["deliveries"] == [] and everything["deliveries"] == [] and by_user["deliveries"] == []
    assert mine["deliveries"] == []
    assert 400 <= with_a_token.status_code < 500, with_a_token.text
    assert with_a_token.json()["field"] == "next_token"
    # AND the same token still works for A (the refusal is about the company, not the token)
    assert ok(admin_a.get("/admin/deliveries", params={"limit": 1, "next_token": first_page["next_token"]}))[
        "deliveries"
    ]


def test_the_company_never_comes_from_the_query_body_or_headers(
    api_as: Callable[..., Api], company_id: str, other_company_id: str, sandbox: SandboxClient
) -> None:
    # GIVEN company B has Slack configured; A's admin knows B's company ID
    admin_a, admin_b = api_as(company_id), api_as(other_company_id)
    enable_slack(admin_b, sandbox, members=[new_member_id()])
    smuggled = {"company_id": other_company_id}

    # WHEN A's admin names B in the query string, a header, and request bodies
    listed = ok(admin_a.get("/admin/integrations", params=smuggled, headers={"X-Company-Id": other_company_id}))
    one = ok(admin_a.get("/admin/integrations/slack", params=smuggled))
    company = ok(admin_a.get("/admin/company", params=smuggled))
    put_with_company = admin_a.put("/admin/integrations/slack", {"enabled": False, "settings": {}, **smuggled})
    product_with_company = admin_a.put("/admin/company", {"product": "collabo", **smuggled})
    delete = ok(admin_a.delete(f"/admin/integrations/slack?company_id={other_company_id}"))

    # THEN every answer is about A, and the bodies naming a company are refused
    assert next(i for i in listed["integrations"] if i["integration"] == "slack")["enabled"] is False
    assert one["enabled"] is False and one["settings"] == {}
    assert company["company_id"] == company_id
    assert delete["enabled"] is False
    assert put_with_company.status_code == 422
    assert product_with_company.status_code == 422
    # AND B's settings are exactly as B left them
    b_slack = ok(admin_b.get("/admin/integrations/slack"))
    assert b_slack["enabled"] is True and b_slack["configured"] is True
    assert ok(admin_b.get("/admin/company"))["product"] == "workplace"
