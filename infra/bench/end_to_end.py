"""Part 8: end-to-end throughput of the local stack for `events` x `recipients` notifications (100 x 100).

Five companies, one per messenger: Slack, Google Chat, LINE, NAVER WORKS (API 2.0, service-account token) and
KakaoTalk AlimTalk through SENS, set up as in part 4 (companies.py for Slack and Google Chat, part 4's
`provider_calls.setup_*` for the others), each with `recipients` employees reachable on its channel and the
notification item routed there. Sandbox rate limits are off for the five, and the senders are deployed without
the shared rate limit (as in parts 2-4): this part measures the hub's own machinery, not the providers' limits.

The router and the five sender functions each run in a process of their own (function_process.py: a fresh
interpreter, the real handler module loaded by containers.load_container, fed by an event source mapping that
receives up to BatchSize, invokes and deletes, long-polling 1 s), against the local stack's moto server and
sandbox in this process. One container per function: Lambda would add containers up to each mapping's
MaximumConcurrency; here 2 CPUs are shared by the seven processes anyway.

Once every container has started (cold starts are not part of the run), all `events` events are put on
WorkplaceEventsQueue at once, in SendMessageBatch calls of 10, the companies taking turns (a burst: a backlog
that the pipeline drains). Each event's queued time is taken when its batch call returned. The run ends when
every queue of the pipeline is empty (nothing visible, in flight or delayed) twice in a row, 0.5 s apart.

Figures: wall time from the first SendMessageBatch call to the last delivery record's `sent` (its updated_at,
milliseconds), notifications sent per second over that time, and per record the latency from its event's queued
time to its `sent` updated_at (p50, p99, max; with the whole burst queued at once, latency includes the time
an event waited in the backlog). The records are read back from DeliveriesTable per event; the sandbox's
request log gives each provider's requests and HTTP 2xx answers as a cross-check.

Memory: the peak resident set size (VmHWM from /proc/<pid>/status) of each function's process over the run,
and its RSS right after the cold start. Lambda's "Max Memory Used" is the same measure: the peak RSS of the
function's runtime process, which is why each function runs in its own process here. In-process containers
(parts 2-7) share one interpreter with moto, the sandbox and each other, so their RSS cannot be told apart,
and tracemalloc (Python allocations only, process-wide, slowing every allocation down) would count moto's and
the sandbox's allocations made while serving a function's calls as that function's. A child's RSS also holds
its small SQS pump and the interpreter with multiprocessing's bootstrap (a bare spawned interpreter's RSS is
measured too, as the baseline); moto, the sandbox and the gateway are not loaded in it (`foreign_modules`).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import statistics
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from boto3.dynamodb.conditions import Key

from infra.bench import function_process
from infra.bench.companies import google_chat_company, slack_company
from infra.bench.provider_calls import KAKAO, LINE, WORKS, Bench, event, setup_kakao, setup_line, setup_works
from infra.local_stack import LocalStack
from infra.template import Resolver

# (channel, label, sandbox fake, sender function)
CHANNELS = (
    ("slack", "Slack", "slack", "SendSlackFunction"),
    ("google_chat", "Google Chat", "google_chat", "SendGoogleChatFunction"),
    ("line", "LINE", "line", "SendLineFunction"),
    ("naver_works", "NAVER WORKS", "naver_works", "SendNaverWorksFunction"),
    ("kakao", "KakaoTalk AlimTalk (SENS)", "sens", "SendKakaoFunction"),
)
FUNCTIONS = ("RouterFunction", *(function for *_, function in CHANNELS))
QUEUES = ("WorkplaceEventsQueue", "SendSlackQueue", "SendGoogleChatQueue", "SendLineQueue", "SendNaverWorksQueue")
QUEUES += ("SendKakaoQueue",)
DEPTH = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")
START_PATIENCE = 180.0


def _setup(bench: Bench, recipients: int) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """channel → (company, the event's recipients)."""
    slack = slack_company(bench, "benche2eslack", recipients)
    chat = google_chat_company(bench, "benche2echat", recipients)
    companies = {
        "slack": (slack.company, slack.recipients),
        "google_chat": (chat.company, chat.recipients),
        "line": (LINE.company, setup_line(bench, recipients)),
        "naver_works": (WORKS.company, setup_works(bench, recipients)),
        "kakao": (KAKAO.company, setup_kakao(bench, recipients)),
    }
    for _, _, fake, _ in CHANNELS:
        bench.sandbox.set_limits(fake, enabled=False)
    return companies


def _depths(bench: Bench) -> dict[str, int]:
    depths = {}
    for logical_id in QUEUES:
        attributes = bench.sqs.get_queue_attributes(QueueUrl=bench.stack.queues[logical_id], AttributeNames=list(DEPTH))
        depths[logical_id] = sum(int(attributes["Attributes"].get(name, 0)) for name in DEPTH)
    return depths


def _start(template: dict[str, Any], resolver: Resolver, log_path: Path) -> tuple[Any, ...]:
    context = multiprocessing.get_context("spawn")
    ready, results, stop = context.Queue(), context.Queue(), context.Event()
    processes = []
    for logical_id in FUNCTIONS:
        spec = {"logical_id": logical_id, "template": template, "resolver": resolver, "log_path": str(log_path)}
        process = context.Process(
            target=function_process.serve, args=(spec, ready, stop, results), name=f"bench-{logical_id}", daemon=True
        )
        process.start()
        processes.append(process)
    baseline = context.Process(target=function_process.bare, args=(ready,), name="bench-bare", daemon=True)
    baseline.start()
    processes.append(baseline)
    started: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + START_PATIENCE
    while len(started) < len(processes):
        try:
            message = ready.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            _stop(processes, stop)
            missing = sorted({*FUNCTIONS, "bare"} - set(started))
            raise RuntimeError(f"function processes did not start: {missing}") from None
        if "error" in message:
            _stop(processes, stop)
            raise RuntimeError(f"{message['logical_id']} failed to start:\n{message['error']}")
        started[message["logical_id"]] = message
    return processes, results, stop, started


def _stop(processes: list[Any], stop: Any) -> None:
    stop.set()
    for process in processes:
        process.join(timeout=15)
    for process in processes:
        if process.is_alive():
            process.terminate()  # only our own children, by handle
            process.join(timeout=5)


def _publish(bench: Bench, companies: dict[str, tuple[str, list[dict[str, Any]]]], events: int) -> dict[str, Any]:
    """Every event at once, 10 per SendMessageBatch; event id → (channel, company, queued time)."""
    order = [channel for channel, *_ in CHANNELS]
    bodies = []
    for index in range(events):
        channel = order[index % len(order)]
        company, recipients = companies[channel]
        body = event(company, recipients) | {"event_id": f"bench-e2e-{index:04d}-{os.urandom(4).hex()}"}
        bodies.append((channel, body))
    queued: dict[str, Any] = {}
    url = bench.stack.queues["WorkplaceEventsQueue"]
    for start in range(0, len(bodies), 10):
        chunk = bodies[start : start + 10]
        entries = [
            {"Id": str(i), "MessageBody": json.dumps(body, ensure_ascii=False)} for i, (_, body) in enumerate(chunk)
        ]
        answer = bench.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        if answer.get("Failed"):
            raise RuntimeError(f"SendMessageBatch refused {answer['Failed']}")
        at = time.time()
        for channel, body in chunk:
            queued[body["event_id"]] = {"channel": channel, "company": body["company_id"], "queued_at": at}
    return queued


def _records(bench: Bench, queued: dict[str, Any]) -> dict[str, Any]:
    """Per channel: record statuses and the queued → sent latencies; plus the last `sent` time."""
    table = bench.table("DeliveriesTable")
    by_channel: dict[str, dict[str, Any]] = {}
    last_sent = 0.0
    for event_id, info in queued.items():
        figures = by_channel.setdefault(info["channel"], {"statuses": Counter(), "latencies": [], "last_sent": 0.0})
        query: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(f"{info['company']}#{event_id}")}
        while True:
            page = table.query(**query)
            for item in page["Items"]:
                figures["statuses"][item["status"]] += 1
                if item["status"] == "sent":
                    sent = datetime.fromisoformat(item["updated_at"].replace("Z", "+00:00")).timestamp()
                    figures["latencies"].append(sent - info["queued_at"])
                    figures["last_sent"] = max(figures["last_sent"], sent)
                    last_sent = max(last_sent, sent)
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {"channels": by_channel, "last_sent": last_sent}


def _percentiles(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {}
    ordered = sorted(seconds)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p99": round(ordered[int(0.99 * (len(ordered) - 1))], 2),
        "max": round(ordered[-1], 2),
    }


def _provider_requests(bench: Bench) -> dict[str, dict[str, int]]:
    counts = {}
    for channel, _, fake, _ in CHANNELS:
        entries = bench.sandbox.requests(fake)
        ok = sum(1 for e in entries if isinstance(e["status"], int) and 200 <= e["status"] < 300)
        counts[channel] = {"requests": len(entries), "http_2xx": ok}
    bench.sandbox.clear_requests()  # the log holds every body: let it go
    return counts


def run(
    stack: LocalStack,
    template: dict[str, Any],
    resolver: Resolver,
    *,
    events: int,
    recipients: int,
    patience: float,
    log_path: Path,
) -> dict[str, Any]:
    """`template`: the deployment to run (here: without the shared rate limit, see the module doc)."""
    began = time.monotonic()
    bench = Bench(stack, template, resolver)
    companies = _setup(bench, recipients)
    leftovers = {name: depth for name, depth in _depths(bench).items() if depth}
    setup_seconds = time.monotonic() - began
    log_path.write_text("")
    processes, results, stop, started = _start(template, resolver, log_path)
    bench.sandbox.clear_requests()
    cpu_before = os.times()
    t0 = time.time()
    queued = _publish(bench, companies, events)
    published = time.time() - t0
    deadline = time.monotonic() + patience
    empty_in_a_row, drained = 0, None
    while time.monotonic() < deadline:
        depths = _depths(bench)
        empty_in_a_row = empty_in_a_row + 1 if not any(depths.values()) else 0
        if empty_in_a_row >= 2:
            drained = time.time() - t0
            break
        time.sleep(0.5)
    stop.set()
    functions: dict[str, dict[str, Any]] = {}
    for _ in FUNCTIONS:
        try:
            message = results.get(timeout=60)
        except queue.Empty:
            break
        functions[message["logical_id"]] = message
    _stop(processes, stop)
    cpu_after = os.times()
    stack_cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    records = _records(bench, queued)
    provider_requests = _provider_requests(bench)
    bench.sandbox.close()

    wall = records["last_sent"] - t0 if records["last_sent"] else None
    channels: dict[str, Any] = {}
    memory = {
        logical_id: _memory(template, started.get(logical_id, {}), functions.get(logical_id, {}))
        for logical_id in FUNCTIONS
    }
    for channel, label, _, function in CHANNELS:
        figures = records["channels"].get(channel, {"statuses": Counter(), "latencies": [], "last_sent": 0.0})
        count = sum(1 for info in queued.values() if info["channel"] == channel)
        channels[channel] = {
            "label": label,
            "events": count,
            "notifications": count * recipients,
            "statuses": dict(figures["statuses"]),
            "sent": figures["statuses"].get("sent", 0),
            "latency": _percentiles(figures["latencies"]),
            "last_sent_after": round(figures["last_sent"] - t0, 2) if figures["last_sent"] else None,
            "provider_requests": provider_requests[channel],
            "function": function,
        }
    latencies = [s for figures in records["channels"].values() for s in figures["latencies"]]
    sent = len(latencies)
    return {
        "events": events,
        "recipients": recipients,
        "notifications": events * recipients,
        "sent": sent,
        "statuses": dict(sum((Counter(f["statuses"]) for f in records["channels"].values()), Counter())),
        "wall_seconds": round(wall, 2) if wall is not None else None,
        "notifications_per_second": round(sent / wall, 1) if wall else None,
        "latency": _percentiles(latencies),
        "publish_seconds": round(published, 2),
        "queues_empty_after": round(drained, 2) if drained is not None else None,
        "timed_out": drained is None,
        "patience": patience,
        "channels": channels,
        "functions": memory,
        "stack_process_cpu_seconds": round(stack_cpu, 1),
        "function_processes_cpu_seconds": round(sum(f.get("cpu_seconds", 0.0) for f in functions.values()), 1),
        "cpus": os.cpu_count(),
        "bare_interpreter_rss_mib": round(started.get("bare", {}).get("VmHWM", 0) / 1024, 1),
        "leftover_messages_before": leftovers,
        "setup_seconds": round(setup_seconds, 1),
        "seconds": round(time.monotonic() - began, 1),
    }


def _memory(template: dict[str, Any], started: dict[str, Any], finished: dict[str, Any]) -> dict[str, Any]:
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
