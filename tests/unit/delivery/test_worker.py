"""DeliveryWorker on moto (DynamoDB, SQS, KMS) with a FakeSender: at-most-once sending and its records."""

from __future__ import annotations

import time
from collections.abc import Callable
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
    body,
    notification_event,
    recipient,
    send_job,
    sqs_record,
)
from tests.unit.fakes import FakeSender
from workplace_hub.catalog import Integration
from workplace_hub.delivery.worker import DeliveryWorker
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    RetryableProviderError,
)
from workplace_hub.integration_settings.credentials import CompanyCredentials
from workplace_hub.integration_settings.effective import effective
from workplace_hub.jobs import SendJob
from workplace_hub.queues import DeadLetters, JobPostponedError, JobQueue, backoff_seconds, retry_delay
from workplace_hub.routing.router import EventRouter
from workplace_hub.storage.addresses import LOOKUP_MISSED
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus, NewDelivery
from workplace_hub.storage.settings import CachedSettings

MAX_RECEIVE_COUNT = 8
LEASE_SECONDS = 60.0
TARO_SLACK = DeliveryKey(COMPANY, EVENT_ID, TARO, "slack")


def make_worker(
    stack: HubStack,
    sender: FakeSender,
    platform_credentials: Callable[[], dict[str, Any]] = dict,
    lease_seconds: float = LEASE_SECONDS,
    **extra: Any,
) -> DeliveryWorker:
    """The worker as wiring.build_worker assembles it, with a fake sender (`extra`: limiter, sleep, concurrency)."""
    credentials = CompanyCredentials(
        settings_repo=stack.settings_repository,
        keyring=stack.keyring,
        platform_credentials=platform_credentials,
        links=stack.links,
        settings_cache=CachedSettings(stack.settings_repository, 30.0),
    )
    return DeliveryWorker(
        sender=sender,  # type: ignore[arg-type]
        credentials=credentials,
        links=stack.links,
        deliveries=stack.deliveries,
        keyring=stack.keyring,
        queue=JobQueue(stack.sqs, stack.queue_urls[sender.channel]),
        dead_letters=DeadLetters(stack.sqs, stack.queue_urls[f"{sender.channel}_dlq"], f"send_{sender.channel}"),
        max_receive_count=MAX_RECEIVE_COUNT,
        lease_seconds=lease_seconds,
        **extra,
    )


def queue_delivery(stack: HubStack, key: DeliveryKey = TARO_SLACK) -> None:
    """The `queued` record the router writes before it enqueues the job."""
    stack.deliveries.add_many([NewDelivery(key, "approval.requested", DeliveryStatus.QUEUED)])


def handle(
    stack: HubStack,
    worker: DeliveryWorker,
    job: dict[str, Any] | str,
    *,
    receive_count: int = 1,
    channel: str = "slack",
) -> None:
    """Put the job on its queue, receive it (for a real receipt handle) and hand it to the worker."""
    raw = job if isinstance(job, str) else body(job)
    stack.sqs.send_message(QueueUrl=stack.queue_urls[channel], MessageBody=raw)
    received = stack.drain(channel)
    assert len(received) == 1
    worker.handle_record(sqs_record(raw, receive_count=receive_count, receipt_handle=received[0]["receipt_handle"]))


def visibility_changes(stack: HubStack) -> list[dict[str, Any]]:
    """Records the parameters of every ChangeMessageVisibility call made with the stack's SQS client."""
    calls: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    stack.sqs.meta.events.register("provide-client-params.sqs.ChangeMessageVisibility", capture)
    return calls


def record(stack: HubStack, key: DeliveryKey = TARO_SLACK) -> dict[str, Any]:
    found = stack.stored(key)
    assert found is not None
    return found


@pytest.fixture
def slack(stack: HubStack) -> HubStack:
    """acme: Slack on with a bot token, Taro linked, Taro's delivery of the event queued."""
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    stack.link_slack(COMPANY, TARO, SLACK_MEMBER_ID)
    queue_delivery(stack)
    return stack


@pytest.fixture
def sender() -> FakeSender:
    return FakeSender("slack")


# ---------------------------------------------------------------- success and at-most-once


def test_worker_queued_delivery_sent_once_and_recorded_sent(slack: HubStack, sender: FakeSender) -> None:
    # GIVEN a queued Slack delivery for Taro
    worker = make_worker(slack, sender)

    # WHEN its job is handled
    handle(slack, worker, send_job())

    # THEN it was sent once, to his member ID, and recorded sent with Slack's ts
    assert len(sender.sent) == 1
    assert sender.sent[0].destination.address == SLACK_MEMBER_ID
    assert sender.sent[0].destination.user_id == TARO
    saved = record(slack)
    assert (saved["status"], saved["provider_message_id"], saved["attempts"]) == ("sent", "1700000000.000100", 1)
    assert "reason" not in saved


def test_worker_sender_gets_opened_credentials_and_recipient_locale(slack: HubStack, sender: FakeSender) -> None:
    # GIVEN a job for an English-speaking recipient
    worker = make_worker(slack, sender)

    # WHEN it is handled
    handle(slack, worker, send_job(recipients=[recipient(TARO, name="Taro", locale="en")]))

    # THEN the sender got the decrypted bot token and the message in the recipient's locale
    sent = sender.sent[0]
    assert sent.credentials == {"bot_token": SLACK_TOKEN}
    assert (sent.notification.locale, sent.notification.event_id, sent.notification.item) == (
        "en",
        EVENT_ID,
        "approval.requested",
    )
    assert sent.notification.url == "https://acme.workplace.example/approvals/8812"
    assert sent.destination.name == "Taro"


def test_worker_same_job_delivered_twice_sends_once(slack: HubStack, sender: FakeSender) -> None:
    # GIVEN a job already handled successfully
    worker = make_worker(slack, sender)
    handle(slack, worker, send_job())

    # WHEN SQS delivers the same job again
    handle(slack, worker, send_job(), receive_count=2)

    # THEN nothing more is sent and the record is unchanged
    assert len(sender.attempts) == 1
    assert (record(slack)["status"], record(slack)["attempts"]) == ("sent", 1)


def test_worker_job_without_record_sends_nothing(slack: HubStack, sender: FakeSender) -> None:
    # GIVEN a job for a delivery the router never recorded
    worker = make_worker(slack, sender)

    # WHEN it is handled
    handle(slack, worker, send_job(event_id="evt-unknown"))

    # THEN nothing is sent and no record appears
    assert sender.attempts == []
    assert slack.stored(DeliveryKey(COMPANY, "evt-unknown", TARO, "slack")) is None


def test_worker_router_then_duplicate_jobs_each_recipient_sent_once(stack: HubStack, sender: FakeSender) -> None:
    # GIVEN acme routing to Slack, two linked recipients, and an event the router handled twice
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    stack.route(COMPANY, {"approval.requested": ["slack"]})
    stack.link_slack(COMPANY, TARO, SLACK_MEMBER_ID)
    stack.link_slack(COMPANY, HANAKO, "U0HANAKO")
    router = EventRouter(
        settings_cache=CachedSettings(stack.settings_repository, 30.0),
        settings_repo=stack.settings_repository,
        links=stack.links,
        deliveries=stack.deliveries,
        send_queues={"slack": JobQueue(stack.sqs, stack.queue_urls["slack"])},
        dead_letters=DeadLetters(stack.sqs, stack.queue_urls["events_dlq"], "router"),
        max_receive_count=5,
        guard=None,
    )
    router.handle_record(sqs_record(body(notification_event())))
    router.handle_record(sqs_record(body(notification_event())))
    jobs = stack.drain("slack")
    assert len(jobs) == 2  # one job each time: still-queued deliveries are enqueued again by design

    # WHEN the worker handles every job
    worker = make_worker(stack, sender)
    for job in jobs:
        worker.handle_record(sqs_record(job["body"], receipt_handle=job["receipt_handle"]))

    # THEN each recipient got exactly one message
    assert sorted(sent.destination.user_id for sent in sender.sent) == [HANAKO, TARO]
    assert {record["status"] for record in stack.records(COMPANY, EVENT_ID).values()} == {"sent"}


# ---------------------------------------------------------------- retries


def test_worker_retryable_error_records_retrying_and_postpones_by_retry_after(
    slack: HubStack, sender: FakeSender
) -> None:
    # GIVEN Slack answering 429 with Retry-After: 7
    sender.fail_with = RetryableProviderError("slack", "ratelimited", status_code=429, retry_after=7)
    worker = make_worker(slack, sender)
    changes = visibility_changes(slack)

    # WHEN the job is handled
    with pytest.raises(JobPostponedError):
        handle(slack, worker, send_job())

    # THEN the record says retrying and the job comes back after exactly Retry-After seconds
    saved = record(slack)
    assert (saved["status"], saved["reason"], saved["error_code"]) == (
        "retrying",
        "provider_unavailable",
        "ratelimited",
    )
    assert len(changes) == 1
    assert changes[0]["VisibilityTimeout"] == 7
    assert changes[0]["QueueUrl"] == slack.queue_urls["slack"]
    assert sender.sent == []


@pytest.mark.parametrize(("receive_count", "delay"), [(1, 15), (3, 60), (7, 900)])
def test_worker_retryable_error_without_retry_after_uses_backoff(
    slack: HubStack, sender: FakeSender, receive_count: int, delay: int
) -> None:
    # GIVEN a 5xx without Retry-After
    sender.fail_with = RetryableProviderError("slack", "http_503", status_code=503)
    worker = make_worker(slack, sender)
    changes = visibility_changes(slack)

    # WHEN the job is handled on its n-th receive
    with pytest.raises(JobPostponedError):
        handle(slack, worker, send_job(), receive_count=receive_count)

    # THEN it comes back after the hub's exponential backoff
    assert backoff_seconds(receive_count) == delay
    assert changes[0]["VisibilityTimeout"] == delay


def test_worker_retry_after_success_records_sent_on_second_attempt(slack: HubStack, sender: FakeSender) -> None:
    # GIVEN a first attempt that hit a rate limit
    sender.fail_with = RetryableProviderError("slack", "ratelimited", status_code=429, retry_after=1)
    worker = make_worker(slack, sender)
    with pytest.raises(JobPostponedError):
        handle(slack, worker, send_job())

    # WHEN Slack recovers and the job comes back
    sender.fail_with = None
    handle(slack, worker, send_job(), receive_count=2)

    # THEN the delivery is sent once, on its second attempt, with the earlier error cleared
    saved = record(slack)
    assert (saved["status"], saved["attempts"]) == ("sent", 2)
    assert "error_code" not in saved
    assert len(sender.sent) == 1


def test_worker_last_attempt_retryable_records_failed_retries_exhausted(slack: HubStack, sender: FakeSender) -> None:
    # GIVEN Slack still unavailable on the job's last allowed receive
    sender.fail_with = RetryableProviderError("slack", "http_503", status_code=503)
    worker = make_worker(slack, sender)
    changes = visibility_changes(slack)

    # WHEN the job is handled
    handle(slack, worker, send_job(), receive_count=MAX_RECEIVE_COUNT)

    # THEN the delivery fails for good (no postponing, no exception) with the provider's code
    saved = record(slack)
    assert (saved["status"], saved["reason"], saved["error_code"]) == ("failed", "retries_exhausted", "http_503")
    assert changes == []


# ---------------------------------------------------------------- permanent failures


def test_worker_credentials_rejected_records_failed_and_integration_error(slack: HubStack, sender: FakeSender) -> None:
    # GIVEN Slack refusing the company's bot token
    sender.fail_with = IntegrationCredentialsError("slack", "invalid_auth", status_code=200)
    worker = make_worker(slack, sender)

    # WHEN the job is handled
    handle(slack, worker, send_job())

    # THEN the delivery failed and the integration's status tells the admin
    saved = record(slack)
    assert (saved["status"], saved["reason"], saved["error_code"]) == (
        "failed",
        "integration_credentials_rejected",
        "invalid_auth",
    )
    stored = slack.settings_repository.load(COMPANY).integrations[Integration.SLACK]
    assert stored.status is not None
    assert (stored.status["state"], stored.status["code"]) == ("error", "invalid_auth")
    assert stored.enabled is True
    assert stored.sealed_secrets  # the token is kept for the admin to replace


def test_worker_needs_relink_records_failed_needs_relink(slack: HubStack, sender: FakeSender) -> None:
    # GIVEN Slack saying the member cannot be messaged
    sender.fail_with = NeedsRelinkError("slack", "channel_not_found", status_code=200)
    worker = make_worker(slack, sender)

    # WHEN the job is handled
    handle(slack, worker, send_job())

    # THEN the delivery failed, asking the employee to link again; the integration is untouched
    saved = record(slack)
    assert (saved["status"], saved["reason"], saved["error_code"]) == ("failed", "needs_relink", "channel_not_found")
    assert slack.settings_repository.load(COMPANY).integrations[Integration.SLACK].status is None


def test_worker_permanent_error_records_failed_provider_rejected(slack: HubStack, sender: FakeSender) -> None:
    # GIVEN Slack refusing the message for good
    sender.fail_with = PermanentProviderError("slack", "invalid_blocks", status_code=200)
    worker = make_worker(slack, sender)

    # WHEN the job is handled (no exception: nothing to retry)
    handle(slack, worker, send_job())

    # THEN the delivery failed with Slack's code
    saved = record(slack)
    assert (saved["status"], saved["reason"], saved["error_code"]) == ("failed", "provider_rejected", "invalid_blocks")


# ---------------------------------------------------------------- claims


def test_worker_expired_lease_records_outcome_unknown_without_sending(slack: HubStack, sender: FakeSender) -> None:
    # GIVEN an earlier attempt that claimed the delivery an hour ago and died mid-send
    slack.deliveries.claim(TARO_SLACK, LEASE_SECONDS, now=time.time() - 3600)
    worker = make_worker(slack, sender)

    # WHEN the job comes back
    handle(slack, worker, send_job(), receive_count=2)

    # THEN it is not sent again (it may have been delivered) and is recorded as outcome_unknown
    assert sender.attempts == []
    saved = record(slack)
    assert (saved["status"], saved["reason"]) == ("failed", "outcome_unknown")


def test_worker_claim_in_flight_left_alone_and_looked_at_again_after_its_lease(
    slack: HubStack, sender: FakeSender
) -> None:
    # GIVEN another attempt sending this delivery right now (lease still valid for 60 s)
    slack.deliveries.claim(TARO_SLACK, LEASE_SECONDS)
    worker = make_worker(slack, sender)
    changes = visibility_changes(slack)

    # WHEN a duplicate job arrives
    with pytest.raises(JobPostponedError):
        handle(slack, worker, send_job(), receive_count=2)

    # THEN this worker neither sends nor touches the record, and comes back once the lease is over (should that
    # attempt have died, its job may be this very one: nobody else would settle the record)
    assert sender.attempts == []
    assert record(slack)["status"] == "sending"
    assert [60 <= change["VisibilityTimeout"] <= 62 for change in changes] == [True]


# ---------------------------------------------------------------- skips


def test_worker_disabled_channel_records_skipped_without_sending(slack: HubStack, sender: FakeSender) -> None:
    # GIVEN the admin turned Slack off after the event was routed
    slack.configure(COMPANY, Integration.SLACK, {}, enabled=False)
    worker = make_worker(slack, sender)

    # WHEN the job is handled
    handle(slack, worker, send_job())

    # THEN nothing is sent and the delivery is skipped as channel_disabled
    assert sender.attempts == []
    assert (record(slack)["status"], record(slack)["reason"]) == ("skipped", "channel_disabled")


def test_worker_link_removed_records_skipped_missing_address(slack: HubStack, sender: FakeSender) -> None:
    # GIVEN Taro removed his Slack link after routing
    slack.links.update(COMPANY, TARO, {}, ["slack_member_id"])
    worker = make_worker(slack, sender)

    # WHEN the job is handled
    handle(slack, worker, send_job())

    # THEN nothing is sent and the delivery is skipped with the missing field
    assert sender.attempts == []
    assert (record(slack)["status"], record(slack)["reason"]) == ("skipped", "slack_member_id_missing")


# ---------------------------------------------------------------- Google Chat


def test_worker_google_chat_opens_sealed_webhook_as_destination(stack: HubStack) -> None:
    # GIVEN Google Chat on, Taro's webhook stored sealed, his delivery queued
    stack.configure(COMPANY, Integration.GOOGLE_CHAT, {})
    stack.link_google_chat(COMPANY, TARO, WEBHOOK_URL)
    key = DeliveryKey(COMPANY, EVENT_ID, TARO, "google_chat")
    queue_delivery(stack, key)
    sender = FakeSender("google_chat", provider_message_id="spaces/AAAA1234/messages/m1.m1")
    worker = make_worker(stack, sender)

    # WHEN the Google Chat job is handled
    handle(stack, worker, send_job(channel="google_chat"), channel="google_chat")

    # THEN the sender posts to the decrypted webhook URL and the message name is recorded
    assert [sent.destination.address for sent in sender.sent] == [WEBHOOK_URL]
    assert sender.sent[0].credentials == {}
    saved = record(stack, key)
    assert (saved["status"], saved["provider_message_id"]) == ("sent", "spaces/AAAA1234/messages/m1.m1")
    assert WEBHOOK_URL not in str(stack.links.get(COMPANY, TARO).attributes)


# ---------------------------------------------------------------- bad jobs


@pytest.mark.parametrize(
    ("raw", "reason_part"),
    [
        ("{not json", "invalid send job"),
        (body(send_job(recipients=[])), "recipients"),
        (body({k: v for k, v in send_job().items() if k != "message"}), "message"),
    ],
)
def test_worker_invalid_job_dead_lettered_with_reason(
    slack: HubStack, sender: FakeSender, raw: str, reason_part: str
) -> None:
    # GIVEN a message that is not a valid send job
    worker = make_worker(slack, sender)

    # WHEN it is handled (no exception)
    handle(slack, worker, raw)

    # THEN it is on the sender's DLQ with the reason (field names only), and nothing was sent
    dead = slack.drain("slack_dlq")
    assert len(dead) == 1
    assert reason_part in dead[0]["attributes"]["reason"]
    assert SLACK_TOKEN not in dead[0]["attributes"]["reason"]
    assert dead[0]["attributes"]["source"] == "send_slack"
    assert sender.attempts == []


def test_worker_job_with_a_field_it_does_not_know_is_still_delivered(slack: HubStack, sender: FakeSender) -> None:
    # GIVEN a job from a newer router with a field this worker does not know (a rolling deployment)
    worker = make_worker(slack, sender)

    # WHEN it is handled
    handle(slack, worker, body({**send_job(), "priority": "high"}))

    # THEN it is delivered, not dead-lettered
    assert len(sender.sent) == 1
    assert slack.drain("slack_dlq") == []


def test_worker_job_for_other_channel_dead_lettered(slack: HubStack, sender: FakeSender) -> None:
    # GIVEN a Google Chat job that landed on the Slack queue
    worker = make_worker(slack, sender)

    # WHEN the Slack worker handles it
    handle(slack, worker, send_job(channel="google_chat"))

    # THEN it is dead-lettered, not sent through Slack
    dead = slack.drain("slack_dlq")
    assert dead[0]["attributes"]["reason"] == "send job for google_chat on the slack queue"
    assert sender.attempts == []


# ---------------------------------------------------------------- batches, idempotency keys, reclaim


def test_worker_recipients_grouped_by_locale(slack: HubStack) -> None:
    # GIVEN a job for a Japanese and an English recipient on a sender taking 10 per call
    slack.link_slack(COMPANY, HANAKO, "U0HANAKO")
    queue_delivery(slack, DeliveryKey(COMPANY, EVENT_ID, HANAKO, "slack"))
    sender = FakeSender("slack", max_batch=10)
    worker = make_worker(slack, sender)
    job = send_job(recipients=[recipient(TARO, locale="ja"), recipient(HANAKO, locale="en")])

    # WHEN it is handled
    handle(slack, worker, job)

    # THEN each recipient got the message in their own locale, one send_batch per locale
    assert {(sent.destination.user_id, sent.notification.locale) for sent in sender.sent} == {
        (TARO, "ja"),
        (HANAKO, "en"),
    }
    assert len(sender.idempotency_keys) == 2
    assert {r["status"] for r in slack.records(COMPANY, EVENT_ID).values()} == {"sent"}


def test_worker_idempotent_provider_reclaims_expired_claim_and_resends(slack: HubStack) -> None:
    # GIVEN a provider that deduplicates repeats (LINE's retry key), and a claim whose sender died
    slack.deliveries.claim(TARO_SLACK, LEASE_SECONDS, now=time.time() - 3600)
    sender = FakeSender("slack", idempotent_retries=True)
    worker = make_worker(slack, sender)

    # WHEN the job comes back
    handle(slack, worker, send_job(), receive_count=2)

    # THEN the delivery is retried (safe: the provider drops the duplicate) and recorded sent
    assert len(sender.sent) == 1
    assert (record(slack)["status"], record(slack)["attempts"]) == ("sent", 2)


# ---------------------------------------------------------------- other address sources


def test_worker_kakao_recipient_without_phone_skipped(stack: HubStack) -> None:
    # GIVEN Kakao on and a job for a recipient without a phone number
    stack.configure(
        COMPANY,
        Integration.KAKAO,
        {
            "access_key_id": "ABCDEFGH12345678",
            "secret_key": "SECRETkey0123456789abcdef",
            "channel_id": "@acme",
            "service_id": "ncp:kkobizmsg:kr:1234567:sens",
            "template_code": "APPROVAL01",
        },
    )
    key = DeliveryKey(COMPANY, EVENT_ID, HANAKO, "kakao")
    queue_delivery(stack, key)
    sender = FakeSender("kakao")
    worker = make_worker(stack, sender)

    # WHEN the job is handled
    handle(stack, worker, send_job(channel="kakao", recipients=[recipient(HANAKO)]), channel="kakao")

    # THEN nothing is sent and the delivery is skipped as phone_missing
    assert sender.attempts == []
    assert (record(stack, key)["status"], record(stack, key)["reason"]) == ("skipped", "phone_missing")


PLATFORM = {"naver_works": {"client_id": "platform-client", "private_key": "PLATFORM-PEM", "bot_id": "1000001"}}


def collabo_naver_works(stack: HubStack) -> DeliveryKey:
    """A Collabo company on platform NAVER WORKS credentials, with Taro's delivery queued."""
    stack.settings_repository.save_product(COMPANY, "collabo")
    key = DeliveryKey(COMPANY, EVENT_ID, TARO, "naver_works")
    queue_delivery(stack, key)
    return key


def test_worker_collabo_platform_credentials_with_replaced_bot(stack: HubStack) -> None:
    # GIVEN a Collabo company on platform credentials whose admin replaced the bot
    key = collabo_naver_works(stack)
    stack.configure(COMPANY, Integration.NAVER_WORKS, {"bot_id": "3000001"})
    sender = FakeSender("naver_works")
    worker = make_worker(stack, sender, platform_credentials=lambda: PLATFORM)

    # WHEN a NAVER WORKS job is handled
    handle(stack, worker, send_job(channel="naver_works"), channel="naver_works")

    # THEN the platform's credentials are used with the company's bot, addressed to the WORKPLACE user ID
    sent = sender.sent[0]
    assert sent.credentials == {"client_id": "platform-client", "private_key": "PLATFORM-PEM", "bot_id": "3000001"}
    assert sent.destination.address == TARO
    assert record(stack, key)["status"] == "sent"


def test_worker_collabo_default_credentials_error_keeps_integration_enabled(stack: HubStack) -> None:
    # GIVEN a Collabo company on the default platform NAVER WORKS (nothing saved by an admin)
    collabo_naver_works(stack)
    sender = FakeSender("naver_works")
    sender.fail_with = IntegrationCredentialsError("naver_works", "UNAUTHORIZED", status_code=401)
    worker = make_worker(stack, sender, platform_credentials=lambda: PLATFORM)

    # WHEN the platform credentials are refused while sending
    handle(stack, worker, send_job(channel="naver_works"), channel="naver_works")

    # THEN the integration shows the error but stays on (platform default), as before the failure
    current = effective(stack.settings_repository.load(COMPANY), Integration.NAVER_WORKS)
    assert current.status is not None
    assert current.status["state"] == "error"
    assert current.enabled is True


# ---------------------------------------------------------------- several recipients per job


class _RateLimitedAfterFirst(FakeSender):
    """Sends the first message, then answers 429 with Retry-After: 5 to every call."""

    def send(self, notification: Any, destination: Any, credentials: dict[str, Any]) -> Any:
        if self.attempts:
            self.attempts.append(destination)
            raise RetryableProviderError("slack", "ratelimited", status_code=429, retry_after=5)
        return super().send(notification, destination, credentials)


def _three_queued(stack: HubStack) -> list[str]:
    users = [TARO, HANAKO, "jiro@acme.example"]
    for index, user in enumerate(users):
        stack.link_slack(COMPANY, user, f"U0MEMBER{index}")
        queue_delivery(stack, DeliveryKey(COMPANY, EVENT_ID, user, "slack"))
    return users


def test_worker_after_a_rate_limit_the_rest_of_the_job_waits_untried(stack: HubStack) -> None:
    # GIVEN three queued Slack deliveries in one job, and Slack answering 429 after the first message
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    users = _three_queued(stack)
    sender = _RateLimitedAfterFirst("slack")
    worker = make_worker(stack, sender)
    changes = visibility_changes(stack)

    # WHEN the job is handled
    with pytest.raises(JobPostponedError):
        handle(stack, worker, send_job(recipients=[recipient(u) for u in users]))

    # THEN one was sent, the second was tried once (429), the third not even claimed (its record untouched, no
    # write spent on it); the job waits 5 s
    assert len(sender.attempts) == 2
    records = {u: record(stack, DeliveryKey(COMPANY, EVENT_ID, u, "slack")) for u in users}
    assert records[TARO]["status"] == "sent"
    assert (records[HANAKO]["status"], records[HANAKO]["error_code"]) == ("retrying", "ratelimited")
    assert (records["jiro@acme.example"]["status"], records["jiro@acme.example"]["attempts"]) == ("queued", 0)
    assert [change["VisibilityTimeout"] for change in changes] == [5]


def test_worker_without_time_for_another_call_leaves_the_rest_for_the_next_attempt(stack: HubStack) -> None:
    # GIVEN three queued deliveries in one job and an invocation with 19 s left, 5 s consumed per call
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    users = _three_queued(stack)
    sender = FakeSender("slack")
    worker = make_worker(stack, sender)  # call budget 15 s
    remaining = [19.0]

    def time_left() -> float:
        remaining[0] -= 5.0
        return remaining[0] + 5.0

    job = send_job(recipients=[recipient(u) for u in users])

    # WHEN it is delivered
    attempt = worker.deliver(SendJob.model_validate(job), last_attempt=False, time_left=time_left)

    # THEN only the first message was sent; the others, not claimed, wait for the job's next attempt, at once
    assert [sent.destination.user_id for sent in sender.sent] == [TARO]
    assert (attempt.unclaimed, attempt.retry_after) == (True, 0.0)
    statuses = {u: record(stack, DeliveryKey(COMPANY, EVENT_ID, u, "slack"))["status"] for u in users}
    assert statuses == {TARO: "sent", HANAKO: "queued", "jiro@acme.example": "queued"}


# ---------------------------------------------------------------- Slack member found by e-mail


class _Directory(FakeSender):
    """A sender whose provider knows some employees by e-mail (Slack's users.lookupByEmail)."""

    def __init__(self, known: dict[str, str]) -> None:
        super().__init__("slack")
        self.known = known
        self.lookups: list[str] = []

    def find_address(self, credentials: dict[str, Any], user_id: str) -> str | None:
        self.lookups.append(user_id)
        return self.known.get(user_id)


def test_worker_unlinked_employee_found_by_email_is_sent_and_linked(stack: HubStack) -> None:
    # GIVEN Slack on, Hanako never linked but known to Slack by her e-mail, Jiro unknown to Slack
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    jiro = "jiro@acme.example"
    for user in (HANAKO, jiro):
        queue_delivery(stack, DeliveryKey(COMPANY, EVENT_ID, user, "slack"))
    sender = _Directory({HANAKO: "U0HANAKO1"})
    worker = make_worker(stack, sender)

    # WHEN the job is handled
    handle(stack, worker, send_job(recipients=[recipient(HANAKO), recipient(jiro)]))

    # THEN Hanako got the message at the member ID Slack gave, and it is kept as her link;
    # Jiro is skipped, and the miss is remembered so he is not looked up on every notification
    assert [(m.destination.user_id, m.destination.address) for m in sender.sent] == [(HANAKO, "U0HANAKO1")]
    assert stack.links.get(COMPANY, HANAKO).get("slack_member_id") == "U0HANAKO1"
    assert record(stack, DeliveryKey(COMPANY, EVENT_ID, jiro, "slack"))["reason"] == "slack_member_id_missing"
    assert stack.links.get(COMPANY, jiro).get(LOOKUP_MISSED)
    assert sender.lookups == [HANAKO, jiro]


def test_worker_job_carrying_addresses_reads_no_links(slack: HubStack, sender: FakeSender) -> None:
    # GIVEN a job whose recipient's member ID came with it from the router
    worker = make_worker(slack, sender)
    reads_before = _links_calls(slack)
    job = send_job()
    job["addresses"] = {TARO: "U0FROMJOB1"}

    # WHEN it is handled
    handle(slack, worker, job)

    # THEN the message went to that member ID without reading the links table
    assert [m.destination.address for m in sender.sent] == ["U0FROMJOB1"]
    assert _links_calls(slack) == reads_before


def _links_calls(stack: HubStack) -> int:
    """How many calls the hub's clients made on the links table so far (botocore hook; see tests/unit/aws.py)."""
    return sum(n for (_, table), n in stack.dynamodb_calls.items() if table == "links")


@pytest.mark.parametrize(
    ("retry_after", "receive_count", "expected"),
    [
        (5.0, 1, 5.0),  # the first failure: the provider's word
        (5.0, 2, 15.0),  # it keeps saying "5 s": the backoff grows past it
        (5.0, 4, 60.0),
        (120.0, 2, 120.0),  # a longer Retry-After still wins
        (None, 1, 15.0),  # no word from the provider: the backoff alone
        (None, 3, 60.0),
        (5.0, 20, 900.0),  # capped
    ],
)
def test_retry_delay_honours_retry_after_and_backs_off_when_a_provider_keeps_refusing(
    retry_after: float | None, receive_count: int, expected: float
) -> None:
    assert retry_delay(retry_after, receive_count) == expected


def test_eight_attempts_ride_out_a_long_429_storm() -> None:
    # A provider answering 429 "Retry-After: 5" to every attempt: the queue's 8 attempts span a quarter of an hour,
    # not 40 seconds.
    assert sum(retry_delay(5.0, count) for count in range(1, 8)) >= 15 * 60


# ---------------------------------------------------------------- storage errors and retry keys


def _throttle_update_of(stack: HubStack, user_id: str) -> list[str]:
    """DynamoDB throttles the next UpdateItem of `user_id`'s delivery record (as if the SDK's retries ran out);
    a window's claim (a transaction) naming it first is cancelled for it, as DynamoDB cancels a transaction one
    of whose items it throttles (CancellationReasons: ThrottlingError)."""
    hits: list[str] = []

    def throttle(params: dict[str, Any], **_: Any) -> None:
        if not hits and params.get("Key", {}).get("sk", "").startswith(f"{user_id}#"):
            hits.append(user_id)
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "Update")

    def cancel(params: dict[str, Any], **_: Any) -> None:
        keys = [item.get("Update", {}).get("Key", {}).get("sk", "") for item in params.get("TransactItems", [])]
        if not hits and any(key.startswith(f"{user_id}#") for key in keys):
            reasons = [{"Code": "ThrottlingError" if k.startswith(f"{user_id}#") else "None"} for k in keys]
            error = {"Error": {"Code": "TransactionCanceledException", "Message": "x"}, "CancellationReasons": reasons}
            raise ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]

    events = stack.dynamodb.meta.client.meta.events
    events.register("provide-client-params.dynamodb.UpdateItem", throttle)
    events.register("provide-client-params.dynamodb.TransactWriteItems", cancel)
    return hits


def test_worker_a_throttled_claim_leaves_that_delivery_for_the_next_attempt(stack: HubStack) -> None:
    # GIVEN three queued Slack deliveries in one job, and the claim of Hanako's throttled
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    users = _three_queued(stack)
    hits = _throttle_update_of(stack, HANAKO)
    sender = FakeSender("slack")
    worker = make_worker(stack, sender)

    # WHEN the job is handled, and then comes back
    with pytest.raises(JobPostponedError):
        handle(stack, worker, send_job(recipients=[recipient(u) for u in users]))
    first = sorted(sent.destination.user_id for sent in sender.sent)
    handle(stack, worker, send_job(recipients=[recipient(u) for u in users]), receive_count=2)

    # THEN the others were sent at once, Hanako on the retry, each once
    assert hits == [HANAKO]
    assert first == sorted([TARO, "jiro@acme.example"])
    assert sorted(sent.destination.user_id for sent in sender.sent) == sorted(users)
    assert {u: record(stack, DeliveryKey(COMPANY, EVENT_ID, u, "slack"))["status"] for u in users} == dict.fromkeys(
        users, "sent"
    )


class _LinksWriteFails(FakeSender):
    """Finds the first unlinked employee by e-mail, whose link write then fails (a throttled links update)."""

    def find_address(self, credentials: dict[str, Any], user_id: str) -> str | None:
        raise RuntimeError("links table throttled")


def test_worker_stopped_before_a_call_gives_back_its_claim_and_leaves_the_rest_unclaimed(stack: HubStack) -> None:
    # GIVEN a job of three: Taro linked, Hanako and Jiro unlinked, and the lookup for Hanako failing hard
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    users = [TARO, HANAKO, "jiro@acme.example"]
    stack.link_slack(COMPANY, TARO, SLACK_MEMBER_ID)
    for user in users:
        queue_delivery(stack, DeliveryKey(COMPANY, EVENT_ID, user, "slack"))
    worker = make_worker(stack, _LinksWriteFails("slack"))

    # WHEN the job is delivered and stops there
    with pytest.raises(RuntimeError):
        worker.deliver(SendJob.model_validate(send_job(recipients=[recipient(u) for u in users])), last_attempt=False)

    # THEN Taro was sent; Hanako, claimed but never sent, is given back (left `sending`, the next attempt would
    # write her off as outcome_unknown); Jiro was never claimed
    statuses = {u: record(stack, DeliveryKey(COMPANY, EVENT_ID, u, "slack")) for u in users}
    assert {u: (r["status"], r.get("reason")) for u, r in statuses.items()} == {
        TARO: ("sent", None),
        HANAKO: ("retrying", "interrupted"),
        "jiro@acme.example": ("queued", None),
    }


def test_worker_idempotent_provider_retry_repeats_the_first_calls_retry_key_for_a_partly_recorded_batch(
    stack: HubStack,
) -> None:
    # GIVEN a multicast provider (one call for the job, repeats deduplicated by key), and a first attempt whose
    # call went out but whose outcome writes were throttled every time; Taro's outcome was recorded later
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    users = _three_queued(stack)
    sender = FakeSender("slack", max_batch=500, idempotent_retries=True)
    worker = make_worker(stack, sender, lease_seconds=-1)  # its claims are expired by the time the job comes back
    job = SendJob.model_validate(send_job(recipients=[recipient(u) for u in users]))
    throttled: list[int] = []

    def throttle(params: dict[str, Any], **_: Any) -> None:
        if len(throttled) < 4:
            throttled.append(len(params["RequestItems"]["deliveries"]))
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "Batch")

    stack.dynamodb.meta.client.meta.events.register("provide-client-params.dynamodb.BatchWriteItem", throttle)
    with pytest.raises(ClientError):
        worker.deliver(job, last_attempt=False)
    assert (len(sender.idempotency_keys), throttled) == (1, [3, 3, 3, 3])
    (first_key,) = sender.idempotency_keys
    stack.finish(DeliveryKey(COMPANY, EVENT_ID, TARO, "slack"), DeliveryStatus.SENT)

    # WHEN the job comes back
    worker.deliver(job, last_attempt=False)

    # THEN Hanako and Jiro are asked again in one call under the first call's key (the provider answers
    # "already accepted"), not under a key of their own, and everyone ends sent
    assert sender.idempotency_keys[1:] == [first_key]
    assert sorted(sent.destination.user_id for sent in sender.attempts[3:]) == sorted([HANAKO, "jiro@acme.example"])
    assert {u: record(stack, DeliveryKey(COMPANY, EVENT_ID, u, "slack"))["status"] for u in users} == dict.fromkeys(
        users, "sent"
    )


def _multicast(
    stack: HubStack, lease_seconds: float = LEASE_SECONDS
) -> tuple[list[str], FakeSender, DeliveryWorker, SendJob]:
    """Slack standing in for a multicast provider that deduplicates by key (LINE), three queued recipients."""
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    users = _three_queued(stack)
    sender = FakeSender("slack", max_batch=500, idempotent_retries=True)
    job = SendJob.model_validate(send_job(recipients=[recipient(u) for u in users]))
    return users, sender, make_worker(stack, sender, lease_seconds=lease_seconds), job


def _statuses(stack: HubStack, users: list[str]) -> dict[str, tuple[str, str | None]]:
    found = {u: record(stack, DeliveryKey(COMPANY, EVENT_ID, u, "slack")) for u in users}
    return {u: (r["status"], r.get("reason")) for u, r in found.items()}


def test_worker_a_recipient_claimed_later_is_never_sent_under_an_earlier_calls_key(stack: HubStack) -> None:
    # GIVEN a multicast whose first attempt could not claim Hanako (throttled) and sent to the other two
    users, sender, worker, job = _multicast(stack)
    _throttle_update_of(stack, HANAKO)
    worker.deliver(job, last_attempt=False)
    (first_key,) = sender.idempotency_keys

    # WHEN the job comes back and Hanako is claimed
    worker.deliver(job, last_attempt=False)

    # THEN she is sent under a key of her own: under the first call's, the provider would answer "already
    # accepted" and she would be recorded sent without a message (found by the chaos test)
    assert [sent.destination.user_id for sent in sender.sent[2:]] == [HANAKO]
    assert sender.idempotency_keys[1] != first_key
    assert _statuses(stack, users) == dict.fromkeys(users, ("sent", None))


def test_worker_a_postponed_calls_key_is_dropped_so_the_next_attempt_uses_a_new_one(stack: HubStack) -> None:
    # GIVEN a multicast whose first attempt had no time left for its call
    users, sender, worker, job = _multicast(stack)
    worker.deliver(job, last_attempt=False, time_left=lambda: 0.0)
    assert sender.attempts == []

    # THEN the records keep no retry key (that key never went out), and the next attempt sends under a new one
    raw = stack.dynamodb.Table("deliveries")
    assert [
        raw.get_item(Key=DeliveryKey(COMPANY, EVENT_ID, u, "slack").key())["Item"].get("retry_key") for u in users
    ] == [None] * 3
    worker.deliver(job, last_attempt=False)
    assert len(sender.idempotency_keys) == 1
    assert _statuses(stack, users) == dict.fromkeys(users, ("sent", None))


def test_worker_an_earlier_call_is_repeated_only_when_all_its_recipients_can_be_claimed(stack: HubStack) -> None:
    # GIVEN a multicast whose call went out but none of whose outcomes were written (every try throttled)
    users, sender, worker, job = _multicast(stack, lease_seconds=-1)  # its claims are over when the job comes back
    throttled: list[int] = []

    def throttle(params: dict[str, Any], **_: Any) -> None:
        if len(throttled) < 4:
            throttled.append(1)
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "Batch")

    stack.dynamodb.meta.client.meta.events.register("provide-client-params.dynamodb.BatchWriteItem", throttle)
    with pytest.raises(ClientError):
        worker.deliver(job, last_attempt=False)
    (first_key,) = sender.idempotency_keys

    # WHEN the job comes back and Hanako's claim is throttled
    _throttle_update_of(stack, HANAKO)
    worker.deliver(job, last_attempt=False)

    # THEN the call is not repeated for the other two alone (a new acceptance under its key would make the
    # provider take Hanako's later repeat for a duplicate): they wait; the attempt after repeats it for all three
    assert len(sender.idempotency_keys) == 1
    assert _statuses(stack, [TARO, "jiro@acme.example"]) == dict.fromkeys(
        [TARO, "jiro@acme.example"], ("retrying", "earlier_call_incomplete")
    )
    worker.deliver(job, last_attempt=False)
    assert sender.idempotency_keys[1:] == [first_key]
    assert sorted(sent.destination.user_id for sent in sender.attempts[3:]) == sorted(users)
    assert _statuses(stack, users) == dict.fromkeys(users, ("sent", None))


def test_worker_on_the_last_attempt_without_time_every_recipient_is_recorded_failed_and_replayable(
    stack: HubStack,
) -> None:
    # GIVEN three queued deliveries and the job's last attempt, with no time left for any call
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    users = _three_queued(stack)
    sender = FakeSender("slack")
    worker = make_worker(stack, sender)

    # WHEN it is delivered
    worker.deliver(
        SendJob.model_validate(send_job(recipients=[recipient(u) for u in users])),
        last_attempt=True,
        time_left=lambda: 0.0,
    )

    # THEN nothing was called, and none is left unclaimed (SQS would move the job to its DLQ, the records staying
    # `queued`): each is failed: retries_exhausted, for the admin to replay
    assert sender.attempts == []
    found = [record(stack, DeliveryKey(COMPANY, EVENT_ID, u, "slack")) for u in users]
    assert [(r["status"], r["reason"], r["replayable"]) for r in found] == [("failed", "retries_exhausted", True)] * 3


def test_worker_last_attempt_with_a_throttled_claim_dead_letters_the_job_with_why_and_a_replay_finishes_it(
    stack: HubStack,
) -> None:
    # GIVEN three queued Slack deliveries in one job, and Hanako's claim throttled on the job's last attempt
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    users = _three_queued(stack)
    hits = _throttle_update_of(stack, HANAKO)
    sender = FakeSender("slack")
    worker = make_worker(stack, sender)
    job = send_job(recipients=[recipient(u) for u in users])

    # WHEN the last attempt is handled (it returns: SQS would otherwise move the job to the DLQ without a reason)
    handle(stack, worker, job, receive_count=MAX_RECEIVE_COUNT)

    # THEN the others were sent, Hanako is still queued, and the job is on the DLQ with why, replayable
    assert hits == [HANAKO]
    assert sorted(sent.destination.user_id for sent in sender.sent) == sorted([TARO, "jiro@acme.example"])
    assert record(stack, DeliveryKey(COMPANY, EVENT_ID, HANAKO, "slack"))["status"] == "queued"
    dead = stack.drain("slack_dlq")
    assert [d["attributes"]["reason"] for d in dead] == [
        "deliveries still unsettled after the last attempt (a claim was throttled or held)"
    ]

    # AND replaying the dead letter sends Hanako only
    handle(stack, worker, dead[0]["body"])
    assert sorted(sent.destination.user_id for sent in sender.sent) == sorted(users)
    assert _statuses(stack, users) == dict.fromkeys(users, ("sent", None))


@pytest.mark.parametrize("receive_count", [1, MAX_RECEIVE_COUNT])
def test_worker_unexpected_error_is_retried_by_sqs_and_on_the_last_attempt_dead_lettered_without_its_message(
    stack: HubStack, receive_count: int
) -> None:
    # GIVEN a job whose second recipient's address lookup fails hard (a links write throttled)
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    stack.link_slack(COMPANY, TARO, SLACK_MEMBER_ID)
    for user in (TARO, HANAKO):
        queue_delivery(stack, DeliveryKey(COMPANY, EVENT_ID, user, "slack"))
    worker = make_worker(stack, _LinksWriteFails("slack"))
    job = send_job(recipients=[recipient(TARO), recipient(HANAKO)])

    # WHEN the job is handled
    if receive_count < MAX_RECEIVE_COUNT:
        # THEN before the last attempt the error reaches SQS, which brings the job back
        with pytest.raises(RuntimeError):
            handle(stack, worker, job, receive_count=receive_count)
        assert stack.drain("slack_dlq") == []
    else:
        # THEN on the last attempt the job is dead-lettered with the error's type, never its message
        handle(stack, worker, job, receive_count=receive_count)
        dead = stack.drain("slack_dlq")
        assert [d["attributes"]["reason"] for d in dead] == ["sending failed on the last attempt: RuntimeError"]
        assert "throttled" not in dead[0]["attributes"]["reason"]
    # AND either way Taro was sent and Hanako's claim given back for the job's next attempt or its replay
    assert _statuses(stack, [TARO, HANAKO]) == {TARO: ("sent", None), HANAKO: ("retrying", "interrupted")}


def test_worker_a_spent_daily_quota_postpones_every_remaining_recipient_and_says_so(slack: HubStack) -> None:
    # GIVEN Taro and Hanako queued, and the provider answering that the day's push quota is spent
    slack.link_slack(COMPANY, HANAKO, "U0HANAKO1")
    queue_delivery(slack, DeliveryKey(COMPANY, EVENT_ID, HANAKO, "slack"))
    sender = FakeSender("slack")
    sender.fail_with = RetryableProviderError(
        "slack", "QUOTA_EXCEEDED", status_code=429, retry_after=5 * 3600, reason="daily_quota_reached"
    )
    worker = make_worker(slack, sender)
    changes = visibility_changes(slack)

    # WHEN the job is handled
    with pytest.raises(JobPostponedError):
        handle(slack, worker, send_job(recipients=[recipient(TARO), recipient(HANAKO)]))

    # THEN only the first call was made; both records say they wait for the quota (not failed, not silently
    # queued), and the job comes back when the quota is reset
    assert len(sender.attempts) == 1
    for user in (TARO, HANAKO):
        saved = record(slack, DeliveryKey(COMPANY, EVENT_ID, user, "slack"))
        assert (saved["status"], saved["reason"]) == ("retrying", "daily_quota_reached"), user
    assert changes[0]["VisibilityTimeout"] == 5 * 3600
