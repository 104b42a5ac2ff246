"""Time helpers every layer shares: the one timestamp form the hub stores and sorts by."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_iso(moment: datetime) -> str:
    """A moment as an RFC 3339 UTC timestamp with milliseconds and `Z`: the form stored timestamps take, which
    the delivery log's index sorts by."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now_iso() -> str:
    """Now, as `utc_iso` writes it."""
    return utc_iso(datetime.now(UTC))
