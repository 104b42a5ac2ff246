"""Part 2: router + Slack sender per-notification cost vs. a bare requests.Session().post loop.

Hub side: per event, the router's real handler routes a 50-recipient event (idempotency claim,
settings from cache, one batched links read, delivery-status query, delivery records batch-written,
send jobs enqueued in batches of 10), then the Slack sender's real handler takes the jobs in batches of
BatchSize and, per message, claims the delivery record (conditional UpdateItem), reads the recipient's
links, opens the bot token, posts chat.postMessage and records the outcome (UpdateItem). Only the time
inside the two handlers counts; the event source mapping's receive/delete calls are timed apart.

Floor: the same chat.postMessage JSON (built by the hub's SlackSender, outside the timed loop) posted
to the same sandbox endpoint with one keep-alive requests.Session, response JSON read.
Rounds alternate which side goes first; ratios are taken within each round.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from typing import Any

import requests

from infra.bench import report
from infra.bench.aws_calls import Instrumented
from infra.bench.containers import Drive
from infra.bench.probes import HttpTimer
from infra.bench.scenario import Scenario


def _floor(calls: list[tuple[str, dict[str, str], dict[str, Any]]], session: requests.Session) -> dict[str, Any]:
    timer = HttpTimer()
    ok = 0
    started = time.perf_counter()
    for url, headers, body in calls:
        response = session.post(url, headers=headers, json=body, timeout=(3.05, 10.0))
        timer.calls += 1
        timer.seconds += response.elapsed.total_seconds()
        ok += response.json().get("ok") is True
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "sent": ok, "http_seconds": timer.seconds}


def _hub(
    scenario: Scenario, router: Instrumented, sender: Instrumented, events: int, http: HttpTimer
) -> dict[str, Any]:
    functions = {"router": Drive(), "sender": Drive()}
    snapshots = {name: f.calls.snapshot() for name, f in (("router", router), ("sender", sender))}
    http_before = (http.calls, http.seconds)
    notifications = 0
    for _ in range(events):
        event = scenario.event()
        notifications += len(event["recipients"])
        scenario.publish(event)
        functions["router"].add(router.mapping.drain(1))
        functions["sender"].add(sender.mapping.drain())  # until empty: the router enqueued every job
    aws_counts: Counter[tuple[str, str, str, str]] = Counter()
    aws_seconds: dict[tuple[str, str, str, str], float] = {}
    for name, function in (("router", router), ("sender", sender)):
        counts, seconds = function.calls.since(snapshots[name])
        for key, count in counts.items():
            aws_counts[(name, *key)] += count
            aws_seconds[(name, *key)] = aws_seconds.get((name, *key), 0.0) + seconds.get(key, 0.0)
    sent = sum(
        1
        for entry in scenario.sandbox.requests("slack")
        if entry["path"].endswith("chat.postMessage") and (entry.get("response") or {}).get("ok") is True
    )
    return {
        "notifications": notifications,
        "seconds": functions["router"].function_seconds + functions["sender"].function_seconds,
        "router_seconds": functions["router"].function_seconds,
        "sender_seconds": functions["sender"].function_seconds,
        "mapping_seconds": functions["router"].mapping_seconds + functions["sender"].mapping_seconds,
        "sender_invocations": functions["sender"].invocations,
        "failures": functions["router"].failures + functions["sender"].failures,
        "sent": sent,
        "aws_calls": dict(aws_counts),
        "aws_seconds": aws_seconds,
        "http_seconds": http.seconds - http_before[1],
        "http_calls": http.calls - http_before[0],
    }


def run(
    scenario: Scenario, router: Instrumented, sender: Instrumented, *, rounds: int, events_per_round: int
) -> dict[str, Any]:
    http = HttpTimer()
    for session in sender.container.find(requests.Session):
        http.attach(session)
    notifications = events_per_round * len(scenario.recipients)
    calls = scenario.slack_calls(notifications)
    floor_session = requests.Session()
    _floor(calls[:20], floor_session)  # warm the floor's connection as the hub's already is
    per_round: list[dict[str, Any]] = []
    for index in range(rounds):
        result: dict[str, Any] = {}
        for side in ("floor", "hub") if index % 2 == 0 else ("hub", "floor"):
            scenario.sandbox.clear_requests()
            if side == "floor":
                result["floor"] = _floor(calls, floor_session)
            else:
                result["hub"] = _hub(scenario, router, sender, events_per_round, http)
        hub_ms = result["hub"]["seconds"] / result["hub"]["notifications"] * 1000
        floor_ms = result["floor"]["seconds"] / len(calls) * 1000
        result.update(hub_ms=hub_ms, floor_ms=floor_ms, ratio=hub_ms / floor_ms)
        per_round.append(result)
    floor_session.close()
    return summarize(per_round, notifications)


def summarize(per_round: list[dict[str, Any]], notifications: int) -> dict[str, Any]:
    hubs = [r["hub"] for r in per_round]
    total = sum(h["notifications"] for h in hubs)

    def per_notification_ms(seconds: float) -> float:
        return round(seconds / total * 1000, 3)

    aws_counts: Counter[tuple[str, str, str, str]] = Counter()
    aws_seconds: dict[tuple[str, str, str, str], float] = {}
    for hub in hubs:
        aws_counts.update(hub["aws_calls"])
        for label, seconds in hub["aws_seconds"].items():
            aws_seconds[label] = aws_seconds.get(label, 0.0) + seconds
    hub_seconds = sum(h["seconds"] for h in hubs)
    aws_total = sum(aws_seconds.values())
    http_total = sum(h["http_seconds"] for h in hubs)
    floor_total = sum(r["floor"]["seconds"] for r in per_round)
    floor_http = sum(r["floor"]["http_seconds"] for r in per_round)
    floor_count = notifications * len(per_round)
    return {
        "rounds": len(per_round),
        "notifications_per_round": notifications,
        "hub_ms_per_notification": round(statistics.median(r["hub_ms"] for r in per_round), 3),
        "floor_ms_per_notification": round(statistics.median(r["floor_ms"] for r in per_round), 3),
        "ratio": round(statistics.median(r["ratio"] for r in per_round), 2),
        "ratio_per_round": [round(r["ratio"], 2) for r in per_round],
        "hub_ms_per_round": [round(r["hub_ms"], 3) for r in per_round],
        "floor_ms_per_round": [round(r["floor_ms"], 3) for r in per_round],
        "sent_by_hub": sum(h["sent"] for h in hubs),
        "sent_by_floor": sum(r["floor"]["sent"] for r in per_round),
        "notifications_total": total,
        "handler_failures": sum(h["failures"] for h in hubs),
        "breakdown_ms_per_notification": {
            "router_handler": per_notification_ms(sum(h["router_seconds"] for h in hubs)),
            "sender_handler": per_notification_ms(sum(h["sender_seconds"] for h in hubs)),
            "aws_calls": per_notification_ms(aws_total),
            "slack_http": per_notification_ms(http_total),
            "other_python": per_notification_ms(hub_seconds - aws_total - http_total),
            "event_source_mapping_sqs_not_counted": per_notification_ms(sum(h["mapping_seconds"] for h in hubs)),
        },
        "floor_breakdown_ms_per_notification": {
            "slack_http": round(floor_http / floor_count * 1000, 3),
            "other_python": round((floor_total - floor_http) / floor_count * 1000, 3),
        },
        "aws_calls_per_notification": [
            {
                "function": key[0],
                "service": key[1],
                "operation": key[2],
                "resource": key[3],
                "calls": round(count / total, 3),
                "ms": round(aws_seconds.get(key, 0.0) / total * 1000, 3),
            }
            for key, count in sorted(aws_counts.items(), key=lambda item: -aws_seconds.get(item[0], 0.0))
        ],
    }


def render(result: dict[str, Any]) -> str:
    b = result["breakdown_ms_per_notification"]
    f = result["floor_breakdown_ms_per_notification"]
    rows = [
        ["hub: router + Slack sender handlers", f"{result['hub_ms_per_notification']:.3f}", ""],
        ["floor: requests.Session().post loop", f"{result['floor_ms_per_notification']:.3f}", ""],
        ["ratio (median of per-round ratios)", f"{result['ratio']:.2f}x", "context (was <= 2x)"],
    ]
    calls = []
    for c in result["aws_calls_per_notification"]:
        calls.append(
            [
                f"{c['function']} {c['service']} {c['operation']} {c['resource']}",
                f"{c['calls']:.2f}",
                f"{c['ms']:.3f}",
                report.purpose(c["function"], c["service"], c["operation"], c["resource"]),
            ]
        )
    total_calls = sum(c["calls"] for c in result["aws_calls_per_notification"])
    per_call_ms = b["aws_calls"] / total_calls if total_calls else 0.0
    return "\n".join(
        [
            "2. Router + Slack sender per notification, in-process against moto + sandbox (rate limits off)",
            f"   {result['rounds']} rounds x {result['notifications_per_round']} notifications"
            f" (50-recipient events), sides alternating first",
            report.table(["", "ms/notification", ""], rows, "lrr"),
            f"  per-round ratios: {', '.join(f'{r:.2f}' for r in result['ratio_per_round'])}",
            f"  delivered: hub {result['sent_by_hub']}/{result['notifications_total']}, floor"
            f" {result['sent_by_floor']}/{result['notifications_total']}; handler batch failures:"
            f" {result['handler_failures']}",
            "",
            "  Where the hub's time goes (ms per notification):",
            report.table(
                ["", "hub", "floor"],
                [
                    ["router handler (whole invocation)", f"{b['router_handler']:.3f}", ""],
                    ["Slack sender handler (whole invocation)", f"{b['sender_handler']:.3f}", ""],
                    ["  of both: AWS API calls (moto on loopback)", f"{b['aws_calls']:.3f}", "-"],
                    [
                        "  of both: Slack HTTP round trip (response.elapsed)",
                        f"{b['slack_http']:.3f}",
                        f"{f['slack_http']:.3f}",
                    ],
                    [
                        "  of both: other Python",
                        f"{b['other_python']:.3f}" if b["other_python"] >= 0 else "n/a*",
                        f"{f['other_python']:.3f}",
                    ],
                    [
                        "not counted: event source mapping SQS receive/delete",
                        f"{b['event_source_mapping_sqs_not_counted']:.3f}",
                        "",
                    ],
                ],
                "lrr",
            ),
            "  other Python = powertools batch processor + logger/metrics decorators, SendJob/event pydantic",
            "  parsing, building the Slack blocks, AES-GCM opening of the bot token per job, botocore request",
            "  building/signing/parsing outside the timed call window. * AWS call times are summed per call; a",
            "  multicast's claims run side by side, so their times overlap and can add up to more than the handlers'.",
            "",
            f"  The hub's extra work: {total_calls:.2f} AWS calls per notification, {per_call_ms:.2f} ms each on"
            " average here",
            "  (moto's DynamoDB emulation on loopback; in-region DynamoDB is typically a few ms too), on top of",
            f"  the one Slack call ({f['slack_http']:.2f} ms round trip for the floor):",
            report.table(["call", "per notif.", "ms", "what for"], calls, "lrrl"),
        ]
    )
