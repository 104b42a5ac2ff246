"""Validation of NAVER WORKS API 2.0 calendar events (`eventComponents`) and the time rules iCal shares."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EVENT_ID_MAX, SUMMARY_MAX = 255, 200


def time_zone(name: Any) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ValueError("timeZone (an IANA zone name) is required with a local dateTime")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timeZone {name!r}") from None


def _event_time(value: Any, name: str) -> date | datetime:
    """A 2.0 `start`/`end`: `{"date": "YYYY-MM-DD"}`, or `{"dateTime", "timeZone"}` (aware when returned)."""
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object")
    if "date" in value:
        text = value["date"]
        if not isinstance(text, str) or len(text) != 10:
            raise ValueError(f"{name}.date must be YYYY-MM-DD")
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{name}.date must be YYYY-MM-DD") from None
    text = value.get("dateTime")
    if not isinstance(text, str):
        raise ValueError(f"{name} needs date or dateTime")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}.dateTime must be YYYY-MM-DDThh:mm:ss") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=time_zone(value.get("timeZone")))
    if "timeZone" in value:
        time_zone(value["timeZone"])
    return moment


def time_span_error(start: date | datetime, end: date | datetime) -> str | None:
    if isinstance(start, datetime) != isinstance(end, datetime):
        return "start and end must both be dates or both date-times"
    if end <= start:  # type: ignore[operator]
        return "end must be after start (all-day end dates are exclusive)"
    return None


def component_error(component: Any, event_id: str | None = None) -> str | None:
    """Why an Event of `eventComponents` is invalid, or None; `event_id`: the eventId it must have."""
    if not isinstance(component, dict):
        return "eventComponents[0] must be an object"
    eid = component.get("eventId")
    if eid is not None and not (isinstance(eid, str) and 1 <= len(eid) <= EVENT_ID_MAX):
        return f"eventId must be 1-{EVENT_ID_MAX} characters"
    if event_id is not None and eid not in (None, event_id):
        return "eventId differs from the path"
    summary = component.get("summary")
    if not isinstance(summary, str) or len(summary) > SUMMARY_MAX:
        return f"summary is required (at most {SUMMARY_MAX} characters)"
    try:
        start = _event_time(component.get("start"), "start")
        end = _event_time(component["end"], "end") if "end" in component else None
    except ValueError as exc:
        return str(exc)
    if end is None:
        return None
    return time_span_error(start, end)
