"""Helpers of the calendar registration tests: absence events, and what the sandbox calendars hold."""

from __future__ import annotations

import uuid
from typing import Any

from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from tests.integration.helpers import Api, deliveries, wait_for, wait_for_deliveries
from tests.integration.linking import (
    enable_google_calendar,
    google_user_signs_in,
    link,
    page,
    register_workspace_id,
)
from tests.integration.messengers import queue_idle


def absence_upserted(
    company_id: str,
    user_id: str,
    absence_id: str,
    calendars: list[dict[str, Any]],
    *,
    occurred_at: str = "2026-11-28T09:20:00+09:00",
    event_id: str | None = None,
    **absence: Any,
) -> dict[str, Any]:
    """A contract-valid absence.upserted: a one-day vacation on 2026-12-01 in Tokyo unless overridden."""
    return {
        "version": "1",
        "event_id": event_id or f"evt-{uuid.uuid4().hex[:12]}",
        "company_id": company_id,
        "type": "absence.upserted",
        "occurred_at": occurred_at,
        "absence": {
            "absence_id": absence_id,
            "user_id": user_id,
            "kind": "vacation",
            "title": "年次休暇",
            "all_day": True,
            "start": "2026-12-01",
            "end": "2026-12-01",
            "timezone": "Asia/Tokyo",
            "calendars": calendars,
            **absence,
        },
    }


def absence_cancelled(
    company_id: str,
    user_id: str,
    absence_id: str,
    *,
    occurred_at: str = "2026-11-28T10:00:00+09:00",
    event_id: str | None = None,
) -> dict[str, Any]:
    return {
        "version": "1",
        "event_id": event_id or f"evt-{uuid.uuid4().hex[:12]}",
        "company_id": company_id,
        "type": "absence.cancelled",
        "occurred_at": occurred_at,
        "absence": {"absence_id": absence_id, "user_id": user_id},
    }


def google_events(sandbox: SandboxClient, email: str) -> list[dict[str, Any]]:
    """The live (not deleted) events of the user's primary Google calendar."""
    found = sandbox.control("google_calendar", f"events/{email}", {})["events"]
    return [event for event in found if event.get("status") != "cancelled"]


def works_events(sandbox: SandboxClient, tenant_domain: str, user_id: str) -> list[dict[str, Any]]:
    """Every event in the user's NAVER WORKS calendars (default and personal)."""
    return sandbox.control("naver_works", "calendar_events", {"domain_id": tenant_domain, "user_id": user_id})["events"]


def calendar_records(admin: Api, event_id: str) -> dict[str, dict[str, Any]]:
    """channel → delivery record of the event (every page)."""
    return {record["channel"]: record for record in deliveries(admin, event_id)}


def wait_for_calendar_records(
    admin: Api, event_id: str, count: int, *, timeout: float = 15.0
) -> dict[str, dict[str, Any]]:
    """`wait_for_deliveries` by channel: the event's `count` records once none is still in progress."""
    settled = wait_for_deliveries(admin, event_id, count, timeout=timeout)
    return {channel: record for (_, channel), record in settled.items()}


def wait_until_calendars_idle(stack: LocalStack, timeout: float = 15.0) -> None:
    """The router and the calendar worker have nothing left to do."""
    for logical_id in ("WorkplaceEventsQueue", "CalendarQueue"):
        wait_for(lambda logical_id=logical_id: queue_idle(stack, logical_id), timeout=timeout, interval=0.2)


def link_google_calendar(stack: LocalStack, admin: Api, member: Api, sandbox: SandboxClient, domain: str) -> str:
    """google_calendar on (user consent), the member's Workspace ID registered and consent given: their e-mail."""
    enable_google_calendar(stack, admin, sandbox, domain)
    email = member.user_id.split("@")[0] + f"@{domain}"
    register_workspace_id(admin, member.user_id, email)
    google_user_signs_in(sandbox, email, domain)
    assert page(link(member, "google")).result == "linked"
    return email
