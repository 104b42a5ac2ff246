"""The event pipeline end to end: WorkplaceEventsQueue → router → send queues → senders → sandbox."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from tests.integration.helpers import (
    MESSAGE_URL,
    Api,
    DeadLetterQueue,
    Webhook,
    captured_logs,
    chat_posts,
    deliveries,
    enable_google_chat,
    enable_slack,
    new_member_id,
    new_webhook,
    notification,
    ok,
    queue_idle,
    reason_of,
    route,
    slack_posts,
    user,
    wait_for,
    wait_for_deliveries,
)
from tests.integration.linking import table
from workplace_hub.config import SenderSettings
from workplace_hub.google.chat import client_message_id
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus, NewDelivery

pytestmark = pytest.mark.integration

# SenderSettings.HTTP_READ_TIMEOUT: the send functions' default (template.yaml does not override it).
READ_TIMEOUT = SenderSettings.model_fields["HTTP_READ_TIMEOUT"].default
# The senders' wait before a retry when the provider names no delay (the first step of their backoff): a retry
# after a Retry-After comes well before it. Upper bounds tighter than this would depend on the machine's load.
FIRST_BACKOFF = 15.0


def _slack_company(admin: Api, member: Api, sandbox: SandboxClient, channels: list[str] | None = None) -> str:
    """Slack on, approval.requested routed to it, the member (taro) linked; returns the bot token."""
    member_id = new_member_id()
    token = enable_slack(admin, sandbox, members=[member_id])
    route(admin, {"approval.requested": channels or ["slack"]})
    ok(member.put("/me/links", {"slack_member_id": member_id}))
    return token


def _google_chat_company(admin: Api, member: Api, sandbox: SandboxClient) -> Webhook:
    webhook = new_webhook(sandbox)
    enable_google_chat(admin)
    route(admin, {"approval.requested": ["google_chat"]})
    ok(member.put("/me/links", {"google_chat_webhook_url": webhook.url}))
    return webhook


# ------------------------------------------------------------------------------------------- delivered


def test_slack_and_google_chat_deliveries_reach_the_providers_as_specified(
    company_id: str, admin: Api, member: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN Slack and Google Chat on, the item routed to both, and taro linked on both
    member_id = new_member_id()
    token = enable_slack(admin, sandbox, members=[member_id])
    webhook = new_webhook(sandbox)
    enable_google_chat(admin)
    route(admin, {"approval.requested": ["slack", "google_chat"]})
    ok(member.put("/me/links", {"slack_member_id": member_id, "google_chat_webhook_url": webhook.url}))

    # WHEN WORKPLACE sends a notification for taro whose body tries a Slack broadcast mention
    title, body = "決裁依頼: 出張申請 (大阪)", "鈴木 一郎 さんから決裁依頼 <!channel> & <b>至急</b>"
    event = notification(
        company_id,
        [{"user_id": member.user_id, "name": "山田 太郎", "locale": "ja"}],
        message={"title": title, "body": body, "url": MESSAGE_URL},
    )
    send_event(event)
    records = wait_for_deliveries(admin, event["event_id"], 2)

    # THEN both deliveries are sent, each with the provider's message id
    slack_record, chat_record = records[(member.user_id, "slack")], records[(member.user_id, "google_chat")]
    assert slack_record["status"] == "sent" and chat_record["status"] == "sent", records
    assert slack_record["attempts"] == 1 and chat_record["attempts"] == 1

    # AND Slack got one chat.postMessage to the member ID, from the company's bot, with Block Kit + fallback
    (post,) = slack_posts(sandbox, token)
    message = post["body"]
    assert message["channel"] == member_id
    header, section, actions = message["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text" and header["text"]["text"] == title
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert "<!channel>" not in section["text"]["text"] and "&lt;!channel&gt;" in section["text"]["text"]
    assert actions["type"] == "actions"
    (button,) = actions["elements"]
    assert button["type"] == "button" and button["url"] == MESSAGE_URL
    assert title in message["text"] and MESSAGE_URL in message["text"] and "<!channel>" not in message["text"]
    assert slack_record["provider_message_id"] == post["response"]["ts"]

    # AND Google Chat got one webhook POST with a card and a fallback text
    (chat,) = chat_posts(sandbox, webhook)
    assert chat["query"]["key"] == webhook.key and chat["query"]["token"] == webhook.token
    card = chat["body"]["cardsV2"][0]["card"]
    assert card["header"]["title"] == title
    widgets = [w for section in card["sections"] for w in section["widgets"]]
    paragraph = next(w["textParagraph"]["text"] for w in widgets if "textParagraph" in w)
    assert "<b>" not in paragraph and "&lt;b&gt;" in paragraph  # the body is text, not markup
    (chat_button,) = next(w["buttonList"]["buttons"] for w in widgets if "buttonList" in w)
    assert chat_button["onClick"]["openLink"]["url"] == MESSAGE_URL
    assert title in chat["body"]["fallbackText"] and MESSAGE_URL in chat["body"]["fallbackText"]
    assert chat_record["provider_message_id"] == chat["response"]["name"]


def test_the_longest_body_the_contract_allows_reaches_slack_whole_over_several_sections(
    company_id: str, admin: Api, member: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN Slack on, and a 2,000-character body of characters Slack needs escaped (8,668 once escaped)
    token = _slack_company(admin, member, sandbox)
    body = "&<>" * 666 + "&&"

    # WHEN the notification arrives
    event = notification(
        company_id, [{"user_id": member.user_id}], message={"title": "題" * 200, "body": body, "url": MESSAGE_URL}
    )
    send_event(event)

    # THEN it is sent, not refused as invalid_blocks: the body goes on over sections of at most 3,000 characters
    record = wait_for_deliveries(admin, event["event_id"], 1)[(member.user_id, "slack")]
    assert record["status"] == "sent"
    (post,) = slack_posts(sandbox, token)
    sections = [b["text"]["text"] for b in post["body"]["blocks"] if b["type"] == "section"]
    assert len(sections) == 3 and all(len(text) <= 3000 for text in sections)
    assert "".join(sections) == body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_one_recipient_the_hub_cannot_send_to_never_holds_the_others(
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Callable[[Any], None],
) -> None:
    # GIVEN Slack on and taro linked; the event also names a recipient whose user_id is 256 emoji (1 KB of UTF-8,
    # a DynamoDB sort key on its own) and one whose phone is not E.164
    token = _slack_company(admin, member, sandbox)
    emoji, malformed = "😀" * 256, f"hanako-{uuid.uuid4().hex[:6]}@acme.example"
    recipients = [{"user_id": emoji}, {"user_id": member.user_id}, {"user_id": malformed, "phone": "090-1234"}]
    event = notification(company_id, recipients)

    # WHEN it arrives
    send_event(event)
    records = wait_for_deliveries(admin, event["event_id"], 3)

    # THEN taro's message is sent; the emoji recipient is handled like any other (not linked: skipped); the
    # malformed one is failed with the reason and the field named
    assert records[(member.user_id, "slack")]["status"] == "sent", records
    assert (records[(emoji, "slack")]["status"], records[(emoji, "slack")]["reason"]) == (
        "skipped",
        "slack_member_id_missing",
    )
    bad = records[(malformed, "slack")]
    assert (bad["status"], bad["reason"], bad["error_code"]) == ("failed", "invalid_recipient", "phone")
    assert len(slack_posts(sandbox, token)) == 1


def test_each_function_logs_under_its_own_name_and_no_record_carries_anothers_keys(
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_batch: Callable[[list[Any]], None],
    events_dlq: DeadLetterQueue,
) -> None:
    event = notification(company_id, [{"user_id": member.user_id}])
    malformed = f"not json {uuid.uuid4().hex}"
    with captured_logs() as logs:
        # GIVEN Slack turned on through the settings API, and taro linked
        _slack_company(admin, member, sandbox)

        # WHEN one batch brings the router a valid event, then a malformed one (which names no event of its own)
        send_batch([event, malformed])
        wait_for_deliveries(admin, event["event_id"], 1)
        events_dlq.take([malformed])
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]

    # THEN every line of a function names that function as its service (one Logger per function, as in Lambda)
    invoked = [line for line in lines if "function_name" in line]
    assert {line["function_name"] for line in invoked} >= {"SettingsApiFunction", "RouterFunction"}, lines
    assert all(line["service"] == line["function_name"] for line in invoked), invoked
    # AND the malformed record's line carries no key of the event before it
    rejected = [line for line in lines if line.get("message") == "event rejected"]
    assert rejected, lines
    assert all(line.get("event_id") != event["event_id"] for line in rejected), rejected


# ------------------------------------------------------------------------------------------- skipped


def test_recipients_who_cannot_be_reached_are_skipped_with_the_reason(
    api_as: Callable[..., Api],
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Callable[[Any], None],
) -> None:
    # GIVEN Slack and Google Chat routed; taro linked on Slack only, hanako on Google Chat only, jiro nowhere
    member_id = new_member_id()
    token = enable_slack(admin, sandbox, members=[member_id])
    webhook = new_webhook(sandbox)
    enable_google_chat(admin)
    route(admin, {"approval.requested": ["slack", "google_chat"]})
    ok(member.put("/me/links", {"slack_member_id": member_id}))
    hanako = api_as(company_id, user(company_id, "hanako"), "member")
    ok(hanako.put("/me/links", {"google_chat_webhook_url": webhook.url}))
    jiro = user(company_id, "jiro")

    # WHEN a notification goes to all three
    event = notification(company_id, [{"user_id": u} for u in (member.user_id, hanako.user_id, jiro)])
    send_event(event)
    records = wait_for_deliveries(admin, event["event_id"], 6)

    # THEN each recipient × channel has one record: sent, or skipped with why
    outcome = {key: (r["status"], r.get("reason")) for key, r in records.items()}
    assert outcome == {
        (member.user_id, "slack"): ("sent", None),
        (member.user_id, "google_chat"): ("skipped", "google_chat_webhook_url_missing"),
        (hanako.user_id, "slack"): ("skipped", "slack_member_id_missing"),
        (hanako.user_id, "google_chat"): ("sent", None),
        (jiro, "slack"): ("skipped", "slack_member_id_missing"),
        (jiro, "google_chat"): ("skipped", "google_chat_webhook_url_missing"),
    }
    # AND only the reachable ones were sent to the providers
    assert len(slack_posts(sandbox, token)) == 1
    assert len(chat_posts(sandbox, webhook)) == 1


def test_a_routed_channel_that_was_turned_off_is_skipped(
    company_id: str, admin: Api, member: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN the item routed to Slack, then Slack turned off (its token kept)
    token = _slack_company(admin, member, sandbox)
    off = ok(admin.put("/admin/integrations/slack", {"enabled": False}))
    assert off["enabled"] is False and off["configured"] is True

    # WHEN a notification for a linked employee arrives
    event = notification(company_id, [{"user_id": member.user_id}])
    send_event(event)
    records = wait_for_deliveries(admin, event["event_id"], 1)

    # THEN it is skipped as channel_disabled and Slack is never called
    record = records[(member.user_id, "slack")]
    assert (record["status"], record["reason"]) == ("skipped", "channel_disabled")
    assert slack_posts(sandbox, token) == []


def test_an_item_routed_nowhere_is_recorded_once_per_recipient_and_sends_nothing(
    company_id: str, admin: Api, member: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN Slack routing for approval.requested only
    token = _slack_company(admin, member, sandbox)

    # WHEN a notice.posted notification arrives for two employees
    recipients = [{"user_id": member.user_id}, {"user_id": user(company_id, "hanako")}]
    event = notification(company_id, recipients, item="notice.posted")
    send_event(event)
    records = wait_for_deliveries(admin, event["event_id"], 2)

    # THEN each recipient has one skipped record saying the item is not routed, and no provider is called
    assert {(u, r["status"], r["reason"]) for (u, _), r in records.items()} == {
        (member.user_id, "skipped", "item_not_routed"),
        (user(company_id, "hanako"), "skipped", "item_not_routed"),
    }
    assert all(r["item"] == "notice.posted" for r in records.values())
    assert slack_posts(sandbox, token) == []


# ------------------------------------------------------------------------------------------- bad events


def test_malformed_events_go_to_the_dlq_with_a_reason_and_never_block_their_batch(
    stack: LocalStack,
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_batch: Callable[[list[Any]], None],
    events_dlq: DeadLetterQueue,
) -> None:
    # GIVEN a Slack company, and three bad events next to one good one, each bad one carrying a marker
    token = _slack_company(admin, member, sandbox)
    markers = {name: f"marker-{name}-{uuid.uuid4().hex[:8]}" for name in ("json", "version", "fields", "type")}
    good = notification(company_id, [{"user_id": member.user_id}])
    not_json = f'{{"version": "1", "event_id": "{markers["json"]}", "company_id": '
    version_2 = notification(company_id, [{"user_id": member.user_id}], version="2", event_id=markers["version"])
    missing = notification(company_id, [], event_id=markers["fields"])
    del missing["recipients"], missing["message"]
    bad_type = notification(
        company_id, [{"user_id": member.user_id}], type="absence.exploded", event_id=markers["type"]
    )

    # WHEN they are sent back to back (one SendMessageBatch: one poll picks them all up)
    send_batch([not_json, version_2, good, missing, bad_type])

    # THEN the good one is delivered at its first attempt, within one visibility timeout
    records = wait_for_deliveries(admin, good["event_id"], 1, timeout=4.5)
    record = records[(member.user_id, "slack")]
    assert record["status"] == "sent" and record["attempts"] == 1
    assert len(slack_posts(sandbox, token)) == 1
    # AND each bad one is on the DLQ with a reason naming what is wrong
    dead = events_dlq.take(markers.values(), timeout=6)
    assert "not JSON" in reason_of(dead[markers["json"]])
    assert "version" in reason_of(dead[markers["version"]]) and "'2'" in reason_of(dead[markers["version"]])
    assert "recipients" in reason_of(dead[markers["fields"]]) and "message" in reason_of(dead[markers["fields"]])
    assert "type" in reason_of(dead[markers["type"]])
    # AND the bodies are kept exactly as sent (nothing is lost)
    assert dead[markers["json"]]["Body"] == not_json
    assert json.loads(dead[markers["version"]]["Body"]) == version_2
    # AND the company's admin sees each one that names the company as a dead letter, not replayable (the
    # event itself is wrong); the one that is not even JSON names no company, so only the DLQ has it
    assert deliveries(admin, markers["json"]) == []
    for name in ("version", "fields", "type"):
        (record,) = deliveries(admin, markers[name])
        assert (record["status"], record["replayable"]) == ("dead_lettered", False)
        assert record["reason"] == reason_of(dead[markers[name]])
    # AND the inbound queue is drained: nothing is being retried
    wait_for(lambda: queue_idle(events_dlq.sqs, stack.queues["WorkplaceEventsQueue"]), timeout=5)


# ------------------------------------------------------------------------------------------- at most once


def test_the_same_event_sent_again_and_again_is_delivered_once(
    stack: LocalStack,
    sqs: Any,
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_batch: Callable[[list[Any]], None],
) -> None:
    # GIVEN a Slack company and an event for taro
    token = _slack_company(admin, member, sandbox)
    event = notification(
        company_id,
        [{"user_id": member.user_id}],
        message={"title": f"once-{uuid.uuid4().hex[:6]}", "body": "", "url": MESSAGE_URL},
    )

    # WHEN WORKPLACE sends it twice at once (SQS at-least-once) ...
    send_batch([event, event])
    wait_for_deliveries(admin, event["event_id"], 1)
    # ... and once more later, followed by a different event that tells us the queue got that far
    marker = notification(
        company_id,
        [{"user_id": member.user_id}],
        message={"title": f"marker-{uuid.uuid4().hex[:6]}", "body": "", "url": MESSAGE_URL},
    )
    send_batch([event, marker])
    wait_for_deliveries(admin, marker["event_id"], 1)
    for queue in ("WorkplaceEventsQueue", "SendSlackQueue"):
        wait_for(lambda queue=queue: queue_idle(sqs, stack.queues[queue]), timeout=8)

    # THEN Slack got the event exactly once (and the marker once)
    titles = [p["body"]["blocks"][0]["text"]["text"] for p in slack_posts(sandbox, token)]
    assert titles.count(event["message"]["title"]) == 1, titles
    assert titles.count(marker["message"]["title"]) == 1, titles
    # AND there is one record for it, sent at the first attempt
    (record,) = deliveries(admin, event["event_id"])
    assert record["status"] == "sent" and record["attempts"] == 1


def test_the_same_event_id_from_two_companies_is_delivered_to_both(
    api_as: Callable[..., Api],
    company_id: str,
    other_company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_batch: Callable[[list[Any]], None],
) -> None:
    # GIVEN two Slack companies whose WORKPLACE events happen to share an event_id
    token = _slack_company(admin, member, sandbox)
    other_admin = api_as(other_company_id)
    other_member = api_as(other_company_id, user(other_company_id, "taro"), "member")
    other_token = _slack_company(other_admin, other_member, sandbox)
    event_id = f"evt-shared-{uuid.uuid4().hex[:8]}"

    # WHEN both events arrive
    send_batch(
        [
            notification(company_id, [{"user_id": member.user_id}], event_id=event_id),
            notification(other_company_id, [{"user_id": other_member.user_id}], event_id=event_id),
        ]
    )

    # THEN each company's employee gets theirs: deduplication is per company, not global
    assert wait_for_deliveries(admin, event_id, 1)[(member.user_id, "slack")]["status"] == "sent"
    assert wait_for_deliveries(other_admin, event_id, 1)[(other_member.user_id, "slack")]["status"] == "sent"
    assert len(slack_posts(sandbox, token)) == 1 and len(slack_posts(sandbox, other_token)) == 1


# ------------------------------------------------------------------------------------------- retries


def test_a_429_is_retried_after_the_retry_after_delay_and_not_before(
    company_id: str, admin: Api, member: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a Slack company whose next postMessage is rate limited with Retry-After: 2
    token = _slack_company(admin, member, sandbox)
    sandbox.add_fault("slack", "rate_limited", times=1, match={"token": token}, retry_after=2)

    # WHEN a notification arrives
    event = notification(company_id, [{"user_id": member.user_id}])
    send_event(event)

    # THEN the first attempt is recorded as retrying with Slack's code
    retrying = wait_for_deliveries(admin, event["event_id"], 1, statuses=frozenset({"retrying"}), timeout=10)
    assert retrying[(member.user_id, "slack")]["error_code"] == "ratelimited"
    # AND it is sent at the second attempt
    record = wait_for_deliveries(admin, event["event_id"], 1, timeout=12)[(member.user_id, "slack")]
    assert record["status"] == "sent" and record["attempts"] == 2
    # AND the retry came after the delay Slack asked for (not before), not after the backoff
    first, second = slack_posts(sandbox, token)
    assert (first["status"], second["status"]) == (429, 200)
    gap = second["at"] - first["at"]
    assert 1.9 <= gap < FIRST_BACKOFF, gap


def test_a_google_chat_429_is_retried_after_the_retry_after_delay(
    company_id: str, admin: Api, member: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a Google Chat webhook whose next call hits the space quota, with Retry-After: 1
    webhook = _google_chat_company(admin, member, sandbox)
    sandbox.add_fault("google_chat", "rate_limited", times=1, match={"token": webhook.token}, retry_after=1)

    # WHEN a notification arrives
    event = notification(company_id, [{"user_id": member.user_id}])
    send_event(event)

    # THEN it is sent at the second attempt, after the second Google Chat asked for (not after the backoff)
    record = wait_for_deliveries(admin, event["event_id"], 1, timeout=12)[(member.user_id, "google_chat")]
    assert record["status"] == "sent" and record["attempts"] == 2
    first, second = chat_posts(sandbox, webhook)
    assert (first["status"], second["status"]) == (429, 200)
    assert 0.9 <= second["at"] - first["at"] < FIRST_BACKOFF, second["at"] - first["at"]


def test_a_google_chat_post_whose_answer_was_lost_is_retried_under_its_message_id_and_posted_once(
    company_id: str, admin: Api, member: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a Google Chat webhook that takes longer than the hub's read timeout to answer the next post, but
    # does create the message
    webhook = _google_chat_company(admin, member, sandbox)
    sandbox.add_fault("google_chat", "timeout", times=1, match={"token": webhook.token}, delay=READ_TIMEOUT + 1.5)

    # WHEN a notification arrives
    event = notification(company_id, [{"user_id": member.user_id}])
    send_event(event)

    # THEN the hub records a retry (the post is repeatable: it carries the delivery's messageId), not
    # `outcome_unknown`
    key = (member.user_id, "google_chat")
    retrying = wait_for_deliveries(
        admin, event["event_id"], 1, statuses=frozenset({"retrying"}), timeout=READ_TIMEOUT + 8
    )
    assert retrying[key]["error_code"] == "timeout"
    # AND its retry carries the same messageId, Google Chat refuses it as existing, and the hub counts it sent
    record = wait_for_deliveries(admin, event["event_id"], 1, timeout=40)[key]
    first, retry = chat_posts(sandbox, webhook)
    message_id = first["query"]["messageId"]
    assert message_id.startswith("client-") and retry["query"]["messageId"] == message_id
    assert (first["status"], retry["status"]) == (200, 409)
    assert (record["status"], record["attempts"]) == ("sent", 2)
    assert record["provider_message_id"] == first["response"]["name"] == f"spaces/{webhook.space}/messages/{message_id}"


def test_a_google_chat_post_a_dead_sender_left_is_sent_again_and_refused_as_existing(
    stack: LocalStack, sqs: Any, company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN what a sender container that died mid-call leaves: the delivery claimed (its lease over) and the
    # message created in the space under the delivery's messageId
    webhook = _google_chat_company(admin, member, sandbox)
    event = notification(company_id, [{"user_id": member.user_id}])
    record_key = DeliveryKey(company_id, event["event_id"], member.user_id, "google_chat")
    repository = DeliveriesRepository(table(stack, "DeliveriesTable"))
    repository.add_many([NewDelivery(record_key, event["item"], DeliveryStatus.QUEUED)])
    repository.claim(record_key, 60, now=time.time() - 3600)
    message_id = client_message_id(company_id, event["event_id"], member.user_id)
    earlier = requests.post(f"{webhook.url}&messageId={message_id}", json={"text": "posted"}, timeout=5)
    assert earlier.status_code == 200, earlier.text

    # WHEN the job comes back (SQS redelivers the dead container's message)
    job = {k: event[k] for k in ("company_id", "event_id", "item", "message", "recipients")}
    sqs.send_message(
        QueueUrl=stack.queues["SendGoogleChatQueue"], MessageBody=json.dumps({**job, "channel": "google_chat"})
    )

    # THEN the hub posts it again under the same messageId, Google Chat refuses it, and the delivery is sent
    record = wait_for_deliveries(admin, event["event_id"], 1)[(member.user_id, "google_chat")]
    _, retry = chat_posts(sandbox, webhook)
    assert retry["query"]["messageId"] == message_id and retry["status"] == 409
    assert (record["status"], record["provider_message_id"]) == ("sent", earlier.json()["name"])


def test_a_5xx_is_retried_later_and_does_not_delay_another_companys_deliveries(
    api_as: Callable[..., Api],
    company_id: str,
    other_company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Callable[[Any], None],
) -> None:
    # GIVEN two Slack companies; Slack answers 503 once to the first company's bot
    token = _slack_company(admin, member, sandbox)
    sandbox.add_fault("slack", "server_error", times=1, match={"token": token}, status=503)
    other_admin = api_as(other_company_id)
    other_member = api_as(other_company_id, user(other_company_id, "taro"), "member")
    other_token = _slack_company(other_admin, other_member, sandbox)

    # WHEN both companies get a notification
    event = notification(company_id, [{"user_id": member.user_id}])
    other_event = notification(other_company_id, [{"user_id": other_member.user_id}])
    send_event(event)
    send_event(other_event)

    # THEN the first is retrying after the 503
    wait_for_deliveries(admin, event["event_id"], 1, statuses=frozenset({"retrying"}), timeout=10)
    # AND the other company's delivery is sent meanwhile, at its first attempt
    other = wait_for_deliveries(other_admin, other_event["event_id"], 1, timeout=5)
    assert other[(other_member.user_id, "slack")]["status"] == "sent"
    assert deliveries(admin, event["event_id"])[0]["status"] == "retrying"
    # AND the first is sent at its second attempt, after a backoff
    record = wait_for_deliveries(admin, event["event_id"], 1, timeout=30)[(member.user_id, "slack")]
    assert record["status"] == "sent" and record["attempts"] == 2
    assert [p["status"] for p in slack_posts(sandbox, token)] == [503, 200]
    assert len(slack_posts(sandbox, other_token)) == 1


# ------------------------------------------------------------------------------------------- failures


def test_a_permanent_slack_error_fails_the_delivery_with_the_error_code(
    stack: LocalStack,
    sqs: Any,
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Callable[[Any], None],
) -> None:
    # GIVEN a Slack company whose member ID Slack no longer knows
    token = _slack_company(admin, member, sandbox)
    sandbox.add_fault("slack", "channel_not_found", match={"token": token})

    # WHEN a notification arrives
    event = notification(company_id, [{"user_id": member.user_id}])
    send_event(event)

    # THEN the delivery fails with Slack's error code, and is not retried
    record = wait_for_deliveries(admin, event["event_id"], 1)[(member.user_id, "slack")]
    assert record["status"] == "failed"
    assert record["error_code"] == "channel_not_found"
    assert record["reason"]
    wait_for(lambda: queue_idle(sqs, stack.queues["SendSlackQueue"]), timeout=8)
    assert len(slack_posts(sandbox, token)) == 1
    # AND the company's Slack integration itself is not blamed
    assert ok(admin.get("/admin/integrations/slack"))["status"]["state"] != "error"


def test_a_slack_post_whose_connection_broke_before_the_answer_is_not_posted_again(
    stack: LocalStack,
    sqs: Any,
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Callable[[Any], None],
) -> None:
    # GIVEN a Slack company, and Slack closing the connection of the next post without an answer
    token = _slack_company(admin, member, sandbox)
    sandbox.add_fault("slack", "timeout", times=1, match={"token": token}, delay=0, drop=True)

    # WHEN a notification arrives
    event = notification(company_id, [{"user_id": member.user_id}])
    send_event(event)

    # THEN the hub cannot know whether Slack posted it: at most once, it records that and does not post again
    record = wait_for_deliveries(admin, event["event_id"], 1)[(member.user_id, "slack")]
    assert (record["status"], record["reason"], record["error_code"]) == (
        "failed",
        "outcome_unknown",
        "connection_lost",
    )
    wait_for(lambda: queue_idle(sqs, stack.queues["SendSlackQueue"]), timeout=8)
    (post,) = slack_posts(sandbox, token)
    assert post["fault"] is not None
    # AND the admin sees it among the failures, not offered for replay (it may have been delivered)
    failures = ok(admin.get(f"/admin/failures?event_id={event['event_id']}"))["failures"]
    assert [(f["reason"], f["replayable"]) for f in failures] == [("outcome_unknown", False)]


def test_a_rejected_bot_token_fails_the_delivery_and_puts_the_integration_in_error(
    company_id: str, admin: Api, member: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a Slack company whose token Slack now refuses
    token = _slack_company(admin, member, sandbox)
    sandbox.add_fault("slack", "invalid_auth", match={"token": token})

    # WHEN a notification arrives
    event = notification(company_id, [{"user_id": member.user_id}])
    send_event(event)

    # THEN the delivery fails with invalid_auth
    record = wait_for_deliveries(admin, event["event_id"], 1)[(member.user_id, "slack")]
    assert (record["status"], record["error_code"]) == ("failed", "invalid_auth")
    # AND the admin sees the Slack integration in error, with the code
    status = wait_for(lambda: ok(admin.get("/admin/integrations/slack"))["status"], timeout=5)
    assert status["state"] == "error" and status["code"] == "invalid_auth"
    assert len(slack_posts(sandbox, token)) == 1


def test_a_revoked_google_chat_webhook_fails_as_needs_relink(
    company_id: str, admin: Api, member: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN taro's Google Chat webhook was revoked in the space (Chat answers 403 PERMISSION_DENIED)
    webhook = _google_chat_company(admin, member, sandbox)
    sandbox.add_fault("google_chat", "invalid_auth", match={"token": webhook.token})

    # WHEN a notification arrives
    event = notification(company_id, [{"user_id": member.user_id}])
    send_event(event)

    # THEN the delivery fails, telling taro to link again
    record = wait_for_deliveries(admin, event["event_id"], 1)[(member.user_id, "google_chat")]
    assert record["status"] == "failed"
    assert record["reason"] == "needs_relink"
    assert record["error_code"] == "PERMISSION_DENIED"
    (post,) = chat_posts(sandbox, webhook)
    assert post["status"] == 403
    # AND taro sees the failure in his own log
    (mine,) = ok(member.get("/me/deliveries"))["deliveries"]
    assert (mine["status"], mine["reason"]) == ("failed", "needs_relink")


# ------------------------------------------------------------------------------------------- the log


def test_the_delivery_log_pages_and_filters(
    api_as: Callable[..., Api],
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Callable[[Any], None],
) -> None:
    # GIVEN one event for taro (sent), hanako and jiro (skipped), and one unrouted event for hanako
    _slack_company(admin, member, sandbox)
    hanako, jiro = user(company_id, "hanako"), user(company_id, "jiro")
    first = notification(company_id, [{"user_id": u} for u in (member.user_id, hanako, jiro)])
    second = notification(company_id, [{"user_id": hanako}], item="notice.posted")
    send_event(first)
    send_event(second)
    wait_for_deliveries(admin, first["event_id"], 3)
    wait_for_deliveries(admin, second["event_id"], 1)

    # WHEN the admin pages through the whole log one record at a time
    seen: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 1, **({"next_token": token} if token else {})}
        page = ok(admin.get("/admin/deliveries", params=params))
        assert len(page["deliveries"]) <= 1
        seen.extend(page["deliveries"])
        token = page["next_token"]
        if not token:
            break

    # THEN every record shows up exactly once
    keys = [(r["event_id"], r["user_id"], r["channel"]) for r in seen]
    assert sorted(keys) == sorted(
        [(first["event_id"], u, "slack") for u in (member.user_id, hanako, jiro)]
        + [(second["event_id"], hanako, "none")]
    )

    # WHEN the admin filters by status, by user, by event and user
    sent = ok(admin.get("/admin/deliveries", params={"status": "sent"}))["deliveries"]
    skipped = ok(admin.get("/admin/deliveries", params={"status": "skipped"}))["deliveries"]
    of_hanako = ok(admin.get("/admin/deliveries", params={"user_id": hanako}))["deliveries"]
    of_hanako_in_first = ok(admin.get("/admin/deliveries", params={"event_id": first["event_id"], "user_id": hanako}))

    # THEN each filter returns exactly the matching records
    assert [(r["user_id"], r["status"]) for r in sent] == [(member.user_id, "sent")]
    assert sorted((r["user_id"], r["event_id"]) for r in skipped) == sorted(
        [(hanako, first["event_id"]), (jiro, first["event_id"]), (hanako, second["event_id"])]
    )
    assert sorted(r["event_id"] for r in of_hanako) == sorted([first["event_id"], second["event_id"]])
    assert [(r["user_id"], r["event_id"]) for r in of_hanako_in_first["deliveries"]] == [(hanako, first["event_id"])]
    # AND a bad filter value is refused naming the parameter
    bad = admin.get("/admin/deliveries", params={"status": "lost"})
    assert 400 <= bad.status_code < 500 and bad.json()["field"] == "status"


def test_an_employee_sees_only_their_own_deliveries_page_by_page(
    api_as: Callable[..., Api],
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Callable[[Any], None],
) -> None:
    # GIVEN two events, each for taro and hanako
    _slack_company(admin, member, sandbox)
    hanako = api_as(company_id, user(company_id, "hanako"), "member")
    events = [notification(company_id, [{"user_id": member.user_id}, {"user_id": hanako.user_id}]) for _ in range(2)]
    for event in events:
        send_event(event)
    for event in events:
        wait_for_deliveries(admin, event["event_id"], 2)

    # WHEN taro reads his log one record at a time, and hanako reads hers
    page_1 = ok(member.get("/me/deliveries", params={"limit": 1}))
    page_2 = ok(member.get("/me/deliveries", params={"limit": 1, "next_token": page_1["next_token"]}))
    hers = ok(hanako.get("/me/deliveries"))["deliveries"]
    stolen = hanako.get("/me/deliveries", params={"limit": 1, "next_token": page_1["next_token"]})

    # THEN taro gets his two records over two pages, hanako only hers, and taro's page token is no use to her
    taro_records = page_1["deliveries"] + page_2["deliveries"]
    assert {r["user_id"] for r in taro_records} == {member.user_id}
    assert sorted(r["event_id"] for r in taro_records) == sorted(e["event_id"] for e in events)
    assert {r["user_id"] for r in hers} == {hanako.user_id} and len(hers) == 2
    assert 400 <= stolen.status_code < 500 and stolen.json()["field"] == "next_token"
    # AND filtering by status keeps to the caller's records
    assert {r["user_id"] for r in ok(hanako.get("/me/deliveries", params={"status": "skipped"}))["deliveries"]} == {
        hanako.user_id
    }
