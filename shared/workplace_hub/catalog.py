"""The integrations a company can turn on, and the channels notifications go out on."""

from __future__ import annotations

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
