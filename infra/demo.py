"""`make demo`: a scripted tour. Starts a local stack, configures a company through the API like an
admin would, links two employees, sends WORKPLACE events, prints the delivery table, registers an absence
in a NAVER WORKS calendar (then moves and cancels it), and exits 0."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import requests

from infra.keys import rsa_key_pair
from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient

COMPANY = "demo-co"
BOT_TOKEN = "xoxb-2000000000-3000000000-demoDemoDemo"
EMPLOYEES = {
    "taro.yamada@demo.example": {"name": "山田 太郎", "slack": "U0DEMO0001", "locale": "ja"},
    "minji.kim@demo.example": {"name": "김민지", "slack": "U0DEMO0002", "locale": "ko"},
    "alex.smith@demo.example": {"name": "Alex Smith", "slack": None, "locale": "en"},
}


def step(text: str) -> None:
    print(f"\n▶ {text}", flush=True)


def call(session: requests.Session, method: str, url: str, body: Any = None) -> dict[str, Any]:
    response = session.request(method, url, json=body, timeout=10)
    print(f"  {method} {url.split('/', 3)[-1]} → {response.status_code}")
    if response.status_code >= 400:
        print(f"    {response.text}")
    return response.json() if response.content else {}


def main() -> None:
    with tempfile.TemporaryDirectory() as state, LocalStack(state_dir=Path(state)) as stack:
        sandbox = SandboxClient(stack.sandbox.url)
        api = stack.api_url
        print(f"Local stack up: API {api}, sandbox {stack.sandbox.url}, AWS {stack.aws_endpoint_url}")

        step("The company's Slack workspace and one employee's Google Chat space exist (in the sandbox)")
        sandbox.add_slack_workspace(
            BOT_TOKEN, team="Demo Co", members=[e["slack"] for e in EMPLOYEES.values() if e["slack"]]
        )
        webhook = sandbox.add_google_chat_space("AAAADEMO01", "demo-key-123", "demo-token-456")

        step("The admin turns on Slack and Google Chat and verifies the Slack bot token")
        admin = requests.Session()
        admin.headers["Authorization"] = f"Bearer {stack.token(COMPANY, 'admin@demo.example', 'admin')}"
        call(admin, "PUT", f"{api}/admin/integrations/slack", {"enabled": True, "settings": {"bot_token": BOT_TOKEN}})
        verified = call(admin, "POST", f"{api}/admin/integrations/slack/verify")
        print(f"    status: {verified['status']}  (token shown as {verified['settings']['bot_token']})")
        call(admin, "PUT", f"{api}/admin/integrations/google_chat", {"enabled": True})

        step("The admin routes notification items to channels")
        routing = {"approval.requested": ["slack", "google_chat"], "approval.approved": ["slack"]}
        call(admin, "PUT", f"{api}/admin/notification-settings", {"items": routing})

        step("Employees link their accounts")
        for user_id, employee in EMPLOYEES.items():
            member = requests.Session()
            member.headers["Authorization"] = f"Bearer {stack.token(COMPANY, user_id, 'member')}"
            links: dict[str, Any] = {}
            if employee["slack"]:
                links["slack_member_id"] = employee["slack"]
            if user_id.startswith("taro"):
                links["google_chat_webhook_url"] = webhook
            if links:
                call(member, "PUT", f"{api}/me/links", links)

        step("WORKPLACE sends events (one of them malformed, one sent twice)")
        recipients = [{"user_id": u, "name": e["name"], "locale": e["locale"]} for u, e in EMPLOYEES.items()]
        events = [
            _event("evt-demo-0001", "approval.requested", recipients, "決裁依頼: 出張申請 (大阪)"),
            _event("evt-demo-0002", "approval.approved", recipients[:2], "承認されました: 経費精算"),
            _event("evt-demo-0003", "notice.posted", recipients[:1], "お知らせ: 年末年始休業"),
        ]
        sqs = boto3.client("sqs")
        queue = stack.queues["WorkplaceEventsQueue"]
        for event in [*events, events[0]]:
            sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event, ensure_ascii=False))
        sqs.send_message(QueueUrl=queue, MessageBody='{"version": "1", "event_id": "evt-demo-bad"}')

        step("Delivery log (GET /admin/deliveries)")
        deliveries = _wait_for_deliveries(admin, api, expected=9)
        print(f"  {'event':<15} {'user':<26} {'channel':<12} {'status':<8} reason / provider id")
        for d in sorted(deliveries, key=lambda d: (d["event_id"], d["user_id"], d["channel"])):
            detail = d.get("reason") or d.get("provider_message_id") or ""
            print(f"  {d['event_id']:<15} {d['user_id']:<26} {d['channel']:<12} {d['status']:<8} {detail}")

        step("What the providers received (sandbox)")
        for request in sandbox.requests():
            body = request.get("body") or {}
            target = body.get("channel") or request["path"].split("/messages")[0].rsplit("/", 1)[-1]
            print(f"  {request['provider']:<12} {request['status']}  to {target}")

        step("The malformed event is on the dead-letter queue, with its reason")
        dead = sqs.receive_message(
            QueueUrl=stack.queues["WorkplaceEventsDLQ"], MessageAttributeNames=["All"], WaitTimeSeconds=2
        )
        for message in dead.get("Messages", []):
            print(f"  reason: {message['MessageAttributes']['reason']['StringValue']}")

        _calendars(stack, sandbox, admin, sqs)
        print("\nDone.")


def _calendars(stack: LocalStack, sandbox: SandboxClient, admin: requests.Session, sqs: Any) -> None:
    """NAVER WORKS Calendar: an absence registered, moved, and cancelled; an older change arriving late."""
    api, taro = stack.api_url, "taro.yamada@demo.example"
    step("The company's NAVER WORKS tenant (in the sandbox); the admin turns on NAVER WORKS Calendar")
    private_pem, public_pem = rsa_key_pair("demo-naver-works")
    tenant = {"domain_id": "40000001", "client_id": "demo-client", "client_secret": "demo-secret"}
    service_account = "demo.serviceaccount@demo.example"
    sandbox.control(
        "naver_works",
        "tenants",
        {**tenant, "users": [taro], "service_account": service_account, "public_key_pem": public_pem},
    )
    settings = {
        **tenant,
        "api_version": "2.0",
        "admin_email": "admin@demo.example",
        "service_account": service_account,
        "private_key": private_pem,
    }
    call(admin, "PUT", f"{api}/admin/integrations/naver_works_calendar", {"enabled": True, "settings": settings})

    def send(event_id: str, occurred_at: str, absence: dict[str, Any] | None, cancelled: bool = False) -> None:
        event = {
            "version": "1",
            "event_id": event_id,
            "company_id": COMPANY,
            "type": "absence.cancelled" if cancelled else "absence.upserted",
            "occurred_at": occurred_at,
            "absence": {"absence_id": "abs-demo-1", "user_id": taro, **(absence or {})},
        }
        sqs.send_message(QueueUrl=stack.queues["WorkplaceEventsQueue"], MessageBody=json.dumps(event))
        _wait_for_deliveries(admin, api, expected=1, event_id=event_id)

    def show() -> None:
        held = sandbox.control("naver_works", "calendar_events", {"domain_id": tenant["domain_id"]})["events"]
        for event in held:
            print(f"    calendar {event['calendar_id']}: {event['summary']} {event['start']} → {event['end']}")
        if not held:
            print("    calendar: (empty)")

    vacation = {"kind": "vacation", "title": "年次休暇", "all_day": True, "timezone": "Asia/Tokyo"}
    step("WORKPLACE sends taro's vacation (2 days, inclusive end) for his NAVER WORKS calendar")
    send(
        "evt-demo-abs-1",
        "2026-11-28T09:20:00+09:00",
        {**vacation, "start": "2026-12-01", "end": "2026-12-02", "calendars": [{"provider": "naver_works"}]},
    )
    show()
    step("He moves it: the same event is updated (no second one)")
    send(
        "evt-demo-abs-2",
        "2026-11-28T09:30:00+09:00",
        {**vacation, "start": "2026-12-24", "end": "2026-12-25", "calendars": [{"provider": "naver_works"}]},
    )
    show()
    step("An older change arrives late: recorded as superseded, the calendar keeps the newer dates")
    send(
        "evt-demo-abs-0",
        "2026-11-28T09:25:00+09:00",
        {**vacation, "start": "2026-12-10", "end": "2026-12-10", "calendars": [{"provider": "naver_works"}]},
    )
    show()
    step("WORKPLACE cancels it: the event is removed")
    send("evt-demo-abs-3", "2026-11-28T10:00:00+09:00", None, cancelled=True)
    show()
    step("Calendar delivery log")
    for event_id in ("evt-demo-abs-1", "evt-demo-abs-2", "evt-demo-abs-0", "evt-demo-abs-3"):
        for d in _wait_for_deliveries(admin, api, expected=1, event_id=event_id):
            print(f"  {event_id:<15} {d['channel']:<21} {d['status']:<8} {d.get('action') or d.get('reason')}")


def _event(event_id: str, item: str, recipients: list[dict[str, Any]], title: str) -> dict[str, Any]:
    return {
        "version": "1",
        "event_id": event_id,
        "company_id": COMPANY,
        "type": "notification",
        "occurred_at": "2026-11-28T09:15:00+09:00",
        "item": item,
        "recipients": recipients,
        "message": {
            "title": title,
            "body": "詳細は WORKPLACE で確認してください。",
            "url": "https://demo.workplace.example/r/1",
        },
    }


def _wait_for_deliveries(
    admin: requests.Session, api: str, expected: int, event_id: str | None = None
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    deliveries: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 200, **({"event_id": event_id} if event_id else {})}
    while time.monotonic() < deadline:
        deliveries = admin.get(f"{api}/admin/deliveries", params=params, timeout=10).json()["deliveries"]
        if len(deliveries) >= expected and all(d["status"] in ("sent", "skipped", "failed") for d in deliveries):
            break
        time.sleep(0.2)
    return deliveries


if __name__ == "__main__":
    main()
