"""Part 4: provider HTTP calls per notification for one large event on LINE, KakaoTalk AlimTalk (SENS) and
NAVER WORKS.

Each provider gets a company of its own, configured like an admin would: the provider's account is registered
in the sandbox fake (rate limits off), the integration is saved and verified through the settings API, and
the notification item is routed to the channel. Its recipients get what the channel needs: LINE a
`line_user_id` written straight into LinksTable (all friends of the channel), SENS an E.164 Korean mobile
number in the event, NAVER WORKS a user of the sandbox tenant (the WORKPLACE user ID is the WORKS user ID).

ONE event with every recipient is put on WorkplaceEventsQueue and fed to a fresh router container, then the
provider's send jobs to a fresh container of its sender function (the real lambda_handler, exactly as parts 2
and 3 drive them). The sandbox's request log is cleared before the event, so every provider request it holds
afterwards was made for that event. NAVER WORKS gets a second event right after the first: its token
exchanges are counted over both (the sender caches the token per company for its lifetime). The event's
delivery records are tallied from DeliveriesTable (sent / failed / skipped), and the sandbox's own view of
what it accepted is read back as a cross-check.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
import requests
from boto3.dynamodb.conditions import Key

from infra.bench.containers import Container, Drive, EventSourceMapping, load_container
from infra.keys import rsa_key_pair
from infra.local_stack import LocalStack
from infra.local_stack.aws import REGION, client
from infra.sandbox import SandboxClient
from infra.template import Resolver
from workplace_hub.clock import utc_now_iso

ITEM = "approval.requested"
MESSAGE = {
    "title": "決裁依頼: 出張申請 (大阪)",
    "body": "鈴木 一郎 さんから決裁依頼が届きました。内容を確認して承認または差し戻してください。",
    "url": "https://benchco.workplace.example/approvals/8812",
}
PATIENCE = 600.0  # seconds a queue may take to drain (the mapping's default, 30 s, is too short here)

LINE_TOKEN = "benchLineChannelAccessToken0123456789abcdefABCDEF"
LINE_SETTINGS = {
    "login_channel_id": "1650000001",
    "login_channel_secret": "0123456789abcdef0123456789abcdef",
    "channel_access_token": LINE_TOKEN,
    "channel_secret": "fedcba9876543210fedcba9876543210",
    "friend_link_url": "https://lin.ee/BenchCo",
}
SENS_ACCESS_KEY = "BENCHACCESSKEY0001"
SENS_SECRET_KEY = "BenchSecretKey0123456789abcdefABCDEF0001"
SENS_SERVICE_ID = "ncp:kkobizmsg:kr:9000001:bench"
SENS_CHANNEL = "@benchco"
SENS_TEMPLATE = "BENCH_APPROVAL"
SENS_CONTENT = "[WORKPLACE] #{name}님, #{title}\n#{content}"
SENS_BUTTONS = [{"type": "WL", "name": "자세히 보기", "linkMobile": "https://#{url}", "linkPc": "https://#{url}"}]
WORKS_DOMAIN = "90000001"
WORKS_BOT = "4000001"
WORKS_CLIENT_ID = "benchWorksClient0001"
WORKS_CLIENT_SECRET = "benchWorksSecret0001"
WORKS_SERVICE_ACCOUNT = "bench1.serviceaccount@benchworks.example"


@dataclass(frozen=True)
class Provider:
    channel: str  # the hub's channel id (routing, queues, delivery records)
    label: str
    sandbox: str  # the sandbox fake's name (request log, limits)
    function: str  # the sender function's logical id in template.yaml
    company: str


LINE = Provider("line", "LINE", "line", "SendLineFunction", "benchline")
KAKAO = Provider("kakao", "KakaoTalk AlimTalk (SENS)", "sens", "SendKakaoFunction", "benchkakao")
WORKS = Provider("naver_works", "NAVER WORKS", "naver_works", "SendNaverWorksFunction", "benchworks")


@dataclass
class Bench:
    """The stack, the sandbox, the router container fed from WorkplaceEventsQueue, and DynamoDB tables."""

    stack: LocalStack
    template: dict[str, Any]
    resolver: Resolver
    sandbox: SandboxClient = field(init=False)
    sqs: Any = field(init=False)
    tables: Any = field(init=False)
    router: EventSourceMapping = field(init=False)

    def __post_init__(self) -> None:
        self.sandbox = SandboxClient(self.stack.sandbox.url, timeout=30)
        self.sqs = client("sqs", self.stack.aws_endpoint_url)
        self.tables = boto3.resource(
            "dynamodb",
            endpoint_url=self.stack.aws_endpoint_url,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        self.router = self.mapping(load_container(self.template, self.resolver, "RouterFunction"))

    def mapping(self, container: Container) -> EventSourceMapping:
        url = self.stack.queues[container.queue_logical_id]
        arn = self.resolver.attributes[(container.queue_logical_id, "Arn")]
        return EventSourceMapping(self.sqs, url, arn, container)

    def table(self, logical_id: str) -> Any:
        return self.tables.Table(self.resolver.refs[logical_id])


# --- set-up: the provider's account in the sandbox, the company through the settings API ---------------------


class Admin:
    """The settings API as the company's admin."""

    def __init__(self, stack: LocalStack, company: str) -> None:
        self.base = stack.api_url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {stack.token(company, f'admin@{company}.example', 'admin')}"

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self.http.request(method, self.base + path, json=body, timeout=60)
        if response.status_code >= 300:
            raise RuntimeError(f"setup call {method} {path} -> {response.status_code}: {response.text[:300]}")
        return response.json()

    def configure(self, channel: str, settings: dict[str, Any]) -> str:
        """Save and verify the integration, route the item to it; returns the verification detail."""
        self.call("PUT", f"/admin/integrations/{channel}", {"enabled": True, "settings": settings})
        status = self.call("POST", f"/admin/integrations/{channel}/verify")["status"]
        if status.get("state") != "ok":
            raise RuntimeError(f"{channel} did not verify: {status}")
        self.call("PUT", "/admin/notification-settings", {"items": {ITEM: [channel]}})
        self.http.close()
        return str(status.get("detail", ""))


def _users(company: str, count: int) -> list[str]:
    return [f"user{i:04d}@{company}.example" for i in range(count)]


def setup_line(bench: Bench, count: int) -> list[dict[str, Any]]:
    users = _users(LINE.company, count)
    line_ids = [f"U{index:032x}" for index in range(1, count + 1)]
    bench.sandbox.control(
        "line",
        "channels",
        {"channel_access_token": LINE_TOKEN, "channel_secret": LINE_SETTINGS["channel_secret"], "friends": line_ids},
    )
    bench.sandbox.set_limits("line", enabled=False)  # push and multicast buckets
    Admin(bench.stack, LINE.company).configure("line", LINE_SETTINGS)
    now = utc_now_iso()
    with bench.table("LinksTable").batch_writer() as batch:
        for user_id, line_id in zip(users, line_ids, strict=True):
            batch.put_item(Item={"pk": LINE.company, "sk": user_id, "line_user_id": line_id, "updated_at": now})
    return [{"user_id": user_id, "name": "社員", "locale": "ja"} for user_id in users]


def setup_kakao(bench: Bench, count: int) -> list[dict[str, Any]]:
    template = {"templateCode": SENS_TEMPLATE, "templateName": "결재 요청", "content": SENS_CONTENT}
    bench.sandbox.control(
        "sens",
        "projects",
        {
            "access_key": SENS_ACCESS_KEY,
            "secret_key": SENS_SECRET_KEY,
            "service_id": SENS_SERVICE_ID,
            "channels": {SENS_CHANNEL: {"templates": [{**template, "buttons": SENS_BUTTONS}]}},
        },
    )
    bench.sandbox.set_limits("sens", enabled=False)
    settings = {
        "access_key_id": SENS_ACCESS_KEY,
        "secret_key": SENS_SECRET_KEY,
        "channel_id": SENS_CHANNEL,
        "service_id": SENS_SERVICE_ID,
        "template_code": SENS_TEMPLATE,
    }
    Admin(bench.stack, KAKAO.company).configure("kakao", settings)
    return [
        {"user_id": user_id, "name": "사원", "locale": "ko", "phone": f"+8210{50_000_000 + index:08d}"}
        for index, user_id in enumerate(_users(KAKAO.company, count))
    ]


def setup_works(bench: Bench, count: int) -> list[dict[str, Any]]:
    users = _users(WORKS.company, count)
    private_pem, public_pem = rsa_key_pair("bench-naver-works")
    bench.sandbox.control(
        "naver_works",
        "tenants",
        {
            "domain_id": WORKS_DOMAIN,
            "users": users,
            "bots": [{"bot_id": WORKS_BOT, "name": "WORKPLACE"}],
            "client_id": WORKS_CLIENT_ID,
            "client_secret": WORKS_CLIENT_SECRET,
            "service_account": WORKS_SERVICE_ACCOUNT,
            "public_key_pem": public_pem,
        },
    )
    bench.sandbox.set_limits("naver_works", enabled=False)  # both plans' buckets
    settings = {
        "api_version": "2.0",
        "domain_id": WORKS_DOMAIN,
        "admin_email": f"admin@{WORKS.company}.example",
        "client_id": WORKS_CLIENT_ID,
        "client_secret": WORKS_CLIENT_SECRET,
        "service_account": WORKS_SERVICE_ACCOUNT,
        "private_key": private_pem,
        "bot_id": WORKS_BOT,
    }
    Admin(bench.stack, WORKS.company).configure("naver_works", settings)
    return [{"user_id": user_id, "name": "社員", "locale": "ja"} for user_id in users]


# --- one event through the router and the provider's sender --------------------------------------------------


def event(company: str, recipients: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": "1",
        "event_id": f"bench-{uuid.uuid4().hex[:16]}",
        "company_id": company,
        "type": "notification",
        "occurred_at": "2026-11-28T09:15:00+09:00",
        "item": ITEM,
        "recipients": recipients,
        "message": MESSAGE,
    }


def send_event(bench: Bench, sender: EventSourceMapping, body: dict[str, Any]) -> dict[str, Any]:
    """Publish (WORKPLACE's side), route it (one record), then drain the provider's send queue."""
    bench.sqs.send_message(
        QueueUrl=bench.stack.queues["WorkplaceEventsQueue"], MessageBody=json.dumps(body, ensure_ascii=False)
    )
    router: Drive = bench.router.drain(1, patience=PATIENCE)
    jobs: Drive = sender.drain(None, patience=PATIENCE)
    return {
        "event_id": body["event_id"],
        "recipients": len(body["recipients"]),
        "router_seconds": round(router.function_seconds, 2),
        "sender_seconds": round(jobs.function_seconds, 2),
        "mapping_seconds": round(router.mapping_seconds + jobs.mapping_seconds, 2),
        "sender_invocations": jobs.invocations,
        "send_jobs": jobs.records,
        "handler_failures": router.failures + jobs.failures,
        "outcomes": tally(bench, body["company_id"], body["event_id"]),
    }


def tally(bench: Bench, company: str, event_id: str) -> dict[str, Any]:
    """Delivery records of the event by status, and the reasons of those not sent."""
    table = bench.table("DeliveriesTable")
    query: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(f"{company}#{event_id}"),
        "ProjectionExpression": "#status, reason",
        "ExpressionAttributeNames": {"#status": "status"},
    }
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    while True:
        page = table.query(**query)
        for item in page["Items"]:
            statuses[item["status"]] += 1
            if item["status"] != "sent":
                reasons[f"{item['status']}:{item.get('reason') or '-'}"] += 1
        if "LastEvaluatedKey" not in page:
            break
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {
        "records": sum(statuses.values()),
        **{status: statuses.get(status, 0) for status in ("sent", "failed", "skipped")},
        "other": {status: n for status, n in statuses.items() if status not in ("sent", "failed", "skipped")},
        "reasons": dict(reasons),
    }


def _calls(entries: list[dict[str, Any]], kind: Any) -> dict[str, Any]:
    """Requests of one kind: how many, their HTTP statuses."""
    chosen = [entry for entry in entries if kind(entry)]
    return {"calls": len(chosen), "statuses": dict(Counter(str(entry["status"]) for entry in chosen))}


def _others(entries: list[dict[str, Any]], *kinds: Any) -> list[str]:
    return sorted({f"{e['method']} {e['path']}" for e in entries if not any(kind(e) for kind in kinds)})


def _line_send(entry: dict[str, Any]) -> bool:
    return entry["method"] == "POST" and entry["path"].endswith(("/v2/bot/message/push", "/v2/bot/message/multicast"))


def _sens_send(entry: dict[str, Any]) -> bool:
    return entry["method"] == "POST" and entry["path"].endswith("/messages")


def _works_message(entry: dict[str, Any]) -> bool:
    return entry["method"] == "POST" and entry["path"].endswith("/messages") and "/bots/" in entry["path"]


def _works_token(entry: dict[str, Any]) -> bool:
    return entry["method"] == "POST" and entry["path"].endswith("/auth/oauth2/v2.0/token")


def run_line(bench: Bench, recipients: list[dict[str, Any]], sender: EventSourceMapping) -> dict[str, Any]:
    bench.sandbox.clear_requests()
    result = send_event(bench, sender, event(LINE.company, recipients))
    entries = bench.sandbox.requests("line")
    sends = [entry for entry in entries if _line_send(entry)]
    delivered = sum(len(((e.get("response") or {}).get("_sandbox") or {}).get("delivered_to", [])) for e in sends)
    result.update(
        calls={"push/multicast": _calls(entries, _line_send)},
        endpoints=dict(Counter(entry["path"].rsplit("/", 1)[-1] for entry in sends)),
        recipients_per_call=[len(e["body"]["to"]) if isinstance(e["body"]["to"], list) else 1 for e in sends],
        provider_accepted=delivered,
        other_requests=_others(entries, _line_send),
    )
    return result


def run_kakao(bench: Bench, recipients: list[dict[str, Any]], sender: EventSourceMapping) -> dict[str, Any]:
    bench.sandbox.clear_requests()
    result = send_event(bench, sender, event(KAKAO.company, recipients))
    entries = bench.sandbox.requests("sens")
    sends = [entry for entry in entries if _sens_send(entry)]
    accepted = sum(
        1
        for entry in sends
        for answer in (entry.get("response") or {}).get("messages") or []
        if answer.get("requestStatusCode") == "A000"
    )
    result.update(
        calls={"send": _calls(entries, _sens_send)},
        recipients_per_call=[len(e["body"]["messages"]) for e in sends],
        provider_accepted=accepted,
        other_requests=_others(entries, _sens_send),
    )
    return result


def run_works(bench: Bench, recipients: list[dict[str, Any]], sender: EventSourceMapping) -> dict[str, Any]:
    bench.sandbox.clear_requests()
    first = send_event(bench, sender, event(WORKS.company, recipients))
    entries = bench.sandbox.requests("naver_works")
    first.update(
        calls={"message": _calls(entries, _works_message), "token": _calls(entries, _works_token)},
        provider_accepted=sum(1 for e in entries if _works_message(e) and e["status"] == 201),
        other_requests=_others(entries, _works_message, _works_token),
    )
    second = send_event(bench, sender, event(WORKS.company, recipients))
    both = bench.sandbox.requests("naver_works")
    later = both[len(entries) :]
    second.update(
        calls={"message": _calls(later, _works_message), "token": _calls(later, _works_token)},
        provider_accepted=sum(1 for e in later if _works_message(e) and e["status"] == 201),
        other_requests=_others(later, _works_message, _works_token),
    )
    return {**first, "second_event": second, "token_exchanges_both_events": _calls(both, _works_token)["calls"]}


def run(
    stack: LocalStack, template: dict[str, Any], resolver: Resolver, *, recipients: int, works_recipients: int
) -> dict[str, Any]:
    started = time.monotonic()
    bench = Bench(stack, template, resolver)
    results: dict[str, Any] = {}
    for provider, setup, measure, count in (
        (LINE, setup_line, run_line, recipients),
        (KAKAO, setup_kakao, run_kakao, recipients),
        (WORKS, setup_works, run_works, works_recipients),
    ):
        began = time.monotonic()
        people = setup(bench, count)
        setup_seconds = time.monotonic() - began
        sender = bench.mapping(load_container(template, resolver, provider.function))
        began = time.monotonic()
        result = measure(bench, people, sender)
        result.update(
            provider=provider.label,
            channel=provider.channel,
            company=provider.company,
            sender_function=provider.function,
            setup_seconds=round(setup_seconds, 1),
            measured_seconds=round(time.monotonic() - began, 1),
        )
        results[provider.channel] = result
    bench.sandbox.close()
    return {
        "recipients_requested": recipients,
        "works_recipients": works_recipients,
        "providers": results,
        "seconds": round(time.monotonic() - started, 1),
    }
