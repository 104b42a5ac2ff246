"""LINE notifications through the local stack: push and multicast, retries, failures, verify, bad settings.

Each test registers its own channel in the sandbox LINE fake, configures LINE through the settings API as the
company's admin and links its recipients by writing `line_user_id` into the links table (the LINE Login
linking flow comes in a later issue).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from tests.integration.conftest import Api, notification, wait_for
from tests.integration.helpers import deliveries, ok, user, wait_for_deliveries
from tests.integration.linking import table
from tests.integration.messengers import (
    enable_line,
    header,
    integration_status,
    line_accepted,
    line_sends,
    link_line,
    new_line_channel,
    new_line_user_id,
    wait_until_idle,
)
from workplace_hub.config import SenderSettings
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus, NewDelivery

pytestmark = pytest.mark.integration

# SenderSettings.HTTP_READ_TIMEOUT: the send functions' default (template.yaml does not override it).
READ_TIMEOUT = SenderSettings.model_fields["HTTP_READ_TIMEOUT"].default
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def admin(api_as: Callable[..., Api], company_id: str) -> Api:
    return api_as(company_id, user(company_id, "admin"), "admin")


def linked(stack: LocalStack, company_id: str, *names: str) -> dict[str, str]:
    """WORKPLACE user_id → LINE userId for each name, written to the links table."""
    links = {user(company_id, name): new_line_user_id() for name in names}
    for user_id, line_user_id in links.items():
        link_line(stack, company_id, user_id, line_user_id)
    return links


def titled(company_id: str, recipients: list[dict[str, Any]], title: str) -> dict[str, Any]:
    event = notification(company_id, recipients)
    event["message"] = {**event["message"], "title": title}
    return event


def alt_texts(sends: list[dict[str, Any]]) -> list[str]:
    return [s["body"]["messages"][0]["altText"] for s in sends]


# ------------------------------------------------------------------------------------------- delivered


def test_one_linked_recipient_gets_a_push_with_a_retry_key(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN LINE configured by the admin, the item routed to LINE, and taro linked to a friend of the account
    links = linked(stack, company_id, "taro")
    (taro, taro_line) = next(iter(links.items()))
    channel = enable_line(admin, sandbox, friends=[taro_line])

    # WHEN WORKPLACE sends a notification for taro
    event = notification(company_id, [{"user_id": taro, "name": "山田 太郎", "locale": "ja"}])
    send_event(event)
    found = wait_for_deliveries(admin, event["event_id"], 1)

    # THEN LINE got one push to taro's userId, with a UUID retry key, from the company's channel token
    (push,) = line_sends(sandbox, channel)
    assert push["path"].endswith("/push") and push["status"] == 200
    assert push["body"]["to"] == taro_line
    assert UUID.fullmatch(header(push, "X-Line-Retry-Key") or ""), push["headers"]
    # AND the message shows the title, body and a button opening the WORKPLACE URL
    (message,) = push["body"]["messages"]
    assert message["type"] == "flex"
    assert message["altText"].startswith(event["message"]["title"])
    bubble = message["contents"]
    assert bubble["header"]["contents"][0]["text"] == event["message"]["title"]
    assert bubble["body"]["contents"][0]["text"] == event["message"]["body"]
    assert bubble["footer"]["contents"][0]["action"]["uri"] == event["message"]["url"]
    # AND the delivery is recorded as sent at the first attempt with LINE's message id, and reached taro
    record = found[(taro, "line")]
    assert (record["status"], record["attempts"]) == ("sent", 1)
    assert record["provider_message_id"] == push["response"]["sentMessages"][0]["id"]
    assert push["response"]["_sandbox"]["delivered_to"] == [taro_line]


def test_recipients_of_one_event_get_one_multicast_and_a_record_each(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN three linked employees, all friends of the account
    links = linked(stack, company_id, "taro", "hanako", "jiro")
    channel = enable_line(admin, sandbox, friends=list(links.values()))

    # WHEN one notification goes to all three
    event = notification(company_id, [{"user_id": u} for u in links])
    send_event(event)
    found = wait_for_deliveries(admin, event["event_id"], 3)

    # THEN LINE got ONE multicast carrying all three userIds, with a retry key, and no push
    (multicast,) = line_sends(sandbox, channel)
    assert multicast["path"].endswith("/multicast") and multicast["status"] == 200
    assert sorted(multicast["body"]["to"]) == sorted(links.values())
    assert UUID.fullmatch(header(multicast, "X-Line-Retry-Key") or ""), multicast["headers"]
    assert sorted(multicast["response"]["_sandbox"]["delivered_to"]) == sorted(links.values())
    # AND the log has one sent record per recipient, each naming that one multicast
    request_id = multicast["response"]["_sandbox"]["request_id"]
    assert sorted(found) == sorted((u, "line") for u in links)
    for record in found.values():
        assert (record["status"], record["attempts"], record["provider_message_id"]) == ("sent", 1, request_id)


def test_a_redelivered_event_sends_nothing_twice(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN two linked employees and an event for both
    links = linked(stack, company_id, "taro", "hanako")
    channel = enable_line(admin, sandbox, friends=list(links.values()))
    recipients = [{"user_id": u} for u in links]
    event = titled(company_id, recipients, f"once-{uuid.uuid4().hex[:6]}")

    # WHEN WORKPLACE sends it twice at once, and once more after it was delivered
    send_event(event)
    send_event(event)
    wait_for_deliveries(admin, event["event_id"], 2)
    send_event(event)
    # ... followed by another event that shows the queues got past the third copy
    marker = titled(company_id, recipients, f"marker-{uuid.uuid4().hex[:6]}")
    send_event(marker)
    wait_for_deliveries(admin, marker["event_id"], 2)
    wait_until_idle(stack, "WorkplaceEventsQueue", "SendLineQueue")

    # THEN LINE got the event once (and the marker once), and each employee received it once
    texts = alt_texts(line_sends(sandbox, channel))
    assert sum(t.startswith(event["message"]["title"]) for t in texts) == 1, texts
    assert sum(t.startswith(marker["message"]["title"]) for t in texts) == 1, texts
    title = event["message"]["title"]
    delivered = [d for d in line_accepted(sandbox, channel) if d["messages"][0]["altText"].startswith(title)]
    assert sorted(to for d in delivered for to in d["delivered_to"]) == sorted(links.values())
    # AND the event has one record per employee, sent at the first attempt
    assert sorted((r["user_id"], r["status"], r["attempts"]) for r in deliveries(admin, event["event_id"])) == sorted(
        (u, "sent", 1) for u in links
    )


# ------------------------------------------------------------------------------------------- retries


def test_a_server_error_is_retried_later_with_the_same_retry_key_and_delivered_once(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a linked employee and LINE answering 503 to the next send of this channel
    links = linked(stack, company_id, "taro")
    (taro, taro_line) = next(iter(links.items()))
    channel = enable_line(admin, sandbox, friends=[taro_line])
    sandbox.add_fault("line", "server_error", times=1, match={"token": channel.token}, status=503)

    # WHEN a notification arrives
    event = notification(company_id, [{"user_id": taro}])
    send_event(event)

    # THEN the delivery waits for a retry with the provider's code
    retrying = wait_for_deliveries(admin, event["event_id"], 1, statuses=frozenset({"retrying"}), timeout=10)
    assert retrying[(taro, "line")]["error_code"] == "http_503"
    # AND is sent at the second attempt, after a backoff
    record = wait_for_deliveries(admin, event["event_id"], 1, timeout=35)[(taro, "line")]
    assert (record["status"], record["attempts"]) == ("sent", 2)
    first, second = line_sends(sandbox, channel)
    assert (first["status"], second["status"]) == (503, 200)
    assert second["at"] - first["at"] >= 5, second["at"] - first["at"]
    # AND both attempts carried the same retry key and body, so LINE could never deliver it twice
    assert header(first, "X-Line-Retry-Key") == header(second, "X-Line-Retry-Key") is not None
    assert first["body"] == second["body"]
    (delivered,) = line_accepted(sandbox, channel)
    assert delivered["delivered_to"] == [taro_line]


def test_a_send_that_timed_out_after_reaching_line_is_retried_with_its_key_and_delivered_once(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a linked employee; LINE takes longer than the hub's 10 s read timeout to answer the next send,
    # but does accept it
    links = linked(stack, company_id, "taro")
    (taro, taro_line) = next(iter(links.items()))
    channel = enable_line(admin, sandbox, friends=[taro_line])
    sandbox.add_fault("line", "timeout", times=1, match={"token": channel.token}, delay=READ_TIMEOUT + 1.5)

    # WHEN a notification arrives
    event = notification(company_id, [{"user_id": taro}])
    send_event(event)

    # THEN the hub gives up waiting and records a retry
    retrying = wait_for_deliveries(
        admin, event["event_id"], 1, statuses=frozenset({"retrying"}), timeout=READ_TIMEOUT + 8
    )
    assert retrying[(taro, "line")]["error_code"] == "timeout"
    # AND its retry, with the same key, is answered "already accepted" and counts as sent
    record = wait_for_deliveries(admin, event["event_id"], 1, timeout=40)[(taro, "line")]
    first, retry = line_sends(sandbox, channel)
    assert first["fault"] is not None and retry["fault"] is None
    assert header(first, "X-Line-Retry-Key") == header(retry, "X-Line-Retry-Key") is not None
    assert retry["status"] == 409
    assert (record["status"], record["attempts"]) == ("sent", 2)
    assert record["provider_message_id"] == first["response"]["sentMessages"][0]["id"]
    # AND taro received it once
    (delivered,) = line_accepted(sandbox, channel)
    assert delivered["delivered_to"] == [taro_line]


def test_a_retry_of_a_send_line_already_accepted_counts_as_sent_and_delivers_nothing_more(
    stack: LocalStack, sqs: Any, company_id: str, admin: Api, sandbox: SandboxClient
) -> None:
    # GIVEN a linked employee and what a sender container that died mid-call leaves behind: the delivery claimed
    # under a retry key (its lease over), and LINE having accepted the push under that key
    links = linked(stack, company_id, "taro")
    (taro, taro_line) = next(iter(links.items()))
    channel = enable_line(admin, sandbox, friends=[taro_line])
    event = notification(company_id, [{"user_id": taro}])
    log = DeliveriesRepository(table(stack, "DeliveriesTable"))
    record_key = DeliveryKey(company_id, event["event_id"], taro, "line")
    log.add_many([NewDelivery(record_key, event["item"], DeliveryStatus.QUEUED)])
    key = str(uuid.uuid4())
    claim = log.claim(record_key, 60, now=time.time() - 3600, retry_key=key)
    assert claim.retry_key == key
    earlier = requests.post(
        f"{stack.sandbox.url}/line/api/v2/bot/message/push",
        json={"to": taro_line, "messages": [{"type": "text", "text": event["message"]["title"]}]},
        headers={"Authorization": f"Bearer {channel.token}", "X-Line-Retry-Key": key},
        timeout=5,
    )
    assert earlier.status_code == 200, earlier.text
    earlier_id = earlier.json()["sentMessages"][0]["id"]

    # WHEN the job comes back (SQS redelivers the dead container's message)
    job = {k: event[k] for k in ("company_id", "event_id", "item", "message", "recipients")}
    sqs.send_message(QueueUrl=stack.queues["SendLineQueue"], MessageBody=json.dumps({**job, "channel": "line"}))
    record = wait_for_deliveries(admin, event["event_id"], 1)[(taro, "line")]

    # THEN the hub repeated the call under its stored key, LINE answered 409 "already accepted"
    _, retry = line_sends(sandbox, channel)
    assert header(retry, "X-Line-Retry-Key") == key
    assert retry["status"] == 409 and retry["response"]["message"] == "The retry key is already accepted"
    # AND the hub counts it as sent, with the message id of the accepted send
    assert (record["status"], record["provider_message_id"]) == ("sent", earlier_id)
    # AND taro received it only once
    (delivered,) = line_accepted(sandbox, channel)
    assert delivered["delivered_to"] == [taro_line]


def test_a_429_rate_limit_is_retried_after_the_retry_after_delay_and_sent(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN two linked employees; LINE rate limits the next send with Retry-After: 1
    links = linked(stack, company_id, "taro", "hanako")
    channel = enable_line(admin, sandbox, friends=list(links.values()))
    sandbox.add_fault("line", "rate_limited", times=1, match={"token": channel.token}, retry_after=1)

    # WHEN a notification for both arrives
    event = notification(company_id, [{"user_id": u} for u in links])
    send_event(event)

    # THEN both are sent at the second attempt
    found = wait_for_deliveries(admin, event["event_id"], 2, timeout=15)
    assert {(r["status"], r["attempts"]) for r in found.values()} == {("sent", 2)}
    # AND the retry came about a second later (not a long backoff), as one multicast with the same retry key
    first, second = line_sends(sandbox, channel)
    assert (first["status"], second["status"]) == (429, 200)
    assert 0.9 <= second["at"] - first["at"] <= 6.0, second["at"] - first["at"]
    assert header(first, "X-Line-Retry-Key") == header(second, "X-Line-Retry-Key") is not None
    # AND each employee received it once
    (delivered,) = line_accepted(sandbox, channel)
    assert sorted(delivered["delivered_to"]) == sorted(links.values())


# ------------------------------------------------------------------------------------------- failures


def test_the_monthly_message_limit_fails_the_delivery_without_retrying(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a linked employee and an account whose messages of the month are used up
    links = linked(stack, company_id, "taro")
    (taro, taro_line) = next(iter(links.items()))
    channel = enable_line(admin, sandbox, friends=[taro_line])
    sandbox.add_fault("line", "monthly_limit", match={"token": channel.token})

    # WHEN a notification arrives
    event = notification(company_id, [{"user_id": taro}])
    send_event(event)

    # THEN the delivery fails for the monthly limit at its first attempt
    record = wait_for_deliveries(admin, event["event_id"], 1)[(taro, "line")]
    assert (record["status"], record["reason"], record["error_code"]) == (
        "failed",
        "line_monthly_limit",
        "monthly_limit",
    )
    assert record["attempts"] == 1
    # AND it is not retried: the queue is drained after LINE's one 429
    wait_until_idle(stack, "SendLineQueue")
    assert [s["status"] for s in line_sends(sandbox, channel)] == [429]
    # AND the channel credentials are not blamed
    assert integration_status(admin, "line")["state"] != "error"


def test_a_refused_channel_token_fails_the_delivery_and_puts_line_in_error(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a linked employee and LINE refusing the channel access token (401)
    links = linked(stack, company_id, "taro")
    (taro, taro_line) = next(iter(links.items()))
    channel = enable_line(admin, sandbox, friends=[taro_line])
    assert integration_status(admin, "line")["state"] == "unverified"
    sandbox.add_fault("line", "invalid_auth", match={"token": channel.token})

    # WHEN a notification arrives
    event = notification(company_id, [{"user_id": taro}])
    send_event(event)

    # THEN the delivery fails because the company's credentials were rejected
    record = wait_for_deliveries(admin, event["event_id"], 1)[(taro, "line")]
    assert (record["status"], record["reason"], record["error_code"]) == (
        "failed",
        "integration_credentials_rejected",
        "http_401",
    )
    # AND the admin sees the LINE integration in error with the code
    status = wait_for(lambda: (s := integration_status(admin, "line"))["state"] == "error" and s, timeout=5)
    assert status["code"] == "http_401"
    # AND nothing was retried
    wait_until_idle(stack, "SendLineQueue")
    assert [s["status"] for s in line_sends(sandbox, channel)] == [401]


# ------------------------------------------------------------------------------------------- skipped


def test_a_recipient_without_a_line_user_id_is_skipped_and_not_sent(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN LINE routed; taro linked, hanako never linked her LINE account
    links = linked(stack, company_id, "taro")
    (taro, taro_line) = next(iter(links.items()))
    hanako = user(company_id, "hanako")
    channel = enable_line(admin, sandbox, friends=[taro_line])

    # WHEN a notification goes to both
    event = notification(company_id, [{"user_id": taro}, {"user_id": hanako}])
    send_event(event)
    found = wait_for_deliveries(admin, event["event_id"], 2)

    # THEN taro's is sent, and hanako's skipped because she has no LINE userId
    assert found[(taro, "line")]["status"] == "sent"
    assert (found[(hanako, "line")]["status"], found[(hanako, "line")]["reason"]) == (
        "skipped",
        "line_user_id_missing",
    )
    # AND LINE only got a push to taro
    (push,) = line_sends(sandbox, channel)
    assert push["path"].endswith("/push") and push["body"]["to"] == taro_line


# ------------------------------------------------------------------------------------------- settings


def test_verify_reads_the_bot_and_reports_a_revoked_token(admin: Api, sandbox: SandboxClient) -> None:
    # GIVEN LINE configured with a channel the sandbox knows
    channel = new_line_channel(sandbox, friends=[])
    ok(admin.put("/admin/integrations/line", {"enabled": True, "settings": channel.settings()}))

    # WHEN the admin verifies it
    verified = ok(admin.post("/admin/integrations/line/verify"))

    # THEN the status is ok, naming the Official Account LINE returned for the token
    assert verified["status"]["state"] == "ok"
    assert channel.bot["displayName"] in verified["status"]["detail"]
    assert channel.bot["basicId"] in verified["status"]["detail"]

    # WHEN the token is revoked in the LINE console and the admin verifies again
    sandbox.control("line", "revoke", {"channel_access_token": channel.token})
    refused = ok(admin.post("/admin/integrations/line/verify"))

    # THEN the status is error with LINE's 401, and stays so for the admin to see
    assert (refused["status"]["state"], refused["status"]["code"]) == ("error", "http_401")
    assert integration_status(admin, "line")["state"] == "error"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("channel_secret", "0123456789abcdef"),
        ("channel_secret", "g123456789abcdef0123456789abcdef"),
        ("friend_link_url", "http://lin.ee/AbCdEfG"),
        ("friend_link_url", "https://example.com/AbCdEfG"),
    ],
    ids=["secret too short", "secret not hex", "friend link http", "friend link not LINE"],
)
def test_bad_settings_are_refused_naming_the_field(admin: Api, sandbox: SandboxClient, field: str, value: str) -> None:
    # GIVEN an otherwise valid LINE form with one bad field
    form = new_line_channel(sandbox, friends=[]).settings(**{field: value})

    # WHEN the admin saves it
    response = admin.put("/admin/integrations/line", {"enabled": True, "settings": form})

    # THEN it is refused with 400 naming the field
    assert response.status_code == 400, response.text
    assert response.json()["field"] == f"settings.{field}"
    # AND nothing was stored
    view = ok(admin.get("/admin/integrations/line"))
    assert view["enabled"] is False and view["settings"] == {}
