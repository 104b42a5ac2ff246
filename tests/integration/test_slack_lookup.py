"""Linking without typing: Slack finds an unlinked employee's member ID from their e-mail user ID."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.sandbox import SandboxClient
from tests.integration.helpers import (
    Api,
    new_member_id,
    new_slack_token,
    notification,
    ok,
    route,
    slack_posts,
    user,
    wait_for_deliveries,
)


def test_an_unlinked_employee_known_to_slack_by_email_is_reached_and_linked(
    company_id: str, admin: Api, api_as: Callable[..., Api], sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN Slack on; Taro never typed his member ID but Slack knows his e-mail; Jiro is not in Slack
    taro, jiro = user(company_id, "taro"), user(company_id, "jiro")
    member = new_member_id()
    token = new_slack_token()
    sandbox.add_slack_workspace(token, team="Acme", member_emails={taro: member})
    ok(admin.put("/admin/integrations/slack", {"enabled": True, "settings": {"bot_token": token}}))
    route(admin, {"approval.requested": ["slack"]})

    # WHEN a notification for both arrives
    event = notification(company_id, [{"user_id": taro}, {"user_id": jiro}])
    send_event(event)
    records = wait_for_deliveries(admin, event["event_id"], 2)

    # THEN Taro's message went to the member ID Slack gave, and that is now his link; Jiro is skipped
    assert records[(taro, "slack")]["status"] == "sent"
    assert [post["body"]["channel"] for post in slack_posts(sandbox, token)] == [member]
    assert (records[(jiro, "slack")]["status"], records[(jiro, "slack")]["reason"]) == (
        "skipped",
        "slack_member_id_missing",
    )
    taro_links = ok(api_as(company_id, taro, "member").get("/me/links"))
    assert taro_links["slack_member_id"] == member
    assert taro_links["links"]["slack"]["state"] == "linked"

    # WHEN another notification arrives for Jiro right away
    again = notification(company_id, [{"user_id": jiro}])
    send_event(again)
    record = wait_for_deliveries(admin, again["event_id"], 1)[(jiro, "slack")]

    # THEN he is skipped by the router without asking Slack again (the miss is remembered)
    assert record["reason"] == "slack_member_id_missing"
    lookups = [r for r in sandbox.requests("slack") if r["path"].endswith("/users.lookupByEmail")]
    assert len(lookups) == 2  # Taro's and Jiro's first lookups only
