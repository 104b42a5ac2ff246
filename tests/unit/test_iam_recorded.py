"""The DynamoDB calls the router's, a sender's and the calendar worker's flows make, recorded per table,
are all granted to them in template.yaml (test_template.py checks the grants against the audited table;
this checks the audit against the code)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.unit.absences import GOOGLE, T1, T3, WORKS, accept_cancel_of, accept_upsert_of, configure_calendars
from tests.unit.aws import TABLES, HubStack
from tests.unit.builders import (
    COMPANY,
    HANAKO,
    SLACK_MEMBER_ID,
    SLACK_TOKEN,
    TARO,
    absence_upserted_event,
    body,
    notification_event,
    send_job,
    sqs_record,
)
from tests.unit.calendars.test_worker import calendar_job
from tests.unit.calendars.test_worker import handle as handle_calendar_job
from tests.unit.calendars.test_worker import make_worker as make_calendar_worker
from tests.unit.delivery.test_worker import handle, make_worker, queue_delivery
from tests.unit.fakes import FakeCalendarWriter, FakeSender
from tests.unit.routing.test_router import make_router
from tests.unit.test_template import EXPECTED_GRANTS, _dynamodb_grants
from workplace_hub.catalog import Integration
from workplace_hub.errors import IntegrationCredentialsError, NeedsRelinkError
from workplace_hub.storage.addresses import LOOKUP_MISSED
from workplace_hub.storage.delivery_records import DeliveryKey

LOGICAL_IDS = {name: logical_id for logical_id, name in TABLES.items()}
TRANSACTION_ACTIONS = {
    "Update": "UpdateItem",
    "Put": "PutItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


@contextmanager
def recording(stack: HubStack) -> Iterator[set[tuple[str, str]]]:
    """(table logical id, operation) of every DynamoDB call made with the stack's client meanwhile."""
    calls: set[tuple[str, str]] = set()

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == "TransactWriteItems":
            # IAM authorizes each item of a transaction as its own action (an Update: dynamodb:UpdateItem).
            for item in params["TransactItems"]:
                ((kind, operation),) = item.items()
                calls.add((LOGICAL_IDS[operation["TableName"]], TRANSACTION_ACTIONS[kind]))
            return
        tables = params.get("RequestItems") or {params["TableName"]: None}
        calls.update((LOGICAL_IDS[name], model.name) for name in tables)

    events = stack.dynamodb.meta.client.meta.events
    events.register("provide-client-params.dynamodb", record, unique_id="iam-recorder")
    try:
        yield calls
    finally:
        events.unregister("provide-client-params.dynamodb", unique_id="iam-recorder")


def _granted(function: str, calls: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The calls the template does not grant the function (expected: none)."""
    grants, _ = _dynamodb_grants(function)
    return {(table, operation) for table, operation in calls if operation not in grants.get(table, set())}


def _slack_company(stack: HubStack) -> None:
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    stack.route(COMPANY, {"approval.requested": ["slack"]})
    stack.link_slack(COMPANY, TARO, SLACK_MEMBER_ID)
    stack.links.update(COMPANY, HANAKO, {LOOKUP_MISSED: int(time.time())}, [])


def test_the_routers_calls_are_granted_to_it(stack: HubStack) -> None:
    # GIVEN acme with Slack on, and a router that registers absences too
    _slack_company(stack)
    router = make_router(stack, ("slack",), calendars=True)

    # WHEN it routes a notification (twice: a redelivery), a Collabo company's first event and an absence
    with recording(stack) as calls:
        event = notification_event()
        router.handle_record(sqs_record(body(event)))
        router.handle_record(sqs_record(body(event)))
        router.handle_record(sqs_record(body(notification_event(event_id="evt-collabo-1", product="collabo"))))
        router.handle_record(sqs_record(body(absence_upserted_event())))

    # THEN it read settings, links and records, wrote records and the absence: each call granted
    assert {("SettingsTable", "Query"), ("LinksTable", "BatchGetItem"), ("DeliveriesTable", "BatchWriteItem")} <= calls
    assert {("AbsencesTable", "UpdateItem"), ("SettingsTable", "PutItem")} <= calls
    assert _granted("RouterFunction", calls) == set()


def test_a_senders_calls_are_granted_to_it(stack: HubStack) -> None:
    # GIVEN acme with Slack on and Taro linked; three jobs: one sent, one refused credentials, one needing a relink
    _slack_company(stack)
    sender = FakeSender("slack")
    worker = make_worker(stack, sender)

    with recording(stack) as calls:
        # WHEN the worker sends, then meets revoked credentials and an unreachable member
        queue_delivery(stack)
        handle(stack, worker, send_job())
        for number, error in enumerate(
            [
                IntegrationCredentialsError("slack", "invalid_auth", status_code=200),
                NeedsRelinkError("slack", "channel_not_found", status_code=200),
            ]
        ):
            event_id = f"evt-failing-{number}"
            sender.fail_with = error
            queue_delivery(stack, DeliveryKey(COMPANY, event_id, TARO, "slack"))
            handle(stack, worker, send_job(event_id=event_id))
        # AND sends a job of three side by side (SEND_CONCURRENCY): one window, read together and claimed at once
        sender.fail_with = None
        trio = [TARO, HANAKO, "jiro@acme.example"]
        for user_id in trio:
            stack.link_slack(COMPANY, user_id, SLACK_MEMBER_ID)
            queue_delivery(stack, DeliveryKey(COMPANY, "evt-window", user_id, "slack"))
        windowed = make_worker(stack, sender, concurrency=3)
        handle(stack, windowed, send_job(event_id="evt-window", recipients=[{"user_id": u} for u in trio]))

    # THEN it claimed, recorded outcomes, saved the credential status and the link's health: each call granted
    assert {("DeliveriesTable", "UpdateItem"), ("SettingsTable", "UpdateItem"), ("LinksTable", "UpdateItem")} <= calls
    assert ("DeliveriesTable", "BatchGetItem") in calls  # the window's read; its transaction is UpdateItems
    assert _granted("SendSlackFunction", calls) == set()
    assert EXPECTED_GRANTS["SendSlackFunction"] == EXPECTED_GRANTS["SendKakaoFunction"]


def test_the_calendar_workers_calls_are_granted_to_it(stack: HubStack) -> None:
    # GIVEN acme with both calendars on, and an absence accepted (the router's part, not recorded)
    calendars = configure_calendars(stack)
    google, works = FakeCalendarWriter("google"), FakeCalendarWriter("naver_works")
    worker = make_calendar_worker(calendars, google, works)
    accept_upsert_of(calendars, "evt-1", T1, [GOOGLE, WORKS])

    # WHEN the worker registers it, then removes it after a cancellation
    with recording(calendars) as calls:
        handle_calendar_job(calendars, worker, calendar_job())
    accept_cancel_of(calendars, "evt-c", T3)
    with recording(calendars) as more:
        handle_calendar_job(calendars, worker, calendar_job("evt-c", [], "absence.cancelled"))

    # THEN it leased and updated the absence and recorded each calendar: each call granted
    calls |= more
    assert {("AbsencesTable", "UpdateItem"), ("DeliveriesTable", "BatchWriteItem")} <= calls
    assert _granted("RegisterCalendarsFunction", calls) == set()


def test_the_kakao_result_lookups_calls_are_granted_to_it(stack: HubStack) -> None:
    # GIVEN acme with Kakao on and three accepted deliveries (the sender's part, not recorded)
    from tests.unit.delivery.test_kakao_results import (
        DELIVERED,
        JIRO,
        KAKAO_SETTINGS,
        NOT_ON_KAKAO,
        PROCESSING,
        FakeLookup,
        FakeResultQueue,
        accepted,
        job,
        make,
    )

    stack.configure(COMPANY, Integration.KAKAO, KAKAO_SETTINGS)
    for user_id, message_id in ((TARO, "m-1"), (HANAKO, "m-2"), (JIRO, "m-3")):
        accepted(stack, user_id, message_id)
    stack.keyring.forget()  # a new container: it reads the company's data key
    lookup = FakeLookup({"m-1": DELIVERED, "m-2": NOT_ON_KAKAO, "m-3": PROCESSING})
    worker = make(stack, lookup, FakeResultQueue(), 1_700_000_015.0)

    # WHEN it looks the results up (and a redelivered job again)
    with recording(stack) as calls:
        worker.check(job())
        worker.check(job())

    # THEN it read settings and records and wrote results: each call granted
    assert {("SettingsTable", "Query"), ("DeliveriesTable", "Query"), ("DeliveriesTable", "UpdateItem")} <= calls
    assert _granted("KakaoResultsFunction", calls) == set()
