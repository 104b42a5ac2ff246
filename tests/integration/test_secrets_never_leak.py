"""No secret (bot token, webhook key or token, other integration secrets) ever appears in a log line,
an API response, an error, or a dead-letter reason — while configuring, sending, retrying and failing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from tests.integration.helpers import (
    Api,
    DeadLetterQueue,
    captured_logs,
    new_member_id,
    new_slack_token,
    new_webhook,
    notification,
    ok,
    reason_of,
    wait_for_deliveries,
)

pytestmark = pytest.mark.integration


def test_no_secret_appears_in_logs_responses_errors_or_dead_letters(
    stack: LocalStack,
    sqs: Any,
    capfd: pytest.CaptureFixture[str],
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Callable[[Any], None],
    events_dlq: DeadLetterQueue,
) -> None:
    # GIVEN a Slack bot token, a Google Chat webhook (key + token), and other integrations' secrets
    bot_token = new_slack_token()
    member_id = new_member_id()
    sandbox.add_slack_workspace(bot_token, team="Acme", members=[member_id])
    webhook = new_webhook(sandbox)
    kakao_secret = "kakaoSecret" + uuid.uuid4().hex
    line_token = "lineToken" + uuid.uuid4().hex
    refused_key, refused_token = "Kleak" + uuid.uuid4().hex[:12], "Tleak" + uuid.uuid4().hex[:12]
    marker = f"evt-leak-{uuid.uuid4().hex[:8]}"

    with captured_logs() as logs:
        from workplace_hub.observability import logger

        logger.info("capture canary", extra={"canary": marker})  # proves the hub's log stream is captured

        # WHEN the admin configures everything, including values the API refuses
        ok(admin.put("/admin/integrations/slack", {"enabled": True, "settings": {"bot_token": bot_token}}))
        refused_token_put = admin.put(
            "/admin/integrations/slack", {"enabled": True, "settings": {"bot_token": "xoxp" + bot_token[4:]}}
        )
        assert refused_token_put.status_code == 400
        assert ok(admin.post("/admin/integrations/slack/verify"))["status"]["state"] == "ok"
        kakao = {
            "access_key_id": "AKIA1234ABCD5678",
            "secret_key": kakao_secret,
            "channel_id": "@acme",
            "service_id": "ncp:kkobizmsg:kr:1234567:acme",
            "template_code": "APPROVAL_01",
        }
        ok(admin.put("/admin/integrations/kakao", {"enabled": False, "settings": kakao}))
        bad_line = admin.put(
            "/admin/integrations/line", {"enabled": True, "settings": {"channel_access_token": line_token}}
        )
        assert bad_line.status_code == 400
        ok(admin.put("/admin/integrations/google_chat", {"enabled": True}))
        ok(admin.put("/admin/notification-settings", {"items": {"approval.requested": ["slack", "google_chat"]}}))

        # AND the employee links, also trying URLs the API refuses (one with the real key and token)
        ok(member.put("/me/links", {"slack_member_id": member_id, "google_chat_webhook_url": webhook.url}))
        for bad_url in (
            f"https://evil.example/v1/spaces/{webhook.space}/messages?key={refused_key}&token={refused_token}",
            webhook.url.replace("/messages?", "/members?"),
        ):
            assert member.put("/me/links", {"google_chat_webhook_url": bad_url}).status_code == 400

        # AND notifications are sent: delivered; rate limited then delivered; refused by both providers
        delivered = notification(company_id, [{"user_id": member.user_id}])
        send_event(delivered)
        wait_for_deliveries(admin, delivered["event_id"], 2)
        sandbox.add_fault("slack", "rate_limited", times=1, match={"token": bot_token}, retry_after=1)
        retried = notification(company_id, [{"user_id": member.user_id}])
        send_event(retried)
        records = wait_for_deliveries(admin, retried["event_id"], 2, timeout=12)
        assert records[(member.user_id, "slack")]["attempts"] == 2
        sandbox.add_fault("slack", "invalid_auth", times=1, match={"token": bot_token})
        sandbox.add_fault("google_chat", "invalid_auth", times=1, match={"token": webhook.token})
        refused = notification(company_id, [{"user_id": member.user_id}])
        send_event(refused)
        records = wait_for_deliveries(admin, refused["event_id"], 2)
        assert {r["status"] for r in records.values()} == {"failed"}

        # AND a malformed event carrying the secrets in fields the contract validates is dead-lettered
        malformed = notification(
            company_id,
            [{"user_id": member.user_id, "phone": bot_token}],
            event_id=marker,
            message={"title": webhook.token, "body": "", "url": webhook.url},
        )
        send_event(malformed)
        dead = events_dlq.take([marker], timeout=6)[marker]

        # AND the token is revoked and verified again, everything is read, and Slack is deleted
        sandbox.revoke_slack_token(bot_token)
        assert ok(admin.post("/admin/integrations/slack/verify"))["status"]["state"] == "error"
        for path in (
            "/admin/integrations",
            "/admin/integrations/slack",
            "/admin/integrations/google_chat",
            "/admin/integrations/kakao",
            "/admin/notification-settings",
            "/admin/deliveries",
        ):
            ok(admin.get(path))
        ok(member.get("/me/links"))
        ok(member.get("/me/deliveries"))
        ok(admin.delete("/admin/integrations/slack"))

    out, err = capfd.readouterr()
    logged = logs.getvalue()
    send_dlq_reasons = []
    for queue in ("SendSlackDLQ", "SendGoogleChatDLQ"):
        for message in sqs.receive_message(
            QueueUrl=stack.queues[queue], MaxNumberOfMessages=10, VisibilityTimeout=0, MessageAttributeNames=["All"]
        ).get("Messages", []):
            send_dlq_reasons.append(json.dumps(message.get("MessageAttributes", {})) + message["Body"])

    # THEN the capture did see the hub's logs (so the checks below could fail) ...
    assert marker in logged and "integration saved" in logged and "delivery not sent" in logged
    assert "invalid event" in reason_of(dead)
    # ... and no secret is in any of them: only the last 4 characters of the bot token may ever show
    places = {
        "stdout": out,
        "stderr": err,
        "logs": logged,
        "API responses": "\n".join(r.text for r in (*admin.responses, *member.responses)),
        "events DLQ reason": reason_of(dead),
        "send DLQs": "\n".join(send_dlq_reasons),
    }
    secrets = {
        "bot token": bot_token[:-4],
        "bot token (refused variant)": "xoxp" + bot_token[4:-4],
        "webhook key": webhook.key,
        "webhook token": webhook.token,
        "refused webhook key": refused_key,
        "refused webhook token": refused_token,
        "kakao secret key": kakao_secret,
        "line channel access token": line_token,
    }
    leaks = [(secret, place) for secret, value in secrets.items() for place, text in places.items() if value in text]
    assert leaks == [], leaks


def test_the_session_sweep_finds_a_secret_wherever_it_shows() -> None:
    # GIVEN a sweep that was told of a bot token, a PEM key and a webhook token, as the tests hand them over
    from tests.integration.helpers import tee_logs
    from tests.integration.secrets_sweep import SecretsSweep
    from workplace_hub.observability import logger

    sweep = SecretsSweep()
    token = new_slack_token()
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----"
    sweep.note_request({"settings": {"bot_token": token, "private_key": pem}}, None)
    webhook = "https://chat.example/v1/spaces/A/messages?key=k&token=T0KEN-abcdef12"
    sweep.note_request({"google_chat_webhook_url": webhook}, None)

    # WHEN the hub logs one, an API answer shows another, and a dead letter carries the third
    with tee_logs(sweep.logs):
        logger.info("oops", extra={"detail": token})
    sweep.note_response('{"error": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"}')

    # THEN each place is named
    assert set(sweep.leaks(["reason: T0KEN-abcdef12"])) == {"logs", "API responses", "dead letters"}
    # AND what is clean passes
    assert SecretsSweep().leaks(["nothing here"]) == {}
