"""NAVER WORKS calendar events for absences: deterministic event ids, the time span, the API 2.0 body.

Contract: providers.md §4.5 and https://developers.worksmobile.com/jp/docs/calendar-event-user-create
(eventId 1-255 characters, summary ≤ 200).

Assumptions (UNCONFIRMED, verify against a real tenant; the sandbox fake behaves this way):
- All-day events are `{"date": "YYYY-MM-DD"}` with an EXCLUSIVE end date (Google's convention; the docs
  retrieved do not show the all-day shape). The contract's inclusive end becomes end + 1 day.
- Timed events are `{"dateTime": "YYYY-MM-DDTHH:MM:SS", "timeZone": <IANA>}`: local time without an
  offset [C-3p, the LINE WORKS API PdM's article].
- Half-day absences sent as all-day dates become a morning/afternoon block, as for Google Calendar
  (`absence_times.HALF_DAY_HOURS`).
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from workplace_hub.absence_times import HALF_DAY_HOURS
from workplace_hub.events import Absence

EVENT_ID_PREFIX = "wp-"
EVENT_ID_MAX = 255
SUMMARY_MAX = 200
# Fixed forever: changing it would orphan every event registered before.
EVENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:workplace-hub:naver-works-calendar:absence")


def event_id(company_id: str, absence_id: str, calendar_key: str) -> str:
    """The eventId (and 1.0 UID) of one absence in one calendar: "wp-" + 32 hex digits (35 characters).

    `calendar_key` names the calendar ("default", or the calendarId). The inputs are joined as a JSON
    list so no choice of values can collide with another (`"a:b", "c"` vs `"a", "b:c"`).
    """
    name = json.dumps([company_id, absence_id, calendar_key], ensure_ascii=False)
    return EVENT_ID_PREFIX + uuid.uuid5(EVENT_ID_NAMESPACE, name).hex


def summary(title: str) -> str:
    """The title on one line, cut to SUMMARY_MAX characters."""
    text = " ".join(title.split())  # one line: no newlines or tabs in a summary
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def absence_span(absence: Absence) -> tuple[date, date] | tuple[datetime, datetime]:
    """(start, end) in calendar terms: dates with an EXCLUSIVE end for all-day absences; otherwise
    timezone-aware date-times in `absence.timezone` (half-day absences: the HALF_DAY_HOURS block)."""
    tz = ZoneInfo(absence.timezone)
    if absence.all_day:
        start, end = cast(date, absence.start), cast(date, absence.end)
        if absence.kind in HALF_DAY_HOURS:
            opens, closes = HALF_DAY_HOURS[absence.kind]
            return datetime.combine(start, opens, tz), datetime.combine(end, closes, tz)
        return start, end + timedelta(days=1)
    start_at, end_at = cast(datetime, absence.start), cast(datetime, absence.end)
    return start_at.astimezone(tz), end_at.astimezone(tz)


def _local(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(timespec="seconds")


def build_event(absence: Absence, *, title: str, event_id: str) -> dict[str, Any]:
    """Pure: the API 2.0 create/update body for `absence`: one component, no attendees, no notification.

    All-day: `{"date": start}` / `{"date": end + 1 day}`; timed: local `dateTime` (no offset) with the
    absence's `timeZone`. `title` (e.g. `absence_times.localized_title`) is cut to 200 characters.
    """
    if not 1 <= len(event_id) <= EVENT_ID_MAX:
        raise ValueError(f"event_id must be 1-{EVENT_ID_MAX} characters")
    start, end = absence_span(absence)
    if isinstance(start, datetime):
        zone = absence.timezone
        times = {
            "start": {"dateTime": _local(start), "timeZone": zone},
            "end": {"dateTime": _local(cast(datetime, end)), "timeZone": zone},
        }
    else:
        times = {"start": {"date": start.isoformat()}, "end": {"date": end.isoformat()}}
    component = {"eventId": event_id, "summary": summary(title), **times, "transparency": "OPAQUE"}
    return {"eventComponents": [component], "sendNotification": False}
