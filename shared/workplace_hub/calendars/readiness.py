"""Whether an employee's calendar can be written now, and if not, why (a delivery `skipped` reason).

Shared by the calendar writers (before any call) and GET /me/calendar-options (what the absence form offers),
so the form never offers a calendar the worker would skip.
"""

from __future__ import annotations

from typing import Any

from workplace_hub.catalog import CalendarRef
from workplace_hub.naver_works.auth import is_legacy
from workplace_hub.storage.link_health import NEEDS_RELINK, state_attribute
from workplace_hub.storage.links import EmployeeLinks


def needs_relink(links: EmployeeLinks, channel: str) -> bool:
    problem = links.get(state_attribute(channel))
    return isinstance(problem, dict) and problem.get("state") == NEEDS_RELINK


def delegated(credentials: dict[str, Any]) -> bool:
    """Google calendars written through domain-wide delegation (no employee consent)."""
    return credentials.get("auth_mode") == "domain_wide_delegation"


def google_unusable(links: EmployeeLinks, credentials: dict[str, Any]) -> str | None:
    """The primary calendar of the registered Google Workspace ID, through consent or delegation."""
    if not links.get("google_workspace_id"):
        return "google_workspace_id_missing"
    if delegated(credentials):
        return None
    if needs_relink(links, "google_calendar"):
        return "google_calendar_needs_relink"
    if not links.get("google_calendar_tokens"):
        return "google_calendar_not_authorized"
    return None


def naver_works_unusable(ref: CalendarRef, links: EmployeeLinks, credentials: dict[str, Any]) -> str | None:
    """The default calendar needs only the company's credentials; a personal one the employee's authorization
    (API 2.0 user OAuth: the 1.0 server API has no employee authorization)."""
    if ref.calendar_id is None:
        return None
    if is_legacy(credentials):
        return "naver_works_personal_calendar_needs_api_2_0"
    if needs_relink(links, "naver_works_calendar"):
        return "naver_works_calendar_needs_relink"
    if not links.get("naver_works_calendar_tokens"):
        return "naver_works_calendar_not_authorized"
    return None


def unusable(ref: CalendarRef, links: EmployeeLinks, credentials: dict[str, Any]) -> str | None:
    if ref.provider == "google":
        return google_unusable(links, credentials)
    return naver_works_unusable(ref, links, credentials)
