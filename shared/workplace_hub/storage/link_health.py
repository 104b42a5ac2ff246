"""Per employee and channel, the state of their link: linked, not_linked, needs_relink or blocked."""

from __future__ import annotations

from typing import Any

from workplace_hub.clock import utc_now_iso
from workplace_hub.storage.links import EmployeeLinks, LinksRepository

LINKED, NOT_LINKED, NEEDS_RELINK, BLOCKED = "linked", "not_linked", "needs_relink", "blocked"

# The channels an employee links, and the attribute whose presence means "linked".
LINK_FIELDS: dict[str, str] = {
    "slack": "slack_member_id",
    "google_chat": "google_chat_webhook_url",
    "line": "line_user_id",
    "google_calendar": "google_workspace_id",
    "naver_works_calendar": "naver_works_calendar_tokens",
}


def state_attribute(channel: str) -> str:
    """Where a channel's problem state (needs_relink / blocked) and its reason are kept."""
    return f"{channel}_link_state"


def mark_needs_relink(links: LinksRepository, company_id: str, user_id: str, channel: str, reason: str) -> None:
    """The provider refused the employee's grant or address on `channel`: only linking again clears it."""
    problem = {"state": NEEDS_RELINK, "reason": reason, "since": utc_now_iso()}
    links.update(company_id, user_id, {state_attribute(channel): problem}, [])


def link_state(links: EmployeeLinks, channel: str, *, google_consent_required: bool = True) -> dict[str, Any]:
    """`{"state": ..., "reason": ...}` for one channel of one employee.

    A Google calendar is linked by the registered Google Workspace ID plus, unless the company uses
    domain-wide delegation, the employee's consent.
    """
    problem = links.get(state_attribute(channel))
    if isinstance(problem, dict) and problem.get("state") in (NEEDS_RELINK, BLOCKED):
        return {"state": problem["state"], "reason": problem.get("reason"), "since": problem.get("since")}
    field = LINK_FIELDS[channel]
    if not links.get(field):
        return {"state": NOT_LINKED, "reason": f"{field}_missing"}
    if channel == "google_calendar" and google_consent_required and not links.get("google_calendar_tokens"):
        return {"state": NOT_LINKED, "reason": "google_consent_missing"}
    state: dict[str, Any] = {"state": LINKED}
    if channel == "line":
        state["friend"] = bool(links.get("line_friend"))
    return state


def link_states(links: EmployeeLinks, *, google_consent_required: bool = True) -> dict[str, dict[str, Any]]:
    return {
        channel: link_state(links, channel, google_consent_required=google_consent_required) for channel in LINK_FIELDS
    }
