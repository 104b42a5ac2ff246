"""`GET /admin/failures` and `POST /admin/failures/replay` (the admin's view of what failed, and a replay that
sends nothing twice), and `make redrive` (the operator's whole-DLQ redrive), on the local stack."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from infra.local_stack import LocalStack
from infra.local_stack.poller import sqs_event
from infra.redrive import redrive, source_of
from infra.sandbox import SandboxClient
from infra.template import load_template
from tests.integration.helpers import (
    Api,
    deliveries,
    enable_slack,
    new_member_id,
    notification,
    ok,
    route,
    slack_posts,
    wait_for,
    wait_for_deliveries,
)
from tests.integration.linking import table
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus, NewDelivery

pytestmark = pytest.mark.integration


def failures(admin: Api, **params: Any) -> list[dict[str, Any]]:
    return ok(admin.get("/admin/failures", params=params))["failures"]


def replay(admin: Api, **body: Any) -> dict[str, Any]:
    return ok(admin.post("/admin/failures/replay", body))


@dataclass
class QueuedSlackJob:
    """Taro's Slack delivery of an event, recorded `queued` by the router, and the send job it enqueued."""

    token: str  # the workspace's bot token
    event: dict[str, Any]
    key: DeliveryKey
    job: dict[str, Any]
    log: DeliveriesRepository


def queued_slack_job(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> QueuedSlackJob:
    """Slack on and taro linked; his delivery of a new event `queued`, as the router leaves it."""
    good = new_member_id()
    token = enable_slack(admin, sandbox, [good])
    route(admin, {"approval.requested": ["slack"]})
    ok(member.put("/me/links", {"slack_member_id": good}))
    event = notification(company_id, [{"user_id": member.user_id, "name": "Taro"}])
    key = DeliveryKey(company_id, event["event_id"], member.user_id, "slack")
    log = DeliveriesRepository(table(stack, "DeliveriesTable"))
    log.add_many([NewDelivery(key, event["item"], DeliveryStatus.QUEUED)])
    job = {k: event[k] for k in ("company_id", "event_id", "item", "message", "recipients")} | {"channel": "slack"}
    return QueuedSlackJob(token, event, key, job, log)


def test_a_failed_delivery_is_listed_and_replayed_once_after_the_employee_fixes_the_link(
    company_id: str, admin: Api, member: Api, sandbox: SandboxClient, send_event: Any
) -> None:
    # GIVEN Slack on, and taro's Slack member ID stale (not in the workspace): his delivery fails
    good = new_member_id()
    token = enable_slack(admin, sandbox, [good])
    route(admin, {"approval.requested": ["slack"]})
    ok(member.put("/me/links", {"slack_member_id": new_member_id()}))
    event = notification(company_id, [{"user_id": member.user_id, "name": "Taro"}])
    send_event(event)
    found = wait_for_deliveries(admin, event["event_id"], 1)
    assert found[(member.user_id, "slack")]["status"] == "failed"

    # WHEN the admin lists failures
    listed = failures(admin)

    # THEN the delivery is there with its reason, replayable
    (failure,) = listed
    assert (failure["event_id"], failure["user_id"], failure["channel"]) == (event["event_id"], member.user_id, "slack")
    assert (failure["reason"], failure["error_code"], failure["replayable"]) == (
        "needs_relink",
        "channel_not_found",
        True,
    )
    assert "replay" not in failure  # the stored job is never shown

    # WHEN the admin asks what a replay would do
    dry = replay(admin, channel="slack", dry_run=True)

    # THEN it names the delivery and changes nothing
    assert (dry["dry_run"], dry["matched"], dry["replayed"]) == (True, 1, 0)
    assert [f["user_id"] for f in dry["failures"]] == [member.user_id]
    assert failures(admin)[0]["status"] == "failed"

    # WHEN taro fixes his link and the admin replays the event's failures
    ok(member.put("/me/links", {"slack_member_id": good}))
    posts_before = len(slack_posts(sandbox, token))
    done = replay(admin, event_id=event["event_id"])

    # THEN it is sent, once, to his new member ID
    assert (done["matched"], done["replayed"]) == (1, 1)
    wait_for(
        lambda: (
            ok(admin.get("/admin/deliveries", params={"event_id": event["event_id"]}))["deliveries"][0]["status"]
            == "sent"
        )
    )
    posts = slack_posts(sandbox, token)[posts_before:]
    assert [p["body"]["channel"] for p in posts if p["status"] == 200] == [good]
    record = ok(admin.get("/admin/deliveries", params={"event_id": event["event_id"]}))["deliveries"][0]
    assert record["replayed_at"]

    # WHEN the admin replays again
    again = replay(admin, event_id=event["event_id"])

    # THEN there is nothing left to replay, and nothing more was sent
    assert (again["matched"], again["replayed"]) == (0, 0)
    assert failures(admin) == []
    assert len(slack_posts(sandbox, token)) == posts_before + 1


def test_an_invalid_event_naming_the_company_is_shown_as_a_dead_letter_that_cannot_be_replayed(
    company_id: str, admin: Api, send_event: Any, events_dlq: Any
) -> None:
    # GIVEN WORKPLACE sent an event of this company with a bad field
    bad = notification(company_id, [{"user_id": "x@example.com"}], item="Not An Item")
    send_event(bad)
    events_dlq.take([bad["event_id"]])

    # WHEN the admin lists failures
    (failure,) = wait_for(lambda: failures(admin))

    # THEN the dead letter is there, with the reason naming the field, not replayable
    assert failure["status"] == "dead_lettered" and failure["channel"].startswith("dead_letter:router:")
    assert failure["event_id"] == bad["event_id"] and "item" in failure["reason"]
    assert failure["replayable"] is False
    # AND a replay leaves it alone
    assert replay(admin)["not_replayable"] == 1
    assert failures(admin)[0]["status"] == "dead_lettered"


def test_failures_are_the_companys_own(api_as: Any, other_company_id: str, company_id: str, send_event: Any) -> None:
    # GIVEN a dead letter of company A
    admin_a = api_as(company_id, f"admin@{company_id}.example", "admin")
    send_event(notification(company_id, [{"user_id": "x@example.com"}], item="BAD"))
    wait_for(lambda: failures(admin_a))

    # THEN company B's admin sees none of it and replays nothing; a member cannot look
    admin_b = api_as(other_company_id, f"admin@{other_company_id}.example", "admin")
    assert failures(admin_b) == []
    assert replay(admin_b)["matched"] == 0
    assert api_as(company_id, f"taro@{company_id}.example", "member").get("/admin/failures").status_code == 403


def test_the_operator_redrives_a_whole_dead_letter_queue(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient, sqs: Any
) -> None:
    # GIVEN a Slack send job that SQS moved to SendSlackDLQ (its function kept crashing), and Slack working now
    # (the router had recorded the delivery as queued before the job was lost)
    queued = queued_slack_job(stack, company_id, admin, member, sandbox)
    token, event = queued.token, queued.event
    sqs.send_message(QueueUrl=stack.queues["SendSlackDLQ"], MessageBody=json.dumps(queued.job))

    # WHEN the operator redrives SendSlackDLQ
    assert source_of(load_template(), "SendSlackDLQ") == "SendSlackQueue"
    moved = redrive(sqs, stack.queues["SendSlackDLQ"], stack.queues["SendSlackQueue"], limit=100)

    # THEN the job went back to its queue and was delivered
    assert moved >= 1
    wait_for(lambda: [p for p in slack_posts(sandbox, token) if p["status"] == 200])
    assert wait_for_deliveries(admin, event["event_id"], 1)[(member.user_id, "slack")]["status"] == "sent"


def test_a_send_job_whose_last_attempt_cannot_settle_a_delivery_is_listed_with_why_and_a_replay_settles_it(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN Slack on and taro linked, and his delivery of an event claimed by an attempt whose container then died:
    # the record says `sending`, its lease running 4 more seconds
    queued = queued_slack_job(stack, company_id, admin, member, sandbox)
    token, event, key, log, job = queued.token, queued.event, queued.key, queued.log, queued.job
    held = log.claim(key, 4.0)
    assert held.outcome == "claimed" and held.record is not None

    # WHEN SendSlackFunction gets the job's 8th and last attempt (SendSlackQueue's maxReceiveCount)
    message = {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": uuid.uuid4().hex,
        "Body": json.dumps(job),
        "Attributes": {"ApproximateReceiveCount": "8"},
    }
    arn = stack.resolver.attributes["SendSlackQueue", "Arn"]
    result = stack.functions["SendSlackFunction"].invoke(sqs_event([message], arn))

    # THEN the record is left to its holder; the job is not failed back to SQS (which would move it to the DLQ
    # without a word) but kept there with why, and listed for the admin as replayable
    assert not (result or {}).get("batchItemFailures"), result
    stored = table(stack, "DeliveriesTable").get_item(Key=key.key(), ConsistentRead=True)["Item"]
    assert stored["status"] == "sending"
    (failure,) = wait_for(lambda: failures(admin, event_id=event["event_id"]))
    assert (failure["status"], failure["channel"].split(":")[:2]) == ("dead_lettered", ["dead_letter", "send_slack"])
    assert failure["reason"] == "deliveries still unsettled after the last attempt (a claim was throttled or held)"
    assert failure["replayable"] is True

    # WHEN the admin replays it once the dead holder's lease is over
    time.sleep(max(0.0, float(held.record["lease_until"]) - time.time()))
    assert replay(admin, event_id=event["event_id"])["replayed"] == 1

    # THEN the delivery is settled, and not sent twice: the holder may have posted it, so it is outcome_unknown
    def settled() -> dict[str, Any] | None:
        return next((r for r in deliveries(admin, event["event_id"]) if r["status"] == "failed"), None)

    found = wait_for(settled)
    assert (found["channel"], found["reason"]) == ("slack", "outcome_unknown")
    assert [r["status"] for r in deliveries(admin, event["event_id"])] == ["replayed", "failed"]
    assert slack_posts(sandbox, token) == []
