"""Names of an employee's calendars, shared by the router, the registry and the calendar writers."""

from __future__ import annotations

from dataclasses import dataclass

from workplace_hub.catalog import Integration


@dataclass(frozen=True)
class CalendarRef:
    """One calendar of the employee: `google` (primary), `naver_works` default, or a NAVER WORKS personal one.

    `channel` names it in the registry and the delivery log: `google_calendar`, `naver_works_calendar`,
    `naver_works_calendar:<calendarId>`.
    """

    provider: str
    calendar_id: str | None = None

    @property
    def channel(self) -> str:
        base = f"{self.provider}_calendar"
        return base if self.calendar_id is None else f"{base}:{self.calendar_id}"

    @property
    def integration(self) -> Integration:
        return Integration(f"{self.provider}_calendar")

    @classmethod
    def from_channel(cls, channel: str) -> CalendarRef:
        base, _, calendar_id = channel.partition(":")
        return cls(base.removesuffix("_calendar"), calendar_id or None)
