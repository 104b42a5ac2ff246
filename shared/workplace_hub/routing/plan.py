"""Who gets a notification on which channel, and why not: a pure decision per recipient × channel."""

from __future__ import annotations

from dataclasses import dataclass

from workplace_hub.catalog import Integration
from workplace_hub.events import NotificationEvent, Recipient
from workplace_hub.integration_settings.effective import effective, is_configured
from workplace_hub.storage.addresses import ADDRESS_SOURCES
from workplace_hub.storage.delivery_records import DeliveryStatus
from workplace_hub.storage.link_health import BLOCKED, NEEDS_RELINK, state_attribute
from workplace_hub.storage.links import EmployeeLinks
from workplace_hub.storage.settings import CompanySettings

NO_CHANNEL = "none"  # the channel of the one record that says "this item goes nowhere"


@dataclass(frozen=True)
class PlannedDelivery:
    user_id: str
    channel: str
    status: DeliveryStatus
    reason: str | None = None
    error_code: str | None = None


INVALID_RECIPIENT = "invalid_recipient"


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
