"""Part 7: per-notification cost of the hub vs Apprise vs the floor, on Slack, Google Chat and LINE.

The same notification (part 2's title, body and link) goes to the same employees on the same sandbox endpoints
three ways, in one run:

- hub: the router's and the channel's sender's real handlers, in-process, exactly as part 2 measures router +
  Slack: per event, the event is put on WorkplaceEventsQueue, a fresh router container takes it (one record),
  then a fresh container of the channel's sender function drains the send jobs the router enqueued. Only the
  time inside the two handlers counts (the event source mapping's receive/delete calls are timed apart and
  left out). Senders are deployed without the shared rate limit, as in parts 2-4. LINE is the hub's real
  behaviour: ONE multicast call per event (up to 500 userIds, with X-Line-Retry-Key), plus a conditional claim
  per recipient and the outcomes in batches of 25; Slack and Google Chat are one call per recipient.
- floor: a bare `requests.Session().post` loop (one keep-alive session) posting the hub's own request bodies,
  built by the hub's SlackSender / GoogleChatSender and `providers.line.build_send` outside the timed loop
  (LINE: the same multicast, a fresh retry key per event). It is the least any sender of these requests can do.
- minimum: the floor plus the least bookkeeping any hub that meets this issue's other parts must do, with the
  hub's own repositories on the same moto: per event ONE batched read of the recipients' links from
  LinksTable (the event names WORKPLACE users; their Slack member IDs, webhooks and LINE userIds are in the
  hub) and a `sent` record per recipient written to DeliveriesTable in batches of 25 (nothing lost, replay
  never sends twice: both need a durable record of each delivery). No claims, no queue between router and
  sender, no idempotency record: a crash or a redelivered event would send twice. It tells what the 1.5x
  target asks of the storage on this stack, apart from how the hub spends its own time.
- apprise: Apprise (https://github.com/caronc/apprise, a dev-only dependency) with its own plugins for the
  three services, used as documented: per event an `apprise.Apprise()` is built from the recipients' URLs and
  `notify(title=..., body=...)` is called; both count. Slack: one bot-token URL with every recipient
  (`slack://xoxb-…/+U…/+U…`, `+` = an encoded member ID, posted as `channel` to chat.postMessage, one call
  each). Google Chat: one `gchat://space/key/token` URL per employee's webhook (Apprise sends to several URLs
  from its thread pool). LINE: one `line://token/U…/U…` URL; its plugin only pushes, one call per userId.
  Apprise calls `requests.post`/`requests.request` without a session: a new connection for every request.

How Apprise reaches the sandbox: its plugins build provider URLs from class attributes, and for this part
those attributes are replaced on the plugin classes (and put back afterwards): `NotifySlack.api_url`
("https://slack.com/api/{}") becomes "<sandbox>/slack/api/{}", `NotifyGoogleChat.notify_url`
("https://chat.googleapis.com/v1/spaces/{workspace}/messages") "<sandbox>/google_chat/v1/spaces/{workspace}/
messages", and `NotifyLine.notify_url` ("https://api.line.me/v2/bot/message/push")
"<sandbox>/line/api/v2/bot/message/push" (the paths where the hub's own SLACK_API_BASE, GOOGLE_CHAT_BASE
and LINE_API_BASE point). Everything else (payloads, headers, tokens, query strings) is Apprise's own. Its
throttling is off for fairness: `request_rate_per_sec` (the minimum seconds between two requests of one
plugin, enforced by `URLBase.throttle()` before each request; Slack 1.2, Google Chat and LINE 5.5 by
default) is set to 0 on the same three classes. Retries stay at Apprise's default (none).

Apprise's Slack messages carry only legacy `attachments`; the sandbox's Slack fake takes those as Slack does.

Acceptance is counted from the sandbox's request log after every side's run (the log is cleared before it):
HTTP 2xx answers, and the notifications the provider took (Slack `ok: true`, Google Chat 200, LINE 200 with
the userIds it delivered to). Sandbox rate limits are off for the three providers. Each round runs every
channel with the three sides in turn, and the side that goes first rotates from round to round; ratios are
taken within each round, and the medians reported.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import apprise
import requests
from apprise.plugins.google_chat import NotifyGoogleChat
from apprise.plugins.line import NotifyLine
from apprise.plugins.slack import NotifySlack
from botocore.client import BaseClient

from infra.bench.companies import Audience, google_chat_company, line_company, slack_company
from infra.bench.containers import Drive, EventSourceMapping, load_container
from infra.bench.probes import AwsCalls
from infra.bench.provider_calls import ITEM, MESSAGE, Bench, event
from infra.local_stack import LocalStack
from infra.local_stack.aws import client
from infra.template import Resolver
from workplace_hub.config import ProviderEndpoints
from workplace_hub.google.chat import GoogleChatSender
from workplace_hub.line.messaging import MULTICAST_MAX, build_message, build_send
from workplace_hub.providers.messenger import Destination, Notification
from workplace_hub.slack.messages import SlackSender
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus, NewDelivery
from workplace_hub.storage.dynamodb import DynamoTables
from workplace_hub.storage.links import LinksRepository

SIDES = ("floor", "minimum", "hub", "apprise")
TARGETS = {"hub_vs_floor": 1.5}
TIMEOUT = (3.05, 10.0)
Call = tuple[str, dict[str, str], dict[str, Any]]


@dataclass
class Hub:
    """The bench (stack, sandbox, SQS, tables), a router container fed from WorkplaceEventsQueue, and the AWS calls
    of the router and every sender container, counted by botocore hooks (probes.AwsCalls, as in parts 2 and 3)."""

    bench: Bench
    router: EventSourceMapping
    calls: AwsCalls


@dataclass
class Minimum:
    """The minimum side's storage: the hub's repositories on a client of their own, its calls counted."""

    links: LinksRepository
    deliveries: DeliveriesRepository
    calls: AwsCalls


@dataclass
class Channel:
    name: str  # the hub's channel id, also the sandbox fake's name for these three
    label: str
    function: str
    audience: Audience
    sender: EventSourceMapping | None = None


CHANNELS = (
    ("slack", "Slack", "SendSlackFunction"),
    ("google_chat", "Google Chat", "SendGoogleChatFunction"),
    ("line", "LINE", "SendLineFunction"),
)


# --- Apprise pointed at the sandbox ---------------------------------------------------------------------------


@contextlib.contextmanager
def apprise_at(sandbox_url: str) -> Iterator[None]:
    """Apprise's Slack, Google Chat and LINE plugins post to the sandbox, unthrottled (see the module doc)."""
    changes = {
        NotifySlack: {"api_url": f"{sandbox_url}/slack/api/{{}}", "request_rate_per_sec": 0},
        NotifyGoogleChat: {
            "notify_url": f"{sandbox_url}/google_chat/v1/spaces/{{workspace}}/messages",
            "request_rate_per_sec": 0,
        },
        NotifyLine: {"notify_url": f"{sandbox_url}/line/api/v2/bot/message/push", "request_rate_per_sec": 0},
    }
    saved = {cls: {name: cls.__dict__.get(name) for name in values} for cls, values in changes.items()}
    for cls, values in changes.items():
        for name, value in values.items():
            setattr(cls, name, value)
    try:
        yield
    finally:
        for cls, values in saved.items():
            for name, value in values.items():
                if value is None:
                    delattr(cls, name)  # it was inherited
                else:
                    setattr(cls, name, value)


def apprise_urls(audience: Audience) -> list[str]:
    users = [r["user_id"] for r in audience.recipients]
    if audience.channel == "slack":
        return [f"slack://{audience.credentials['bot_token']}/" + "/".join(f"+{audience.addresses[u]}" for u in users)]
    if audience.channel == "line":
        token = audience.credentials["channel_access_token"]
        return [f"line://{token}/" + "/".join(audience.addresses[u] for u in users)]
    urls = []
    for user_id in users:
        webhook = urlsplit(audience.addresses[user_id])
        space = webhook.path.rstrip("/").split("/")[-2]
        query = dict(parse_qsl(webhook.query))
        urls.append(f"gchat://{space}/{query['key']}/{query['token']}")
    return urls


def check_redirect(sandbox_url: str, audiences: list[Audience]) -> None:
    """Refuse to measure if any Apprise plugin would post anywhere but the sandbox."""
    for audience in audiences:
        for url in apprise_urls(audience)[:1]:
            plugin = apprise.Apprise.instantiate(url)
            if plugin is None:
                raise RuntimeError(f"Apprise cannot parse the {audience.channel} URL")
            target = plugin.api_url if isinstance(plugin, NotifySlack) else plugin.notify_url
            if not target.startswith(sandbox_url) or plugin.request_rate_per_sec != 0:
                raise RuntimeError(f"Apprise's {type(plugin).__name__} is not redirected to the sandbox: {target}")


# --- the three sides ------------------------------------------------------------------------------------------


def _notification() -> Notification:
    return Notification(
        event_id=f"bench-floor-{uuid.uuid4().hex[:8]}",
        item=ITEM,
        title=MESSAGE["title"],
        body=MESSAGE["body"],
        url=MESSAGE["url"],
    )


def event_calls(audience: Audience, endpoints: ProviderEndpoints, events: int) -> list[tuple[str, list[Call]]]:
    """The hub's own requests for `events` events (event id, its calls), built by its senders outside any timing."""
    session = requests.Session()
    users = [r["user_id"] for r in audience.recipients]
    per_event: list[tuple[str, list[Call]]] = []
    for _ in range(events):
        notification = _notification()
        calls: list[Call] = []
        if audience.channel == "line":
            token, messages = audience.credentials["channel_access_token"], [build_message(notification)]
            to = [audience.addresses[u] for u in users]
            for start in range(0, len(to), MULTICAST_MAX):
                call = build_send(
                    endpoints.LINE_API_BASE, token, to[start : start + MULTICAST_MAX], messages, str(uuid.uuid4())
                )
                calls.append((call.url, dict(call.headers), dict(call.json or {})))
        else:
            sender = (SlackSender if audience.channel == "slack" else GoogleChatSender)(session, endpoints)
            for user_id in users:
                destination = Destination(user_id, audience.addresses[user_id], "社員")
                call = sender.build_request(notification, destination, audience.credentials)
                calls.append((call.url, dict(call.headers), dict(call.json or {})))
        per_event.append((notification.event_id, calls))
    session.close()
    return per_event


def _post_all(calls: list[Call], session: requests.Session) -> None:
    for url, headers, body in calls:
        response = session.post(url, headers=headers, json=body, timeout=TIMEOUT)
        response.json()


def run_floor(per_event: list[tuple[str, list[Call]]], session: requests.Session) -> dict[str, Any]:
    started = time.perf_counter()
    for _, calls in per_event:
        _post_all(calls, session)
    return {"seconds": time.perf_counter() - started}


def run_minimum(
    minimum: Minimum, audience: Audience, per_event: list[tuple[str, list[Call]]], session: requests.Session
) -> dict[str, Any]:
    users = [r["user_id"] for r in audience.recipients]
    before = minimum.calls.snapshot()
    started = time.perf_counter()
    for event_id, calls in per_event:
        found = minimum.links.get_many(audience.company, users)
        if len(found) != len(users):
            raise RuntimeError(f"{len(users) - len(found)} recipients have no links")
        _post_all(calls, session)
        minimum.deliveries.add_many(
            [
                NewDelivery(DeliveryKey(audience.company, event_id, user, audience.channel), ITEM, DeliveryStatus.SENT)
                for user in users
            ]
        )
    seconds = time.perf_counter() - started
    counts, call_seconds = minimum.calls.since(before)
    return {
        "seconds": seconds,
        "aws_calls": {" ".join(key): n for key, n in counts.items() if n},
        "aws_seconds": sum(call_seconds.values()),
        "aws_seconds_by_operation": {" ".join(key): t for key, t in call_seconds.items() if counts.get(key)},
    }


def run_hub(hub: Hub, channel: Channel, events: int) -> dict[str, Any]:
    assert channel.sender is not None
    router, sender = Drive(), Drive()
    before = hub.calls.snapshot()
    for _ in range(events):
        body = event(channel.audience.company, channel.audience.recipients)
        hub.bench.sqs.send_message(
            QueueUrl=hub.bench.stack.queues["WorkplaceEventsQueue"], MessageBody=json.dumps(body, ensure_ascii=False)
        )
        router.add(hub.router.drain(1))
        sender.add(channel.sender.drain())  # until empty: the router enqueued every job before returning
    counts, call_seconds = hub.calls.since(before)
    return {
        "aws_calls": {" ".join(key): n for key, n in counts.items() if n},
        "aws_seconds": sum(call_seconds.values()),
        "aws_seconds_by_operation": {" ".join(key): t for key, t in call_seconds.items() if counts.get(key)},
        "seconds": router.function_seconds + sender.function_seconds,
        "router_seconds": router.function_seconds,
        "sender_seconds": sender.function_seconds,
        "mapping_seconds_not_counted": router.mapping_seconds + sender.mapping_seconds,
        "sender_invocations": sender.invocations,
        "handler_failures": router.failures + sender.failures,
    }


def run_apprise(urls: list[str], events: int) -> dict[str, Any]:
    building = notifying = 0.0
    statuses: dict[str, int] = {}
    for _ in range(events):
        started = time.perf_counter()
        notifier = apprise.Apprise()
        notifier.add(urls)
        built = time.perf_counter()
        result = notifier.notify(title=MESSAGE["title"], body=f"{MESSAGE['body']}\n{MESSAGE['url']}")
        notifying += time.perf_counter() - built
        building += built - started
        status = getattr(getattr(result, "status", None), "name", str(bool(result)))
        statuses[status] = statuses.get(status, 0) + 1
    return {"seconds": building + notifying, "build_seconds": building, "statuses": statuses}


def accepted(entries: list[dict[str, Any]], channel: str) -> dict[str, int]:
    """Requests, HTTP 2xx answers and notifications the provider took, from the sandbox's request log."""
    sends = [e for e in entries if e["method"] == "POST"]
    ok = [e for e in sends if isinstance(e["status"], int) and 200 <= e["status"] < 300]
    if channel == "slack":
        taken = sum(1 for e in ok if (e.get("response") or {}).get("ok") is True)
    elif channel == "line":
        taken = sum(len(((e.get("response") or {}).get("_sandbox") or {}).get("delivered_to", [])) for e in ok)
    else:
        taken = len(ok)
    return {"requests": len(sends), "http_2xx": len(ok), "accepted": taken}


# --- rounds ---------------------------------------------------------------------------------------------------


def run(
    stack: LocalStack,
    template: dict[str, Any],
    resolver: Resolver,
    *,
    rounds: int,
    events_per_round: int,
    recipients: int,
) -> dict[str, Any]:
    """`template`: the deployment the hub side runs (parts 2-4: without the shared rate limit)."""
    started = time.monotonic()
    bench = Bench(stack, template, resolver)
    endpoints = ProviderEndpoints(
        **{k: v for k, v in stack.provider_env.items() if k in ProviderEndpoints.model_fields}
    )
    audiences = {
        "slack": slack_company(bench, "benchvsslack", recipients),
        "google_chat": google_chat_company(bench, "benchvschat", recipients),
        "line": line_company(bench, recipients),
    }
    for name in audiences:
        bench.sandbox.set_limits(name, enabled=False)
    channels = [Channel(name, label, function, audiences[name]) for name, label, function in CHANNELS]
    names = {value: logical_id for logical_id, value in resolver.refs.items()}
    names.update({value: logical_id for (logical_id, _), value in resolver.attributes.items()})
    router = load_container(template, resolver, "RouterFunction")
    hub = Hub(bench, bench.mapping(router), AwsCalls(names))
    hub.calls.attach(router.find(BaseClient))
    for channel in channels:
        container = load_container(template, resolver, channel.function)
        hub.calls.attach(container.find(BaseClient))
        channel.sender = bench.mapping(container)
    tables = DynamoTables(client("dynamodb", stack.aws_endpoint_url))
    minimum = Minimum(
        LinksRepository(tables.Table(resolver.refs["LinksTable"]), tables),
        DeliveriesRepository(tables.Table(resolver.refs["DeliveriesTable"])),
        AwsCalls(names),
    )
    minimum.calls.attach([tables.meta.client])
    urls = {channel.name: apprise_urls(channel.audience) for channel in channels}
    floor_session = requests.Session()
    per_round: list[dict[str, Any]] = []
    warm_up: dict[str, Any] = {}
    with apprise_at(stack.sandbox.url):
        check_redirect(stack.sandbox.url, list(audiences.values()))
        for channel in channels:  # cold starts, first connections and settings caches: not measured
            bench.sandbox.clear_requests()
            run_hub(hub, channel, 1)
            run_floor(event_calls(channel.audience, endpoints, 1), floor_session)
            run_minimum(minimum, channel.audience, event_calls(channel.audience, endpoints, 1), floor_session)
            run_apprise(urls[channel.name], 1)
            warm_up[channel.name] = accepted(bench.sandbox.requests(channel.name), channel.name)
        for index in range(rounds):
            order = SIDES[index % len(SIDES) :] + SIDES[: index % len(SIDES)]
            result: dict[str, Any] = {"order": list(order), "channels": {}}
            for channel in channels:
                # One set of requests per side: a LINE multicast repeated under its retry key would be answered 409.
                calls = {side: event_calls(channel.audience, endpoints, events_per_round) for side in SIDES}
                figures: dict[str, Any] = {}
                for side in order:
                    bench.sandbox.clear_requests()
                    if side == "floor":
                        figures[side] = run_floor(calls[side], floor_session)
                    elif side == "minimum":
                        figures[side] = run_minimum(minimum, channel.audience, calls[side], floor_session)
                    elif side == "hub":
                        figures[side] = run_hub(hub, channel, events_per_round)
                    else:
                        figures[side] = run_apprise(urls[channel.name], events_per_round)
                    figures[side].update(accepted(bench.sandbox.requests(channel.name), channel.name))
                    figures[side]["notifications"] = events_per_round * len(channel.audience.recipients)
                result["channels"][channel.name] = figures
            per_round.append(result)
    floor_session.close()
    bench.sandbox.close()
    summary = summarize(per_round, channels)
    summary.update(
        rounds=rounds,
        events_per_round=events_per_round,
        recipients=recipients,
        warm_up=warm_up,
        apprise_version=apprise.__version__,
        seconds=round(time.monotonic() - started, 1),
    )
    return summary


def _median(values: list[float], digits: int = 3) -> float:
    return round(statistics.median(values), digits)


def summarize(per_round: list[dict[str, Any]], channels: list[Channel]) -> dict[str, Any]:
    def ms(figures: dict[str, Any]) -> float:
        return figures["seconds"] / figures["notifications"] * 1000

    def describe(rows: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
        """rows: per round, side → figures (one channel, or every channel summed)."""
        out: dict[str, Any] = {}
        for side in SIDES:
            out[f"{side}_ms"] = _median([ms(r[side]) for r in rows])
            out[f"{side}_ms_per_round"] = [round(ms(r[side]), 3) for r in rows]
            for count in ("notifications", "requests", "http_2xx", "accepted"):
                out[f"{side}_{count}"] = sum(r[side][count] for r in rows)
        out["hub_vs_floor"] = _median([ms(r["hub"]) / ms(r["floor"]) for r in rows], 2)
        out["apprise_vs_floor"] = _median([ms(r["apprise"]) / ms(r["floor"]) for r in rows], 2)
        out["hub_vs_apprise"] = _median([ms(r["hub"]) / ms(r["apprise"]) for r in rows], 2)
        out["minimum_vs_floor"] = _median([ms(r["minimum"]) / ms(r["floor"]) for r in rows], 2)
        out["hub_vs_minimum"] = _median([ms(r["hub"]) / ms(r["minimum"]) for r in rows], 2)
        out["minimum_vs_apprise"] = _median([ms(r["minimum"]) / ms(r["apprise"]) for r in rows], 2)
        out["hub_vs_floor_per_round"] = [round(ms(r["hub"]) / ms(r["floor"]), 2) for r in rows]
        out["apprise_vs_floor_per_round"] = [round(ms(r["apprise"]) / ms(r["floor"]), 2) for r in rows]
        out["target_hub_within_1_5x_floor"] = out["hub_vs_floor"] <= TARGETS["hub_vs_floor"]
        out["target_hub_faster_than_apprise"] = out["hub_ms"] < out["apprise_ms"]
        out["minimum_within_1_5x_floor"] = out["minimum_vs_floor"] <= TARGETS["hub_vs_floor"]
        return out

    result: dict[str, Any] = {"channels": {}}
    for channel in channels:
        rows = [r["channels"][channel.name] for r in per_round]
        figures = describe(rows)
        hub_total = sum(r["hub"]["notifications"] for r in rows)
        figures.update(
            label=channel.label,
            recipients_per_event=len(channel.audience.recipients),
            hub_router_ms=round(sum(r["hub"]["router_seconds"] for r in rows) / hub_total * 1000, 3),
            hub_sender_ms=round(sum(r["hub"]["sender_seconds"] for r in rows) / hub_total * 1000, 3),
            hub_mapping_ms_not_counted=round(
                sum(r["hub"]["mapping_seconds_not_counted"] for r in rows) / hub_total * 1000, 3
            ),
            hub_handler_failures=sum(r["hub"]["handler_failures"] for r in rows),
            hub_aws_calls_per_notification=round(sum(sum(r["hub"]["aws_calls"].values()) for r in rows) / hub_total, 2),
            hub_aws_ms=round(sum(r["hub"]["aws_seconds"] for r in rows) / hub_total * 1000, 3),
            hub_aws_ms_by_operation=_per_notification(rows, "hub", hub_total),
            minimum_aws_ms_by_operation=_per_notification(rows, "minimum", hub_total),
            minimum_aws_calls_per_notification=round(
                sum(sum(r["minimum"]["aws_calls"].values()) for r in rows) / hub_total, 2
            ),
            minimum_aws_ms=round(sum(r["minimum"]["aws_seconds"] for r in rows) / hub_total * 1000, 3),
            hub_aws_calls_by_operation={
                key: round(n / hub_total, 3) for key, n in _merge([r["hub"]["aws_calls"] for r in rows]).items()
            },
            apprise_build_ms=round(sum(r["apprise"]["build_seconds"] for r in rows) / hub_total * 1000, 3),
            apprise_statuses=_merge([r["apprise"]["statuses"] for r in rows]),
        )
        result["channels"][channel.name] = figures
    overall_rows = []
    for r in per_round:
        summed: dict[str, dict[str, Any]] = {}
        for side in SIDES:
            parts = [r["channels"][c.name][side] for c in channels]
            summed[side] = {
                key: sum(p[key] for p in parts)
                for key in ("seconds", "notifications", "requests", "http_2xx", "accepted")
            }
        overall_rows.append(summed)
    result["overall"] = describe(overall_rows)
    result["round_orders"] = [r["order"] for r in per_round]
    return result


def _per_notification(rows: list[dict[str, dict[str, Any]]], side: str, notifications: int) -> dict[str, float]:
    """A side's AWS call time per notification (ms), by call."""
    merged = _merge([r[side]["aws_seconds_by_operation"] for r in rows])
    return {key: round(seconds / notifications * 1000, 3) for key, seconds in merged.items()}


def _merge(counters: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for counter in counters:
        for key, value in counter.items():
            merged[key] = merged.get(key, 0) + value
    return merged
