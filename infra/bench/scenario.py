"""The benchmark's company on a local stack: a Slack workspace in the sandbox (rate limits off), the
Slack integration and routing set through the settings API, and N employees with linked member IDs."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests

from infra.local_stack import LocalStack
from infra.local_stack.aws import client
from infra.sandbox import SandboxClient
from workplace_hub.config import ProviderEndpoints
from workplace_hub.providers.messenger import Destination, Notification
from workplace_hub.slack.messages import SlackSender

COMPANY = "benchco"
ADMIN = "admin@benchco.example"
ITEM = "approval.requested"
BOT_TOKEN = "xoxb-9000-9001-benchmarkbot"
MESSAGE = {
    "title": "決裁依頼: 出張申請 (大阪)",
    "body": "鈴木 一郎 さんから決裁依頼が届きました。内容を確認して承認または差し戻してください。",
    "url": "https://benchco.workplace.example/approvals/8812",
}


@dataclass
class Scenario:
    stack: LocalStack
    sandbox: SandboxClient
    recipients: list[tuple[str, str]]  # (WORKPLACE user id, Slack member id)
    sqs: Any = field(init=False)

    def __post_init__(self) -> None:
        self.sqs = client("sqs", self.stack.aws_endpoint_url)

    @classmethod
    def setup(cls, stack: LocalStack, recipients: int) -> Scenario:
        sandbox = SandboxClient(stack.sandbox.url)
        sandbox.reset()
        people = [(f"user{i:04d}@benchco.example", f"UBENCH{i:04d}") for i in range(recipients)]
        sandbox.add_slack_workspace(BOT_TOKEN, team="BenchCo", members=[member for _, member in people])
        sandbox.set_limits("slack", enabled=False)
        http = requests.Session()
        admin = {"Authorization": f"Bearer {stack.token(COMPANY, ADMIN, 'admin')}"}
        _ok(
            http.put(
                f"{stack.api_url}/admin/integrations/slack",
                headers=admin,
                json={"enabled": True, "settings": {"bot_token": BOT_TOKEN}},
                timeout=30,
            )
        )
        _ok(http.post(f"{stack.api_url}/admin/integrations/slack/verify", headers=admin, timeout=30))
        _ok(
            http.put(
                f"{stack.api_url}/admin/notification-settings",
                headers=admin,
                json={"items": {ITEM: ["slack"]}},
                timeout=30,
            )
        )
        for user_id, member_id in people:
            member = {"Authorization": f"Bearer {stack.token(COMPANY, user_id, 'member')}"}
            _ok(http.put(f"{stack.api_url}/me/links", headers=member, json={"slack_member_id": member_id}, timeout=30))
        http.close()
        sandbox.clear_requests()
        return cls(stack, sandbox, people)

    def event(self) -> dict[str, Any]:
        """A fresh notification event to every recipient."""
        return {
            "version": "1",
            "event_id": f"bench-{uuid.uuid4().hex[:16]}",
            "company_id": COMPANY,
            "type": "notification",
            "occurred_at": "2026-11-28T09:15:00+09:00",
            "item": ITEM,
            "recipients": [{"user_id": user_id, "name": "社員", "locale": "ja"} for user_id, _ in self.recipients],
            "message": MESSAGE,
        }

    def publish(self, event: dict[str, Any]) -> None:
        """WORKPLACE's side: put the event on WorkplaceEventsQueue (not part of any measurement)."""
        self.sqs.send_message(
            QueueUrl=self.stack.queues["WorkplaceEventsQueue"], MessageBody=json.dumps(event, ensure_ascii=False)
        )

    def slack_calls(self, count: int) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
        """(url, headers, JSON) of `count` chat.postMessage calls, built by the hub's own SlackSender."""
        sender = SlackSender(
            requests.Session(), ProviderEndpoints(SLACK_API_BASE=self.stack.provider_env["SLACK_API_BASE"])
        )
        calls = []
        for index in range(count):
            user_id, member_id = self.recipients[index % len(self.recipients)]
            notification = Notification(
                event_id="bench-floor", item=ITEM, title=MESSAGE["title"], body=MESSAGE["body"], url=MESSAGE["url"]
            )
            call = sender.build_request(notification, Destination(user_id, member_id, "社員"), {"bot_token": BOT_TOKEN})
            calls.append((call.url, dict(call.headers), dict(call.json or {})))
        return calls

    def queue(self, logical_id: str) -> tuple[str, str]:
        return self.stack.queues[logical_id], self.stack.resolver.attributes[(logical_id, "Arn")]

    def resource_names(self) -> dict[str, str]:
        """Physical table names, queue URLs and the key id/ARN → their logical ids in template.yaml."""
        names = {value: logical_id for logical_id, value in self.stack.resolver.refs.items()}
        names.update({value: logical_id for (logical_id, _), value in self.stack.resolver.attributes.items()})
        return names


def _ok(response: requests.Response) -> None:
    if response.status_code >= 300:
        raise RuntimeError(f"setup call {response.request.method} {response.url} -> {response.status_code}")
