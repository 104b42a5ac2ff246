"""The integrations a company can turn on, and the channels notifications go out on."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Integration(StrEnum):
    """Integration ids, as used in the settings API paths."""

    NAVER_WORKS = "naver_works"
    KAKAO = "kakao"
    SLACK = "slack"
    GOOGLE_CHAT = "google_chat"
    LINE = "line"
    NAVER_WORKS_CALENDAR = "naver_works_calendar"
    GOOGLE_CALENDAR = "google_calendar"

    @property
    def kind(self) -> str:
        """`messenger` or `calendar`."""
        return "calendar" if self in CALENDARS else "messenger"


MESSENGERS: tuple[Integration, ...] = (
    Integration.NAVER_WORKS,
    Integration.KAKAO,
    Integration.SLACK,
    Integration.GOOGLE_CHAT,
    Integration.LINE,
)
CALENDARS: tuple[Integration, ...] = (Integration.NAVER_WORKS_CALENDAR, Integration.GOOGLE_CALENDAR)

# The OAuth providers an employee links with, named as in the `/oauth/{provider}/...` routes, and the
# integration each one serves: the route says `google` where the integration is `google_calendar`.
OAUTH_PROVIDERS: dict[str, Integration] = {
    "line": Integration.LINE,
    "google": Integration.GOOGLE_CALENDAR,
    "naver_works": Integration.NAVER_WORKS_CALENDAR,
}
OAUTH_CALLBACK_PATH = "/oauth/{provider}/callback"


def oauth_callback_path(provider: str) -> str:
    """The path of a provider's OAuth callback, which admins register in the provider's console."""
    return OAUTH_CALLBACK_PATH.format(provider=provider)


# The notification items WORKPLACE sends today (contract "Item catalog"); other items are accepted too.
ITEM_CATALOG: tuple[str, ...] = (
    "approval.requested",
    "approval.approved",
    "approval.rejected",
    "approval.returned",
    "approval.comment",
    "approval.reference",
    "absence.requested",
    "absence.approved",
    "notice.posted",
)


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
