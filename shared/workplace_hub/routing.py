"""Who gets a notification on which channel, and why not: a pure decision per recipient × channel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from workplace_hub.catalog import Integration
from workplace_hub.events import NotificationEvent, Recipient
from workplace_hub.integration_settings import effective, is_configured
from workplace_hub.storage.deliveries import DeliveryStatus
from workplace_hub.storage.links import EmployeeLinks
from workplace_hub.storage.settings import CompanySettings

NO_CHANNEL = "none"  # the channel of the one record that says "this item goes nowhere"


@dataclass(frozen=True)
class PlannedDelivery:
    user_id: str
    channel: str
    status: DeliveryStatus
    reason: str | None = None


# How to tell whether a recipient can be reached on a channel: returns the skip reason, or None.
def _slack(recipient: Recipient, links: EmployeeLinks) -> str | None:
    return None if links.get("slack_member_id") else "slack_member_id_missing"


def _google_chat(recipient: Recipient, links: EmployeeLinks) -> str | None:
    return None if links.get("google_chat_webhook_url") else "google_chat_webhook_missing"


def _line(recipient: Recipient, links: EmployeeLinks) -> str | None:
    return None if links.get("line_user_id") else "line_not_linked"


def _kakao(recipient: Recipient, links: EmployeeLinks) -> str | None:
    return None if recipient.phone else "phone_missing"


def _naver_works(recipient: Recipient, links: EmployeeLinks) -> str | None:
    return None  # the WORKPLACE user ID is the NAVER WORKS user ID (contract)


REACHABILITY: dict[str, Callable[[Recipient, EmployeeLinks], str | None]] = {
    Integration.SLACK.value: _slack,
    Integration.GOOGLE_CHAT.value: _google_chat,
    Integration.LINE.value: _line,
    Integration.KAKAO.value: _kakao,
    Integration.NAVER_WORKS.value: _naver_works,
}


def plan_deliveries(
    event: NotificationEvent,
    company: CompanySettings,
    links: dict[str, EmployeeLinks],
    available_channels: set[str],
) -> list[PlannedDelivery]:
    """One planned record per recipient × routed channel (or one `item_not_routed` per recipient)."""
    channels = company.routing.get(event.item, [])
    if not channels:
        return [
            PlannedDelivery(r.user_id, NO_CHANNEL, DeliveryStatus.SKIPPED, "item_not_routed") for r in event.recipients
        ]
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
            reason = channel_reason[channel] or REACHABILITY[channel](recipient, recipient_links)
            status = DeliveryStatus.SKIPPED if reason else DeliveryStatus.QUEUED
            planned.append(PlannedDelivery(recipient.user_id, channel, status, reason))
    return planned
