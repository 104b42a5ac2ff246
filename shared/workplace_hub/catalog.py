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

# A calendar provider is named by its vendor (`google`, `naver_works`: in routes, `calendars` targets and the
# calendar writers); its integration, and the channel of its delivery records, add this suffix.
CALENDAR_SUFFIX = "_calendar"


def calendar_integration(provider: str) -> Integration:
    """The integration of a calendar provider: `google` → `google_calendar`."""
    return Integration(provider + CALENDAR_SUFFIX)


def calendar_provider(integration: str) -> str:
    """The provider of a calendar integration (or channel): `google_calendar` → `google`."""
    return str(integration).removesuffix(CALENDAR_SUFFIX)


# The OAuth providers an employee links with, named as in the `/oauth/{provider}/...` routes, and the
# integration each one serves: LINE Login for LINE, and each calendar provider for its calendar integration.
OAUTH_PROVIDERS: dict[str, Integration] = {
    "line": Integration.LINE,
    **{calendar_provider(integration): integration for integration in CALENDARS},
}
# The linking routes: where an employee starts linking (with their WORKPLACE token), and where the provider
# sends their browser back.
OAUTH_AUTHORIZE_PATH = "/me/links/{provider}/authorize"
OAUTH_CALLBACK_PATH = "/oauth/{provider}/callback"


def oauth_authorize_path(provider: str) -> str:
    """The path that starts linking with a provider (the calendar options point the employee there)."""
    return OAUTH_AUTHORIZE_PATH.format(provider=provider)


def oauth_callback_path(provider: str) -> str:
    """The path of a provider's OAuth callback, which admins register in the provider's console."""
    return OAUTH_CALLBACK_PATH.format(provider=provider)


def oauth_redirect_uri(hub_public_url: str, provider: str) -> str:
    """The full callback URL the hub sends as `redirect_uri` (the one admins register)."""
    return hub_public_url.rstrip("/") + oauth_callback_path(provider)


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
        base = calendar_integration(self.provider).value
        return base if self.calendar_id is None else f"{base}:{self.calendar_id}"

    @property
    def integration(self) -> Integration:
        return calendar_integration(self.provider)

    @classmethod
    def from_channel(cls, channel: str) -> CalendarRef:
        base, _, calendar_id = channel.partition(":")
        return cls(calendar_provider(base), calendar_id or None)
