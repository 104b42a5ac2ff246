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
from collections import Counter
from typing import Any

from boto3.dynamodb.conditions import Key

from infra.bench import report
from infra.bench.companies import KAKAO, LINE, WORKS, Bench, event, setup_kakao, setup_line, setup_works
from infra.bench.containers import Drive, EventSourceMapping, load_container
from infra.local_stack import LocalStack
from infra.template import Resolver

PATIENCE = 600.0  # seconds a queue may take to drain (the mapping's default, 30 s, is too short here)


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


def _per(calls: int, recipients: int) -> str:
    return f"{calls / recipients:.4f}" if recipients else "-"


def _answers(counted: dict[str, Any]) -> str:
    return ", ".join(f"{status} x{n}" for status, n in sorted(counted["statuses"].items())) or "-"


def render(result: dict[str, Any]) -> str:
    providers = result["providers"]
    line, kakao, works = providers["line"], providers["kakao"], providers["naver_works"]
    second = works["second_event"]
    n_line, n_kakao, n_works = line["recipients"], kakao["recipients"], works["recipients"]
    reduced = n_works != result["recipients_requested"]
    mark = "*" if reduced else ""
    line_counted, sens_counted = line["calls"]["push/multicast"], kakao["calls"]["send"]
    works_counted, tokens_counted = works["calls"]["message"], works["calls"]["token"]
    line_calls, sens_calls = line_counted["calls"], sens_counted["calls"]
    works_calls, tokens_first = works_counted["calls"], tokens_counted["calls"]
    tokens_both = works["token_exchanges_both_events"]
    targets = {"line": -(-n_line // 500), "sens": -(-n_kakao // 100), "works": n_works}
    rows = [
        [
            "LINE",
            "push/multicast",
            n_line,
            line_calls,
            _answers(line_counted),
            _per(line_calls, n_line),
            f"ceil(N/500) = {targets['line']}",
            "yes" if line_calls <= targets["line"] else "NO",
        ],
        [
            "KakaoTalk AlimTalk (SENS)",
            "AlimTalk send",
            n_kakao,
            sens_calls,
            _answers(sens_counted),
            _per(sens_calls, n_kakao),
            f"ceil(N/100) = {targets['sens']}",
            "yes" if sens_calls <= targets["sens"] else "NO",
        ],
        [
            "NAVER WORKS",
            "bot message",
            f"{n_works}{mark}",
            works_calls,
            _answers(works_counted),
            _per(works_calls, n_works),
            f"1 per recipient (no batch API) = {n_works}",
            "yes" if works_calls <= targets["works"] else "NO",
        ],
        [
            "NAVER WORKS",
            "token exchange, event 1",
            f"{n_works}{mark}",
            tokens_first,
            _answers(tokens_counted),
            _per(tokens_first, n_works),
            "1 per company per token lifetime",
            "yes" if tokens_first <= 1 else "NO",
        ],
        [
            "NAVER WORKS",
            "token exchange, events 1+2",
            f"2 x {second['recipients']}{mark}",
            tokens_both,
            "",
            _per(tokens_both, n_works + second["recipients"]),
            "stays 1 on the 2nd event",
            "yes" if tokens_both <= 1 else "NO",
        ],
    ]
    outcomes = []
    for label, figures, accepted in (
        ("LINE", line, "delivered (friends)"),
        ("KakaoTalk AlimTalk (SENS)", kakao, "accepted (A000)"),
        ("NAVER WORKS, event 1", works, "accepted (201)"),
        ("NAVER WORKS, event 2", second, "accepted (201)"),
    ):
        o = figures["outcomes"]
        outcomes.append(
            [
                label,
                figures["recipients"],
                o["records"],
                o["sent"],
                o["failed"],
                o["skipped"],
                f"{figures['provider_accepted']} {accepted}",
                figures["send_jobs"],
                figures["sender_invocations"],
                figures["handler_failures"],
                f"{figures['router_seconds']:.1f} / {figures['sender_seconds']:.1f}",
            ]
        )
    notes = []
    for label, figures in (("LINE", line), ("SENS", kakao), ("NAVER WORKS", works), ("NAVER WORKS 2nd", second)):
        o = figures["outcomes"]
        if o["reasons"] or o["other"]:
            notes.append(f"  {label} records not sent: {o['reasons']} {o['other'] or ''}".rstrip())
        if figures["other_requests"]:
            notes.append(f"  {label} other provider requests during the event: {', '.join(figures['other_requests'])}")
    line_per_call = ", ".join(str(n) for n in line["recipients_per_call"])
    line_endpoints = ", ".join(f"{endpoint} x{n}" for endpoint, n in line["endpoints"].items())
    sens_per_call = ", ".join(str(n) for n in kakao["recipients_per_call"])
    lines = [
        "4. Provider HTTP calls per notification for one event (sandbox request log; rate limits off)",
        "   per provider: its own company configured and verified through the settings API, item routed to",
        "   the channel; ONE event through a fresh router container and a fresh container of the channel's",
        "   sender function (send_line / send_kakao / send_naver_works), counted from the sandbox's log",
        report.table(
            ["provider", "HTTP call", "recipients", "calls", "answered", "per notification", "target", "met"],
            rows,
            "llrrlrll",
        ),
        f"  recipients per call: LINE {line_per_call} ({line_endpoints}); SENS {sens_per_call}",
    ]
    if reduced:
        lines += report.wrap(
            f"* NAVER WORKS measured with {n_works} recipients per event, not {result['recipients_requested']}:"
            " the API has no batch send, so the sender makes one HTTP call per recipient (jobs of 10), each"
            " with its claim (and the job's outcome batch); on moto with 2 CPUs a 1,000-recipient event takes tens of"
            " seconds, and two events are needed. Calls per notification do not depend on N;"
            " `--works-recipients 1000` measures the full size.",
            indent="  ",
        )
    lines += [
        "",
        "  Delivery outcomes (the event's records in DeliveriesTable; the provider's side from the sandbox):",
        report.table(
            [
                "event",
                "recipients",
                "records",
                "sent",
                "failed",
                "skipped",
                "provider side",
                "send jobs",
                "invocations",
                "item failures",
                "router/sender s",
            ],
            outcomes,
            "lrrrrrlrrrr",
        ),
        *notes,
        f"  part 4 took {result['seconds']:.0f} s (set-up included)",
    ]
    return "\n".join(lines)
