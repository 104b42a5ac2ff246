"""NAVER WORKS API 1.0 calendar events as iCalendar (RFC 5545): one VEVENT per absence.

API 1.0 server API "予定作成": https://developers.worksmobile.com/jp/document/100702703.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

from workplace_hub.events import Absence
from workplace_hub.naver_works.calendar_events import absence_span, summary

ICAL_LINE_OCTETS = 75  # RFC 5545 §3.1: lines longer than this are folded


def ical_escape(text: str) -> str:
    """RFC 5545 §3.3.11 TEXT: backslash, semicolon and comma escaped, line breaks as `\\n`."""
    text = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return text.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def fold_line(line: str) -> str:
    """RFC 5545 §3.1: split a content line into ≤ 75-octet pieces joined by CRLF + space (never inside a
    UTF-8 character)."""
    pieces: list[str] = []
    current, size, limit = "", 0, ICAL_LINE_OCTETS
    for char in line:
        octets = len(char.encode("utf-8"))
        if size + octets > limit:
            pieces.append(current)
            current, size, limit = "", 0, ICAL_LINE_OCTETS - 1  # continuation lines start with a space
        current += char
        size += octets
    pieces.append(current)
    return "\r\n ".join(pieces)


def _ical_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _offset(moment: datetime) -> str:
    delta = moment.utcoffset() or timedelta(0)
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"


def build_ical(absence: Absence, uid: str, title: str, *, stamp: datetime | None = None) -> str:
    """Pure (given `stamp`, the DTSTAMP; default now): an API 1.0 iCalendar document with one VEVENT.

    All-day: `DTSTART;VALUE=DATE` / `DTEND;VALUE=DATE` with the exclusive end (RFC 5545 §3.6.1). Timed:
    `DTSTART;TZID=<zone>` local times and a VTIMEZONE with the zone's offset when start and end share one
    offset (always so in Asia/Tokyo and Asia/Seoul); UTC times ("…Z") when a DST change lies between them.
    Lines end with CRLF and are folded at 75 octets; SUMMARY is escaped.
    """
    start, end = absence_span(absence)
    stamp = stamp or datetime.now(UTC)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//WORKPLACE//Integration Hub//EN", "CALSCALE:GREGORIAN"]
    if isinstance(start, datetime):
        end_at = cast(datetime, end)
        zone = absence.timezone
        if _offset(start) == _offset(end_at):
            offset = _offset(start)
            lines += ["BEGIN:VTIMEZONE", f"TZID:{zone}", "BEGIN:STANDARD", "DTSTART:19700101T000000"]
            lines += [f"TZOFFSETFROM:{offset}", f"TZOFFSETTO:{offset}", "END:STANDARD", "END:VTIMEZONE"]
            fmt = "%Y%m%dT%H%M%S"
            dtstart, dtend = f"DTSTART;TZID={zone}:{start.strftime(fmt)}", f"DTEND;TZID={zone}:{end_at.strftime(fmt)}"
        else:
            dtstart, dtend = f"DTSTART:{_ical_stamp(start)}", f"DTEND:{_ical_stamp(end_at)}"
    else:
        dtstart, dtend = f"DTSTART;VALUE=DATE:{start:%Y%m%d}", f"DTEND;VALUE=DATE:{end:%Y%m%d}"
    lines += [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{_ical_stamp(stamp)}",
        dtstart,
        dtend,
        f"SUMMARY:{ical_escape(summary(title))}",
        "CLASS:PUBLIC",
        "TRANSP:OPAQUE",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(fold_line(line) + "\r\n" for line in lines)
