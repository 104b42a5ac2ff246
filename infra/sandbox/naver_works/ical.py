"""Parsing the one VEVENT of an API 1.0 calendar `ical` body, strictly."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from infra.sandbox.naver_works.events import SUMMARY_MAX, time_span_error, time_zone


def _ical_unescape(text: str) -> str:
    out, chars = [], iter(text)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append("\n" if following in ("n", "N") else following)
        else:
            out.append(char)
    return "".join(out)


def _ical_time(params: dict[str, str], value: str) -> tuple[date | datetime, dict[str, str]]:
    """(comparable value, 2.0-style view) of a DTSTART/DTEND."""
    if params.get("VALUE") == "DATE":
        day = datetime.strptime(value, "%Y%m%d").date()
        return day, {"date": day.isoformat()}
    if value.endswith("Z"):
        moment = datetime.strptime(value[:-1], "%Y%m%dT%H%M%S").replace(tzinfo=ZoneInfo("UTC"))
        return moment, {"dateTime": moment.isoformat(), "timeZone": "UTC"}
    local = datetime.strptime(value, "%Y%m%dT%H%M%S")
    zone = params.get("TZID")
    if not zone:
        raise ValueError("floating times are not supported: give TZID, a UTC time or VALUE=DATE")
    return local.replace(tzinfo=time_zone(zone)), {"dateTime": local.isoformat(), "timeZone": zone}


def parse_ical(text: Any) -> dict[str, Any]:
    """The one VEVENT of an API 1.0 `ical` body as {"uid", "summary", "start", "end"}; ValueError if invalid.

    Stricter than a real server may be, to catch the hub's mistakes: lines ≤ 75 octets (folded), SUMMARY
    with `,` and `;` escaped, exactly one VEVENT, DTEND after DTSTART."""
    if not isinstance(text, str) or not text:
        raise ValueError("ical is required")
    raw = text.replace("\r\n", "\n").split("\n")
    if any(len(line.encode("utf-8")) > 75 for line in raw):
        raise ValueError("content lines must be folded at 75 octets")
    lines: list[str] = []
    for line in raw:
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += line[1:]
        elif line:
            lines.append(line)
    if not lines or lines[0] != "BEGIN:VCALENDAR" or lines[-1] != "END:VCALENDAR":
        raise ValueError("ical must be one VCALENDAR")
    events: list[dict[str, tuple[dict[str, str], str]]] = []
    current: dict[str, tuple[dict[str, str], str]] | None = None
    for line in lines:
        if line == "BEGIN:VEVENT":
            current = {}
        elif line == "END:VEVENT" and current is not None:
            events.append(current)
            current = None
        elif current is not None:
            head, _, value = line.partition(":")
            name, *pairs = head.split(";")
            current[name.upper()] = (dict(p.split("=", 1) for p in pairs if "=" in p), value)
    if len(events) != 1:
        raise ValueError("ical must hold exactly one VEVENT")
    props = events[0]
    for name in ("UID", "DTSTART", "SUMMARY"):
        if not props.get(name, ({}, ""))[1]:
            raise ValueError(f"VEVENT needs {name}")
    summary_raw = props["SUMMARY"][1].replace("\\\\", "").replace("\\,", "").replace("\\;", "")
    if "," in summary_raw or ";" in summary_raw:
        raise ValueError("SUMMARY: ',' and ';' must be escaped")
    summary = _ical_unescape(props["SUMMARY"][1])
    if len(summary) > SUMMARY_MAX:
        raise ValueError(f"SUMMARY must be at most {SUMMARY_MAX} characters")
    try:
        start, start_view = _ical_time(*props["DTSTART"])
        end, end_view = _ical_time(*props["DTEND"]) if "DTEND" in props else (None, None)
    except ValueError as exc:
        raise ValueError(f"DTSTART/DTEND: {exc}") from None
    if end is not None:
        problem = time_span_error(start, end)
        if problem:
            raise ValueError(problem)
    return {"uid": props["UID"][1], "summary": summary, "start": start_view, "end": end_view}
