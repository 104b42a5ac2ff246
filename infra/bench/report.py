"""Plain-text tables for the eight parts (figures with their targets next to them)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

# What each AWS call a function makes is for: (function kind, service, operation, resource) → purpose.
PURPOSES = {
    ("router", "dynamodb", "Query", "SettingsTable"): "company settings (cached per container, 30 s)",
    ("sender", "dynamodb", "Query", "SettingsTable"): "company settings (cached per container, 30 s)",
    ("sender", "dynamodb", "GetItem", "SettingsTable"): "company data key, sealed (cached 15 min)",
    ("sender", "kms", "Decrypt", "HubKey"): "unwrap the company data key (cached 15 min)",
    ("router", "dynamodb", "BatchGetItem", "LinksTable"): "all recipients' links, one batch per 100",
    ("sender", "dynamodb", "BatchGetItem", "LinksTable"): "links of the job's recipients, one read per job",
    ("router", "dynamodb", "Query", "DeliveriesTable"): "delivery records already written for the event",
    ("router", "dynamodb", "BatchWriteItem", "DeliveriesTable"): "new delivery records, 25 per batch",
    ("sender", "dynamodb", "UpdateItem", "DeliveriesTable"): "claim (conditional), per message, just before its call",
    ("sender", "dynamodb", "BatchWriteItem", "DeliveriesTable"): "outcomes: claimed records whole, 25 per batch",
    ("sender", "dynamodb", "GetItem", "DeliveriesTable"): "claim lost: read the record's state",
    ("router", "sqs", "SendMessageBatch", "SendSlackQueue"): "send jobs, 10 per batch",
    ("router", "dynamodb", "PutItem", "IdempotencyTable"): "idempotency guard: in-progress claim",
    ("router", "dynamodb", "UpdateItem", "IdempotencyTable"): "idempotency guard: completed",
    ("router", "dynamodb", "GetItem", "IdempotencyTable"): "idempotency guard: read existing",
}


def kind(logical_id_or_label: str) -> str:
    return "router" if "router" in logical_id_or_label.lower() else "sender"


def purpose(function: str, service: str, operation: str, resource: str) -> str:
    return PURPOSES.get((kind(function), service, operation, resource), "")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> str:
    """Columns sized to fit; `align` per column: 'l' or 'r' (default: first left, rest right)."""
    cells = [[str(h) for h in headers]] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    align = align or "l" + "r" * (len(headers) - 1)
    lines = []
    for number, row in enumerate(cells):
        parts = [value.ljust(w) if a == "l" else value.rjust(w) for value, w, a in zip(row, widths, align, strict=True)]
        lines.append("  " + "  ".join(parts).rstrip())
        if number == 0:
            lines.append("  " + "  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)


def _wrap(text: str, width: int = 100, indent: str = "  ") -> list[str]:
    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def _clients(results: list[dict[str, Any]]) -> str:
    per_function = sorted({" + ".join(r["boto3_clients"]) for r in results})
    return "; ".join(per_function) or "none"


def cold_imports(results: list[dict[str, Any]], repetitions: int) -> str:
    rows = []
    for r in results:
        b = r["importtime_breakdown"]
        rows.append(
            [
                r["function"],
                f"{r['handler_ms_median']:.1f}",
                f"{r['deps_only_ms_median']:.1f}",
                f"{r['ratio']:.2f}x",
                f"{r['ratio_of_minimums']:.2f}x",
                "<= 1.3x",
                f"{r['deps_and_clients_ms_median']:.1f}",
                f"{r['ratio_to_deps_and_clients']:.2f}x",
                f"{r['hub_own_ms']:.1f}",
                f"{b['builders_ms']:.1f}",
                f"{b['first_party_bodies_ms']:.1f}",
            ]
        )
    packages = sorted({p for r in results for p in r["third_party_packages"] if not p.startswith("_")})
    slowest = [
        f"    {r['function']}: "
        + ", ".join(
            f"{name} {ms:.0f}"
            for name, ms in r["importtime_breakdown"]["slowest_first_party"]
            if name != r["handler_module"]
        )
        for r in results
    ]
    failures = sorted({name for r in results for name in r["baseline_import_failures"]})
    return "\n".join(
        [
            f"1. Cold import per function (fresh interpreter each, median of {repetitions}; figures, not asserts)",
            table(
                [
                    "function",
                    "handler ms",
                    "deps-only ms",
                    "ratio",
                    "(of minimums)",
                    "target",
                    "+ SDK clients ms",
                    "ratio to that",
                    "hub's own ms",
                    "builders ms*",
                    "hub modules ms*",
                ],
                rows,
                "lrrrrrrrrrr",
            ),
            "  deps-only = a fresh interpreter importing exactly the non-first-party modules (third-party and",
            "  stdlib, submodules included, in load order) that the handler import loaded; third-party packages",
            *_wrap(f"among them: {', '.join(packages)}."),
            "  ratio = median handler / median deps-only; (of minimums) = fastest of each side, less sensitive",
            "  to other load on the machine. hub's own = the difference of the medians.",
            *_wrap(
                "+ SDK clients = deps-only plus creating the boto3 clients the handler import creates (same services,"
                " same order): what any boto3 user pays for them, mostly"
                f" botocore parsing its endpoint data for the first client ({_clients(results)}). ratio to that ="
                " median handler / its median: the hub's own code and builders beyond the SDK."
            ),
            "  * from one extra `-X importtime` run: self time of the handler module body (module-scope builders:",
            "    boto3 clients/resources, settings model, router/worker/app) and of the hub's own modules",
            "    (pydantic model classes, etc.); importtime adds its own overhead.",
            "  slowest hub modules besides the handler module (self ms, importtime):",
            *slowest,
            f"  baseline modules that would not import by name (skipped): {', '.join(failures) or 'none'}",
        ]
    )


def cold_inits(results: list[dict[str, Any]], repetitions: int) -> str:
    rows = [
        [
            r["logical_id"],
            f"{r['init_s_min']:.3f}",
            f"{r['init_s_median']:.3f}",
            f"{r['baseline_s_median']:.3f}",
            f"{r['ratio']:.2f}x",
            f"{r['cpu_ratio']:.2f}x",
            f"<= {r['target_ratio']:.1f}x",
            "met" if r["met"] else "NOT met",
            "" if r["tracer_extra_s"] is None else f"{r['tracer_extra_s'] * 1000:+.0f}",
            "" if r["tracer_extra_cpu_s"] is None else f"{r['tracer_extra_cpu_s'] * 1000:+.0f}",
        ]
        for r in results
    ]
    met = sum(r["met"] for r in results)
    boto3_from = sorted({str(r["boto3_from"]).rsplit("/python/", 1)[0].rsplit("/", 1)[-1] for r in results})
    return "\n".join(
        [
            "1b. Cold init from the built artifacts, as Lambda imports them (fresh process each run, median of"
            f" {repetitions}; figures, not asserts)",
            table(
                [
                    "function",
                    "init s min",
                    "init s median",
                    "boto3 s median",
                    "ratio",
                    "CPU ratio",
                    "target",
                    "",
                    "Tracer ms",
                    "Tracer CPU ms",
                ],
                rows,
                "lrrrrrrlrr",
            ),
            f"  {met} of {len(results)} functions within the target.",
            *_wrap(
                "init = importing the handler module (its module-scope wiring included: settings, AWS clients, the"
                " router / worker / app) with the function directory, then the layers' python/ on the path, -S (no"
                ' site-packages), PYTHONDONTWRITEBYTECODE=1. boto3 = `import boto3; boto3.client("dynamodb")` the'
                " same way, in the same rounds: the least any function touching DynamoDB pays. ratio = median of the"
                " round-by-round ratios (wall clock); CPU ratio = the same with each process's CPU time, steadier when"
                " other work shares the machine."
            ),
            *_wrap(
                "The artifacts: a host-arch (x86_64) copy built for this run with the recipes `make build` uses"
                " (layers/deps/Makefile from requirements.lock, shared/Makefile, handler modules compiled the same"
                " way); .aws-sam/ holds the arm64 wheels Lambda runs, which do not import here. boto3 came from:"
                f" {', '.join(boto3_from)}."
            ),
            *_wrap(
                "Tracer ms = what powertools' Tracer adds to the same init (X-Ray SDK imported, libraries patched;"
                " median of the round-by-round differences): the cost of tracing with the SDK rather than with"
                ' Lambda\'s active tracing alone (README "Cold starts and tracing").'
            ),
        ]
    )


def throughput(result: dict[str, Any]) -> str:
    b = result["breakdown_ms_per_notification"]
    f = result["floor_breakdown_ms_per_notification"]
    rows = [
        ["hub: router + Slack sender handlers", f"{result['hub_ms_per_notification']:.3f}", ""],
        ["floor: requests.Session().post loop", f"{result['floor_ms_per_notification']:.3f}", ""],
        ["ratio (median of per-round ratios)", f"{result['ratio']:.2f}x", "<= 2x"],
    ]
    calls = []
    for c in result["aws_calls_per_notification"]:
        calls.append(
            [
                f"{c['function']} {c['service']} {c['operation']} {c['resource']}",
                f"{c['calls']:.2f}",
                f"{c['ms']:.3f}",
                purpose(c["function"], c["service"], c["operation"], c["resource"]),
            ]
        )
    total_calls = sum(c["calls"] for c in result["aws_calls_per_notification"])
    per_call_ms = b["aws_calls"] / total_calls if total_calls else 0.0
    return "\n".join(
        [
            "2. Router + Slack sender per notification, in-process against moto + sandbox (rate limits off)",
            f"   {result['rounds']} rounds x {result['notifications_per_round']} notifications"
            f" (50-recipient events), sides alternating first",
            table(["", "ms/notification", "target"], rows, "lrr"),
            f"  per-round ratios: {', '.join(f'{r:.2f}' for r in result['ratio_per_round'])}",
            f"  delivered: hub {result['sent_by_hub']}/{result['notifications_total']}, floor"
            f" {result['sent_by_floor']}/{result['notifications_total']}; handler batch failures:"
            f" {result['handler_failures']}",
            "",
            "  Where the hub's time goes (ms per notification):",
            table(
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
            table(["call", "per notif.", "ms", "what for"], calls, "lrrl"),
        ]
    )


def aws_calls(result: dict[str, Any]) -> str:
    cold, warm = result["cold"], result["warm"]
    recipients = cold["recipients"]
    rows = []
    keys: dict[tuple[str, str], None] = {}
    for phase in (cold, warm):
        for function, figures in phase["functions"].items():
            for call in figures["calls"]:
                keys[(function, call)] = None
    for function, call in keys:
        service, operation, resource = call.split(" ", 2)
        rows.append(
            [
                kind(function),
                f"{service} {operation}",
                resource,
                cold["functions"][function]["calls"].get(call, 0),
                warm["functions"][function]["calls"].get(call, 0),
                purpose(function, service, operation, resource),
            ]
        )

    def total(phase: dict[str, Any], match: Any) -> int:
        return sum(
            count
            for function, figures in phase["functions"].items()
            for call, count in figures["calls"].items()
            if match(kind(function), *call.split(" ", 2))
        )

    def summary(label: str, match: Any, target: str) -> list[Any]:
        return [label, total(cold, match), total(warm, match), target]

    summaries = [
        summary(
            "settings reads (Query SettingsTable), router",
            lambda k, s, o, r: k == "router" and o == "Query" and r == "SettingsTable",
            "O(1) per warm container: 0 warm",
        ),
        summary(
            "settings reads (Query SettingsTable), sender",
            lambda k, s, o, r: k == "sender" and o == "Query" and r == "SettingsTable",
            "O(1) per warm container: 0 warm",
        ),
        summary(
            "links reads (BatchGetItem LinksTable), router",
            lambda k, s, o, r: k == "router" and r == "LinksTable",
            f"1 per event (<=100 recipients): {-(-recipients // 100)}",
        ),
        summary(
            "links reads (BatchGetItem LinksTable), sender",
            lambda k, s, o, r: k == "sender" and r == "LinksTable",
            f"1 per event: {-(-recipients // 100)}",
        ),
        summary(
            "deliveries writes (BatchWriteItem/UpdateItem)",
            lambda k, s, o, r: r == "DeliveriesTable" and o in ("BatchWriteItem", "UpdateItem", "PutItem"),
            f"router {-(-recipients // 25)} batches + 1 claim per message + 1 outcome batch per job",
        ),
        summary(
            "idempotency table calls",
            lambda k, s, o, r: r == "IdempotencyTable",
            "2 per event (claim + complete)",
        ),
        summary("KMS calls (all)", lambda k, s, o, r: s == "kms", "<=1 per company per cold container, 0 warm"),
        summary("DynamoDB calls (all)", lambda k, s, o, r: s == "dynamodb", ""),
        summary(
            "SQS calls by the functions", lambda k, s, o, r: s == "sqs", f"{-(-recipients // 10)} SendMessageBatch"
        ),
    ]
    kms = [total(phase, lambda k, s, o, r: s == "kms") / recipients for phase in (cold, warm)]
    summaries.insert(7, ["KMS calls per message", f"{kms[0]:.2f}", f"{kms[1]:.2f}", "0 (no KMS call per message)"])
    checks = ["", "  Per function (KMS cross-checked with Keyring.kms_calls):"]
    for name, phase in (("cold", cold), ("warm", warm)):
        for function, figures in phase["functions"].items():
            counters = figures["repository_counters"]
            hooked = sum(
                count
                for call, count in figures["calls"].items()
                if call.startswith("dynamodb ") and not call.endswith("IdempotencyTable")
            )
            kms = sum(count for call, count in figures["calls"].items() if call.startswith("kms "))
            checks.append(
                f"  {name} {kind(function)}: {figures['invocations']} invocation(s), {figures['records']} record(s),"
                f" {figures['failures']} failure(s); hub-table DynamoDB calls {hooked};"
                f" KMS {kms} (hook) / {counters.get('Keyring.kms_calls', 0)} (Keyring)"
            )
    checks.append("  (the idempotency table's calls are powertools'; they are counted in the table above)")
    return "\n".join(
        [
            f"3. AWS API calls for one {recipients}-recipient Slack event (botocore before-call hooks on the"
            " functions' own clients)",
            "   cold = first event on freshly imported router and sender containers; warm = a second event after it",
            table(["function", "call", "table/queue/key", "cold", "warm", "what for"], rows, "lllrrl"),
            "",
            table(["per event", "cold", "warm", "target"], summaries, "lrrl"),
            *checks,
        ]
    )


def _per(calls: int, recipients: int) -> str:
    return f"{calls / recipients:.4f}" if recipients else "-"


def _answers(counted: dict[str, Any]) -> str:
    return ", ".join(f"{status} x{n}" for status, n in sorted(counted["statuses"].items())) or "-"


def provider_calls(result: dict[str, Any]) -> str:
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
        table(
            ["provider", "HTTP call", "recipients", "calls", "answered", "per notification", "target", "met"],
            rows,
            "llrrlrll",
        ),
        f"  recipients per call: LINE {line_per_call} ({line_endpoints}); SENS {sens_per_call}",
    ]
    if reduced:
        lines += _wrap(
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
        table(
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


def shared_limits(result: dict[str, Any]) -> str:
    limit = result["limit"]
    lines = [
        f"Part 5: provider 429s with and without the shared rate limit — {result['containers']} sender containers "
        f"at once, {result['jobs']} messages to one Google Chat space limited to {limit['per_second']:.0f}/s "
        f"(bursts of {limit['burst']}); one pass over the queue",
    ]
    rows = []
    for label, key in (
        ("without (429s only)", "without_shared_limit"),
        ("with (DynamoDB bucket)", "with_shared_limit"),
    ):
        run = result[key]
        rows.append(
            [
                label,
                run["provider_calls"],
                run["provider_429"],
                run["sent"],
                run["refused_by_provider"],
                run["deferred_by_hub"],
                run["seconds"],
            ]
        )
    lines.append(
        table(["shared limit", "provider calls", "429 answers", "sent", "refused (429)", "deferred by hub", "s"], rows)
    )
    lines += _wrap(
        "Refused and deferred messages go back to the queue for a later attempt either way; the difference is "
        "whether the provider had to say no (each 429 also counts against the app at the provider)."
    )
    return "\n".join(lines)


def fairness(result: dict[str, Any]) -> str:
    lines = [
        f"Part 6: fairness — two companies each send an event to {result['recipients']} employees every "
        f"{result['interval']:.0f} s for {result['seconds']:.0f} s on Slack; in the storm run A's Slack answers 429 "
        f"(Retry-After {result['retry_after']} s) the whole time. Latency: event queued → delivery sent, seconds",
    ]
    rows = []
    for run_label, run_key in (("baseline", "baseline"), ("A's 429 storm", "storm")):
        for company_label, company_key in (("A", "a"), ("B", "b")):
            figures = result[run_key][company_key]
            rows.append(
                [
                    run_label,
                    company_label,
                    f"{figures['sent']}/{result[run_key]['messages_per_company']}",
                    figures.get("p50", "-"),
                    figures.get("p95", "-"),
                    figures.get("p99", "-"),
                    figures.get("max", "-"),
                ]
            )
    lines.append(table(["run", "company", "sent", "p50", "p95", "p99", "max"], rows, "llrrrrr"))
    lines += _wrap(
        "B's row in the storm run should match its baseline: A's refused jobs go back to the queue with the "
        "provider's Retry-After instead of holding the sender, and A's own messages arrive once its Slack "
        "recovers (A's latency is the storm's length)."
    )
    return "\n".join(lines)


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def versus_apprise(result: dict[str, Any]) -> str:
    channels, overall = result["channels"], result["overall"]
    rows = []
    for figures in [*channels.values(), {**overall, "label": "overall"}]:
        rows.append(
            [
                figures["label"],
                f"{figures['floor_ms']:.3f}",
                f"{figures['minimum_ms']:.3f}",
                f"{figures['hub_ms']:.3f}",
                f"{figures['apprise_ms']:.3f}",
                f"{figures['minimum_vs_floor']:.2f}x",
                f"{figures['hub_vs_floor']:.2f}x",
                f"{figures['hub_vs_minimum']:.2f}x",
                f"{figures['hub_vs_apprise']:.2f}x",
                _yes(figures["target_hub_within_1_5x_floor"]),
                _yes(figures["target_hub_faster_than_apprise"]),
            ]
        )
    delivery = []
    for figures in [*channels.values(), {**overall, "label": "overall"}]:
        row = [figures["label"]]
        for side in ("floor", "minimum", "hub", "apprise"):
            row.append(
                f"{figures[f'{side}_accepted']}/{figures[f'{side}_notifications']}"
                f" ({figures[f'{side}_requests']} req, {figures[f'{side}_http_2xx']} 2xx)"
            )
        delivery.append(row)
    split = [
        [
            figures["label"],
            f"{figures['hub_router_ms']:.3f}",
            f"{figures['hub_sender_ms']:.3f}",
            f"{figures['hub_mapping_ms_not_counted']:.3f}",
            f"{figures['hub_aws_ms']:.3f}",
            f"{figures['minimum_aws_calls_per_notification']:.2f}",
            f"{figures['minimum_aws_ms']:.3f}",
            f"{figures['hub_aws_calls_per_notification']:.2f}"
            f" ({figures['hub_aws_calls_by_operation'].get('dynamodb UpdateItem DeliveriesTable', 0):.2f})",
            f"{figures['apprise_build_ms']:.3f}",
            ", ".join(f"{status} x{n}" for status, n in sorted(figures["apprise_statuses"].items())),
        ]
        for figures in channels.values()
    ]
    recipients = result["recipients"]
    lines = [
        "7. Per notification: hub vs Apprise vs the floor, the same notification to the same people on the same"
        " sandbox endpoints",
        f"   {result['rounds']} rounds x {result['events_per_round']} events x {recipients} recipients per channel and"
        f" side (rate limits off); the side going first rotates; medians of the rounds' figures; Apprise"
        f" {result['apprise_version']}",
        table(
            [
                "channel",
                "floor ms",
                "minimum ms",
                "hub ms",
                "Apprise ms",
                "minimum/floor",
                "hub/floor",
                "hub/minimum",
                "hub/Apprise",
                "hub <= 1.5x floor",
                "hub faster than Apprise",
            ],
            rows,
            "lrrrrrrrrrr",
        ),
        "  overall = every channel's notifications together (per round: all time / all notifications).",
        f"  per-round hub/floor (overall): {', '.join(f'{r:.2f}' for r in overall['hub_vs_floor_per_round'])};"
        f" Apprise/floor: {', '.join(f'{r:.2f}' for r in overall['apprise_vs_floor_per_round'])};"
        f" Apprise/floor (median) {overall['apprise_vs_floor']:.2f}x",
        *_wrap(
            "minimum = the floor + one batched links read per event + a `sent` record per recipient in batches of 25"
            " (the hub's own repositories, same moto; no claims, no queue, no idempotency). Within 1.5x of the floor:"
            f" {_yes(overall['minimum_within_1_5x_floor'])} ({overall['minimum_vs_floor']:.2f}x overall,"
            + ", ".join(f" {c['label']} {c['minimum_vs_floor']:.2f}x" for c in channels.values())
            + "). Where even this is above 1.5x, no hub that looks its recipients up and keeps a record of each"
            " delivery can meet the target on this stack."
        ),
        "",
        "  Taken by the sandbox's fakes (notifications taken / sent; requests and HTTP 2xx answers in its log):",
        table(["channel", "floor", "minimum", "hub", "Apprise"], delivery, "lllll"),
        "",
        "  Per notification inside the sides (ms; the hub's AWS calls as counts):",
        table(
            [
                "channel",
                "hub router",
                "hub sender",
                "hub: mapping SQS (not counted)",
                "hub in AWS calls**",
                "minimum AWS calls",
                "minimum in AWS calls",
                "hub AWS calls*",
                "Apprise: building Apprise()",
                "Apprise notify() results",
            ],
            split,
            "lrrrrrrrrl",
        ),
    ]
    lines += _wrap(
        "* AWS calls per notification of the router and the sender (botocore hooks, as in part 3); in brackets the "
        "delivery records' conditional claims (UpdateItem DeliveriesTable), one per recipient on every channel whether "
        "the provider call is per recipient or one multicast (the outcomes follow in batches of 25)."
    )
    for side in ("hub", "minimum"):
        for figures in channels.values():
            by_call = sorted(figures[f"{side}_aws_ms_by_operation"].items(), key=lambda kv: -kv[1])
            lines += _wrap(
                f"{side}'s AWS call time per notification (ms), {figures['label']}: "
                + ", ".join(f"{key} {ms:.3f}" for key, ms in by_call),
                indent="    ",
            )
    lines += _wrap(
        "** wall time of each AWS call (request sent to answer parsed), summed: LINE's claims go out side by side, so "
        "its sum is larger than the time they took. minimum = one BatchGetItem LinksTable per event and one "
        "BatchWriteItem DeliveriesTable per 25 recipients."
    )
    lines += _wrap(
        "hub = router + sender handlers in-process (part 2's method; senders without the shared rate limit). "
        "LINE: the hub multicasts (one call per event for up to 500 userIds, its real behaviour) and the floor posts "
        "that same multicast; Apprise's LINE plugin pushes one call per userId. Slack and Google Chat are one call "
        "per recipient for all three. Apprise opens a new connection per request (requests.post without a "
        "session); the hub and the floor keep theirs alive. Apprise's messages are its own (Slack legacy "
        "attachments, Google Chat and LINE plain text); the hub's are Block Kit, a cardsV2 card and a Flex bubble."
    )
    lines.append(f"  part 7 took {result['seconds']:.0f} s (set-up included)")
    return "\n".join(lines)


def end_to_end(result: dict[str, Any]) -> str:
    latency = result["latency"]
    wall = result["wall_seconds"]
    headline = [
        [
            "notifications (events x recipients)",
            f"{result['notifications']:,} ({result['events']} x {result['recipients']})",
        ],
        ["delivery records sent", f"{result['sent']:,}"],
        ["wall time, first event queued -> last record sent", f"{wall:.1f} s" if wall else "-"],
        ["notifications sent per second", f"{result['notifications_per_second']:.1f}" if wall else "-"],
        [
            "latency, event queued -> record sent (p50 / p99 / max)",
            f"{latency.get('p50', '-')} / {latency.get('p99', '-')} / {latency.get('max', '-')} s",
        ],
        ["queueing the events (SendMessageBatch x10 each)", f"{result['publish_seconds']:.2f} s"],
    ]
    channels = []
    for figures in result["channels"].values():
        others = {k: v for k, v in figures["statuses"].items() if k != "sent"}
        lat = figures["latency"]
        requests_ = figures["provider_requests"]
        channels.append(
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
                f"{requests_['requests']} ({requests_['http_2xx']} 2xx)",
            ]
        )
    functions = []
    for logical_id, figures in result["functions"].items():
        functions.append(
            [
                logical_id,
                figures["invocations"] if figures["invocations"] is not None else "-",
                figures["records"] if figures["records"] is not None else "-",
                figures["failed_records"] if figures["failed_records"] is not None else "-",
                f"{figures['function_seconds']:.1f}",
                f"{figures['cpu_seconds']:.1f}",
                f"{figures['cold_start_seconds']:.2f}",
                f"{figures['rss_after_cold_start_mib']:.0f}",
                f"{figures['peak_rss_mib']:.0f}" if figures["peak_rss_mib"] is not None else "-",
                figures["memory_size_mb"],
            ]
        )
    lines = [
        f"8. End to end: {result['events']} events x {result['recipients']} recipients over five messengers (one"
        " company each, events in turn), all queued at once",
        "   router + 5 senders, one process each (real handlers fed by event source mappings), against the stack's moto"
        " and sandbox; rate limits off",
        table(["", "figure"], headline, "lr"),
        "",
        table(
            [
                "channel",
                "events",
                "notifications",
                "sent",
                "other records",
                "p50 s",
                "p99 s",
                "max s",
                "last sent at s",
                "provider requests",
            ],
            channels,
            "lrrrlrrrrr",
        ),
        "",
        "  Each function's process (peak RSS = VmHWM, Lambda's \"Max Memory Used\" measure; MemorySize from the"
        " template):",
        table(
            [
                "function",
                "invocations",
                "records",
                "failed",
                "handler s",
                "CPU s",
                "start s",
                "RSS after start MiB",
                "peak RSS MiB",
                "MemorySize MB",
            ],
            functions,
            "lrrrrrrrrr",
        ),
    ]
    lines += _wrap(
        "start s = from the process's entry to its container loaded (imports, the handler module and the clients it "
        "builds at module scope), before the run. "
        f"A bare spawned interpreter's RSS here: {result['bare_interpreter_rss_mib']:.0f} MiB (in every figure above). "
        f"CPU over the run: the function processes {result['function_processes_cpu_seconds']:.0f} s, this process "
        f"(moto, the sandbox, the benchmark's polling) {result['stack_process_cpu_seconds']:.0f} s"
        + (f" ({result['stack_process_cpu_seconds'] / wall:.0%} of one CPU over the wall time)" if wall else "")
        + f", on {result['cpus']} CPUs. Latency includes the wait in the backlog: every event was queued at the start."
    )
    foreign = sorted({m for f in result["functions"].values() for m in f["foreign_modules"]})
    if foreign:
        lines.append(f"  NOTE: the function processes also loaded {', '.join(foreign)} (their RSS includes it)")
    errors = [f"{logical_id}: {f['error']}" for logical_id, f in result["functions"].items() if f.get("error")]
    lines += [f"  ERROR in {error}" for error in errors]
    if result["timed_out"]:
        lines.append(f"  NOTE: the queues had not drained after {result['patience']:.0f} s; figures are partial")
    if result["leftover_messages_before"]:
        lines.append(f"  messages already on the queues before the run: {result['leftover_messages_before']}")
    lines.append(f"  part 8 took {result['seconds']:.0f} s (set-up {result['setup_seconds']:.0f} s)")
    return "\n".join(lines)
