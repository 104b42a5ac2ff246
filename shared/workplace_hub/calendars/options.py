"""GET /me/calendar-options: what WORKPLACE's absence form offers this employee under カレンダー登録.

The company's calendar registrations that are on (none: the form shows no calendar area); for each, whether
the employee can use it now, why not, and where to link; for NAVER WORKS, the personal calendars they
authorized. Every usable choice carries the `calendars` entry to send back in `absence.upserted`, and the
readiness rules are the calendar worker's own (calendars/readiness.py), so the form never offers a calendar
the worker would skip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workplace_hub.calendars.readiness import google_unusable, naver_works_unusable
from workplace_hub.catalog import CalendarRef, Integration, oauth_authorize_path
from workplace_hub.errors import NeedsRelinkError, ProviderError
from workplace_hub.integration_settings.credentials import CompanyCredentials
from workplace_hub.observability import logger
from workplace_hub.storage.links import LinksRepository


class CalendarOptions:
    def __init__(
        self,
        *,
        credentials: CompanyCredentials,
        links: LinksRepository,
        personal_calendars: Callable[[str, str], list[dict[str, Any]]],
    ) -> None:
        self._credentials = credentials
        self._links = links
        self._personal_calendars = personal_calendars  # (company_id, user_id) -> the employee's calendars

    def for_employee(self, company_id: str, user_id: str) -> dict[str, Any]:
        company = self._credentials.company(company_id)
        links = self._links.get(company_id, user_id)
        credentials: dict[Integration, dict[str, Any]] = {}
        for integration in (Integration.NAVER_WORKS_CALENDAR, Integration.GOOGLE_CALENDAR):
            opened = self._credentials.of(company, integration)
            if opened is not None:
                credentials[integration] = opened
        options: dict[str, Any] = {"calendar_registration": bool(credentials)}

        works = credentials.get(Integration.NAVER_WORKS_CALENDAR)
        if works is None:
            options["naver_works"] = {"enabled": False}
        else:
            default_reason = naver_works_unusable(CalendarRef("naver_works"), links, works)
            options["naver_works"] = {
                "enabled": True,
                "default_calendar": _choice(default_reason, "naver_works"),
                "personal_calendars": self._personal(company_id, user_id, links, works),
            }

        google = credentials.get(Integration.GOOGLE_CALENDAR)
        if google is None:
            options["google"] = {"enabled": False}
        else:
            reason = google_unusable(links, google)
            choice = _choice(reason, "google")
            if reason in ("google_calendar_not_authorized", "google_calendar_needs_relink"):
                choice["authorize_path"] = oauth_authorize_path("google")
            options["google"] = {"enabled": True, **choice}
        return options

    def _personal(self, company_id: str, user_id: str, links: Any, credentials: dict[str, Any]) -> dict[str, Any]:
        """The employee's personal NAVER WORKS calendars (their default one is offered as default_calendar)."""
        authorize = {"authorize_path": oauth_authorize_path("naver_works")}
        probe = CalendarRef("naver_works", "?")
        reason = naver_works_unusable(probe, links, credentials)
        if reason == "naver_works_personal_calendar_needs_api_2_0":
            return {"usable": False, "reason": reason, "calendars": []}
        if reason:
            return {"usable": False, "reason": reason, "calendars": [], **authorize}
        try:
            listed = self._personal_calendars(company_id, user_id)
        except NeedsRelinkError:
            return {"usable": False, "reason": "naver_works_calendar_needs_relink", "calendars": [], **authorize}
        except ProviderError as exc:
            logger.warning("personal calendars unavailable", extra={"code": exc.code})
            return {"usable": False, "reason": "provider_unavailable", "calendars": []}
        calendars = [
            {
                "calendar_id": calendar["calendar_id"],
                "name": calendar["name"],
                "target": {"provider": "naver_works", "calendar_id": calendar["calendar_id"]},
            }
            for calendar in listed
            if not calendar.get("is_default")
        ]
        return {"usable": True, "reason": None, "calendars": calendars}


def _choice(reason: str | None, provider: str) -> dict[str, Any]:
    choice: dict[str, Any] = {"usable": reason is None, "reason": reason}
    if reason is None:
        choice["target"] = {"provider": provider}
    return choice
