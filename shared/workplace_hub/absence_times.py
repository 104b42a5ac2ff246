"""Pure conversions of a WORKPLACE absence into calendar terms: start/end times and a display title.

The contract (workplace-events.md) gives all-day absences as dates with an INCLUSIVE end, timed ones
as RFC 3339 date-times, and an IANA zone. Google Calendar (providers.md §6.1) wants `EventDateTime`
objects with an EXCLUSIVE end: `{"date": "yyyy-mm-dd"}` for all-day events, `{"dateTime", "timeZone"}`
for timed ones.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from workplace_hub.events import Absence

# Company-default assumption, not part of the contract: WORKPLACE sends half-day absences as all-day
# dates without hours, so the hub registers them as a morning (09:00-13:00) or afternoon (13:00-18:00)
# block in the absence's own time zone. Change these if a company's working hours differ.
HALF_DAY_AM_HOURS = (time(9, 0), time(13, 0))
HALF_DAY_PM_HOURS = (time(13, 0), time(18, 0))
HALF_DAY_HOURS = {"half_day_am": HALF_DAY_AM_HOURS, "half_day_pm": HALF_DAY_PM_HOURS}

KIND_NAMES: dict[str, dict[str, str]] = {
    "ja": {
        "vacation": "休暇",
        "half_day_am": "午前休",
        "half_day_pm": "午後休",
        "business_trip": "出張",
        "remote": "在宅勤務",
        "sick": "病気休暇",
        "other": "不在",
    },
    "ko": {
        "vacation": "휴가",
        "half_day_am": "오전 반차",
        "half_day_pm": "오후 반차",
        "business_trip": "출장",
        "remote": "재택근무",
        "sick": "병가",
        "other": "부재",
    },
    "en": {
        "vacation": "Vacation",
        "half_day_am": "Half day off (morning)",
        "half_day_pm": "Half day off (afternoon)",
        "business_trip": "Business trip",
        "remote": "Remote work",
        "sick": "Sick leave",
        "other": "Out of office",
    },
}
DEFAULT_LOCALE = "ja"


def _timed(moment: datetime, zone: str) -> dict[str, Any]:
    return {"dateTime": moment.isoformat(), "timeZone": zone}


def google_times(absence: Absence) -> tuple[dict[str, Any], dict[str, Any]]:
    """Google Calendar `start` and `end` (EventDateTime) for `absence`.

    - all-day: `{"date": start}` and `{"date": end + 1 day}` (Google's end date is exclusive);
    - all-day `half_day_am`/`half_day_pm`: timed, HALF_DAY_*_HOURS local time in `absence.timezone`, from
      the start date's opening hour to the end date's closing hour (one day when start == end);
    - timed: the same instants, written in `absence.timezone`'s local offset, with that `timeZone`.
    """
    zone = absence.timezone
    tz = ZoneInfo(zone)
    if absence.all_day:
        # The Absence model guarantees dates here and date-times below.
        start, end = cast(date, absence.start), cast(date, absence.end)
        if absence.kind in HALF_DAY_HOURS:
            opens, closes = HALF_DAY_HOURS[absence.kind]
            return _timed(datetime.combine(start, opens, tz), zone), _timed(datetime.combine(end, closes, tz), zone)
        return {"date": start.isoformat()}, {"date": (end + timedelta(days=1)).isoformat()}
    start_at, end_at = cast(datetime, absence.start), cast(datetime, absence.end)
    return _timed(start_at.astimezone(tz), zone), _timed(end_at.astimezone(tz), zone)


def localized_title(absence: Absence, locale: str = DEFAULT_LOCALE) -> str:
    """The absence's own title, or the kind's name in `locale` (ja, ko or en; anything else: ja)."""
    title = absence.title.strip()
    if title:
        return title
    names = KIND_NAMES.get(locale, KIND_NAMES[DEFAULT_LOCALE])
    return names[absence.kind]
