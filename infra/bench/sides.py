"""The sides measured beside the hub (parts 7 and 9): Apprise pointed at the sandbox, the floor and the minimum.

- floor: a bare `requests.Session().post` loop (one keep-alive session) posting the hub's own request bodies,
  built by the hub's SlackSender / GoogleChatSender and `line.messaging.build_send` outside the timed loop
  (LINE: the same multicast, a fresh retry key per event). It is the least any sender of these requests can do.
- minimum: the floor plus the least bookkeeping any hub that meets issue 6 must do, with the hub's own
  repositories on the same moto: per event ONE batched read of the recipients' links from LinksTable and a
  `sent` record per recipient written to DeliveriesTable in batches of 25. No claims, no queue between router
  and sender, no idempotency record: a crash or a redelivered event would send twice.
- apprise: Apprise (https://github.com/caronc/apprise, a dev-only dependency) with its own plugins for Slack,
  Google Chat and LINE (it has none for NAVER WORKS or AlimTalk), used as documented: per event an
  `apprise.Apprise()` is built from the recipients' URLs and `notify(title=..., body=...)` is called; both count.
  Slack: one bot-token URL with every recipient (`slack://xoxb-…/+U…/+U…`, `+` = an encoded member ID, posted as
  `channel` to chat.postMessage, one call each, one after another). Google Chat: one `gchat://space/key/token`
  URL per employee's webhook (Apprise sends to several URLs from its thread pool). LINE: one
  `line://token/U…/U…` URL; its plugin only pushes, one call per userId. Apprise calls
  `requests.post`/`requests.request` without a session: a new connection for every request.

How Apprise reaches the sandbox: its plugins build provider URLs from class attributes, and for these parts
those attributes are replaced on the plugin classes (and put back afterwards): `NotifySlack.api_url`
("https://slack.com/api/{}") becomes "<sandbox>/slack/api/{}", `NotifyGoogleChat.notify_url`
("https://chat.googleapis.com/v1/spaces/{workspace}/messages") "<sandbox>/google_chat/v1/spaces/{workspace}/
messages", and `NotifyLine.notify_url` ("https://api.line.me/v2/bot/message/push")
"<sandbox>/line/api/v2/bot/message/push" (the paths where the hub's own SLACK_API_BASE, GOOGLE_CHAT_BASE
and LINE_API_BASE point). Everything else (payloads, headers, tokens, query strings) is Apprise's own. Its
throttling is off for fairness: `request_rate_per_sec` (the minimum seconds between two requests of one
plugin, enforced by `URLBase.throttle()` before each request; Slack 1.2, Google Chat and LINE 5.5 by
default) is set to 0 on the same three classes. Retries stay at Apprise's default (none). Apprise's Slack
messages carry only legacy `attachments`; the sandbox's Slack fake takes those as Slack does.

Acceptance is counted from the sandbox's request log (`accepted`): HTTP 2xx answers, and the notifications the
provider took (Slack `ok: true`, Google Chat 200, LINE 200 with the userIds it delivered to).
"""

from __future__ import annotations

import contextlib
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

from infra.bench.companies import ITEM, MESSAGE, Audience
from infra.bench.probes import AwsCalls
from workplace_hub.config import ProviderEndpoints
from workplace_hub.google.chat import GoogleChatSender
from workplace_hub.line.messaging import MULTICAST_MAX, build_message, build_send
from workplace_hub.providers.messenger import Destination, Notification
from workplace_hub.slack.messages import SlackSender
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus, NewDelivery
from workplace_hub.storage.links import LinksRepository

TIMEOUT = (3.05, 10.0)
Call = tuple[str, dict[str, str], dict[str, Any]]


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


def run_apprise(urls: list[str], events: int, service_timeout: float | None = None) -> dict[str, Any]:
    """`service_timeout`: AppriseAsset's limit on the wait for one service (Apprise's default: 60 s; 0: none)."""
    building = notifying = 0.0
    asset = apprise.AppriseAsset(service_timeout=service_timeout) if service_timeout is not None else None
    statuses: dict[str, int] = {}
    for _ in range(events):
        started = time.perf_counter()
        notifier = apprise.Apprise(asset=asset) if asset is not None else apprise.Apprise()
        notifier.add(urls)
        built = time.perf_counter()
        result = notifier.notify(title=MESSAGE["title"], body=f"{MESSAGE['body']}\n{MESSAGE['url']}")
        notifying += time.perf_counter() - built
        building += built - started
        status = getattr(getattr(result, "status", None), "name", str(bool(result)))
        statuses[status] = statuses.get(status, 0) + 1
    return {"seconds": building + notifying, "build_seconds": building, "statuses": statuses}


def apprise_process(spec: dict[str, Any], results: Any) -> None:
    """A spawned child (part 9): Apprise to `spec["urls"]` once, pointed at `spec["sandbox_url"]`; puts its wall
    and process CPU seconds (every thread of Apprise's pool included) on `results`. Apprise's 60-s limit on the wait
    for one service is lifted (service_timeout 0): at realistic latency its Slack and LINE plugins, which post to
    their 1,000 recipients one after another, would otherwise be abandoned after 60 s."""
    try:
        with apprise_at(spec["sandbox_url"]):
            cpu, wall = time.process_time(), time.perf_counter()
            figures = run_apprise(spec["urls"], 1, service_timeout=0)
            figures.update(cpu_seconds=time.process_time() - cpu, wall_seconds=time.perf_counter() - wall)
        results.put({"channel": spec["channel"], **figures})
    except Exception as error:  # reported to the parent, which prints it
        results.put({"channel": spec["channel"], "error": repr(error)})


# --- the floor and the minimum ------------------------------------------------------------------------------


@dataclass
class Minimum:
    """The minimum side's storage: the hub's repositories on a client of their own, its calls counted."""

    links: LinksRepository
    deliveries: DeliveriesRepository
    calls: AwsCalls


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
