"""The whole pipeline in processes of its own (parts 8 and 9): five companies, the router and five senders.

Five companies, one per messenger: Slack, Google Chat, LINE, NAVER WORKS (API 2.0, service-account token) and
KakaoTalk AlimTalk through SENS (companies.py), each with `recipients` employees reachable on its channel and the
notification item routed there.

The router and the five sender functions each run in a process of their own (function_process.py: a fresh
interpreter, the real handler module loaded by containers.load_container, fed by an event source mapping that
receives up to BatchSize, invokes and deletes, long-polling 1 s), against the local stack's moto server and
sandbox in the benchmark's process. One container per function: Lambda would add containers up to each mapping's
MaximumConcurrency; here 2 CPUs are shared by the seven processes anyway. Each process counts its function's AWS
calls (botocore hooks on the clients its container built) and its event source mapping's SQS calls apart.

Once every container has started (cold starts are not part of a run), the events are put on WorkplaceEventsQueue
at once, in SendMessageBatch calls of 10, the companies taking turns (a burst: a backlog that the pipeline
drains). Each event's queued time is taken when its batch call returned. A run ends when every queue of the
pipeline is empty (nothing visible, in flight or delayed) twice in a row, 0.5 s apart. The delivery records are
then read back from DeliveriesTable per event (status, and the queued → `sent` latency from updated_at), and the
sandbox's request log gives each provider's requests and HTTP 2xx answers as a cross-check.
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
from boto3.dynamodb.types import TypeSerializer

from infra.bench import function_process
from infra.bench.companies import (
    KAKAO,
    WORKS,
    Audience,
    Bench,
    event,
    google_chat_company,
    line_company,
    setup_kakao,
    setup_works,
    slack_company,
)
from infra.bench.probes import item_bytes
from infra.template import Resolver

# (channel, label, sandbox fake, sender function)
CHANNELS = (
    ("slack", "Slack", "slack", "SendSlackFunction"),
    ("google_chat", "Google Chat", "google_chat", "SendGoogleChatFunction"),
    ("line", "LINE", "line", "SendLineFunction"),
    ("naver_works", "NAVER WORKS", "naver_works", "SendNaverWorksFunction"),
    ("kakao", "KakaoTalk AlimTalk (SENS)", "sens", "SendKakaoFunction"),
)
SENDERS = tuple(function for *_, function in CHANNELS)
FUNCTIONS = ("RouterFunction", *SENDERS)
QUEUES = ("WorkplaceEventsQueue", "SendSlackQueue", "SendGoogleChatQueue", "SendLineQueue", "SendNaverWorksQueue")
QUEUES += ("SendKakaoQueue",)
DEPTH = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")
START_PATIENCE = 180.0
_serialize = TypeSerializer().serialize


def setup(bench: Bench, recipients: int, tag: str) -> dict[str, Audience]:
    """channel → its company's audience. `tag` names the Slack and Google Chat companies (LINE, SENS and NAVER
    WORKS have one company each, set up again with `recipients` employees)."""
    return {
        "slack": slack_company(bench, f"bench{tag}slack", recipients),
        "google_chat": google_chat_company(bench, f"bench{tag}chat", recipients),
        "line": line_company(bench, recipients),
        "naver_works": Audience(WORKS.company, "naver_works", setup_works(bench, recipients)),
        "kakao": Audience(KAKAO.company, "kakao", setup_kakao(bench, recipients)),
    }


def provider_limits(bench: Bench, enabled: bool) -> None:
    """The five fakes' rate limits on (their documented defaults, full buckets) or off."""
    for _, _, fake, _ in CHANNELS:
        bench.sandbox.set_limits(fake, enabled=enabled)


def depths(bench: Bench) -> dict[str, int]:
    found = {}
    for logical_id in QUEUES:
        attributes = bench.sqs.get_queue_attributes(QueueUrl=bench.stack.queues[logical_id], AttributeNames=list(DEPTH))
        found[logical_id] = sum(int(attributes["Attributes"].get(name, 0)) for name in DEPTH)
    return found


def start(
    template: dict[str, Any], resolver: Resolver, log_path: Path, environment: dict[str, dict[str, str]]
) -> tuple[Any, ...]:
    """Every function's process, started and cold (plus a bare interpreter, the RSS baseline).
    `environment`: logical id → variables set over its template environment."""
    context = multiprocessing.get_context("spawn")
    ready, results, stop = context.Queue(), context.Queue(), context.Event()
    processes = []
    for logical_id in FUNCTIONS:
        spec = {
            "logical_id": logical_id,
            "template": template,
            "resolver": resolver,
            "log_path": str(log_path),
            "environment": environment.get(logical_id, {}),
        }
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
            stop_all(processes, stop)
            missing = sorted({*FUNCTIONS, "bare"} - set(started))
            raise RuntimeError(f"function processes did not start: {missing}") from None
        if "error" in message:
            stop_all(processes, stop)
            raise RuntimeError(f"{message['logical_id']} failed to start:\n{message['error']}")
        started[message["logical_id"]] = message
    return processes, results, stop, started


def stop_all(processes: list[Any], stop: Any) -> None:
    stop.set()
    for process in processes:
        process.join(timeout=15)
    for process in processes:
        if process.is_alive():
            process.terminate()  # only our own children, by handle
            process.join(timeout=5)


def publish(bench: Bench, companies: dict[str, Audience], events: int) -> tuple[dict[str, Any], dict[str, int]]:
    """`events` events at once, 10 per SendMessageBatch, channels in turn: event id → channel, company, queued;
    and the producer's calls and SQS-billed requests (64 KB each)."""
    order = [channel for channel, *_ in CHANNELS if channel in companies]
    bodies = []
    for index in range(events):
        channel = order[index % len(order)]
        audience = companies[channel]
        body = event(audience.company, audience.recipients)
        body["event_id"] = f"bench-run-{index:04d}-{os.urandom(4).hex()}"
        bodies.append((channel, body))
    queued: dict[str, Any] = {}
    producer = {"calls": 0, "chunks": 0}
    url = bench.stack.queues["WorkplaceEventsQueue"]
    for begin in range(0, len(bodies), 10):
        chunk = bodies[begin : begin + 10]
        entries = [
            {"Id": str(i), "MessageBody": json.dumps(body, ensure_ascii=False)} for i, (_, body) in enumerate(chunk)
        ]
        answer = bench.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        producer["calls"] += 1
        producer["chunks"] += max(1, -(-sum(len(e["MessageBody"].encode()) for e in entries) // 65536))
        if answer.get("Failed"):
            raise RuntimeError(f"SendMessageBatch refused {answer['Failed']}")
        at = time.time()
        for channel, body in chunk:
            queued[body["event_id"]] = {"channel": channel, "company": body["company_id"], "queued_at": at}
    return queued, producer


def records(bench: Bench, queued: dict[str, Any]) -> dict[str, Any]:
    """Per channel: record statuses and the queued → sent latencies; the last `sent` time; the largest record."""
    table = bench.table("DeliveriesTable")
    by_channel: dict[str, dict[str, Any]] = {}
    last_sent, largest = 0.0, 0
    for event_id, info in queued.items():
        figures = by_channel.setdefault(info["channel"], {"statuses": Counter(), "latencies": [], "last_sent": 0.0})
        query: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(f"{info['company']}#{event_id}")}
        while True:
            page = table.query(**query)
            for item in page["Items"]:
                largest = max(largest, item_bytes({name: _serialize(value) for name, value in item.items()}))
                figures["statuses"][item["status"]] += 1
                if item["status"] == "sent":
                    sent = datetime.fromisoformat(item["updated_at"].replace("Z", "+00:00")).timestamp()
                    figures["latencies"].append(sent - info["queued_at"])
                    figures["last_sent"] = max(figures["last_sent"], sent)
                    last_sent = max(last_sent, sent)
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {"channels": by_channel, "last_sent": last_sent, "largest_record_bytes": largest}


def largest_item(bench: Bench, logical_id: str) -> int:
    """The largest item's size in a small table (its first 1,000 items)."""
    largest = 0
    for item in bench.table(logical_id).scan(Limit=1000).get("Items", []):
        largest = max(largest, item_bytes({name: _serialize(value) for name, value in item.items()}))
    return largest


def percentiles(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {}
    ordered = sorted(seconds)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p99": round(ordered[int(0.99 * (len(ordered) - 1))], 2),
        "max": round(ordered[-1], 2),
    }


def provider_requests(bench: Bench) -> dict[str, dict[str, int]]:
    counts = {}
    for channel, _, fake, _ in CHANNELS:
        entries = bench.sandbox.requests(fake)
        ok = sum(1 for e in entries if isinstance(e["status"], int) and 200 <= e["status"] < 300)
        counts[channel] = {
            "requests": len(entries),
            "http_2xx": ok,
            "http_429": sum(1 for e in entries if e["status"] == 429),
        }
    bench.sandbox.clear_requests()  # the log holds every body: let it go
    return counts


def drive(
    bench: Bench,
    template: dict[str, Any],
    companies: dict[str, Audience],
    *,
    events: int,
    patience: float,
    log_path: Path,
    environment: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """One run: start the processes, queue `events` events at once, wait for the queues to drain, stop.

    Returns the raw figures: t0 (wall clock of the first SendMessageBatch), queued, each function's stats (as
    function_process reports them), the records, the providers' requests, and this process's CPU."""
    leftovers = {name: depth for name, depth in depths(bench).items() if depth}
    processes, results, stop, started = start(template, bench.resolver, log_path, environment or {})
    bench.sandbox.clear_requests()
    cpu_before = os.times()
    t0 = time.time()
    queued, producer = publish(bench, companies, events)
    published = time.time() - t0
    deadline = time.monotonic() + patience
    empty_in_a_row, drained = 0, None
    while time.monotonic() < deadline:
        empty_in_a_row = empty_in_a_row + 1 if not any(depths(bench).values()) else 0
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
    stop_all(processes, stop)
    cpu_after = os.times()
    return {
        "t0": t0,
        "queued": queued,
        "producer": producer,
        "published_seconds": published,
        "drained_after": drained,
        "timed_out": drained is None,
        "started": started,
        "functions": functions,
        "records": records(bench, queued),
        "provider_requests": provider_requests(bench),
        "stack_cpu_seconds": (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system),
        "leftovers": leftovers,
    }
