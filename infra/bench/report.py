"""Shared formatting of the parts' tables (each part module formats its own report with these)."""

from __future__ import annotations

import statistics
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


# The same for any table or queue of that kind: (service, operation, resource prefix) → purpose.
GENERIC_PURPOSES = {
    ("sqs", "SendMessageBatch", "Send"): "send jobs, 10 per batch",
    ("dynamodb", "UpdateItem", "RateLimitsTable"): "shared rate limit: tokens taken (conditional write)",
    ("dynamodb", "TransactWriteItems", "DeliveriesTable"): "claims of a window of calls (one transaction)",
    ("dynamodb", "BatchGetItem", "DeliveriesTable"): "a window's records read before its claims (consistent)",
    ("dynamodb", "TransactWriteItems", "RateLimitsTable"): "shared rate limit: a window's tokens, several buckets",
    ("sqs", "SendMessage", "KakaoResultsQueue"): "AlimTalk result lookups, delayed",
    ("sqs", "SendMessage", "Send"): "a job postponed (Retry-After / rate limit)",
    ("sqs", "ChangeMessageVisibility", "Send"): "a job postponed (Retry-After / rate limit)",
}


def purpose(function: str, service: str, operation: str, resource: str) -> str:
    found = PURPOSES.get((kind(function), service, operation, resource))
    if found:
        return found
    return next(
        (
            text
            for (s, o, prefix), text in GENERIC_PURPOSES.items()
            if (s, o) == (service, operation) and resource.startswith(prefix)
        ),
        "",
    )


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


def wrap(text: str, width: int = 100, indent: str = "  ") -> list[str]:
    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def median(values: list[float], digits: int = 3) -> float:
    return round(statistics.median(values), digits)


def merge(counters: list[dict[str, Any]]) -> dict[str, Any]:
    """Dicts of numbers added key by key."""
    merged: dict[str, Any] = {}
    for counter in counters:
        for key, value in counter.items():
            merged[key] = merged.get(key, 0) + value
    return merged


def latency_text(profile: dict[str, dict[str, float]]) -> str:
    """A latency setting as printed: "slack 250+50, line 60+12" (ms, fixed+jitter), or "none"."""
    return ", ".join(f"{name} {v['fixed_ms']:.0f}+{v['jitter_ms']:.0f}" for name, v in profile.items()) or "none"
