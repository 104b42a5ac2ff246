"""Where each messenger finds a recipient's address (a links attribute, or a field of the event): what the
router's plan, the delivery worker and the API's test message all read."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workplace_hub.catalog import Integration
from workplace_hub.events import Recipient
from workplace_hub.storage.links import EmployeeLinks, link_purpose

if TYPE_CHECKING:  # the router routes without opening a secret: no cryptography at its cold start
    from workplace_hub.crypto import Keyring

LOOKUP_MISSED = "address_lookup_missed_at"  # epoch seconds of the last lookup that found nobody
LOOKUP_RETRY_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class AddressSource:
    """Where a channel finds a recipient's address: a links attribute (perhaps sealed), the WORKPLACE
    user ID itself (NAVER WORKS: the contract makes them equal), or the event's phone number."""

    link_field: str | None = None
    sealed: bool = False
    from_event: str | None = None  # "user_id" or "phone"
    # The provider can find the address from the WORKPLACE user ID when that is an e-mail (Slack).
    discoverable_by_email: bool = False

    def reachable(self, recipient: Recipient, links: EmployeeLinks | None, now: float | None = None) -> bool:
        if self.raw_address(recipient, links) is not None:
            return True
        if not self.discoverable_by_email or "@" not in recipient.user_id:
            return False
        # A lookup that found nobody is not repeated for a while (each costs a rate-limited API call).
        missed = float((links.get(LOOKUP_MISSED) if links else None) or 0)
        return (time.time() if now is None else now) - missed > LOOKUP_RETRY_SECONDS

    @property
    def missing_reason(self) -> str:
        return f"{self.link_field or self.from_event}_missing"

    def raw_address(self, recipient: Recipient, links: EmployeeLinks | None) -> str | None:
        """The stored value (still sealed when `sealed`), or None when the recipient has none."""
        if self.from_event:
            return getattr(recipient, self.from_event)
        return (links.get(self.link_field) if links else None) or None

    def address(
        self, company_id: str, recipient: Recipient, links: EmployeeLinks | None, keyring: Keyring
    ) -> str | None:
        """The usable address (opened when sealed), or None when the recipient has none."""
        value = self.raw_address(recipient, links)
        if value is not None and self.sealed:
            value = keyring.open(company_id, link_purpose(recipient.user_id, self.link_field or ""), value)
        return value


ADDRESS_SOURCES: dict[str, AddressSource] = {
    Integration.SLACK.value: AddressSource(link_field="slack_member_id", discoverable_by_email=True),
    Integration.GOOGLE_CHAT.value: AddressSource(link_field="google_chat_webhook_url", sealed=True),
    Integration.LINE.value: AddressSource(link_field="line_user_id"),
    Integration.NAVER_WORKS.value: AddressSource(from_event="user_id"),
    Integration.KAKAO.value: AddressSource(from_event="phone"),
}
