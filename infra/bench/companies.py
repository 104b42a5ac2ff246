"""Companies of parts 7 and 8, set up the way an admin and the employees would on a local stack.

Slack and Google Chat are set up here; LINE, KakaoTalk AlimTalk (SENS) and NAVER WORKS through part 4's
`provider_calls.setup_*`. Each company: its account registered in the sandbox fake (rate limits off), the
integration saved and verified through the settings API, the notification item routed to that one channel,
and `count` employees who can be reached on it. An `Audience` also keeps every employee's address on the channel
and the company's credentials, for the benchmark's own clients (the floor and Apprise) to send the same messages
to the same people.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import requests
from boto3.dynamodb.conditions import Key

from infra.bench.provider_calls import LINE, LINE_TOKEN, Admin, Bench, setup_line
from workplace_hub.clock import utc_now_iso


@dataclass
class Audience:
    company: str
    channel: str
    recipients: list[dict[str, Any]]  # the event's `recipients`
    addresses: dict[str, str] = field(default_factory=dict)  # user_id → member ID / webhook URL / LINE userId
    credentials: dict[str, str] = field(default_factory=dict)  # bot token, channel access token


def _tag(company: str) -> str:
    return hashlib.sha256(company.encode()).hexdigest()[:8]


def _users(company: str, count: int) -> list[str]:
    return [f"user{i:04d}@{company}.example" for i in range(count)]


def slack_company(bench: Bench, company: str, count: int) -> Audience:
    """A Slack workspace with the company's bot; every employee's member ID in LinksTable (not a secret)."""
    token = f"xoxb-{int(_tag(company), 16)}-{count}-bench{_tag(company)}"
    users = _users(company, count)
    members = [f"U{_tag(company)[:4].upper()}{i:05d}" for i in range(count)]
    bench.sandbox.add_slack_workspace(token, team=company, members=members)
    bench.sandbox.set_limits("slack", enabled=False)
    Admin(bench.stack, company).configure("slack", {"bot_token": token})
    now = utc_now_iso()
    with bench.table("LinksTable").batch_writer() as batch:
        for user_id, member in zip(users, members, strict=True):
            batch.put_item(Item={"pk": company, "sk": user_id, "slack_member_id": member, "updated_at": now})
    return Audience(
        company,
        "slack",
        [{"user_id": user_id, "name": "社員", "locale": "ja"} for user_id in users],
        dict(zip(users, members, strict=True)),
        {"bot_token": token},
    )


def google_chat_company(bench: Bench, company: str, count: int) -> Audience:
    """One Chat space per employee; each employee registers its incoming webhook through `PUT /me/links` (the
    hub stores webhook URLs sealed, so they cannot be written to LinksTable directly)."""
    users = _users(company, count)
    Admin(bench.stack, company).configure("google_chat", {})
    bench.sandbox.set_limits("google_chat", enabled=False)
    addresses = {}
    http = requests.Session()
    for index, user_id in enumerate(users):
        space = f"AAAA{_tag(company)}{index:05d}"
        webhook = bench.sandbox.add_google_chat_space(space, f"key{_tag(space)}", f"token{_tag(user_id)}")
        headers = {"Authorization": f"Bearer {bench.stack.token(company, user_id, 'member')}"}
        response = http.put(
            f"{bench.stack.api_url}/me/links", headers=headers, json={"google_chat_webhook_url": webhook}, timeout=30
        )
        if response.status_code >= 300:
            raise RuntimeError(f"linking {user_id}'s webhook -> {response.status_code}: {response.text[:300]}")
        addresses[user_id] = webhook
    http.close()
    return Audience(company, "google_chat", [{"user_id": u, "name": "社員", "locale": "ja"} for u in users], addresses)


def line_company(bench: Bench, count: int) -> Audience:
    """Part 4's LINE company (every employee a friend of its Official Account); userIds read back from LinksTable."""
    recipients = setup_line(bench, count)
    wanted = {r["user_id"] for r in recipients}
    addresses: dict[str, str] = {}
    query: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(LINE.company)}
    table = bench.table("LinksTable")
    while True:
        page = table.query(**query)
        addresses.update({item["sk"]: item["line_user_id"] for item in page["Items"] if item["sk"] in wanted})
        if "LastEvaluatedKey" not in page:
            break
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return Audience(LINE.company, "line", recipients, addresses, {"channel_access_token": LINE_TOKEN})
