"""AWS requests, DynamoDB write units and the list-price AWS cost per notification (part 9's second table).

Counted in each function's process by botocore hooks on the clients its container built (probes.AwsCalls):
every API call by service, operation and table or queue. Stages: the router, each sender, the event source
mappings (Lambda's SQS pollers: their receives that returned messages and their deletes are billed as SQS
requests; empty long polls are a fixed cost per queue, left out) and WORKPLACE's SendMessageBatch of the events.

Write units are computed from item sizes, not read from ConsumedCapacity (moto answers a constant 1 per call, and
nothing for TransactWriteItems): 1 unit per KB of each item written, 2 in a transaction; an item a request does not
carry whole (UpdateItem, DeleteItem, a transaction's Update / ConditionCheck) is counted at its table's largest
item measured after the run (DeliveriesTable: the run's own records). A failed conditional write is billed as if
it wrote. Read units: 0.5 per item returned (eventually consistent, items under 4 KB), an upper bound.

Prices: list prices for ap-northeast-1 (Tokyo) as the author recalls them from the public AWS price pages
(aws.amazon.com/lambda/pricing, /dynamodb/pricing/on-demand, /sqs/pricing, /kms/pricing, /sns/pricing), state of
2025, written down 2026-12-07 on a machine without internet: not re-checked. Free tiers are left out.
"""

from __future__ import annotations

import math
from typing import Any

from infra.bench import report

PRICES_DATE = "2026-12-07 (as recalled: public AWS price pages, ap-northeast-1, 2025; not re-checked)"
PRICES = {
    "lambda_arm64_gb_second": 0.0000133334,  # USD per GB-second, arm64, first 7.5 billion GB-s a month
    "lambda_request": 0.20 / 1e6,  # USD per invocation
    "dynamodb_write_unit": 0.7135 / 1e6,  # on-demand write request unit (halved on 2024-11-01)
    "dynamodb_read_unit": 0.1427 / 1e6,  # on-demand read request unit
    "sqs_request": 0.40 / 1e6,  # standard queue; each 64 KB of a payload is one request
    "kms_request": 0.03 / 1e4,  # symmetric key API requests
    "sns_http_delivery": 0.60 / 1e6,  # Amazon SNS HTTP/S deliveries (the anchor, not a target)
    "sns_publish": 0.50 / 1e6,  # Amazon SNS publishes (API requests)
}
TARGETS = {"aws_requests": 0.3, "write_units": 3.0, "usd_per_million": 3.0}
MAPPING = "mapping: "  # a function's event source mapping's calls, within the function's stage
PRODUCER = "WORKPLACE (SendMessageBatch)"


def tally(raw: dict[str, Any], template: dict[str, Any], largest: dict[str, int]) -> dict[str, Any]:
    """A pipeline run's AWS requests, units and Lambda time by stage: stage → kind → figures, and Lambda."""
    stages: dict[str, dict[str, dict[str, float]]] = {}
    lambda_: dict[str, dict[str, float]] = {}
    globals_ = template.get("Globals", {}).get("Function", {})
    for logical_id, stats in raw["functions"].items():
        if "aws" not in stats:
            continue
        properties = template["Resources"][logical_id]["Properties"]
        memory_mb = int(properties.get("MemorySize", globals_.get("MemorySize", 128)))
        lambda_[logical_id] = {
            "seconds": stats["function_seconds"],
            "invocations": stats["invocations"],
            "memory_mb": memory_mb,
        }
        stage = stages.setdefault(logical_id, {})
        _add(stage, stats["aws"], largest)
        _add(stage, stats["mapping_aws"], largest, empty_polls=stats.get("empty_polls", 0), prefix=MAPPING)
    stages[PRODUCER] = {
        "sqs SendMessageBatch WorkplaceEventsQueue": {
            "calls": raw["producer"]["calls"],
            "billed": raw["producer"]["chunks"],
            "write_units": 0.0,
            "read_units": 0.0,
        }
    }
    return {"stages": stages, "lambda": lambda_}


def _add(
    stage: dict[str, Any], counted: dict[str, Any], largest: dict[str, int], empty_polls: int = 0, prefix: str = ""
) -> None:
    for kind, calls in counted["calls"].items():
        service, operation, resource = kind.split(" ", 2)
        if operation == "GetQueueUrl":
            continue  # the pump's own set-up
        billed = counted["sqs_chunks"].get(kind, 0) if service == "sqs" else calls
        if operation == "ReceiveMessage":
            calls, billed = calls - empty_polls, billed - empty_polls
        units = counted["sized_units"].get(kind, 0) + counted["unsized_items"].get(kind, 0) * max(
            1, math.ceil(largest.get(resource, 0) / 1024)
        )
        figures = stage.setdefault(prefix + kind, {"calls": 0, "billed": 0, "write_units": 0.0, "read_units": 0.0})
        figures["calls"] += calls
        figures["billed"] += billed
        figures["write_units"] += units
        figures["read_units"] += 0.5 * counted["read_items"].get(kind, 0)


def cost(tallied: dict[str, Any], notifications: int, stages: set[str] | None = None) -> dict[str, Any]:
    """Per notification: AWS requests, write units and USD by service (per million: x 1e6), for `stages` (all)."""
    chosen = {name: kinds for name, kinds in tallied["stages"].items() if stages is None or name in stages}
    kinds = [(kind, figures) for per_stage in chosen.values() for kind, figures in per_stage.items()]
    requests = sum(f["calls"] for _, f in kinds)
    function_requests = sum(f["calls"] for kind, f in kinds if not kind.startswith(MAPPING)) - sum(
        f["calls"] for f in chosen.get(PRODUCER, {}).values()
    )
    write_units = sum(f["write_units"] for _, f in kinds)
    read_units = sum(f["read_units"] for _, f in kinds)
    sqs_billed = sum(f["billed"] for kind, f in kinds if kind.removeprefix(MAPPING).startswith("sqs "))
    kms = sum(f["calls"] for kind, f in kinds if kind.startswith("kms "))
    functions = {k: v for k, v in tallied["lambda"].items() if stages is None or k in stages}
    usd = {
        "lambda_duration": sum(
            f["seconds"] * f["memory_mb"] / 1024 * PRICES["lambda_arm64_gb_second"] for f in functions.values()
        ),
        "lambda_requests": sum(f["invocations"] for f in functions.values()) * PRICES["lambda_request"],
        "dynamodb": write_units * PRICES["dynamodb_write_unit"] + read_units * PRICES["dynamodb_read_unit"],
        "sqs": sqs_billed * PRICES["sqs_request"],
        "kms": kms * PRICES["kms_request"],
    }
    n = max(1, notifications)
    return {
        "aws_requests": requests / n,
        "function_aws_requests": function_requests / n,
        "write_units": write_units / n,
        "read_units": read_units / n,
        "usd_per_million": {name: value / n * 1e6 for name, value in usd.items()},
        "usd_per_million_total": sum(usd.values()) / n * 1e6,
    }


def render(part: dict[str, Any]) -> str:
    """Part 9b: the deployed (concurrent) side's AWS requests, units and cost; the sequential side beside it."""
    sides, channels = part["sides"], part["channels"]
    concurrent = sides["concurrent"]
    total = part["notifications_total"]
    # A sender's calls per notification of its own channel; the router's and WORKPLACE's over all of them.
    per_stage = {info["function"]: concurrent["channels"][name]["notifications"] for name, info in channels.items()}
    by_kind = []
    for stage, kinds in concurrent["aws"]["stages"].items():
        n = per_stage.get(stage, total)
        for kind, figures in sorted(kinds.items(), key=lambda item: -item[1]["calls"]):
            service, operation, resource = kind.removeprefix(MAPPING).split(" ", 2)
            what = report.purpose(stage, service, operation, resource)
            by_kind.append(
                [
                    stage.removesuffix("Function"),
                    kind,
                    f"{figures['calls'] / n:.4f}",
                    f"{figures['write_units'] / n:.3f}",
                    "Lambda's SQS poller" if kind.startswith(MAPPING) else what,
                ]
            )
    rows = []
    for label, key in [*((c["label"], name) for name, c in channels.items()), ("all five", "overall")]:
        figures = {side: sides[side]["cost"][key] for side in ("sequential", "concurrent")}
        conc = figures["concurrent"]
        rows.append(
            [
                label,
                f"{figures['sequential']['aws_requests']:.3f} / {conc['aws_requests']:.3f}",
                f"{conc['function_aws_requests']:.3f}",
                f"{figures['sequential']['write_units']:.2f} / {conc['write_units']:.2f}",
                *(f"{conc['usd_per_million'][name]:.2f}" for name in ("lambda_duration", "lambda_requests")),
                *(f"{conc['usd_per_million'][name]:.2f}" for name in ("dynamodb", "sqs", "kms")),
                f"{figures['sequential']['usd_per_million_total']:.2f} / {conc['usd_per_million_total']:.2f}",
            ]
        )
    overall = sides["concurrent"]["cost"]["overall"]
    sns = PRICES["sns_http_delivery"] * 1e6
    lines = [
        "9b. AWS requests, DynamoDB write units and list-price cost per notification, same run (botocore hooks in each"
        " function's process)",
        f"   per notification, {total:,} notifications; the sequential side / the concurrent side:",
        report.table(
            [
                *("channel", "AWS requests", "of them the functions'", "write units", "Lambda $/M", "invocations $/M"),
                *("DynamoDB $/M", "SQS $/M", "KMS $/M", "total USD per million"),
            ],
            rows,
            "lrrrrrrrrr",
        ),
        f"  targets: <= {TARGETS['aws_requests']} AWS requests, <= {TARGETS['write_units']:.0f} write units and <="
        f" USD {TARGETS['usd_per_million']:.0f} per million notifications; deployed (concurrent) side, all five:"
        f" {overall['aws_requests']:.3f} ({report.yes(overall['aws_requests'] <= TARGETS['aws_requests'])}),"
        f" {overall['write_units']:.2f} ({report.yes(overall['write_units'] <= TARGETS['write_units'])}),"
        f" USD {overall['usd_per_million_total']:.2f}"
        f" ({report.yes(overall['usd_per_million_total'] <= TARGETS['usd_per_million'])}).",
        f"  Amazon SNS, as many HTTP deliveries: USD {sns:.2f} per million (+ USD {PRICES['sns_publish'] * 1e6:.2f} per"
        " million publishes; one publish fans out to every subscriber): the anchor, not a target — SNS keeps no"
        " per-delivery state.",
        "",
        "  By stage and kind, the concurrent side (per notification: a sender's of its channel, the others' of all"
        " five):",
        report.table(["stage", "call", "calls", "write units", "what for"], by_kind, "llrrl"),
    ]
    lines += report.wrap(
        "AWS requests = every AWS API call the functions made, plus the event source mappings' receives that returned"
        " messages and their deletes, plus WORKPLACE's SendMessageBatch (one per 10 events). Lambda = handler wall time"
        " x MemorySize (arm64) + invocations. Write units from item sizes (largest items: "
        + ", ".join(f"{name} {size} B" for name, size in part["largest_items"].items())
        + "); read units 0.5 per item returned. SQS billed per 64 KB of payload. Empty long polls of the mappings"
        " (a fixed cost per queue and hour, not per notification) and CloudWatch Logs are left out."
    )
    lines += report.wrap(f"Prices (USD): {', '.join(f'{k} {v:.10g}' for k, v in PRICES.items())}; {PRICES_DATE}.")
    return "\n".join(lines)


def combined(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-notification figures of several cost() results added (a channel's sender + its share of the router)."""
    out: dict[str, Any] = {key: sum(p[key] for p in parts) for key in parts[0] if key != "usd_per_million"}
    out["usd_per_million"] = report.merge([p["usd_per_million"] for p in parts])
    return out
