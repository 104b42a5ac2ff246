"""Part 8: end-to-end throughput of the local stack for `events` x `recipients` notifications (100 x 100), at the
benchmark's provider latency, without and then with the shared rate limit.

The pipeline, its companies and how a run is driven: pipeline.py (router and five senders one process each, all
events queued at once, until every queue is empty). Two runs on the same companies:

- without: the senders deployed without RATE_LIMITS_TABLE_NAME and the sandbox's rate limits off (the hub's own
  machinery; against the real providers NAVER WORKS would answer 429 to the excess);
- with: the senders as template.yaml deploys them (the shared rate limit in DynamoDB) and the sandbox enforcing
  its providers' documented limits (Slack 1 message a second per channel, Google Chat per space, NAVER WORKS 240
  requests a minute per domain, LINE multicast 200 a second, SENS a generous bucket).

Figures per run: wall time from the first SendMessageBatch call to the last delivery record's `sent` (its
updated_at, milliseconds), notifications sent per second over that time, and per record the latency from its
event's queued time to its `sent` (p50, p99, max; with the whole burst queued at once, latency includes the time
an event waited in the backlog).

Memory: the peak resident set size (VmHWM from /proc/<pid>/status) of each function's process over the run,
and its RSS right after the cold start. Lambda's "Max Memory Used" is the same measure: the peak RSS of the
function's runtime process, which is why each function runs in its own process here. A child's RSS also holds
its small SQS pump and the interpreter with multiprocessing's bootstrap (a bare spawned interpreter's RSS is
measured too, as the baseline); moto, the sandbox and the gateway are not loaded in it (`foreign_modules`).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from infra.bench import pipeline, report
from infra.bench.companies import Bench
from infra.bench.shared_limits import without_shared_limits
from infra.local_stack import LocalStack
from infra.template import Resolver

MEMORY_HEADERS = ("RSS after start MiB", "peak RSS MiB", "MemorySize MB")
RUNS = (("without", "without shared limit (provider limits off)"), ("with", "with shared limit (provider limits on)"))


def run(
    stack: LocalStack,
    template: dict[str, Any],
    resolver: Resolver,
    *,
    events: int,
    recipients: int,
    patience: float,
    log_path: Path,
    latency: dict[str, Any],
) -> dict[str, Any]:
    """`template`: as template.yaml deploys it (the "without" run drops the shared rate limit from it)."""
    began = time.monotonic()
    bench = Bench(stack, template, resolver)
    companies = pipeline.setup(bench, recipients, "e2e")
    setup_seconds = time.monotonic() - began
    log_path.write_text("")
    runs = {}
    for name, _ in RUNS:
        pipeline.provider_limits(bench, enabled=name == "with")
        deployed = template if name == "with" else without_shared_limits(template)
        raw = pipeline.drive(bench, deployed, companies, events=events, patience=patience, log_path=log_path)
        runs[name] = summarize(raw, deployed, events, recipients)
        runs[name]["patience"] = patience
    pipeline.provider_limits(bench, enabled=False)
    bench.sandbox.close()
    return {
        "events": events,
        "recipients": recipients,
        "notifications": events * recipients,
        "latency_profile": latency,
        "runs": runs,
        "cpus": os.cpu_count(),
        "setup_seconds": round(setup_seconds, 1),
        "seconds": round(time.monotonic() - began, 1),
    }


def summarize(raw: dict[str, Any], template: dict[str, Any], events: int, recipients: int) -> dict[str, Any]:
    t0, queued, records = raw["t0"], raw["queued"], raw["records"]
    wall = records["last_sent"] - t0 if records["last_sent"] else None
    channels: dict[str, Any] = {}
    for channel, label, _, function in pipeline.CHANNELS:
        figures = records["channels"].get(channel, {"statuses": Counter(), "latencies": [], "last_sent": 0.0})
        count = sum(1 for info in queued.values() if info["channel"] == channel)
        channels[channel] = {
            "label": label,
            "events": count,
            "notifications": count * recipients,
            "statuses": dict(figures["statuses"]),
            "sent": figures["statuses"].get("sent", 0),
            "latency": pipeline.percentiles(figures["latencies"]),
            "last_sent_after": round(figures["last_sent"] - t0, 2) if figures["last_sent"] else None,
            "provider_requests": raw["provider_requests"][channel],
            "function": function,
        }
    latencies = [s for figures in records["channels"].values() for s in figures["latencies"]]
    functions = raw["functions"]
    return {
        "sent": len(latencies),
        "statuses": dict(sum((Counter(f["statuses"]) for f in records["channels"].values()), Counter())),
        "wall_seconds": round(wall, 2) if wall is not None else None,
        "notifications_per_second": round(len(latencies) / wall, 1) if wall else None,
        "latency": pipeline.percentiles(latencies),
        "publish_seconds": round(raw["published_seconds"], 2),
        "queues_empty_after": round(raw["drained_after"], 2) if raw["drained_after"] is not None else None,
        "timed_out": raw["timed_out"],
        "channels": channels,
        "functions": {
            logical_id: memory(template, raw["started"].get(logical_id, {}), functions.get(logical_id, {}))
            for logical_id in pipeline.FUNCTIONS
        },
        "stack_process_cpu_seconds": round(raw["stack_cpu_seconds"], 1),
        "function_processes_cpu_seconds": round(sum(f.get("cpu_seconds", 0.0) for f in functions.values()), 1),
        "bare_interpreter_rss_mib": round(raw["started"].get("bare", {}).get("VmHWM", 0) / 1024, 1),
        "leftover_messages_before": raw["leftovers"],
    }


def memory(template: dict[str, Any], started: dict[str, Any], finished: dict[str, Any]) -> dict[str, Any]:
    globals_ = template.get("Globals", {}).get("Function", {})
    logical_id = started.get("logical_id") or finished.get("logical_id") or "?"
    properties = template["Resources"].get(logical_id, {}).get("Properties", {})
    return {
        "memory_size_mb": int(properties.get("MemorySize", globals_.get("MemorySize", 128))),
        "rss_after_cold_start_mib": round(started.get("VmRSS", 0) / 1024, 1),
        "peak_rss_mib": round(finished.get("VmHWM", 0) / 1024, 1) if finished else None,
        "cold_start_seconds": round(started.get("cold_start_seconds", 0.0), 2),
        "invocations": finished.get("invocations"),
        "records": finished.get("records"),
        "failed_records": finished.get("failed_records"),
        "function_seconds": round(finished.get("function_seconds", 0.0), 1),
        "cpu_seconds": round(finished.get("cpu_seconds", 0.0), 1),
        "foreign_modules": started.get("foreign_modules", []),
        "error": finished.get("error"),
    }


def _channel_rows(result: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for figures in result["channels"].values():
        others = {k: v for k, v in figures["statuses"].items() if k != "sent"}
        lat, requests_ = figures["latency"], figures["provider_requests"]
        rows.append(
            [
                figures["label"],
                figures["events"],
                figures["notifications"],
                figures["sent"],
                ", ".join(f"{k} {v}" for k, v in sorted(others.items())) or "-",
                lat.get("p50", "-"),
                lat.get("p99", "-"),
                lat.get("max", "-"),
                figures["last_sent_after"] if figures["last_sent_after"] is not None else "-",
                f"{requests_['requests']} ({requests_['http_2xx']} 2xx, {requests_['http_429']} 429)",
            ]
        )
    return rows


def _function_rows(result: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for logical_id, f in result["functions"].items():
        rows.append(
            [
                logical_id,
                f["invocations"] if f["invocations"] is not None else "-",
                f["records"] if f["records"] is not None else "-",
                f["failed_records"] if f["failed_records"] is not None else "-",
                f"{f['function_seconds']:.1f}",
                f"{f['cpu_seconds']:.1f}",
                f"{f['cold_start_seconds']:.2f}",
                f"{f['rss_after_cold_start_mib']:.0f}",
                f"{f['peak_rss_mib']:.0f}" if f["peak_rss_mib"] is not None else "-",
                f["memory_size_mb"],
            ]
        )
    return rows


def render(result: dict[str, Any]) -> str:
    runs = result["runs"]

    def both(figure: Any) -> list[str]:
        return [figure(runs[name]) for name, _ in RUNS]

    def latency(run: dict[str, Any]) -> str:
        lat = run["latency"]
        return f"{lat.get('p50', '-')} / {lat.get('p99', '-')} / {lat.get('max', '-')} s"

    headline = [
        ["delivery records sent", *both(lambda r: f"{r['sent']:,}")],
        ["wall time, first event queued -> last record sent", *both(lambda r: f"{r['wall_seconds'] or 0:.1f} s")],
        ["notifications sent per second", *both(lambda r: f"{r['notifications_per_second'] or 0:.1f}")],
        ["latency, event queued -> record sent (p50 / p99 / max)", *both(latency)],
        ["queueing the events (SendMessageBatch x10 each)", *both(lambda r: f"{r['publish_seconds']:.2f} s")],
        ["CPU: function processes / this process (moto, sandbox)", *both(_cpu)],
    ]
    channel_headers = ["channel", "events", "notifications", "sent", "other records", "p50 s", "p99 s", "max s"]
    channel_headers += ["last sent at s", "provider requests"]
    profile = report.latency_text(result["latency_profile"])
    lines = [
        f"8. End to end: {result['events']} events x {result['recipients']} recipients ({result['notifications']:,}"
        " notifications) over five messengers (one company each, events in turn), all queued at once",
        "   router + 5 senders, one process each (real handlers fed by event source mappings), against the stack's moto"
        " and sandbox",
        *report.wrap(f"provider latency (ms, fixed+jitter): {profile or 'none'}", indent="   "),
        report.table(["", *(label for _, label in RUNS)], headline, "lrr"),
    ]
    for name, label in RUNS:
        lines += ["", f"  {label}:", report.table(channel_headers, _channel_rows(runs[name]), "lrrrlrrrrr")]
        if runs[name]["timed_out"]:
            lines.append(f"  NOTE: the queues had not drained after {runs[name]['patience']:.0f} s: figures partial")
        if runs[name]["leftover_messages_before"]:
            lines.append(f"  messages already on the queues before the run: {runs[name]['leftover_messages_before']}")
    first = runs[RUNS[0][0]]
    lines += [
        "",
        "  Each function's process, run without the shared limit (peak RSS = VmHWM, Lambda's \"Max Memory Used\""
        " measure; MemorySize from the template):",
        report.table(
            [*("function", "invocations", "records", "failed", "handler s", "CPU s", "start s"), *MEMORY_HEADERS],
            _function_rows(first),
            "lrrrrrrrrr",
        ),
    ]
    lines += report.wrap(
        "start s = from the process's entry to its container loaded (imports, the handler module and the clients it "
        "builds at module scope), before the run. "
        f"A bare spawned interpreter's RSS here: {first['bare_interpreter_rss_mib']:.0f} MiB (in every figure above). "
        f"Latency includes the wait in the backlog: every event was queued at the start. {result['cpus']} CPUs."
    )
    for name, label in RUNS:
        foreign = sorted({m for f in runs[name]["functions"].values() for m in f["foreign_modules"]})
        if foreign:
            lines.append(f"  NOTE ({label}): the function processes also loaded {', '.join(foreign)}")
        lines += [f"  ERROR in {i}: {f['error']}" for i, f in runs[name]["functions"].items() if f.get("error")]
    lines.append(f"  part 8 took {result['seconds']:.0f} s (set-up {result['setup_seconds']:.0f} s)")
    return "\n".join(lines)


def _cpu(run: dict[str, Any]) -> str:
    wall = run["wall_seconds"]
    share = f" ({run['stack_process_cpu_seconds'] / wall:.0%} of one CPU)" if wall else ""
    return f"{run['function_processes_cpu_seconds']:.0f} s / {run['stack_process_cpu_seconds']:.0f} s{share}"
