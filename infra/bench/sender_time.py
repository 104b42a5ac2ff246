"""Part 9: sender wall time, hub CPU and AWS cost per notification for one event of `recipients` (1,000) employees
on each of the five messengers, at the benchmark's provider latency (realistic by default), as deployed.

The pipeline runs as in part 8 (pipeline.py: router and five senders one process each), one channel's event at a
time, deployed as template.yaml says (the shared rate limit on) against a sandbox enforcing its providers'
documented limits. Three sides, one after another, on the same companies:

- sequential: every sender with SEND_CONCURRENCY=1 (today's behaviour: a job's calls one after another);
- concurrent: SEND_CONCURRENCY as the template sets it for the sender, else `--concurrency` (16). The setting is
  read by the product's SenderSettings; on a checkout whose SenderSettings has no such field the variable is
  ignored and this side runs sequentially too (printed);
- Apprise on the channels it has (Slack, Google Chat, LINE; sides.py), each channel in a process of its own,
  the same people and message.

Per channel: the sender's wall time per notification (the sum of its handler invocations' durations, what Lambda
bills, over the notifications sent), the elapsed time from the events' queueing to the channel's last `sent`, and
the hub's CPU per notification (the sender process's CPU while its handler ran plus the router's, shared by
notifications: not the benchmark's stand-in for Lambda's SQS poller; moto and the sandbox run in the benchmark's
process). Apprise's wall and CPU time are its process's, around building the
Apprise object and notify(). The provider-limit bound is the least elapsed time the provider's documented limits
allow with unlimited concurrency: the calls the limit makes wait, plus one answer's latency (LIMITS below).
Part 9b (aws_cost.py) prices the same runs.
"""

from __future__ import annotations

import math
import multiprocessing
import queue
import time
from pathlib import Path
from typing import Any

from infra.bench import aws_cost, pipeline, report, sides
from infra.bench.companies import Audience, Bench
from infra.local_stack import LocalStack
from infra.template import Resolver, function_environment
from workplace_hub.config import SenderSettings

# The providers' documented limits as the bound uses them (providers.md sections; the sandbox models the same):
# channel → (what the bound assumes, calls for N recipients, calls allowed at once, calls a second after that).
LIMITS: dict[str, tuple[str, Any, float, float]] = {
    "slack": (
        "chat.postMessage 1 a second per channel, bursts tolerated (1.2); each employee's DM is its own channel; the"
        " workspace-wide limit is unpublished, left out",
        lambda n: n,
        math.inf,
        math.inf,
    ),
    "google_chat": (
        "about 1 a second per space (UNCONFIRMED, 2.3); one webhook space per employee",
        lambda n: n,
        math.inf,
        math.inf,
    ),
    "line": ("multicast 200 requests a second, 500 userIds each (3.4)", lambda n: math.ceil(n / 500), 200, 200),
    "naver_works": (
        "240 requests a minute per API per domain, Standard plan (4.6): 240 at once, then 4 a second",
        lambda n: n,
        240,
        4,
    ),
    "kakao": (
        "SENS: no published limit (UNCONFIRMED); 100 recipients per request",
        lambda n: math.ceil(n / 100),
        math.inf,
        math.inf,
    ),
}
FAKES = {channel: fake for channel, _, fake, _ in pipeline.CHANNELS}
APPRISE_CHANNELS = ("slack", "google_chat", "line")
SIDES = ("sequential", "concurrent")


def bound_seconds(channel: str, recipients: int, latency: dict[str, dict[str, float]]) -> float:
    """The least elapsed time for `recipients` notifications: waiting on the limit, then one (mean) answer."""
    _, calls_of, burst, per_second = LIMITS[channel]
    waits = max(0.0, (calls_of(recipients) - burst) / per_second) if per_second != math.inf else 0.0
    answer = latency.get(FAKES[channel], {"fixed_ms": 0.0, "jitter_ms": 0.0})
    return waits + (answer["fixed_ms"] + answer["jitter_ms"] / 2) / 1000


def concurrency(environment: dict[str, str], default: int) -> tuple[int, str]:
    """The concurrent side's SEND_CONCURRENCY for a sender, from its deployed environment (template.yaml, resolved),
    else `default`; and where it came from."""
    value = str(environment.get("SEND_CONCURRENCY", ""))
    return (int(value), "template") if value.isdigit() else (default, "bench default")


def run(
    stack: LocalStack,
    template: dict[str, Any],
    resolver: Resolver,
    *,
    recipients: int,
    default_concurrency: int,
    patience: float,
    log_path: Path,
    latency: dict[str, dict[str, float]],
) -> dict[str, Any]:
    began = time.monotonic()
    bench = Bench(stack, template, resolver)
    audiences = pipeline.setup(bench, recipients, "senders")
    setup_seconds = time.monotonic() - began
    pipeline.provider_limits(bench, enabled=True)
    chosen = {
        function: concurrency(function_environment(template, function, resolver), default_concurrency)
        for function in pipeline.SENDERS
    }
    settings = {
        "sequential": {function: 1 for function in pipeline.SENDERS},
        "concurrent": {function: value for function, (value, _) in chosen.items()},
    }
    result: dict[str, Any] = {"sides": {}, "largest_items": {}}
    for side in SIDES:
        environment = {f: {"SEND_CONCURRENCY": str(n)} for f, n in settings[side].items()}
        # One channel at a time: in production each sender has its own Lambda's CPU and DynamoDB answers every
        # caller alike; here five senders at once would share two cores with moto and the sandbox, and each
        # channel's figures would measure the others' load.
        raw = merge_channel_runs(
            {
                channel: pipeline.drive(
                    bench,
                    template,
                    {channel: audience},
                    events=1,
                    patience=patience,
                    log_path=log_path,
                    environment=environment,
                )
                for channel, audience in audiences.items()
            }
        )
        largest = {
            "DeliveriesTable": raw["records"]["largest_record_bytes"],
            **{name: pipeline.largest_item(bench, name) for name in ("RateLimitsTable", "IdempotencyTable")},
        }
        result["largest_items"] = {k: max(v, result["largest_items"].get(k, 0)) for k, v in largest.items()}
        result["sides"][side] = _side(raw, template, audiences, largest)
    result["apprise"] = _apprise(bench, audiences)
    pipeline.provider_limits(bench, enabled=False)
    bench.sandbox.close()
    total = sum(len(a.recipients) for a in audiences.values())
    result.update(
        recipients=recipients,
        notifications_total=total,
        concurrency={side: settings[side] for side in SIDES},
        concurrency_source={f: source for f, (_, source) in chosen.items()},
        setting_read_by_product="SEND_CONCURRENCY" in SenderSettings.model_fields,
        latency_profile=latency,
        bound={c: bound_seconds(c, recipients, latency) for c in audiences},
        channels={channel: {"label": label, "function": f} for channel, label, _, f in pipeline.CHANNELS},
        setup_seconds=round(setup_seconds, 1),
        seconds=round(time.monotonic() - began, 1),
    )
    for side in SIDES:
        figures = result["sides"][side]
        figures["cost"] = _costs(figures["aws"], audiences, total)
    return result


def merge_channel_runs(raws: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One side's runs, one per channel, as one run's figures: each sender's from its own channel's run (in the
    others it only polled), the router's summed, each channel's records, provider requests and start time."""
    functions: dict[str, dict[str, Any]] = {}
    senders = {function: channel for channel, _, _, function in pipeline.CHANNELS}
    for channel, raw in raws.items():
        for logical_id, stats in raw["functions"].items():
            if senders.get(logical_id, channel) == channel:
                functions[logical_id] = summed_stats(functions.get(logical_id), stats)
    return {
        "t0": min(raw["t0"] for raw in raws.values()),
        "t0_by_channel": {channel: raw["t0"] for channel, raw in raws.items()},
        "functions": functions,
        "records": {
            "channels": {
                c: raw["records"]["channels"][c] for c, raw in raws.items() if c in raw["records"]["channels"]
            },
            "largest_record_bytes": max(raw["records"]["largest_record_bytes"] for raw in raws.values()),
        },
        "provider_requests": {channel: raw["provider_requests"][channel] for channel, raw in raws.items()},
        "producer": {k: sum(raw["producer"][k] for raw in raws.values()) for k in ("calls", "chunks")},
        "timed_out": any(raw["timed_out"] for raw in raws.values()),
    }


def summed_stats(into: dict[str, Any] | None, stats: dict[str, Any]) -> dict[str, Any]:
    """Two runs' stats of one function: numbers and counted calls added, anything else the latest."""
    if into is None:
        return dict(stats)
    merged = dict(stats)
    for key, value in stats.items():
        before = into.get(key)
        if isinstance(value, bool) or before is None:
            continue
        if isinstance(value, int | float):
            merged[key] = before + value
        elif isinstance(value, dict) and key in ("aws", "mapping_aws"):
            merged[key] = {
                kind: {name: before.get(kind, {}).get(name, 0) + n for name, n in counts.items()}
                | {name: n for name, n in before.get(kind, {}).items() if name not in counts}
                for kind, counts in value.items()
            }
    return merged


def _side(
    raw: dict[str, Any], template: dict[str, Any], audiences: dict[str, Audience], largest: dict[str, int]
) -> dict[str, Any]:
    functions = raw["functions"]
    total = sum(len(a.recipients) for a in audiences.values())
    router_cpu = functions.get("RouterFunction", {}).get("handler_cpu_seconds", 0.0)
    channels = {}
    for channel, _, _, function in pipeline.CHANNELS:
        t0 = raw.get("t0_by_channel", {}).get(channel, raw["t0"])
        stats = functions.get(function, {})
        figures = raw["records"]["channels"].get(channel, {"statuses": {}, "last_sent": 0.0})
        n = len(audiences[channel].recipients)
        channels[channel] = {
            "notifications": n,
            "sent": figures["statuses"].get("sent", 0),
            "statuses": dict(figures["statuses"]),
            "sender_seconds": stats.get("function_seconds", 0.0),
            "sender_ms": stats.get("function_seconds", 0.0) / n * 1000,
            "elapsed_seconds": figures["last_sent"] - t0 if figures["last_sent"] else None,
            "hub_cpu_ms": (stats.get("handler_cpu_seconds", 0.0) / n + router_cpu / total) * 1000,
            # Of the handler time, the wait on the function's own AWS calls (moto here, not DynamoDB's answer times).
            "aws_ms": sum(stats.get("aws", {}).get("seconds", {}).values()) / n * 1000,
            "invocations": stats.get("invocations"),
            "provider_requests": raw["provider_requests"][channel],
            "error": stats.get("error"),
        }
    return {
        "channels": channels,
        "aws": aws_cost.tally(raw, template, largest),
        "timed_out": raw["timed_out"],
        "router_cpu_seconds": router_cpu,
    }


def _costs(tallied: dict[str, Any], audiences: dict[str, Audience], total: int) -> dict[str, Any]:
    shared = aws_cost.cost(tallied, total, {"RouterFunction", aws_cost.PRODUCER})
    costs = {"overall": aws_cost.cost(tallied, total)}
    for channel, _, _, function in pipeline.CHANNELS:
        own = aws_cost.cost(tallied, len(audiences[channel].recipients), {function})
        costs[channel] = aws_cost.combined([own, shared])
    return costs


def _apprise(bench: Bench, audiences: dict[str, Audience]) -> dict[str, Any]:
    """Apprise to every channel it has, one process each, at once."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    bench.sandbox.clear_requests()
    processes = []
    for channel in APPRISE_CHANNELS:
        spec = {
            "channel": channel,
            "urls": sides.apprise_urls(audiences[channel]),
            "sandbox_url": bench.stack.sandbox.url,
        }
        process = context.Process(target=sides.apprise_process, args=(spec, results), name=f"bench-apprise-{channel}")
        process.start()
        processes.append(process)
    found: dict[str, Any] = {}
    for _ in processes:
        try:
            message = results.get(timeout=3600)
        except queue.Empty:
            break
        found[message.pop("channel")] = message
    for process in processes:
        process.join(timeout=30)
        if process.is_alive():
            process.terminate()  # our own child, by handle
    for channel, figures in found.items():
        n = len(audiences[channel].recipients)
        figures.update(sides.accepted(bench.sandbox.requests(FAKES[channel]), channel), notifications=n)
        if "error" not in figures:
            figures.update(ms=figures["wall_seconds"] / n * 1000, cpu_ms=figures["cpu_seconds"] / n * 1000)
    bench.sandbox.clear_requests()
    return found


def render(result: dict[str, Any]) -> str:
    seq, conc, apprise = result["sides"]["sequential"], result["sides"]["concurrent"], result["apprise"]
    rows, notes = [], []
    met_bound = met_speedup = met_cpu = 0
    for channel, info in result["channels"].items():
        s, c = seq["channels"][channel], conc["channels"][channel]
        a = apprise.get(channel, {})
        n = c["notifications"]
        bound_ms = result["bound"][channel] / n * 1000
        speedup = s["sender_ms"] / c["sender_ms"] if c["sender_ms"] else 0.0
        versus_bound = c["sender_ms"] / bound_ms if bound_ms else 0.0
        five_x_possible = bound_ms * 5 <= s["sender_ms"]
        met_bound += versus_bound <= 1.3
        met_speedup += speedup >= 5 or not five_x_possible
        cpu = f"{c['hub_cpu_ms']:.2f}"
        if "ms" in a:
            met_cpu += c["hub_cpu_ms"] <= a["cpu_ms"]
            cpu += f" / {a['cpu_ms']:.2f} ({c['hub_cpu_ms'] / a['cpu_ms']:.2f}x)"
        rows.append(
            [
                info["label"],
                n,
                f"{bound_ms:.3f}",
                f"{s['sender_ms']:.2f}",
                f"{c['sender_ms']:.2f}",
                f"{speedup:.1f}x" + ("" if five_x_possible else " (limit)"),
                f"{versus_bound:.1f}x",
                f"{s['aws_ms']:.1f} / {c['aws_ms']:.1f}",
                f"{a['ms']:.2f}" if "ms" in a else "-",
                f"{_s(s['elapsed_seconds'])} / {_s(c['elapsed_seconds'])} / {_s(a.get('wall_seconds'))}",
                cpu,
                f"{s['sent']} / {c['sent']} / {a.get('accepted', '-')}",
            ]
        )
        for side, figures in (("sequential", s), ("concurrent", c)):
            if figures["error"]:
                notes.append(f"  ERROR ({side}, {info['label']}): {figures['error']}")
        if "error" in a:
            notes.append(f"  ERROR (Apprise, {info['label']}): {a['error']}")
    levels = sorted(set(result["concurrency"]["concurrent"].values()))
    sources = sorted(set(result["concurrency_source"].values()))
    lines = [
        f"9. Sender wall time per notification: one {result['recipients']:,}-recipient event per channel, deployed"
        " (shared rate limit on, the sandbox enforcing documented limits), at this provider latency (ms,"
        " fixed+jitter):",
        *report.wrap(report.latency_text(result["latency_profile"]), indent="   "),
        f"   sequential = SEND_CONCURRENCY=1; concurrent = SEND_CONCURRENCY={'/'.join(map(str, levels))}"
        f" ({', '.join(sources)})"
        + (
            ""
            if result["setting_read_by_product"]
            else "; NOT read by this checkout's SenderSettings: both hub sides ran sequentially"
        ),
        report.table(
            [
                *("channel", "recipients", "bound ms", "sequential ms", "concurrent ms", "seq/conc", "conc/bound"),
                *(
                    "of it AWS calls ms seq / conc",
                    "Apprise ms",
                    "elapsed s seq / conc / Apprise",
                    "hub CPU ms / Apprise CPU ms",
                    "sent seq / conc / Apprise",
                ),
            ],
            rows,
            "lrrrrrrrrlll",
        ),
        f"  targets: concurrent within 1.3x of the bound: {met_bound} of {len(rows)} channels; at least 5x faster than"
        f" sequential where the limits allow it: {met_speedup} of {len(rows)}; hub CPU at most Apprise's: {met_cpu} of"
        f" {len(apprise)}.",
    ]
    lines += report.wrap(
        "ms = per notification. sequential / concurrent ms = the sender's handler time (what Lambda bills) / the"
        " notifications; of it AWS calls = the handler's wait on its own AWS calls (moto's answers, in the benchmark's"
        " process beside the sandbox: not DynamoDB's); Apprise ms = its process's wall time around building Apprise()"
        " and notify(). bound = the"
        " least elapsed time the provider's documented limits allow with unlimited concurrency (the limit's waits"
        " plus one mean answer), / the notifications; '(limit)' = 5x is not possible within the limits. hub CPU ="
        " the sender's process CPU while its handler ran + its share of the router's, per notification (moto and the"
        " sandbox run elsewhere); Apprise CPU = its process's, every thread. Each channel's event ran on its own (in"
        " production each sender has its own Lambda's CPU); Apprise's three channels at once."
    )
    for channel, info in result["channels"].items():
        lines += report.wrap(f"bound, {info['label']}: {LIMITS[channel][0]}", indent="    ")
    lines += notes
    lines.append(f"  part 9 took {result['seconds']:.0f} s (set-up {result['setup_seconds']:.0f} s)")
    return "\n".join(lines)


def _s(seconds: float | None) -> str:
    return f"{seconds:.1f}" if seconds is not None else "-"
