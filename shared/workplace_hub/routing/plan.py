"""Who gets a notification on which channel, and why not: a pure decision per recipient × channel."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workplace_hub.catalog import Integration
from workplace_hub.events import NotificationEvent, Recipient
from workplace_hub.integration_settings.effective import effective, is_configured
from workplace_hub.storage.delivery_records import DeliveryStatus
from workplace_hub.storage.link_health import BLOCKED, NEEDS_RELINK, state_attribute
from workplace_hub.storage.links import EmployeeLinks, link_purpose
from workplace_hub.storage.settings import CompanySettings

if TYPE_CHECKING:  # the router routes without opening a secret: no cryptography at its cold start
    from workplace_hub.crypto import Keyring

NO_CHANNEL = "none"  # the channel of the one record that says "this item goes nowhere"


@dataclass(frozen=True)
class PlannedDelivery:
    user_id: str
    channel: str
    status: DeliveryStatus
    reason: str | None = None
    error_code: str | None = None


INVALID_RECIPIENT = "invalid_recipient"
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


def plan_deliveries(
    event: NotificationEvent,
    company: CompanySettings,
    links: dict[str, EmployeeLinks],
    available_channels: set[str],
) -> list[PlannedDelivery]:
    """One planned record per recipient × routed channel (or one `item_not_routed` per recipient); a recipient
    whose entry breaks the contract is `failed: invalid_recipient` on each, `error_code` naming its bad fields."""
    channels = company.routing.get(event.item, [])
    invalid = [
        PlannedDelivery(r.user_id, channel, DeliveryStatus.FAILED, INVALID_RECIPIENT, ",".join(r.fields))
        for r in event.invalid_recipients
        for channel in channels or [NO_CHANNEL]
    ]
    if not channels:
        return [
            PlannedDelivery(r.user_id, NO_CHANNEL, DeliveryStatus.SKIPPED, "item_not_routed") for r in event.recipients
        ] + invalid
    channel_reason: dict[str, str | None] = {}
    for channel in channels:
        integration = Integration(channel)
        if not effective(company, integration).enabled:
            channel_reason[channel] = "channel_disabled"
        elif not is_configured(company, integration):
            channel_reason[channel] = "channel_not_configured"
        elif channel not in available_channels:
            channel_reason[channel] = "channel_unavailable"
        else:
            channel_reason[channel] = None
    planned = []
    for recipient in event.recipients:
        recipient_links = links.get(recipient.user_id) or EmployeeLinks(recipient.user_id)
        for channel in channels:
            source = ADDRESS_SOURCES[channel]
            reachable = source.reachable(recipient, recipient_links)
            reason = channel_reason[channel] or (None if reachable else source.missing_reason)
            problem = recipient_links.get(state_attribute(channel))
            if reason is None and isinstance(problem, dict) and problem.get("state") in (BLOCKED, NEEDS_RELINK):
                reason = f"{channel}_{problem['state']}"  # line_blocked, slack_needs_relink, ...
            status = DeliveryStatus.SKIPPED if reason else DeliveryStatus.QUEUED
            planned.append(PlannedDelivery(recipient.user_id, channel, status, reason))
    return planned + invalid


def known_addresses(channel: str, recipients: list[Recipient], links: dict[str, EmployeeLinks]) -> dict[str, str]:
    """user_id → address for the recipients whose address on this channel is stored and no secret."""
    source = ADDRESS_SOURCES[channel]
    if source.sealed or not source.link_field:
        return {}
    found = {r.user_id: source.raw_address(r, links.get(r.user_id)) for r in recipients}
    return {user_id: address for user_id, address in found.items() if address}
