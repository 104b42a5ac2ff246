"""EventRouter on moto (DynamoDB tables from template.yaml, SQS): records, skips, jobs and dead letters."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.unit.aws import HubStack
from tests.unit.builders import (
    COMPANY,
    EVENT_ID,
    HANAKO,
    SLACK_MEMBER_ID,
    SLACK_TOKEN,
    TARO,
    WEBHOOK_URL,
    absence_cancelled_event,
    absence_upserted_event,
    body,
    notification_event,
    recipient,
    sqs_record,
)
from workplace_hub.catalog import Integration
from workplace_hub.events import NotificationEvent, parse_event
from workplace_hub.jobs import CalendarJob, SendJob
from workplace_hub.queues import DeadLetters, JobQueue
from workplace_hub.routing.router import EventRouter
from workplace_hub.storage.absences import Acceptance
from workplace_hub.storage.addresses import LOOKUP_MISSED
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus
from workplace_hub.storage.settings import CachedSettings

MAX_RECEIVE_COUNT = 5


def make_router(
    stack: HubStack, channels: tuple[str, ...] = ("slack", "google_chat"), *, calendars: bool = False
) -> EventRouter:
    """The router as wiring.build_router assembles it, without the idempotency guard; `calendars`: with the
    absence registry and CalendarQueue (calendar registration deployed)."""
    return EventRouter(
        settings_cache=CachedSettings(stack.settings_repository, 30.0),
        settings_repo=stack.settings_repository,
        links=stack.links,
        deliveries=stack.deliveries,
        send_queues={channel: JobQueue(stack.sqs, stack.queue_urls[channel]) for channel in channels},
        dead_letters=DeadLetters(stack.sqs, stack.queue_urls["events_dlq"], "router"),
        max_receive_count=MAX_RECEIVE_COUNT,
        guard=None,
        registry=stack.registry if calendars else None,
        calendar_queue=JobQueue(stack.sqs, stack.queue_urls["calendar"]) if calendars else None,
    )


@pytest.fixture
def slack_company(stack: HubStack) -> HubStack:
    """acme: Slack on with a bot token, approval.requested → Slack, Taro linked, Hanako not (and a recent
    lookup of her e-mail in Slack found nobody, so she is not looked up again)."""
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    stack.route(COMPANY, {"approval.requested": ["slack"]})
    stack.link_slack(COMPANY, TARO, SLACK_MEMBER_ID)
    stack.links.update(COMPANY, HANAKO, {LOOKUP_MISSED: int(time.time())}, [])
    return stack


def jobs(stack: HubStack, queue: str) -> list[SendJob]:
    return [SendJob.model_validate_json(message["body"]) for message in stack.drain(queue)]


def statuses(stack: HubStack, event_id: str = EVENT_ID) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {key: (record["status"], record.get("reason")) for key, record in stack.records(COMPANY, event_id).items()}


def test_router_one_record_per_recipient_and_channel_with_skip_reason(slack_company: HubStack) -> None:
    # GIVEN acme routing approval.requested to Slack; only Taro linked his Slack account
    router = make_router(slack_company)

    # WHEN the contract's notification example arrives
    router.handle_record(sqs_record(body(notification_event())))

    # THEN Taro's Slack delivery is queued and Hanako's skipped with the reason
    assert statuses(slack_company) == {
        (TARO, "slack"): ("queued", None),
        (HANAKO, "slack"): ("skipped", "slack_member_id_missing"),
    }
    record = slack_company.record(COMPANY, EVENT_ID, TARO, "slack")
    assert record is not None
    assert (record["item"], record["attempts"]) == ("approval.requested", 0)


def test_router_queued_delivery_enqueued_as_slack_job_without_secrets(slack_company: HubStack) -> None:
    # GIVEN acme routing to Slack
    router = make_router(slack_company)

    # WHEN the event is routed
    router.handle_record(sqs_record(body(notification_event())))

    # THEN one Slack job carries the message for Taro only, and no credentials
    messages = slack_company.drain("slack")
    assert len(messages) == 1
    job = SendJob.model_validate_json(messages[0]["body"])
    assert (job.company_id, job.event_id, job.item, job.channel) == (COMPANY, EVENT_ID, "approval.requested", "slack")
    assert [r.user_id for r in job.recipients] == [TARO]
    assert job.recipients[0].phone == "+819012345678"
    assert job.message.title == "決裁依頼: 出張申請 (大阪)"
    assert SLACK_TOKEN not in messages[0]["body"]
    # the member ID is no secret: the job carries it so the sender needs no links read of its own
    assert job.addresses == {TARO: SLACK_MEMBER_ID}
    assert slack_company.drain("google_chat") == []


def test_router_slack_jobs_of_up_to_ten_recipients(slack_company: HubStack) -> None:
    # GIVEN 12 linked recipients (more than one job's worth)
    users = [f"user{i:02d}@acme.example" for i in range(12)]
    for user in users:
        slack_company.link_slack(COMPANY, user, f"U{user[4:6]}")
    router = make_router(slack_company)

    # WHEN a notification to all of them is routed
    router.handle_record(sqs_record(body(notification_event(recipients=[recipient(u) for u in users]))))

    # THEN every recipient is in exactly one job, and jobs hold at most ten
    sent = jobs(slack_company, "slack")
    assert sorted(r.user_id for job in sent for r in job.recipients) == users
    assert sorted(len(job.recipients) for job in sent) == [2, 10]


def test_router_two_channels_records_and_jobs_per_channel(slack_company: HubStack) -> None:
    # GIVEN Slack and Google Chat routed; Taro on both, Hanako on Google Chat only
    slack_company.configure(COMPANY, Integration.GOOGLE_CHAT, {})
    slack_company.route(COMPANY, {"approval.requested": ["slack", "google_chat"]})
    slack_company.link_google_chat(COMPANY, TARO, WEBHOOK_URL)
    slack_company.link_google_chat(COMPANY, HANAKO, WEBHOOK_URL)
    router = make_router(slack_company)

    # WHEN the event is routed
    router.handle_record(sqs_record(body(notification_event())))

    # THEN four records, three queued, and one job per queued delivery on its channel's queue
    assert statuses(slack_company) == {
        (TARO, "slack"): ("queued", None),
        (HANAKO, "slack"): ("skipped", "slack_member_id_missing"),
        (TARO, "google_chat"): ("queued", None),
        (HANAKO, "google_chat"): ("queued", None),
    }
    assert [r.user_id for job in jobs(slack_company, "slack") for r in job.recipients] == [TARO]
    assert sorted(r.user_id for job in jobs(slack_company, "google_chat") for r in job.recipients) == [HANAKO, TARO]
    assert WEBHOOK_URL not in json.dumps([m["body"] for m in slack_company.drain("google_chat")])


def test_router_item_not_routed_records_skip_and_enqueues_nothing(slack_company: HubStack) -> None:
    # GIVEN an item acme routes nowhere
    router = make_router(slack_company)

    # WHEN it arrives
    router.handle_record(sqs_record(body(notification_event(item="notice.posted"))))

    # THEN one "none" record per recipient says so, and no job is sent
    assert statuses(slack_company) == {
        (TARO, "none"): ("skipped", "item_not_routed"),
        (HANAKO, "none"): ("skipped", "item_not_routed"),
    }
    assert slack_company.drain("slack") == []


def test_router_disabled_channel_skipped_and_not_enqueued(stack: HubStack) -> None:
    # GIVEN Slack configured but off, yet still in the routing
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN}, enabled=False)
    stack.route(COMPANY, {"approval.requested": ["slack"]})
    stack.link_slack(COMPANY, TARO, SLACK_MEMBER_ID)

    # WHEN the event is routed
    make_router(stack).handle_record(sqs_record(body(notification_event())))

    # THEN both deliveries are skipped as channel_disabled and nothing is queued
    assert {value for value in statuses(stack).values()} == {("skipped", "channel_disabled")}
    assert stack.drain("slack") == []


def test_router_channel_without_sender_skipped_unavailable(slack_company: HubStack) -> None:
    # GIVEN a router deployed without the Slack sender queue
    router = make_router(slack_company, channels=("google_chat",))

    # WHEN the event is routed
    router.handle_record(sqs_record(body(notification_event())))

    # THEN deliveries are recorded as channel_unavailable
    assert statuses(slack_company)[(TARO, "slack")] == ("skipped", "channel_unavailable")


def test_router_unknown_company_records_not_routed(stack: HubStack) -> None:
    # GIVEN a company the hub has no settings for
    # WHEN its event arrives
    make_router(stack).handle_record(sqs_record(body(notification_event(company_id="globex"))))

    # THEN nothing is lost: the decision is recorded under that company only
    items, _ = stack.deliveries.search("globex", event_id=EVENT_ID)
    assert {(item["channel"], item["reason"]) for item in items} == {("none", "item_not_routed")}
    assert stack.records(COMPANY, EVENT_ID) == {}


def test_router_redelivered_event_after_sending_writes_and_enqueues_nothing(slack_company: HubStack) -> None:
    # GIVEN an event routed once, and its queued delivery since sent by the worker
    router = make_router(slack_company)
    router.handle_record(sqs_record(body(notification_event())))
    assert len(slack_company.drain("slack")) == 1
    key = DeliveryKey(COMPANY, EVENT_ID, TARO, "slack")
    slack_company.deliveries.claim(key, 60)
    slack_company.finish(key, DeliveryStatus.SENT, provider_message_id="1.2")
    writes_before = slack_company.deliveries_writes()

    # WHEN WORKPLACE sends the same event again
    router.handle_record(sqs_record(body(notification_event()), message_id="message-2"))

    # THEN no record is written or changed and no job is enqueued
    assert slack_company.deliveries_writes() == writes_before
    assert slack_company.drain("slack") == []
    assert statuses(slack_company)[(TARO, "slack")] == ("sent", None)


def test_router_redelivered_event_still_queued_reenqueues_but_writes_nothing(slack_company: HubStack) -> None:
    # GIVEN an event routed once whose job has not been worked yet (or was lost after the record write)
    router = make_router(slack_company)
    router.handle_record(sqs_record(body(notification_event())))
    slack_company.drain("slack")
    writes_before = slack_company.deliveries_writes()

    # WHEN the same event is redelivered
    router.handle_record(sqs_record(body(notification_event()), message_id="message-2"))

    # THEN no record is added, and the still-queued delivery is enqueued again (the worker's claim dedupes)
    assert slack_company.deliveries_writes() == writes_before
    assert [job.recipients[0].user_id for job in jobs(slack_company, "slack")] == [TARO]
    assert len(slack_company.records(COMPANY, EVENT_ID)) == 2


def test_router_redelivery_with_new_link_adds_nothing_for_decided_recipient(slack_company: HubStack) -> None:
    # GIVEN an event routed while Hanako was not linked
    router = make_router(slack_company)
    router.handle_record(sqs_record(body(notification_event())))
    slack_company.drain("slack")

    # WHEN Hanako links Slack and the event is redelivered
    slack_company.link_slack(COMPANY, HANAKO, "U999")
    router.handle_record(sqs_record(body(notification_event())))

    # THEN her earlier decision stands (a record exists per recipient × channel, once)
    assert statuses(slack_company)[(HANAKO, "slack")] == ("skipped", "slack_member_id_missing")
    assert [job.recipients[0].user_id for job in jobs(slack_company, "slack")] == [TARO]


@pytest.mark.parametrize(
    ("raw", "reason_part"),
    [
        ("{not json", "not JSON"),
        (body(notification_event(version="2")), "version"),
        (body(notification_event(recipients=[])), "recipients"),
        (body(notification_event(company_id="acme corp")), "company_id"),
    ],
)
def test_router_invalid_event_dead_lettered_with_reason_and_not_raised(
    slack_company: HubStack, raw: str, reason_part: str
) -> None:
    # GIVEN a message that breaks the contract
    router = make_router(slack_company)

    # WHEN it is handled (must not raise: one bad record never fails its batch)
    router.handle_record(sqs_record(raw))

    # THEN it sits on the events DLQ, unchanged, with the reason as a message attribute
    dead = slack_company.drain("events_dlq")
    assert len(dead) == 1
    assert dead[0]["body"] == raw
    assert dead[0]["attributes"]["reason"].startswith("invalid event: ")
    assert reason_part in dead[0]["attributes"]["reason"]
    assert dead[0]["attributes"]["source"] == "router"
    assert "failed_at" in dead[0]["attributes"]
    assert slack_company.drain("slack") == []


def test_router_invalid_event_reason_carries_no_message_content(slack_company: HubStack) -> None:
    # GIVEN an invalid event with personal data in its message
    raw = body(
        notification_event(event_id="bad id", message={"title": "給与 山田", "body": "", "url": "https://x.example"})
    )

    # WHEN it is dead-lettered
    make_router(slack_company).handle_record(sqs_record(raw))

    # THEN the reason names the field only
    reason = slack_company.drain("events_dlq")[0]["attributes"]["reason"]
    assert "event_id" in reason
    assert "給与" not in reason


@pytest.mark.parametrize("document", [absence_upserted_event(), absence_cancelled_event()])
def test_router_absence_event_kept_on_dlq_when_no_calendar_worker_is_deployed(
    slack_company: HubStack, document: dict[str, Any]
) -> None:
    # GIVEN a valid absence event and a router deployed without the calendar queue
    # WHEN it is handled
    make_router(slack_company).handle_record(sqs_record(body(document)))

    # THEN it is kept on the DLQ with the reason, for a later re-drive
    dead = slack_company.drain("events_dlq")
    assert len(dead) == 1
    assert dead[0]["attributes"]["reason"] == f"{document['type']}: calendar registration is not deployed"


def test_router_unexpected_failure_raised_for_sqs_retry(slack_company: HubStack) -> None:
    # GIVEN the deliveries table is gone (an unexpected AWS failure)
    slack_company.dynamodb.meta.client.delete_table(TableName="deliveries")
    router = make_router(slack_company)

    # WHEN an event is handled on an early attempt
    # THEN the error propagates so that SQS retries it, and nothing is dead-lettered yet
    with pytest.raises(Exception, match="ResourceNotFound"):
        router.handle_record(sqs_record(body(notification_event()), receive_count=1))
    assert slack_company.drain("events_dlq") == []


def test_router_unexpected_failure_on_last_attempt_dead_lettered(slack_company: HubStack) -> None:
    # GIVEN the deliveries table is gone
    slack_company.dynamodb.meta.client.delete_table(TableName="deliveries")
    router = make_router(slack_company)

    # WHEN the event is handled on its last attempt
    router.handle_record(sqs_record(body(notification_event()), receive_count=MAX_RECEIVE_COUNT))

    # THEN it is kept on the DLQ with the reason instead of raising
    dead = slack_company.drain("events_dlq")
    assert len(dead) == 1
    assert dead[0]["attributes"]["reason"].startswith("routing failed: ResourceNotFoundException")


def test_router_last_attempt_reason_is_error_type_and_code_never_its_text(
    slack_company: HubStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN DynamoDB refusing the event's records with an error whose text quotes a value of the event
    def refuse(records: Any) -> None:
        error = {"Error": {"Code": "ValidationException", "Message": f"key {TARO} is invalid"}}
        raise ClientError(error, "BatchWriteItem")

    monkeypatch.setattr(slack_company.deliveries, "add_many", refuse)
    router = make_router(slack_company)

    # WHEN the event is handled on its last attempt
    router.handle_record(sqs_record(body(notification_event()), receive_count=MAX_RECEIVE_COUNT))

    # THEN the reason is the rule every stage follows: the error's type and AWS error code, nothing of its text
    (dead,) = slack_company.drain("events_dlq")
    assert dead["attributes"]["reason"] == "routing failed: ClientError (ValidationException)"


def test_router_last_attempt_reason_never_carries_a_url_or_token_an_exception_quotes(
    slack_company: HubStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a send queue failing with an HTTP library's error that quotes a webhook URL and its token
    secret_url = "https://chat.googleapis.com/v1/spaces/AAA/messages?key=KEYsecret&token=TOKENsecret"
    router = EventRouter(
        settings_cache=CachedSettings(slack_company.settings_repository, 30.0),
        settings_repo=slack_company.settings_repository,
        links=slack_company.links,
        deliveries=slack_company.deliveries,
        send_queues={"slack": JobQueue(slack_company.sqs, slack_company.queue_urls["slack"])},
        dead_letters=DeadLetters(
            slack_company.sqs, slack_company.queue_urls["events_dlq"], "router", log=slack_company.deliveries
        ),
        max_receive_count=MAX_RECEIVE_COUNT,
    )

    def fail(self: JobQueue, bodies: Any) -> None:
        raise ConnectionError(f"HTTPSConnectionPool: Max retries exceeded with url: {secret_url}")

    monkeypatch.setattr(JobQueue, "send_all", fail)

    # WHEN the event is handled on its last attempt
    router.handle_record(sqs_record(body(notification_event()), receive_count=MAX_RECEIVE_COUNT))

    # THEN the dead letter says what failed by the error's type only: no URL, key or token on the DLQ ...
    (dead,) = slack_company.drain("events_dlq")
    assert dead["attributes"]["reason"] == "routing failed: ConnectionError"
    # ... nor in the company's delivery log, where the admin reads it
    logged = json.dumps(slack_company.dynamodb.meta.client.scan(TableName="deliveries")["Items"], default=str)
    assert "routing failed: ConnectionError" in logged
    assert not any(part in logged for part in ("KEYsecret", "TOKENsecret", "spaces/AAA"))


LONG_USER_ID = "😀" * 256  # contract-valid (256 characters) and 1,024 bytes of UTF-8: a sort key on its own


def test_router_recipient_with_longest_user_id_routed_beside_the_others(slack_company: HubStack) -> None:
    # GIVEN a recipient whose user_id is 256 four-byte characters, linked to Slack like Taro
    slack_company.link_slack(COMPANY, LONG_USER_ID, "U0LONG0001")
    router = make_router(slack_company)
    document = notification_event(recipients=[recipient(LONG_USER_ID, name="絵文字"), recipient(TARO)])

    # WHEN the event arrives (on its first receive: nothing may fail and come back)
    router.handle_record(sqs_record(body(document), receive_count=1))

    # THEN both are recorded queued and go out in the Slack job; nothing is dead-lettered
    assert statuses(slack_company) == {(LONG_USER_ID, "slack"): ("queued", None), (TARO, "slack"): ("queued", None)}
    (job,) = jobs(slack_company, "slack")
    assert {r.user_id for r in job.recipients} == {LONG_USER_ID, TARO}
    assert job.addresses[LONG_USER_ID] == "U0LONG0001"
    assert slack_company.drain("events_dlq") == []
    # AND its record is found by its whole user_id, in the event and in the employee's own listing
    assert slack_company.record(COMPANY, EVENT_ID, LONG_USER_ID, "slack") is not None
    mine, _ = slack_company.deliveries.search(COMPANY, user_id=LONG_USER_ID)
    assert [(r["user_id"], r["event_id"]) for r in mine] == [(LONG_USER_ID, EVENT_ID)]


def test_router_one_invalid_recipient_recorded_failed_and_the_others_delivered(slack_company: HubStack) -> None:
    # GIVEN an event whose second recipient has a phone that is not E.164
    router = make_router(slack_company)
    document = notification_event(recipients=[recipient(TARO), recipient(HANAKO, phone="090-1234-5678")])

    # WHEN it arrives
    router.handle_record(sqs_record(body(document), receive_count=1))

    # THEN Taro's delivery is queued and in the Slack job; Hanako's is failed with the reason and the field named
    assert statuses(slack_company) == {
        (TARO, "slack"): ("queued", None),
        (HANAKO, "slack"): ("failed", "invalid_recipient"),
    }
    record = slack_company.record(COMPANY, EVENT_ID, HANAKO, "slack")
    assert record is not None
    assert record["error_code"] == "phone"
    assert "090-1234-5678" not in json.dumps(record, ensure_ascii=False)
    assert [[r.user_id for r in job.recipients] for job in jobs(slack_company, "slack")] == [[TARO]]
    # AND the event itself is no dead letter: it was handled
    assert slack_company.drain("events_dlq") == []


def test_router_invalid_recipient_of_unrouted_item_recorded_failed(slack_company: HubStack) -> None:
    # GIVEN an item acme routes nowhere, and a recipient with a bad locale
    router = make_router(slack_company)
    document = notification_event(item="notice.posted", recipients=[recipient(TARO), recipient(HANAKO, locale="fr")])

    # WHEN it arrives
    router.handle_record(sqs_record(body(document)))

    # THEN the valid recipient is skipped as usual, the invalid one recorded failed
    assert statuses(slack_company) == {
        (TARO, "none"): ("skipped", "item_not_routed"),
        (HANAKO, "none"): ("failed", "invalid_recipient"),
    }


@pytest.mark.parametrize("filler", ["😀", "x"], ids=["4-byte characters", "ascii"])
def test_router_line_recipients_of_the_longest_ids_split_into_jobs_sqs_accepts(stack: HubStack, filler: str) -> None:
    # GIVEN LINE on, and 250 recipients (fewer than one multicast's 500, so only their size splits them) with the
    # contract's longest user IDs and names, all linked: one job of them would be 0.3-0.7 MB, over SQS's 256 KB
    # message (500 recipients split the same way; linking each one is what this test spends its time on)
    stack.configure(
        COMPANY,
        Integration.LINE,
        {
            "login_channel_id": "1234567890",
            "login_channel_secret": "0123456789abcdef0123456789abcdef",
            "channel_access_token": "SECRETchannelAccessToken0123456789+/=",
            "channel_secret": "fedcba9876543210fedcba9876543210",
            "friend_link_url": "https://lin.ee/AbCdEfG",
        },
    )
    stack.route(COMPANY, {"approval.requested": ["line"]})
    users = [f"{index:03d}" + filler * 253 for index in range(250)]
    for index, user in enumerate(users):
        stack.links.update(COMPANY, user, {"line_user_id": f"U{index:032x}"}, [])
    recipients = [recipient(user, name="名" * 200) for user in users]
    router = make_router(stack, ("line",))

    # WHEN the event is routed
    router.handle_record(sqs_record(body(notification_event(recipients=recipients))))

    # THEN every recipient is queued, in jobs of at most 256 KB that together name each recipient once, with its
    # address
    messages = stack.drain("line")
    assert all(len(m["body"].encode()) <= 256 * 1024 for m in messages)
    line_jobs = [SendJob.model_validate_json(m["body"]) for m in messages]
    assert len(line_jobs) > 1
    assert sorted(r.user_id for job in line_jobs for r in job.recipients) == sorted(users)
    assert all(set(job.addresses) == {r.user_id for r in job.recipients} for job in line_jobs)
    assert {status for status, _ in statuses(stack).values()} == {"queued"}


def test_router_collabo_event_marks_company_collabo(stack: HubStack) -> None:
    # GIVEN a company the hub only knows as plain WORKPLACE, routing to NAVER WORKS
    stack.route(COMPANY, {"approval.requested": ["naver_works"]})

    # WHEN an event says product=collabo
    make_router(stack).handle_record(sqs_record(body(notification_event(product="collabo"))))

    # THEN the company is stored as Collabo, so NAVER WORKS is on by default (but has no sender yet)
    assert stack.settings_repository.load(COMPANY).is_collabo
    assert {value for value in statuses(stack).values()} == {("skipped", "channel_unavailable")}


def test_router_route_notification_returns_counts(slack_company: HubStack) -> None:
    # GIVEN acme routing to Slack
    router = make_router(slack_company)
    event = notification_event()

    # WHEN the parsed event is routed directly
    parsed = parse_event(body(event))
    assert isinstance(parsed, NotificationEvent)
    counts = router.route_notification(event=parsed)

    # THEN it reports one queued and one skipped delivery
    assert counts == {"queued": 1, "skipped": 1}


# ---------------------------------------------------------------- absence events

UPSERT_ID = "evt-2026-11-28-000124"  # builders.absence_upserted_event
CANCEL_ID = "evt-2026-11-28-000125"  # builders.absence_cancelled_event
# The calendars of the contract's example absence, as the router names them.
EXAMPLE_CHANNELS = ["naver_works_calendar", "naver_works_calendar:c-77f0", "google_calendar"]


def upserted(event_id: str = UPSERT_ID, occurred_at: str = "2026-11-28T09:20:00+09:00", **absence: Any) -> str:
    """An absence.upserted message body with its own event_id and occurred_at."""
    return body({**absence_upserted_event(**absence), "event_id": event_id, "occurred_at": occurred_at})


def calendar_jobs(stack: HubStack) -> list[CalendarJob]:
    return [CalendarJob.model_validate_json(message["body"]) for message in stack.drain("calendar")]


def test_router_accepted_upsert_enqueues_one_calendar_job(stack: HubStack) -> None:
    # GIVEN a router with calendar registration deployed
    router = make_router(stack, calendars=True)

    # WHEN the contract's absence.upserted example arrives
    router.handle_record(sqs_record(upserted()))

    # THEN one calendar job names the absence, the event and its calendars (no absence details, no secrets)
    assert calendar_jobs(stack) == [
        CalendarJob(
            company_id=COMPANY,
            absence_id="abs-5531",
            user_id=TARO,
            event_id=UPSERT_ID,
            event_type="absence.upserted",
            channels=EXAMPLE_CHANNELS,
        )
    ]
    # ... the registry holds the state the worker will apply, and no record is written yet (the worker does)
    state = stack.registry.get(COMPANY, "abs-5531")
    assert state is not None
    assert (state.event_id, state.targets) == (UPSERT_ID, EXAMPLE_CHANNELS)
    assert stack.records(COMPANY, UPSERT_ID) == {}
    assert stack.drain("events_dlq") == []


def test_router_calendar_job_channels_deduplicated(stack: HubStack) -> None:
    # GIVEN an upsert naming Google twice (once with a calendar_id) and the NAVER WORKS default calendar twice
    calendars = [
        {"provider": "google", "calendar_id": "team@acme.example"},
        {"provider": "naver_works"},
        {"provider": "google"},
        {"provider": "naver_works"},
        {"provider": "naver_works", "calendar_id": "c-77f0"},
    ]

    # WHEN it is routed
    make_router(stack, calendars=True).handle_record(sqs_record(upserted(calendars=calendars)))

    # THEN each calendar is named once, in first-seen order; Google is always the primary calendar
    [job] = calendar_jobs(stack)
    assert job.channels == ["google_calendar", "naver_works_calendar", "naver_works_calendar:c-77f0"]


def test_router_route_absence_returns_the_acceptance(stack: HubStack) -> None:
    # GIVEN a router with calendar registration deployed
    router = make_router(stack, calendars=True)
    event = parse_event(upserted())

    # WHEN the parsed event is routed directly, twice (a redelivery)
    first = router.route_absence(event)  # type: ignore[arg-type]
    again = router.route_absence(event)  # type: ignore[arg-type]

    # THEN both are accepted and each enqueues a job (the worker makes the second one cost nothing)
    assert (first, again) == (Acceptance.ACCEPTED, Acceptance.ACCEPTED)
    assert len(calendar_jobs(stack)) == 2


def test_router_superseded_upsert_enqueues_nothing_and_records_skipped(stack: HubStack) -> None:
    # GIVEN an absence whose state was set by an upsert at 09:30
    router = make_router(stack, calendars=True)
    router.handle_record(sqs_record(upserted("evt-new", "2026-11-28T09:30:00+09:00")))
    stack.drain("calendar")

    # WHEN an upsert that occurred earlier (09:20) arrives late
    router.handle_record(sqs_record(upserted("evt-old", "2026-11-28T09:20:00+09:00", title="old")))

    # THEN no job is enqueued, the state is unchanged, and each of its calendars is recorded skipped/superseded
    assert stack.drain("calendar") == []
    state = stack.registry.get(COMPANY, "abs-5531")
    assert state is not None and state.event_id == "evt-new"
    assert statuses(stack, "evt-old") == {(TARO, channel): ("skipped", "superseded") for channel in EXAMPLE_CHANNELS}
    record = stack.record(COMPANY, "evt-old", TARO, "google_calendar")
    assert record is not None and record["item"] == "absence.upserted"


def test_router_superseded_upsert_redelivered_keeps_its_records(stack: HubStack) -> None:
    # GIVEN a superseded upsert already recorded as skipped
    router = make_router(stack, calendars=True)
    router.handle_record(sqs_record(upserted("evt-new", "2026-11-28T09:30:00+09:00")))
    router.handle_record(sqs_record(upserted("evt-old", "2026-11-28T09:20:00+09:00")))
    writes_before = stack.deliveries_writes()

    # WHEN it is delivered again
    router.handle_record(sqs_record(upserted("evt-old", "2026-11-28T09:20:00+09:00")))

    # THEN nothing more is written
    assert stack.deliveries_writes() == writes_before
    assert len(stack.records(COMPANY, "evt-old")) == len(EXAMPLE_CHANNELS)


def test_router_upsert_after_cancel_records_skipped_absence_cancelled(stack: HubStack) -> None:
    # GIVEN a cancelled absence
    router = make_router(stack, calendars=True)
    router.handle_record(sqs_record(body(absence_cancelled_event())))
    assert [job.event_id for job in calendar_jobs(stack)] == [CANCEL_ID]

    # WHEN an upsert of it arrives, even a newer one
    router.handle_record(sqs_record(upserted("evt-later", "2026-11-28T11:00:00+09:00")))

    # THEN it is not applied: no job, and its calendars are recorded skipped/absence_cancelled
    assert stack.drain("calendar") == []
    assert statuses(stack, "evt-later") == {
        (TARO, channel): ("skipped", "absence_cancelled") for channel in EXAMPLE_CHANNELS
    }


def test_router_cancel_enqueues_a_job_without_channels(stack: HubStack) -> None:
    # GIVEN a registered absence
    router = make_router(stack, calendars=True)
    router.handle_record(sqs_record(upserted()))
    stack.drain("calendar")

    # WHEN the contract's cancellation arrives
    router.handle_record(sqs_record(body(absence_cancelled_event())))

    # THEN one job carries it (the worker removes every registration) and the state is cancelled
    [job] = calendar_jobs(stack)
    assert (job.event_id, job.event_type, job.channels) == (CANCEL_ID, "absence.cancelled", [])
    state = stack.registry.get(COMPANY, "abs-5531")
    assert state is not None and state.cancelled


def test_router_absence_registry_failure_raised_for_sqs_retry(stack: HubStack) -> None:
    # GIVEN the absences table is gone (an unexpected AWS failure)
    stack.dynamodb.meta.client.delete_table(TableName="absences")
    router = make_router(stack, calendars=True)

    # WHEN an absence event is handled on an early attempt
    # THEN the error propagates so that SQS retries it; nothing is enqueued or dead-lettered yet
    with pytest.raises(Exception, match="ResourceNotFound"):
        router.handle_record(sqs_record(upserted(), receive_count=1))
    assert stack.drain("events_dlq") == []
    assert stack.drain("calendar") == []


def test_router_absence_registry_failure_on_last_attempt_dead_lettered(stack: HubStack) -> None:
    # GIVEN the absences table is gone
    stack.dynamodb.meta.client.delete_table(TableName="absences")
    router = make_router(stack, calendars=True)
    raw = upserted()

    # WHEN the event is handled on its last attempt
    router.handle_record(sqs_record(raw, receive_count=MAX_RECEIVE_COUNT))

    # THEN it is kept, unchanged, on the events DLQ with the reason
    dead = stack.drain("events_dlq")
    assert len(dead) == 1
    assert dead[0]["body"] == raw
    assert dead[0]["attributes"]["reason"].startswith("routing failed: ResourceNotFoundException")
