"""Link health through the local stack: GET /admin/links (per employee and channel: linked, not_linked,
needs_relink, blocked, with the reason) and POST /me/links/{channel}/test (a test message on that channel).

The states come from real events: a Slack member ID the employee set, a Google Chat webhook the space revoked
(a delivery answered 403), a LINE link made through LINE Login and then blocked (unfollow webhook).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from infra.sandbox.line_login import signed_webhook
from tests.integration.helpers import (
    Api,
    chat_posts,
    enable_google_chat,
    enable_slack,
    new_member_id,
    new_webhook,
    notification,
    ok,
    route,
    slack_posts,
    user,
    wait_for_deliveries,
)
from tests.integration.linking import admin_links, enable_line_login, link_line_user, my_links, post_webhook

pytestmark = pytest.mark.integration


@pytest.fixture
def staff(api_as: Callable[..., Api], company_id: str) -> dict[str, Api]:
    """Three more employees of this test's company."""
    return {name: api_as(company_id, user(company_id, name), "member") for name in ("hanako", "jiro", "saburo")}


def test_the_admin_sees_every_employees_link_state_with_the_reason(
    stack: LocalStack,
    company_id: str,
    admin: Api,
    member: Api,
    staff: dict[str, Api],
    sandbox: SandboxClient,
    send_event: Callable[[Any], None],
) -> None:
    # GIVEN Slack, Google Chat and LINE on for the company
    taro_slack = new_member_id()
    enable_slack(admin, sandbox, [taro_slack])
    enable_google_chat(admin)
    login = enable_line_login(stack, admin, sandbox)
    hanako, jiro, saburo = staff["hanako"], staff["jiro"], staff["saburo"]
    # AND taro linked Slack
    ok(member.put("/me/links", {"slack_member_id": taro_slack}))
    # AND hanako linked a Google Chat webhook, which the space then revoked: a delivery was refused with 403
    webhook = new_webhook(sandbox)
    ok(hanako.put("/me/links", {"google_chat_webhook_url": webhook.url}))
    sandbox.add_fault("google_chat", "invalid_auth", match={"token": webhook.token})
    route(admin, {"approval.requested": ["google_chat"]})
    event = notification(company_id, [{"user_id": hanako.user_id}])
    send_event(event)
    failed = wait_for_deliveries(admin, event["event_id"], 1)[(hanako.user_id, "google_chat")]
    assert (failed["status"], failed["reason"]) == ("failed", "needs_relink")
    # AND jiro linked LINE through LINE Login, then blocked the Official Account
    jiro_line = link_line_user(stack, jiro, sandbox, login)
    unfollow = signed_webhook(login.channel.secret, [{"type": "unfollow", "userId": jiro_line}])
    assert post_webhook(stack, company_id, *unfollow).status_code == 200
    # AND saburo linked nothing but has a Google Workspace ID registered by the admin
    ok(admin.put(f"/admin/users/{saburo.user_id}/links", {"google_workspace_id": f"saburo@{company_id}.example"}))

    # WHEN the admin lists the employees' links
    states = admin_links(admin)

    # THEN each employee and channel has its state, with the reason where it is not linked or broken
    assert states[member.user_id]["slack"] == {"state": "linked"}
    assert states[member.user_id]["google_chat"] == {"state": "not_linked", "reason": "google_chat_webhook_url_missing"}
    assert states[member.user_id]["line"] == {"state": "not_linked", "reason": "line_user_id_missing"}
    chat = states[hanako.user_id]["google_chat"]
    assert (chat["state"], chat["reason"]) == ("needs_relink", "PERMISSION_DENIED") and chat["since"]
    assert states[hanako.user_id]["slack"] == {"state": "not_linked", "reason": "slack_member_id_missing"}
    line = states[jiro.user_id]["line"]
    assert (line["state"], line["reason"]) == ("blocked", "line_unfollowed") and line["since"]
    # (user-consent mode: a registered ID is not enough, the employee must still consent)
    assert states[saburo.user_id]["google_calendar"] == {"state": "not_linked", "reason": "google_consent_missing"}
    assert states[saburo.user_id]["naver_works_calendar"] == {
        "state": "not_linked",
        "reason": "naver_works_calendar_tokens_missing",
    }
    assert set(states) == {member.user_id, hanako.user_id, jiro.user_id, saburo.user_id}
    # AND each employee sees their own state the same way
    assert my_links(hanako)["google_chat"]["state"] == "needs_relink"
    assert my_links(jiro)["line"]["state"] == "blocked"

    # WHEN hanako links a new webhook
    ok(hanako.put("/me/links", {"google_chat_webhook_url": new_webhook(sandbox).url}))

    # THEN her Google Chat link is healthy again
    assert admin_links(admin)[hanako.user_id]["google_chat"] == {"state": "linked"}


def test_the_admin_links_list_pages_and_is_for_admins_only(
    company_id: str, admin: Api, member: Api, staff: dict[str, Api]
) -> None:
    # GIVEN four employees with a Slack link each
    employees = [member, *staff.values()]
    for index, employee in enumerate(employees):
        ok(employee.put("/me/links", {"slack_member_id": f"U0PAGE000{index}"}))

    # WHEN the admin pages through two at a time
    first = ok(admin.get("/admin/links", params={"limit": 2}))
    second = ok(admin.get("/admin/links", params={"limit": 2, "next_token": first["next_token"]}))

    # THEN the pages hold every employee once
    listed = [e["user_id"] for e in first["employees"] + second["employees"]]
    assert sorted(listed) == sorted(e.user_id for e in employees)
    assert len(first["employees"]) == 2 and first["next_token"]

    # WHEN an employee asks for the list
    refused = member.get("/admin/links")

    # THEN it is forbidden
    assert refused.status_code == 403, refused.text


def test_the_employee_sends_themselves_slack_and_google_chat_test_messages(
    company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN Slack and Google Chat on, and taro linked to both
    taro_slack = new_member_id()
    token = enable_slack(admin, sandbox, [taro_slack])
    enable_google_chat(admin)
    webhook = new_webhook(sandbox)
    ok(member.put("/me/links", {"slack_member_id": taro_slack, "google_chat_webhook_url": webhook.url}))

    # WHEN he asks for a test message on each
    slack = ok(member.post("/me/links/slack/test"))
    chat = ok(member.post("/me/links/google_chat/test"))

    # THEN both were sent
    assert (slack["channel"], slack["result"]) == ("slack", "sent"), slack
    assert (chat["channel"], chat["result"]) == ("google_chat", "sent"), chat
    # AND Slack got one message to his member ID, Google Chat one post to his space, both with the test text
    (post,) = slack_posts(sandbox, token)
    assert post["status"] == 200 and post["body"]["channel"] == taro_slack
    assert "WORKPLACE 連携テスト" in str(post["body"])
    (message,) = chat_posts(sandbox, webhook)
    assert message["status"] == 200
    assert "WORKPLACE 連携テスト" in str(message["body"])


def test_a_test_message_on_a_channel_not_linked_or_not_enabled_is_refused(
    stack: LocalStack, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN Google Chat and LINE on, but taro linked to neither
    enable_google_chat(admin)
    enable_line_login(stack, admin, sandbox)

    # WHEN he asks for test messages there, and on NAVER WORKS which the company does not use
    chat = member.post("/me/links/google_chat/test")
    line = member.post("/me/links/line/test")
    works = member.post("/me/links/naver_works/test")
    unknown = member.post("/me/links/fax/test")

    # THEN linked-nothing is 409 not_linked, a channel not turned on is 409 channel_not_enabled
    assert chat.status_code == 409 and chat.json()["error"] == "not_linked", chat.text
    assert line.status_code == 409 and line.json()["error"] == "not_linked", line.text
    assert works.status_code == 409 and works.json()["error"] == "channel_not_enabled", works.text
    assert unknown.status_code == 422
    # AND nothing reached any provider
    assert sandbox.requests("google_chat") == [] and sandbox.requests("line") == []


def test_a_test_message_to_a_revoked_webhook_marks_the_link_needs_relink(
    admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN taro's Google Chat webhook, revoked in the space (Chat answers 403)
    enable_google_chat(admin)
    webhook = new_webhook(sandbox)
    ok(member.put("/me/links", {"google_chat_webhook_url": webhook.url}))
    sandbox.add_fault("google_chat", "invalid_auth", match={"token": webhook.token})

    # WHEN he sends himself a test message
    answer = ok(member.post("/me/links/google_chat/test"))

    # THEN it failed, telling him to link again, and the link now needs relinking for him and the admin
    assert (answer["result"], answer["code"]) == ("failed", "PERMISSION_DENIED"), answer
    assert answer["next_step"]
    assert my_links(member)["google_chat"]["state"] == "needs_relink"
    assert admin_links(admin)[member.user_id]["google_chat"]["reason"] == "PERMISSION_DENIED"
