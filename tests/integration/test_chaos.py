"""Chaos on the local stack: nothing lost, nothing twice, whatever goes wrong at once.

One company routes `approval.requested` to Slack, Google Chat and LINE; 24 employees are linked to some of
those and not others, and one's Slack member ID no longer exists. While ten events go through the hub, all of
this happens together (the module fixture `storm` runs it once; each test checks one property of the result):

- Slack and Google Chat answer 5xx, LINE answers 500, and Slack and LINE answer after the hub's read timeout
  (the provider does process that request: the hub just never hears back);
- DynamoDB throttles calls of the functions' shared client (ProvisionedThroughputExceededException, as if the
  SDK's own retries had run out): every n-th call for the first seconds, plus two chosen calls (`Throttle`);
- the Google Chat sender's container dies mid-batch, right after a provider call it did not get to record;
- the events arrive shuffled, three of them twice at once and two again later; copies of send jobs are put
  back on their queues; an invalid event and a job on the wrong queue go to dead-letter queues;
- once all is quiet, every event and every send job is delivered again; one failure is replayed just as a copy
  of its job looks at its record; then every replayable failure is replayed (`POST /admin/failures/replay`).

Afterwards every recipient × channel of every event has exactly one record, final (sent, or skipped / failed
with a reason), the providers' request logs agree with the records, and each dead letter is accounted for.
`-s` shows the tally.

The session stack's queues have a 5 s visibility timeout (template: 180 s). The storm scales the senders'
other timings to it the way the template relates them: an invocation's provider calls (read timeout, 10 s) and
the claim lease (60 s) must together stay under the visibility timeout, or a job that comes back after its
invocation failed finds its own claim still held and leaves that delivery in `sending` for good.

The last tests look at the storm's hard cases one by one (each found a bug once).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from infra.local_stack import LocalStack
from infra.local_stack.functions import LocalFunction
from infra.sandbox import SandboxClient
from infra.template import function_environment, load_template
from tests.integration.helpers import (
    FINAL_STATUSES,
    MESSAGE_URL,
    Api,
    Webhook,
    enable_google_chat,
    enable_slack,
    new_member_id,
    new_webhook,
    notification,
    ok,
    queue_idle,
    route,
    slack_posts,
    user,
    wait_for_deliveries,
)
from tests.integration.messengers import LineChannel, enable_line, header, link_line, new_line_user_id
from workplace_hub import wiring
from workplace_hub.config import SenderSettings, load_settings
from workplace_hub.google.chat import GoogleChatSender
from workplace_hub.providers.messenger import SendReceipt
from workplace_hub.slack.messages import SlackSender

pytestmark = pytest.mark.integration

ITEM = "approval.requested"
CHANNELS = ("slack", "google_chat", "line")
SEND_QUEUES = {"slack": "SendSlackQueue", "google_chat": "SendGoogleChatQueue", "line": "SendLineQueue"}
WATCHED_QUEUES = ("WorkplaceEventsQueue", *SEND_QUEUES.values())
DEAD_LETTER_QUEUES = ("WorkplaceEventsDLQ", "SendSlackDLQ", "SendGoogleChatDLQ", "SendLineDLQ")

SEED = 20261128

EMPLOYEES = 24
EVENTS = 10
RECIPIENTS_PER_EVENT = 7  # consecutive employees: each gets 2-3 events, within Slack's per-DM burst of 3
GHOST = 1  # linked to a Slack member ID the workspace does not have: Slack answers channel_not_found
# Provider faults hit chosen employees, no two of one channel in the same event: a job that failed once and
# failed again on its retry would wait 30 s more (the growing backoff).
SLOW_SLACK = 0  # Slack answers the first post to them after the hub's read timeout
FAILING_SLACK = (8, 16)  # Slack answers the first post to each with 503
FAILING_CHAT = (0, 12)  # their Chat spaces answer the first post with 500 / 503

# The template's sender timings scaled to the session stack's 5 s visibility timeout (see the module doc).
CONNECT_TIMEOUT, READ_TIMEOUT = 1.0, 2.0
# Shorter than one provider call may take: safe here, where each function has one container, so no other
# attempt at a delivery runs while its claim is held.
LEASE_SECONDS = 1.0
SLOW_ANSWER = READ_TIMEOUT + 1.0  # a `timeout` fault's delay: the provider answers after the hub gave up

THROTTLE_EVERY, THROTTLE_BUDGET = 6, 10
THROTTLE_WINDOW = 3.0  # seconds of throttling every n-th call; the later waves arrive without it
# How long the waits for calm may take at most (each returns as soon as all is calm): generous, because the storm's
# retries wait out backoffs of 15 and 30 s, and `make test` runs two local stacks and the unit tests side by side.
SETTLE_TIMEOUT = 120.0
CALM_AGAIN_TIMEOUT = 60.0

Key = tuple[str, str, str]  # (event_id, user_id, channel)


# ------------------------------------------------------------------------------------------- the company


@dataclass(frozen=True)
class Employee:
    index: int
    user_id: str
    slack_member: str | None
    webhook: Webhook | None
    line_user: str | None

    def address(self, channel: str) -> str | None:
        """Their address on the channel as the provider's log shows it (a Chat webhook: its space)."""
        if channel == "slack":
            return self.slack_member
        if channel == "google_chat":
            return self.webhook.space if self.webhook else None
        return self.line_user


@dataclass
class Company:
    company_id: str
    admin: Api
    slack_token: str
    line: LineChannel
    employees: list[Employee]

    def who(self, channel: str, address: str) -> str | None:
        """The user_id behind a provider address."""
        return next((e.user_id for e in self.employees if e.address(channel) == address), None)

    def employee(self, user_id: str) -> Employee:
        return next(e for e in self.employees if e.user_id == user_id)


def set_up_company(stack: LocalStack, sandbox: SandboxClient) -> Company:
    """Slack, Google Chat and LINE on, the item routed to all three, the employees linked (through the API,
    except LINE, which the LINE Login flow would store)."""
    company_id = f"co-{uuid.uuid4().hex[:10]}"
    admin = Api(stack, company_id, user(company_id, "admin"), "admin")
    employees = [
        Employee(
            index=i,
            user_id=user(company_id, f"emp{i:02d}"),
            slack_member=new_member_id() if i % 4 != 3 else None,
            webhook=new_webhook(sandbox) if i % 3 != 2 else None,
            line_user=new_line_user_id() if i % 2 == 0 else None,
        )
        for i in range(EMPLOYEES)
    ]
    in_workspace = [e.slack_member for e in employees if e.slack_member and e.index != GHOST]
    slack_token = enable_slack(admin, sandbox, members=in_workspace)
    enable_google_chat(admin)
    line = enable_line(admin, sandbox, friends=[e.line_user for e in employees if e.line_user])
    route(admin, {ITEM: list(CHANNELS)})
    for e in employees:
        links = {"slack_member_id": e.slack_member, "google_chat_webhook_url": e.webhook.url if e.webhook else None}
        links = {name: value for name, value in links.items() if value}
        if links:
            ok(Api(stack, company_id, e.user_id, "member").put("/me/links", links))
        if e.line_user:
            link_line(stack, company_id, e.user_id, e.line_user)
    return Company(company_id, admin, slack_token, line, employees)


def make_events(company: Company) -> list[dict[str, Any]]:
    """Ten events for seven consecutive employees each, each with its own title (how the logs tell them apart)."""
    tag, events = uuid.uuid4().hex[:6], []
    for n in range(EVENTS):
        chosen = [company.employees[(n * RECIPIENTS_PER_EVENT + k) % EMPLOYEES] for k in range(RECIPIENTS_PER_EVENT)]
        recipients = [{"user_id": e.user_id, "name": f"社員 {e.index:02d}", "locale": "ja"} for e in chosen]
        message = {"title": f"chaos {tag} event {n:02d}", "body": "出張申請の決裁をお願いします。", "url": MESSAGE_URL}
        events.append(notification(company.company_id, recipients, message=message))
    return events


def job_copy(event: dict[str, Any], channel: str) -> dict[str, Any]:
    """A send job for every recipient of the event, as a redelivered (or duplicated) message carries it."""
    return {
        **{name: event[name] for name in ("company_id", "event_id", "item", "message", "recipients")},
        "channel": channel,
    }


# ------------------------------------------------------------------------------------------- chaos parts


class Throttle:
    """A `before-call` handler on the functions' shared DynamoDB client (`wiring.aws_client`): chosen calls get
    ProvisionedThroughputExceededException, as when DynamoDB throttles for longer than the SDK retries.

    Every `every`-th call, `budget` times; and, so that what a throttle does at these points happens in every run:
    - "slack rate-limit token" (once): a Slack job's first rate-limit token, after its recipients were claimed and
      before any provider call;
    - "line outcome" (every try, so the outcomes are lost): the batch write of a LINE multicast's outcomes, for one
      of `line_events`: events whose jobs are not copied during the storm, so only the job itself comes back,
      after the visibility timeout, and finds its claims' leases over;
    - "line claim" (once): the claim of one recipient of a LINE multicast of another of those events, so that
      the call goes out without them and they are claimed on the job's next attempt. A multicast's recipients are
      claimed as one window (a TransactWriteItems): DynamoDB throttling one of its items cancels the transaction
      ("line window": TransactionCanceledException, that item's reason ThrottlingError), and the worker claims
      them one by one, the "line claim" among them.
    """

    LINE_OUTCOME_TRIES = 4  # DeliveriesRepository's first try and its three retries

    def __init__(self, client: Any, every: int, budget: int, line_events: set[str]) -> None:
        self._client = client
        self._every = every
        self._budget = budget
        self._line_partitions = line_events
        self._lock = threading.Lock()
        self._chosen_left = {
            "slack rate-limit token": 1,
            "line outcome": self.LINE_OUTCOME_TRIES,
            "line window": 1,
            "line claim": 1,
        }
        self._line_window: str | None = None  # the partition whose LINE window's claim was cancelled
        self._window_items = 0
        self.line_claim: Key | None = None  # the LINE delivery whose claim was throttled
        self._line_batch: str | None = None  # the partition whose LINE outcomes are being lost
        self.calls = 0
        self.throttled: list[str] = []

    def _chosen(self, operation: str, body: dict[str, Any]) -> str | None:
        table, key = body.get("TableName", ""), body.get("Key", {})
        if operation == "UpdateItem" and table.endswith("RateLimitsTable"):
            return "slack rate-limit token" if key.get("pk", {}).get("S", "").startswith("slack:") else None
        if operation == "TransactWriteItems":
            return self._chosen_window(body)
        partition, sort_key = key.get("pk", {}).get("S", ""), key.get("sk", {}).get("S", "")
        claiming = ":sending" in body.get("ExpressionAttributeValues", {})
        if operation == "UpdateItem" and table.endswith("DeliveriesTable") and claiming and sort_key.endswith("#line"):
            ours = partition in self._line_partitions and partition != self._line_batch
            if ours and self.line_claim is None and self._line_window in (None, partition):
                self.line_claim = (partition.split("#", 1)[1], sort_key.rsplit("#", 1)[0], "line")
                return "line claim"
            return None
        if operation != "BatchWriteItem":
            return None
        for table, requests in body.get("RequestItems", {}).items():
            items = [r.get("PutRequest", {}).get("Item", {}) for r in requests]
            partitions = {item.get("pk", {}).get("S") for item in items}
            line_sent = all(item.get("sk", {}).get("S", "").endswith("#line") for item in items) and any(
                item.get("status", {}).get("S") == "sent" for item in items
            )
            if table.endswith("DeliveriesTable") and line_sent and len(partitions) == 1:
                (partition,) = partitions
                if (
                    partition in self._line_partitions
                    and self._line_batch in (None, partition)
                    and (self.line_claim is None or partition.split("#", 1)[1] != self.line_claim[0])
                ):
                    self._line_batch = partition
                    return "line outcome"
        return None

    def _chosen_window(self, body: dict[str, Any]) -> str | None:
        """A LINE multicast's window of claims, of one of `line_events`, while no LINE claim was throttled yet."""
        updates = [item.get("Update", {}) for item in body.get("TransactItems", [])]
        claims = [
            u["Key"]
            for u in updates
            if ":sending" in u.get("ExpressionAttributeValues", {}) and u["Key"]["sk"]["S"].endswith("#line")
        ]
        partitions = {key["pk"]["S"] for key in claims}
        if len(partitions) != 1 or self.line_claim is not None or self._line_window is not None:
            return None
        (partition,) = partitions
        if partition not in self._line_partitions or partition == self._line_batch:
            return None
        self._line_window, self._window_items = partition, len(updates)
        return "line window"

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        try:
            body = json.loads(params.get("body") or b"{}")
        except ValueError:
            body = {}
        with self._lock:
            self.calls += 1
            chosen = self._chosen(model.name, body)
            if chosen is not None and self._chosen_left.get(chosen):
                self._chosen_left[chosen] -= 1
            elif self._budget and self.calls % self._every == 0:
                self._budget -= 1
                chosen = "every n-th call"
            else:
                return
            transaction = {next(iter(item.values()))["TableName"] for item in body.get("TransactItems", [])}
            tables = [body["TableName"]] if "TableName" in body else sorted(body.get("RequestItems", {}) or transaction)
            names = ",".join(table.rsplit("-", 1)[-1] for table in tables)
            self.throttled.append(f"{model.name} {names} ({chosen})")
        if chosen == "line window":
            reasons = [{"Code": "ThrottlingError"}] + [{"Code": "None"}] * (self._window_items - 1)
            error = {"Code": "TransactionCanceledException", "Message": "Transaction cancelled [ThrottlingError]"}
            raise self._client.exceptions.TransactionCanceledException(
                {"Error": error, "CancellationReasons": reasons, "ResponseMetadata": {"HTTPStatusCode": 400}},
                model.name,
            )
        error = {"Code": "ProvisionedThroughputExceededException", "Message": "The level of configured provisioned"}
        raise self._client.exceptions.ProvisionedThroughputExceededException(
            {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}, model.name
        )

    def stop_every_nth_call(self) -> None:
        with self._lock:
            self._budget = 0

    @contextmanager
    def installed(self) -> Iterator[Throttle]:
        self._client.meta.events.register("before-call.dynamodb", self, unique_id="chaos-throttle")
        try:
            yield self
        finally:
            self._client.meta.events.unregister("before-call.dynamodb", unique_id="chaos-throttle")


class ContainerDeath(BaseException):
    """The container running the invocation is gone: nothing after this point of the invocation runs."""


class ContainerDied(RuntimeError):
    """What the poller sees of a dead container: the invocation failed, the whole batch comes back."""


class MidBatchKill:
    """Kills the Google Chat sender's container once, in an invocation of two jobs or more: right after a provider
    call of the batch's last job was accepted, before the worker could record it."""

    def __init__(self, function: LocalFunction) -> None:
        self._function = function
        self._handler = function.handler
        self._send_batch = GoogleChatSender.send_batch
        self._armed: str | None = None
        self.killed: dict[str, Any] | None = None

    def handler(self, event: dict[str, Any], context: Any) -> Any:
        records = event["Records"]
        if self.killed is None and len(records) >= 2:
            self._armed = _event_id_of(records[-1]["body"])
        try:
            return self._handler(event, context)
        except ContainerDeath:
            assert self.killed is not None
            self.killed["batch"] = [_event_id_of(r["body"]) for r in records]
            raise ContainerDied(f"{self._function.logical_id}'s container died mid-batch") from None
        finally:
            self._armed = None

    def send_batch(self, sender: GoogleChatSender, notification: Any, destinations: list[Any], *args: Any, **kw: Any):
        outcomes = self._send_batch(sender, notification, destinations, *args, **kw)
        accepted = [d.user_id for d in destinations if isinstance(outcomes.get(d.user_id), SendReceipt)]
        if self._armed is not None and notification.event_id == self._armed and accepted:
            self.killed = {"event_id": notification.event_id, "user_id": accepted[0]}
            raise ContainerDeath
        return outcomes

    @contextmanager
    def installed(self) -> Iterator[MidBatchKill]:
        kill, quiet, poller_log = self, _DropDeaths(), logging.getLogger("local_stack.poller")

        def send_batch(sender: GoogleChatSender, *args: Any, **kwargs: Any) -> Any:
            return kill.send_batch(sender, *args, **kwargs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(self._function, "handler", self.handler)
            patch.setattr(GoogleChatSender, "send_batch", send_batch)
            poller_log.addFilter(quiet)
            try:
                yield self
            finally:
                poller_log.removeFilter(quiet)


class _DropDeaths(logging.Filter):
    """Keeps the poller's traceback of the planned container death out of the output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ContainerDied))


def _event_id_of(body: str) -> str | None:
    try:
        return json.loads(body).get("event_id")
    except (ValueError, AttributeError):
        return None


class ReplayDuringClaim:
    """Replays one failed delivery (`POST /admin/failures/replay`) at the moment a redelivered job reads the record
    to claim it (a window's BatchGetItem, before its transaction), or, its claim just refused (the record is final),
    to find out why (GetItem): a `before-call` handler on the functions' shared DynamoDB client, firing once."""

    def __init__(self, client: Any, company: Company, key: Key) -> None:
        self._client = client
        self._company = company
        self._key = key
        self._lock = threading.Lock()
        self.answer: dict[str, Any] | None = None

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        event_id, user_id, channel = self._key
        wanted = {"pk": {"S": f"{self._company.company_id}#{event_id}"}, "sk": {"S": f"{user_id}#{channel}"}}
        body = json.loads(params.get("body") or b"{}")
        batch = [keys for request in body.get("RequestItems", {}).values() for keys in request.get("Keys", [])]
        if wanted != body.get("Key") and wanted not in batch:
            return
        with self._lock:
            if self.answer is not None:
                return
            self.answer = {}
        self.answer = ok(self._company.admin.post("/admin/failures/replay", {"event_id": event_id, "channel": channel}))

    @contextmanager
    def installed(self) -> Iterator[ReplayDuringClaim]:
        events = self._client.meta.events
        for read in ("GetItem", "BatchGetItem"):
            events.register(f"before-call.dynamodb.{read}", self, unique_id=f"chaos-replay-race-{read}")
        try:
            yield self
        finally:
            for read in ("GetItem", "BatchGetItem"):
                events.unregister(f"before-call.dynamodb.{read}", unique_id=f"chaos-replay-race-{read}")


@contextmanager
def scaled_senders(stack: LocalStack, **settings: str) -> Iterator[None]:
    """The three senders' timeouts and claim lease scaled to the session's 5 s visibility timeout: each function's
    worker built again by wiring, from the function's environment with those settings (and `settings`) changed."""
    template = load_template()
    scaled = {
        "HTTP_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
        "HTTP_READ_TIMEOUT": str(READ_TIMEOUT),
        "CLAIM_LEASE_SECONDS": str(LEASE_SECONDS),
        **settings,
    }
    with pytest.MonkeyPatch.context() as patch:
        for channel, queue in SEND_QUEUES.items():
            function = queue.removesuffix("Queue") + "Function"
            environment = {**os.environ, **function_environment(template, function, stack.resolver), **scaled}
            module = importlib.import_module(f"functions.send_{channel}.app")
            patch.setattr(module, "worker", wiring.build_worker(channel, load_settings(SenderSettings, environment)))
        yield


def inject_provider_faults(sandbox: SandboxClient, company: Company, events: list[dict[str, Any]]) -> dict[str, str]:
    """5xx and late answers; returns what each fault is by its id (the request log names the fault it hit)."""
    for chosen in ((SLOW_SLACK, *FAILING_SLACK), FAILING_CHAT):
        users = {company.employees[i].user_id for i in chosen}
        assert not [e for e in events if len(users & _recipients(e)) > 1], f"employees {chosen} share an event"
    employees, line = company.employees, {"token": company.line.token}

    def dm(index: int) -> dict[str, str]:
        member = employees[index].slack_member or ""
        return {"token": company.slack_token, "method": "chat.postMessage", "channel": member}

    def space(index: int) -> dict[str, str]:
        webhook = employees[index].webhook
        return {"space": webhook.space if webhook else ""}

    faults: list[tuple[str, str, str, dict[str, str], dict[str, Any]]] = [
        ("slack timeout", "slack", "timeout", dm(SLOW_SLACK), {"delay": SLOW_ANSWER}),
        *[("slack 503", "slack", "server_error", dm(i), {"status": 503}) for i in FAILING_SLACK],
        ("google_chat 500", "google_chat", "server_error", space(FAILING_CHAT[0]), {"status": 500}),
        ("google_chat 503", "google_chat", "server_error", space(FAILING_CHAT[1]), {"status": 503}),
        ("line 500", "line", "server_error", line, {"status": 500}),
        ("line timeout", "line", "timeout", line, {"delay": SLOW_ANSWER}),
    ]
    return {
        sandbox.add_fault(provider, kind, times=1, match=match, **options): name
        for name, provider, kind, match, options in faults
    }


def _recipients(event: dict[str, Any]) -> set[str]:
    return {r["user_id"] for r in event["recipients"]}


# ------------------------------------------------------------------------------------------- observing


@dataclass(frozen=True)
class Attempt:
    """One provider request for one recipient, as the sandbox logged it."""

    status: int | None
    accepted: bool
    fault: str | None  # the fault it hit, if any
    retry_key: str | None  # LINE's X-Line-Retry-Key
    at: float


def provider_attempts(
    sandbox: SandboxClient, company: Company, events: list[dict[str, Any]]
) -> dict[Key, list[Attempt]]:
    """Every send request each provider received for this company, per (event, recipient, channel), in order."""
    event_of = {e["message"]["title"]: e["event_id"] for e in events}
    attempts: dict[Key, list[Attempt]] = defaultdict(list)

    def add(title: str, channel: str, address: str, entry: dict[str, Any], accepted: bool) -> None:
        event_id, user_id = event_of.get(title), company.who(channel, address)
        assert event_id and user_id, f"a {channel} request this test did not cause: {title!r}"
        retry_key = header(entry, "X-Line-Retry-Key")
        attempts[(event_id, user_id, channel)].append(
            Attempt(entry["status"], accepted, entry["fault"], retry_key, entry["at"])
        )

    for entry in sandbox.requests("slack"):
        if entry["path"].endswith("/chat.postMessage") and header(entry, "Authorization") == (
            f"Bearer {company.slack_token}"
        ):
            body = entry["body"]
            accepted = entry["status"] == 200 and (entry["response"] or {}).get("ok") is True
            add(body["blocks"][0]["text"]["text"], "slack", body["channel"], entry, accepted)
    spaces = {e.webhook.space for e in company.employees if e.webhook}
    for entry in sandbox.requests("google_chat"):
        space = entry["path"].removeprefix("/google_chat/v1/spaces/").split("/")[0]
        if space in spaces and entry["path"].endswith("/messages"):
            title = entry["body"]["cardsV2"][0]["card"]["header"]["title"]
            add(title, "google_chat", space, entry, entry["status"] == 200)
    for entry in sandbox.requests("line"):
        if header(entry, "Authorization") != f"Bearer {company.line.token}" or not entry["path"].endswith(
            ("/message/push", "/message/multicast")
        ):
            continue
        body = entry["body"]
        title = body["messages"][0]["contents"]["header"]["contents"][0]["text"]
        delivered = ((entry["response"] or {}).get("_sandbox") or {}).get("delivered_to") or []
        for to in [body["to"]] if isinstance(body["to"], str) else body["to"]:
            add(title, "line", to, entry, entry["status"] == 200 and to in delivered)
    return dict(attempts)


def all_records(admin: Api) -> list[dict[str, Any]]:
    """The company's whole delivery log (GET /admin/deliveries, every page)."""
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = ok(admin.get("/admin/deliveries", params={"limit": 200, **({"next_token": token} if token else {})}))
        found.extend(page["deliveries"])
        token = page["next_token"]
        if not token:
            return found


def take_dead_letters(stack: LocalStack, sqs: Any, company_id: str) -> dict[str, list[dict[str, Any]]]:
    """This company's messages on the dead-letter queues (taken off them: the queues are the session's)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for logical_id in DEAD_LETTER_QUEUES:
        url, mine, quiet_rounds = stack.queues[logical_id], [], 0
        while quiet_rounds < 2:
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=2, MessageAttributeNames=["All"]
            ).get("Messages", [])
            ours = [m for m in messages if company_id in m["Body"]]
            quiet_rounds = 0 if ours else quiet_rounds + 1
            for message in ours:
                mine.append(message)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        found[logical_id] = mine
    return found


def settle(stack: LocalStack, sqs: Any, admin: Api, expected: set[Key], deadline: float) -> None:
    """Wait until the queues are idle and every expected record is final, twice in a row; or give up at
    `deadline` (the tests then show what was left)."""
    calm = 0
    while time.monotonic() < deadline and calm < 2:
        time.sleep(0.5)
        if not all(queue_idle(sqs, stack.queues[q]) for q in WATCHED_QUEUES):
            calm = 0
            continue
        final = {
            (r["event_id"], r["user_id"], r["channel"]) for r in all_records(admin) if r["status"] in FINAL_STATUSES
        }
        calm = calm + 1 if expected <= final else 0


def send_all(sqs: Any, url: str, bodies: list[dict[str, Any]]) -> None:
    """SendMessageBatch, ten at a time, in the order given."""
    for start in range(0, len(bodies), 10):
        chunk = bodies[start : start + 10]
        entries = [{"Id": str(i), "MessageBody": json.dumps(b, ensure_ascii=False)} for i, b in enumerate(chunk)]
        response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert not response.get("Failed"), response


# ------------------------------------------------------------------------------------------- the storm


@dataclass
class Storm:
    """What the storm did and what it left: records, provider logs and dead letters, before and after the
    final redelivery and replay."""

    company: Company
    events: list[dict[str, Any]]
    invalid_event: dict[str, Any]
    misrouted_job: dict[str, Any]
    expected: set[Key]
    faults: dict[str, str]
    throttled: list[str]
    line_claim: Key | None
    killed: dict[str, Any] | None
    took: float
    records: list[dict[str, Any]]
    attempts: dict[Key, list[Attempt]]
    dead_letters: dict[str, list[dict[str, Any]]]
    raced: Key | None = None  # the failure replayed while a copy of its job looked at it
    race_replay: dict[str, Any] | None = None
    replayed: dict[str, Any] = field(default_factory=dict)
    records_after: list[dict[str, Any]] = field(default_factory=list)
    records_after_race: list[dict[str, Any]] = field(default_factory=list)
    attempts_after_race: dict[Key, list[Attempt]] = field(default_factory=dict)
    attempts_after: dict[Key, list[Attempt]] = field(default_factory=dict)
    dead_letters_after: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @staticmethod
    def by_key(records: list[dict[str, Any]]) -> dict[Key, list[dict[str, Any]]]:
        """Delivery records (not dead letters) per (event, recipient, channel)."""
        found: dict[Key, list[dict[str, Any]]] = defaultdict(list)
        for r in records:
            if not r["channel"].startswith("dead_letter:"):
                found[(r["event_id"], r["user_id"], r["channel"])].append(r)
        return dict(found)

    def record(self, key: Key) -> dict[str, Any]:
        (found,) = self.by_key(self.records)[key]
        return found

    def accepted(self, key: Key) -> int:
        return sum(a.accepted for a in self.attempts.get(key, []))

    def replayable_failures(self) -> list[Key]:
        return sorted(k for k, (r,) in self.by_key(self.records).items() if r["status"] == "failed" and r["replayable"])

    def duplicates(self) -> dict[Key, list[Attempt]]:
        return {key: attempts for key, attempts in self.attempts.items() if sum(a.accepted for a in attempts) > 1}

    def after_a_read_timeout(self, key: Key) -> bool:
        """Slack or Google Chat processed a request for it whose answer the hub gave up waiting for."""
        return key[2] != "line" and any(
            a.accepted and "timeout" in self.faults.get(a.fault or "", "") for a in self.attempts.get(key, [])
        )

    def under_another_retry_key(self, key: Key) -> bool:
        """LINE got requests for it under more than one X-Line-Retry-Key."""
        return key[2] == "line" and len({a.retry_key for a in self.attempts.get(key, [])}) > 1

    def killed_job(self) -> set[Key]:
        """The deliveries of the job whose container died (claimed together, up front)."""
        if self.killed is None:
            return set()
        return {k for k in self.expected if k[0] == self.killed["event_id"] and k[2] == "google_chat"}

    def tally(self) -> str:
        """Deliveries per channel and outcome, and what was done to them."""
        by_key = self.by_key(self.records)
        counts: dict[str, Counter[str]] = {channel: Counter() for channel in CHANNELS}
        for (_, _, channel), records in by_key.items():
            for r in records:
                counts[channel][f"{r['status']}: {r['reason']}" if r.get("reason") else r["status"]] += 1
        lines = [
            f"chaos tally: {len(self.expected)} deliveries expected ({EVENTS} events x {RECIPIENTS_PER_EVENT} "
            f"recipients x {len(CHANNELS)} channels), {sum(map(len, by_key.values()))} recorded, "
            f"storm over in {self.took:.1f}s"
        ]
        for channel in CHANNELS:
            lines.append(f"  {channel:<12} {sum(counts[channel].values()):>4}")
            lines += [f"    {outcome:<40} {n:>4}" for outcome, n in sorted(counts[channel].items())]
        dead = [r for r in self.records if r["channel"].startswith("dead_letter:")]
        lines.append(f"  dead letters {len(dead):>4}")
        lines += [f"    {r['channel'].rsplit(':', 1)[0]:<25} {r['reason']}" for r in dead]
        requests = Counter(k[2] for k, attempts in self.attempts.items() for _ in attempts)
        accepted = Counter(k[2] for k in self.attempts for _ in range(self.accepted(k)))
        lines.append(
            "  provider requests per recipient (accepted): "
            + ", ".join(f"{c} {requests[c]} ({accepted[c]})" for c in CHANNELS)
        )
        lines.append(
            f"  provider faults: {', '.join(f'{n} {f}' for f, n in sorted(Counter(self.faults.values()).items()))}"
        )
        throttled = Counter(self.throttled)
        lines.append(f"  DynamoDB calls throttled: {len(self.throttled)}")
        lines += [f"    {call:<60} {n:>4}" for call, n in sorted(throttled.items())]
        killed = self.killed or {}
        lines.append(
            f"  container killed: Google Chat sender, batch of {len(killed.get('batch', []))} jobs, "
            f"after sending {killed.get('event_id')} to {killed.get('user_id')}"
        )
        lines.append(
            f"  afterwards: {EVENTS} events and {EVENTS * len(CHANNELS)} send jobs again; 1 failure replayed while "
            f"a copy of its job read it; {self.replayed.get('replayed')} more replayed "
            f"({self.replayed.get('not_replayable')} not replayable)"
        )
        return "\n".join(lines)


@pytest.fixture(scope="module")
def storm(stack: LocalStack) -> Iterator[Storm]:
    sandbox = SandboxClient(stack.sandbox.url)
    sandbox.reset()
    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint_url)
    rng = random.Random(SEED)
    events_queue = stack.queues["WorkplaceEventsQueue"]
    try:
        company = set_up_company(stack, sandbox)
        events = make_events(company)
        expected = {(e["event_id"], r["user_id"], c) for e in events for r in e["recipients"] for c in CHANNELS}
        invalid_event = notification(company.company_id, [{"user_id": company.employees[0].user_id}], item="No Item")
        misrouted_job = job_copy(events[0], "slack")  # goes on the LINE queue

        def put_jobs(wave: list[dict[str, Any]]) -> None:
            for channel, queue in SEND_QUEUES.items():
                jobs = [job_copy(e, channel) for e in wave]
                send_all(sqs, stack.queues[queue], rng.sample(jobs, len(jobs)))

        with ExitStack() as chaos:
            chaos.callback(sandbox.clear_faults)
            faults = inject_provider_faults(sandbox, company, events)
            chaos.enter_context(scaled_senders(stack))
            kill = chaos.enter_context(MidBatchKill(stack.functions["SendGoogleChatFunction"]).installed())
            line_events = {f"{company.company_id}#{e['event_id']}" for e in events[7:]}
            throttle = Throttle(wiring.aws_client("dynamodb").meta.client, THROTTLE_EVERY, THROTTLE_BUDGET, line_events)
            chaos.enter_context(throttle.installed())
            started = time.monotonic()
            # the events shuffled, three of them twice at once
            send_all(sqs, events_queue, rng.sample(events + events[:3], len(events) + 3))
            time.sleep(THROTTLE_WINDOW)
            throttle.stop_every_nth_call()
            # copies of send jobs back on their queues, an invalid event, a job on the wrong queue
            put_jobs(events[:3])
            send_all(sqs, events_queue, [invalid_event])
            send_all(sqs, stack.queues["SendLineQueue"], [misrouted_job])
            time.sleep(4.0)
            # two events again, and more copies of send jobs
            send_all(sqs, events_queue, rng.sample(events[3:5], 2))
            put_jobs(events[5:7])
            settle(stack, sqs, company.admin, expected, started + SETTLE_TIMEOUT)
        run = Storm(
            company=company,
            events=events,
            invalid_event=invalid_event,
            misrouted_job=misrouted_job,
            expected=expected,
            faults=faults,
            throttled=list(throttle.throttled),
            line_claim=throttle.line_claim,
            killed=kill.killed,
            took=time.monotonic() - started,
            records=all_records(company.admin),
            attempts=provider_attempts(sandbox, company, events),
            dead_letters=take_dead_letters(stack, sqs, company.company_id),
        )
        # all quiet: every event and every send job once more
        send_all(sqs, events_queue, rng.sample(events, len(events)))
        put_jobs(events)
        settle(stack, sqs, company.admin, expected, time.monotonic() + CALM_AGAIN_TIMEOUT)
        # one failure replayed as a copy of its job reads it, after its claim was refused
        run.raced = next(iter(run.replayable_failures()), None)
        if run.raced is not None:
            race = ReplayDuringClaim(wiring.aws_client("dynamodb").meta.client, company, run.raced)
            with race.installed():
                event = next(e for e in events if e["event_id"] == run.raced[0])
                send_all(sqs, stack.queues[SEND_QUEUES[run.raced[2]]], [job_copy(event, run.raced[2])])
                settle(stack, sqs, company.admin, expected, time.monotonic() + CALM_AGAIN_TIMEOUT)
            run.race_replay = race.answer
            run.records_after_race = all_records(company.admin)
            run.attempts_after_race = provider_attempts(sandbox, company, events)
        # every other replayable failure replayed
        run.replayed = ok(company.admin.post("/admin/failures/replay", {}))
        settle(stack, sqs, company.admin, expected, time.monotonic() + CALM_AGAIN_TIMEOUT)
        run.records_after = all_records(company.admin)
        run.attempts_after = provider_attempts(sandbox, company, events)
        run.dead_letters_after = take_dead_letters(stack, sqs, company.company_id)
        print()
        print(run.tally())
        yield run
    finally:
        sandbox.reset()


# ------------------------------------------------------------------------------------------- nothing lost


def test_chaos_every_recipient_and_channel_of_every_event_is_accounted_for_exactly_once(storm: Storm) -> None:
    # GIVEN the storm is over
    by_key = storm.by_key(storm.records)

    # THEN each recipient × channel of each event has one record, and nothing else has one
    assert sorted(set(storm.expected) - set(by_key)) == [], "deliveries without a record"
    assert sorted(set(by_key) - storm.expected) == [], "records of deliveries no event asked for"
    assert {k: len(v) for k, v in by_key.items() if len(v) != 1} == {}, "deliveries recorded more than once"
    # AND every record is final: sent, or skipped / failed with a reason
    stuck = {k: r["status"] for k, (r,) in by_key.items() if r["status"] not in FINAL_STATUSES}
    assert stuck == {}, f"records left non-final: {stuck}"
    unexplained = {k: r for k, (r,) in by_key.items() if r["status"] != "sent" and not r.get("reason")}
    assert unexplained == {}, "skipped or failed without a reason"
    # AND no one was sent anything on a channel they have no address on
    for key, (record,) in by_key.items():
        employee = storm.company.employee(key[1])
        reason = record.get("reason")
        if key[2] == "google_chat" and employee.webhook is None:
            assert (record["status"], reason) == ("skipped", "google_chat_webhook_url_missing"), key
        if key[2] == "line" and employee.line_user is None:
            assert (record["status"], reason) == ("skipped", "line_user_id_missing"), key
        if key[2] == "slack" and (employee.slack_member is None or employee.index == GHOST):
            assert record["status"] != "sent", key


def test_chaos_the_providers_logs_agree_with_the_records(storm: Storm) -> None:
    # GIVEN what each provider accepted, per event and recipient
    by_key = storm.by_key(storm.records)

    # THEN every delivery recorded sent reached its recipient
    not_received = [k for k, (r,) in by_key.items() if r["status"] == "sent" and storm.accepted(k) == 0]
    assert not_received == [], "recorded sent, never accepted by the provider"
    # AND everything a provider accepted is recorded sent, or failed: outcome_unknown (the hub cannot know)
    outcomes = {k: (r["status"], r.get("reason")) for k, (r,) in by_key.items()}
    may_have_been_sent = {("sent", None), ("failed", "outcome_unknown")}
    misrecorded = {
        k: outcomes[k] for k in storm.attempts if storm.accepted(k) and outcomes[k] not in may_have_been_sent
    }
    assert misrecorded == {}, "accepted by the provider, recorded otherwise"
    # AND nobody got any notification twice
    twice = {
        k: [(a.status, storm.faults.get(a.fault or ""), a.retry_key) for a in attempts]
        for k, attempts in storm.duplicates().items()
    }
    assert twice == {}, "notifications a provider accepted twice"


def test_chaos_every_dead_letter_is_accounted_for(storm: Storm) -> None:
    # GIVEN this company's messages on the dead-letter queues, and its dead letters in the delivery log
    queued = {
        q: [(m["Body"], m["MessageAttributes"]["reason"]["StringValue"]) for m in ms]
        for q, ms in storm.dead_letters.items()
        if ms
    }
    logged = [r for r in storm.records if r["channel"].startswith("dead_letter:")]

    # THEN exactly the invalid event and the job on the wrong queue were dead-lettered, each with its reason
    assert sorted(queued) == ["SendLineDLQ", "WorkplaceEventsDLQ"], queued
    ((event_body, event_reason),) = queued["WorkplaceEventsDLQ"]
    ((job_body, job_reason),) = queued["SendLineDLQ"]
    assert json.loads(event_body)["event_id"] == storm.invalid_event["event_id"]
    assert event_reason.startswith("invalid event: notification.item")
    assert json.loads(job_body) == storm.misrouted_job
    assert job_reason == "send job for slack on the line queue"
    # AND each is in the company's delivery log with the same reason, not replayable
    assert sorted((r["channel"].rsplit(":", 1)[0], r["event_id"], r["reason"], r["replayable"]) for r in logged) == [
        ("dead_letter:router", storm.invalid_event["event_id"], event_reason, False),
        ("dead_letter:send_line", storm.misrouted_job["event_id"], job_reason, False),
    ]
    # AND nothing else went to a dead-letter queue, not even after the redelivery and replay
    assert {q: ms for q, ms in storm.dead_letters_after.items() if ms} == {}


def test_chaos_a_sender_killed_mid_batch_sends_nothing_twice(storm: Storm) -> None:
    # GIVEN the Google Chat sender's container died mid-batch, after Chat accepted a message it had not recorded
    assert storm.killed is not None, "no Google Chat invocation had two jobs: the container was never killed"
    assert len(storm.killed["batch"]) >= 2
    killed: Key = (storm.killed["event_id"], storm.killed["user_id"], "google_chat")

    # THEN that delivery was posted once and is recorded sent: its job came back, posted it again under the
    # delivery's messageId and Google Chat refused that as existing (a sender without such an id records
    # outcome_unknown instead: tests/unit/delivery/test_worker.py, tests/integration/test_failures.py)
    assert (storm.record(killed)["status"], storm.record(killed).get("reason")) == ("sent", None)
    assert storm.accepted(killed) == 1
    # AND that event's other Chat deliveries, not yet claimed when the container died (each is claimed just before
    # its call), were sent once when the job came back: nothing written off but the call in flight
    others = [k for k in storm.killed_job() - {killed} if storm.company.employee(k[1]).webhook is not None]
    assert {k: (storm.record(k)["status"], storm.accepted(k)) for k in others} == dict.fromkeys(others, ("sent", 1))
    # AND the batch's jobs that had already run, and came back with it, sent nothing twice
    for event_id in storm.killed["batch"]:
        for key in (k for k in storm.expected if k[0] == event_id and k[2] == "google_chat"):
            assert storm.accepted(key) <= 1, key
            assert storm.record(key)["status"] in FINAL_STATUSES, key


# ------------------------------------------------------------------------------------------- replay


def test_chaos_delivering_everything_again_and_replaying_failures_sends_nothing_new(storm: Storm) -> None:
    # GIVEN every event and send job came again after the storm, and the admin replayed every replayable failure
    before, after = storm.by_key(storm.records), storm.by_key(storm.records_after)

    # THEN only failures that cannot have been sent were replayable: the stale Slack member ID's
    ghost = storm.company.employees[GHOST].user_id
    replayable = storm.replayable_failures()
    assert {(k[1], k[2], storm.record(k).get("reason")) for k in replayable} <= {(ghost, "slack", "needs_relink")}
    # AND each was replayed once
    replayed = [(f["event_id"], f["user_id"], f["channel"]) for f in storm.replayed["failures"]]
    assert storm.replayed["replayed"] == storm.replayed["matched"] == len(replayed)
    assert sorted({*replayed, *([storm.raced] if storm.raced else [])}) == replayable
    # AND no provider accepted anything more
    accepted_after = {k: sum(a.accepted for a in v) for k, v in storm.attempts_after.items()}
    accepted_before = {k: storm.accepted(k) for k in storm.attempts}
    assert {
        k: (accepted_before.get(k, 0), n) for k, n in accepted_after.items() if n != accepted_before.get(k, 0)
    } == {}
    # AND every record ended as it was (the one replayed during a redelivery: see the test of that race below)
    outcome = {k: (r["status"], r.get("reason")) for k, (r,) in before.items() if k != storm.raced}
    assert {k: (r["status"], r.get("reason")) for k, (r,) in after.items() if k != storm.raced} == outcome


# ------------------------------------------------------------------------------------------- hard cases


def test_chaos_a_slack_post_whose_answer_timed_out_is_not_posted_again(storm: Storm) -> None:
    # GIVEN Slack accepted a post whose answer came after the hub's read timeout
    timed_out = [k for k in storm.attempts if storm.after_a_read_timeout(k)]
    assert timed_out, "the timeout fault hit no accepted Slack post"

    # THEN the hub did not post it again (it records failed: outcome_unknown, as for a sender that died mid-call)
    assert {k: storm.accepted(k) for k in timed_out} == dict.fromkeys(timed_out, 1)


def test_chaos_a_line_retry_after_a_multicast_whose_outcomes_were_lost_is_not_delivered_again(storm: Storm) -> None:
    # GIVEN a LINE multicast whose outcome writes were throttled on every try
    assert storm.throttled.count("BatchWriteItem DeliveriesTable (line outcome)") == Throttle.LINE_OUTCOME_TRIES

    # THEN no LINE recipient got a notification twice (every retry of a message reuses its retry key)
    rekeyed = {
        k: [(a.status, a.retry_key) for a in storm.attempts[k]]
        for k in storm.attempts
        if storm.under_another_retry_key(k)
    }
    assert {k: storm.accepted(k) for k in rekeyed if storm.accepted(k) > 1} == {}, rekeyed


def test_chaos_a_line_recipient_whose_claim_was_throttled_is_delivered_once_under_a_key_of_its_own(
    storm: Storm,
) -> None:
    # GIVEN a LINE multicast that went out without one recipient, whose claim DynamoDB throttled
    assert "UpdateItem DeliveriesTable (line claim)" in storm.throttled and storm.line_claim is not None
    late = storm.line_claim
    first_calls = [a for k, attempts in storm.attempts.items() if k[0] == late[0] and k != late for a in attempts]
    first_keys = {a.retry_key for a in first_calls if a.accepted and a.at < min(a.at for a in storm.attempts[late])}

    # THEN the job's next attempt delivered it: LINE accepted it once, under a key of its own (under the first
    # call's, LINE would have answered "already accepted" and the hub recorded it sent without a message)
    assert (storm.record(late)["status"], storm.accepted(late)) == ("sent", 1)
    assert {a.retry_key for a in storm.attempts[late]} & first_keys == set()


def test_chaos_a_storage_error_before_the_provider_call_loses_no_delivery(storm: Storm) -> None:
    # GIVEN a DynamoDB throttle hit a Slack job after its recipients were claimed, before any provider call
    assert "UpdateItem RateLimitsTable (slack rate-limit token)" in storm.throttled

    # THEN no delivery the provider never saw is written off as outcome_unknown (the container that died is
    # another matter: it could not release its claims)
    lost = sorted(
        k
        for k, (r,) in storm.by_key(storm.records).items()
        if (r["status"], r.get("reason")) == ("failed", "outcome_unknown")
        and not storm.attempts.get(k)
        and k not in storm.killed_job()
    )
    assert lost == [], f"{len(lost)} deliveries never sent, recorded failed: outcome_unknown"


def test_chaos_a_failure_replayed_while_a_copy_of_its_job_reads_it_is_still_replayed(storm: Storm) -> None:
    # GIVEN a replayable failure (the stale Slack member ID's), replayed by the admin just as a redelivered copy of
    # its job reads the record (to claim it with its window, or to find out why its claim was refused)
    assert storm.raced is not None and storm.race_replay, "no replayable failure, or the race never happened"
    assert storm.race_replay["replayed"] == 1
    raced, before = storm.raced, len(storm.attempts.get(storm.raced, []))

    # THEN the replay was carried out: Slack was asked again, and answered as before
    (record,) = storm.by_key(storm.records_after_race)[raced]
    assert (record["status"], record.get("reason"), len(storm.attempts_after_race.get(raced, [])) - before) == (
        "failed",
        "needs_relink",
        1,
    )


# ------------------------------------------------------------------------------------------- windows


WINDOW = 3  # SEND_CONCURRENCY of the Slack sender in these tests: a job's calls go out three at a time


def slack_company(stack: LocalStack, sandbox: SandboxClient, size: int) -> tuple[Api, str, list[str], list[str]]:
    """A company with Slack on, the item routed to it, `size` employees linked: (admin, bot token, user ids,
    member ids)."""
    company_id = f"co-{uuid.uuid4().hex[:10]}"
    admin = Api(stack, company_id, user(company_id, "admin"), "admin")
    members = [new_member_id() for _ in range(size)]
    token = enable_slack(admin, sandbox, members=members)
    route(admin, {ITEM: ["slack"]})
    users = [user(company_id, f"win{index:02d}") for index in range(size)]
    for user_id, member in zip(users, members, strict=True):
        ok(Api(stack, company_id, user_id, "member").put("/me/links", {"slack_member_id": member}))
    return admin, token, users, members


def accepted_posts(sandbox: SandboxClient, token: str) -> Counter[str]:
    """Posts Slack accepted, per member."""
    return Counter(
        entry["body"]["channel"]
        for entry in slack_posts(sandbox, token)
        if entry["status"] == 200 and (entry["response"] or {}).get("ok") is True
    )


class WindowDeath:
    """Kills the Slack sender's container while a window's calls are in flight: right after Slack accepted the call
    to `victim` (the window's other calls run to their end beside it, as they would on the dying container)."""

    def __init__(self, function: LocalFunction, victim: str) -> None:
        self._function = function
        self._handler = function.handler
        self._send_batch = SlackSender.send_batch
        self._victim = victim
        self.killed = False

    def handler(self, event: dict[str, Any], context: Any) -> Any:
        try:
            return self._handler(event, context)
        except ContainerDeath:
            raise ContainerDied(f"{self._function.logical_id}'s container died mid-window") from None

    @contextmanager
    def installed(self) -> Iterator[WindowDeath]:
        death = self

        def send_batch(sender: SlackSender, notification: Any, destinations: list[Any], *args: Any, **kw: Any):
            outcomes = death._send_batch(sender, notification, destinations, *args, **kw)
            if not death.killed and any(d.address == death._victim for d in destinations):
                death.killed = True
                raise ContainerDeath
            return outcomes

        quiet, poller_log = _DropDeaths(), logging.getLogger("local_stack.poller")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(self._function, "handler", self.handler)
            patch.setattr(SlackSender, "send_batch", send_batch)
            poller_log.addFilter(quiet)
            try:
                yield self
            finally:
                poller_log.removeFilter(quiet)


def test_chaos_a_crash_inside_a_window_leaves_only_the_calls_in_flight_unknown(stack: LocalStack) -> None:
    # GIVEN nine Slack recipients of one event, sent three at a time, and a container that dies while the second
    # window's three calls are in flight (Slack accepted them; none is recorded)
    sandbox = SandboxClient(stack.sandbox.url)
    admin, token, users, members = slack_company(stack, sandbox, 9)
    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint_url)
    event = notification(admin.company_id, [{"user_id": u} for u in users])
    death = WindowDeath(stack.functions["SendSlackFunction"], victim=members[4])
    with scaled_senders(stack, SEND_CONCURRENCY=str(WINDOW)), death.installed():
        # WHEN the event goes through, and the job comes back after its invocation died
        send_all(sqs, stack.queues["WorkplaceEventsQueue"], [event])
        records = wait_for_deliveries(admin, event["event_id"], 9, timeout=SETTLE_TIMEOUT)

    # THEN the first window is sent; the second, whose calls were in flight, is failed: outcome_unknown (the hub
    # cannot know they went out, so at most once does not send them again); the third, never claimed before the
    # crash, is sent when the job comes back: nothing lost
    assert death.killed
    outcomes = [(records[(u, "slack")]["status"], records[(u, "slack")].get("reason")) for u in users]
    assert outcomes == [("sent", None)] * 3 + [("failed", "outcome_unknown")] * 3 + [("sent", None)] * 3
    # AND Slack accepted one post per recipient: the crashed window's went out once, and never again
    assert accepted_posts(sandbox, token) == dict.fromkeys(members, 1)


def test_chaos_a_conflict_that_cancels_a_window_sends_the_free_ones_once(stack: LocalStack) -> None:
    # GIVEN five Slack recipients of one event, sent three at a time, and another attempt that claims (and settles)
    # the second one's delivery just before the first window's claim goes out
    sandbox = SandboxClient(stack.sandbox.url)
    admin, token, users, members = slack_company(stack, sandbox, 5)
    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint_url)
    event = notification(admin.company_id, [{"user_id": u} for u in users])
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint_url)
    client = wiring.aws_client("dynamodb").meta.client
    seen: list[str] = []

    def other_attempt(params: dict[str, Any], **_: Any) -> None:
        items = [item["Update"] for item in json.loads(params.get("body") or b"{}").get("TransactItems", [])]
        claims = [i for i in items if ":sending" in i.get("ExpressionAttributeValues", {})]  # not rate-limit tokens
        contested = next((i for i in claims if i["Key"]["sk"]["S"].startswith(f"{users[1]}#slack")), None)
        if contested is None or seen:
            return
        seen.append("claimed and sent by another attempt")
        dynamodb.update_item(
            TableName=contested["TableName"],
            Key=contested["Key"],
            UpdateExpression="SET #status = :sent",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":sent": {"S": "sent"}},
        )

    def outcome(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        if len(seen) == 1:  # the contested window's claim
            seen.append(parsed.get("Error", {}).get("Code", "committed"))

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", other_attempt, unique_id="chaos-conflict")
    client.meta.events.register("after-call.dynamodb.TransactWriteItems", outcome, unique_id="chaos-conflict-seen")
    try:
        with scaled_senders(stack, SEND_CONCURRENCY=str(WINDOW)):
            # WHEN the event goes through
            send_all(sqs, stack.queues["WorkplaceEventsQueue"], [event])
            records = wait_for_deliveries(admin, event["event_id"], 5, timeout=SETTLE_TIMEOUT)
    finally:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="chaos-conflict")
        client.meta.events.unregister("after-call.dynamodb.TransactWriteItems", unique_id="chaos-conflict-seen")

    # THEN the window's transaction was cancelled by the conflict, and its records were claimed one by one: the
    # free ones sent once each, the contested one left as the other attempt settled it, never posted by this one
    assert seen == ["claimed and sent by another attempt", "TransactionCanceledException"]
    assert {u: records[(u, "slack")]["status"] for u in users} == dict.fromkeys(users, "sent")
    posts = accepted_posts(sandbox, token)
    assert posts == {m: 1 for i, m in enumerate(members) if i != 1}
