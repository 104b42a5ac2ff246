"""plan_deliveries: one decision per recipient × routed channel, with the reason when it is not sent."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.unit.builders import HANAKO, TARO, body, notification_event, recipient
from workplace_hub.catalog import Integration
from workplace_hub.events import NotificationEvent, parse_event
from workplace_hub.routing.plan import NO_CHANNEL, PlannedDelivery, plan_deliveries
from workplace_hub.storage.addresses import LOOKUP_MISSED
from workplace_hub.storage.delivery_records import DeliveryStatus
from workplace_hub.storage.links import EmployeeLinks
from workplace_hub.storage.settings import CompanySettings, StoredIntegration

ALL_SENDERS = {"slack", "google_chat", "line", "kakao", "naver_works"}
SEALED = "v1:c2VhbGVk"  # is_configured only checks presence, never opens

# Configured (all required fields present) integrations, as stored.
CONFIGURED: dict[Integration, dict[str, Any]] = {
    Integration.SLACK: {"sealed_secrets": {"bot_token": SEALED}},
    Integration.GOOGLE_CHAT: {},
    Integration.LINE: {
        "settings": {"login_channel_id": "1234567890", "friend_link_url": "https://lin.ee/x"},
        "sealed_secrets": {"login_channel_secret": SEALED, "channel_access_token": SEALED, "channel_secret": SEALED},
    },
    Integration.KAKAO: {
        "settings": {
            "access_key_id": "ABCDEFGH12345678",
            "channel_id": "@acme",
            "service_id": "ncp:kkobizmsg:kr:1:sens",
            "template_code": "T1",
        },
        "sealed_secrets": {"secret_key": SEALED},
    },
}


def integration(channel: Integration, *, enabled: bool = True, configured: bool = True) -> StoredIntegration:
    values = CONFIGURED[channel] if configured else {}
    return StoredIntegration(channel, enabled=enabled, **values)


def company(routing: dict[str, list[str]], *stored: StoredIntegration, product: str = "workplace") -> CompanySettings:
    return CompanySettings("acme", product, {s.integration: s for s in stored}, routing)


def event(**overrides: Any) -> NotificationEvent:
    parsed = parse_event(body(notification_event(**overrides)))
    assert isinstance(parsed, NotificationEvent)
    return parsed


def links(**per_user: dict[str, Any]) -> dict[str, EmployeeLinks]:
    return {user_id: EmployeeLinks(user_id, attributes) for user_id, attributes in per_user.items()}


def linked_everywhere() -> dict[str, EmployeeLinks]:
    attributes = {"slack_member_id": "U1", "google_chat_webhook_url": SEALED, "line_user_id": "Uline"}
    return {TARO: EmployeeLinks(TARO, attributes), HANAKO: EmployeeLinks(HANAKO, attributes)}


def decisions(plan: list[PlannedDelivery]) -> set[tuple[str, str, DeliveryStatus, str | None]]:
    return {(p.user_id, p.channel, p.status, p.reason) for p in plan}


@pytest.mark.parametrize("routing", [{}, {"approval.approved": ["slack"]}, {"approval.requested": []}])
def test_plan_deliveries_item_not_routed_one_skip_per_recipient(routing: dict[str, list[str]]) -> None:
    # GIVEN a company that routes approval.requested nowhere (Slack on, everyone linked)
    settings = company(routing, integration(Integration.SLACK))

    # WHEN an approval.requested for two people is planned
    plan = plan_deliveries(event(), settings, linked_everywhere(), ALL_SENDERS)

    # THEN there is exactly one skipped "none" record per recipient, saying why
    assert plan == [
        PlannedDelivery(TARO, NO_CHANNEL, DeliveryStatus.SKIPPED, "item_not_routed"),
        PlannedDelivery(HANAKO, NO_CHANNEL, DeliveryStatus.SKIPPED, "item_not_routed"),
    ]
    assert NO_CHANNEL == "none"


def test_plan_deliveries_all_fine_queued_per_recipient_and_channel() -> None:
    # GIVEN Slack and Google Chat on and configured, both recipients linked on both
    settings = company(
        {"approval.requested": ["slack", "google_chat"]},
        integration(Integration.SLACK),
        integration(Integration.GOOGLE_CHAT),
    )

    # WHEN the event is planned
    plan = plan_deliveries(event(), settings, linked_everywhere(), ALL_SENDERS)

    # THEN every recipient × channel is queued, recipient by recipient in routing order
    assert [(p.user_id, p.channel) for p in plan] == [
        (TARO, "slack"),
        (TARO, "google_chat"),
        (HANAKO, "slack"),
        (HANAKO, "google_chat"),
    ]
    assert {(p.status, p.reason) for p in plan} == {(DeliveryStatus.QUEUED, None)}


def test_plan_deliveries_channel_disabled_skips_everyone() -> None:
    # GIVEN Slack routed but turned off (still configured)
    settings = company({"approval.requested": ["slack"]}, integration(Integration.SLACK, enabled=False))

    # WHEN the event is planned
    plan = plan_deliveries(event(), settings, linked_everywhere(), ALL_SENDERS)

    # THEN every recipient is skipped as channel_disabled
    assert decisions(plan) == {
        (TARO, "slack", DeliveryStatus.SKIPPED, "channel_disabled"),
        (HANAKO, "slack", DeliveryStatus.SKIPPED, "channel_disabled"),
    }


def test_plan_deliveries_channel_never_stored_counts_as_disabled() -> None:
    # GIVEN LINE routed but never configured at all
    settings = company({"approval.requested": ["line"]})

    # WHEN / THEN its deliveries are skipped as channel_disabled
    plan = plan_deliveries(event(), settings, linked_everywhere(), ALL_SENDERS)
    assert {p.reason for p in plan} == {"channel_disabled"}


def test_plan_deliveries_channel_enabled_but_not_configured_skipped() -> None:
    # GIVEN Slack on without a bot token
    settings = company({"approval.requested": ["slack"]}, integration(Integration.SLACK, configured=False))

    # WHEN / THEN every recipient is skipped as channel_not_configured
    plan = plan_deliveries(event(), settings, linked_everywhere(), ALL_SENDERS)
    assert {(p.status, p.reason) for p in plan} == {(DeliveryStatus.SKIPPED, "channel_not_configured")}
    assert len(plan) == 2


def test_plan_deliveries_channel_without_sender_skipped_unavailable() -> None:
    # GIVEN LINE configured and routed, but no LINE sender deployed
    settings = company(
        {"approval.requested": ["line", "slack"]}, integration(Integration.LINE), integration(Integration.SLACK)
    )

    # WHEN the event is planned with only the Slack and Google Chat senders available
    plan = plan_deliveries(event(), settings, linked_everywhere(), {"slack", "google_chat"})

    # THEN LINE is skipped as channel_unavailable while Slack is queued
    assert decisions(plan) == {
        (TARO, "line", DeliveryStatus.SKIPPED, "channel_unavailable"),
        (HANAKO, "line", DeliveryStatus.SKIPPED, "channel_unavailable"),
        (TARO, "slack", DeliveryStatus.QUEUED, None),
        (HANAKO, "slack", DeliveryStatus.QUEUED, None),
    }


@pytest.mark.parametrize(
    ("channel", "reason"),
    [
        (Integration.SLACK, "slack_member_id_missing"),
        (Integration.GOOGLE_CHAT, "google_chat_webhook_url_missing"),
        (Integration.LINE, "line_user_id_missing"),
    ],
)
def test_plan_deliveries_recipient_not_linked_skipped_with_channel_reason(channel: Integration, reason: str) -> None:
    # GIVEN a routed, working channel; Taro has linked nothing, Hanako everything
    settings = company({"approval.requested": [channel.value]}, integration(channel))
    everyone = linked_everywhere()
    # (Slack could find Taro by his e-mail; a recent lookup found nobody, so it is not tried again.)
    partial = {HANAKO: everyone[HANAKO], TARO: EmployeeLinks(TARO, {LOOKUP_MISSED: time.time()})}

    # WHEN the event is planned
    plan = plan_deliveries(event(), settings, partial, ALL_SENDERS)

    # THEN Taro is skipped with the channel's own reason, Hanako is queued
    assert decisions(plan) == {
        (TARO, channel.value, DeliveryStatus.SKIPPED, reason),
        (HANAKO, channel.value, DeliveryStatus.QUEUED, None),
    }


def test_plan_deliveries_link_attribute_empty_counts_as_not_linked() -> None:
    # GIVEN a Slack link whose member ID is empty
    settings = company({"approval.requested": ["slack"]}, integration(Integration.SLACK))
    empty = links(**{TARO: {"slack_member_id": "", LOOKUP_MISSED: time.time()}, HANAKO: {"slack_member_id": "U2"}})

    # WHEN / THEN Taro is not reachable
    plan = plan_deliveries(event(), settings, empty, ALL_SENDERS)
    assert [p.reason for p in plan] == ["slack_member_id_missing", None]


def test_plan_deliveries_kakao_recipient_without_phone_skipped() -> None:
    # GIVEN Kakao routed; the contract example gives Taro a phone and Hanako none
    settings = company({"approval.requested": ["kakao"]}, integration(Integration.KAKAO))

    # WHEN the event is planned (Kakao needs no link, only a phone)
    plan = plan_deliveries(event(), settings, {}, ALL_SENDERS)

    # THEN Hanako is skipped as phone_missing, Taro is queued
    assert decisions(plan) == {
        (TARO, "kakao", DeliveryStatus.QUEUED, None),
        (HANAKO, "kakao", DeliveryStatus.SKIPPED, "phone_missing"),
    }


def test_plan_deliveries_collabo_naver_works_needs_no_link() -> None:
    # GIVEN a Collabo company (NAVER WORKS on by default) routing to NAVER WORKS
    settings = company({"approval.requested": ["naver_works"]}, product="collabo")

    # WHEN the event is planned with no links at all
    plan = plan_deliveries(event(), settings, {}, ALL_SENDERS)

    # THEN everyone is queued: the WORKPLACE user ID is the NAVER WORKS user ID
    assert {(p.channel, p.status) for p in plan} == {("naver_works", DeliveryStatus.QUEUED)}
    assert len(plan) == 2


def test_plan_deliveries_channel_problem_wins_over_link_problem() -> None:
    # GIVEN Slack off and Taro not linked
    settings = company({"approval.requested": ["slack"]}, integration(Integration.SLACK, enabled=False))

    # WHEN / THEN the reason is the channel's (channel_disabled), not the link's
    plan = plan_deliveries(event(recipients=[recipient(TARO)]), settings, {}, ALL_SENDERS)
    assert [p.reason for p in plan] == ["channel_disabled"]


def test_plan_deliveries_mixed_channels_each_with_own_reason() -> None:
    # GIVEN Slack working, Google Chat off, LINE without sender; Taro only on Slack
    settings = company(
        {"approval.requested": ["slack", "google_chat", "line"]},
        integration(Integration.SLACK),
        integration(Integration.GOOGLE_CHAT, enabled=False),
        integration(Integration.LINE),
    )
    taro_links = links(**{TARO: {"slack_member_id": "U1"}})

    # WHEN a notification for Taro is planned
    plan = plan_deliveries(event(recipients=[recipient(TARO)]), settings, taro_links, {"slack", "google_chat"})

    # THEN one decision per channel, each with its own outcome
    assert decisions(plan) == {
        (TARO, "slack", DeliveryStatus.QUEUED, None),
        (TARO, "google_chat", DeliveryStatus.SKIPPED, "channel_disabled"),
        (TARO, "line", DeliveryStatus.SKIPPED, "channel_unavailable"),
    }


def test_plan_deliveries_slack_unlinked_email_user_queued_for_lookup_unless_recently_missed() -> None:
    # GIVEN Slack routed; Taro (an e-mail user ID) never linked, Hanako's lookup missed 8 days ago,
    # and a third employee's lookup missed an hour ago
    settings = company({"approval.requested": ["slack"]}, integration(Integration.SLACK))
    jiro = "jiro@acme.example"
    now = time.time()
    known = links(**{HANAKO: {LOOKUP_MISSED: now - 8 * 24 * 3600}, jiro: {LOOKUP_MISSED: now - 3600}})
    recipients = [{"user_id": TARO}, {"user_id": HANAKO}, {"user_id": jiro}]

    # WHEN the event is planned
    plan = plan_deliveries(event(recipients=recipients), settings, known, ALL_SENDERS)

    # THEN Taro and Hanako are queued (the sender looks them up in Slack), Jiro is skipped
    assert decisions(plan) == {
        (TARO, "slack", DeliveryStatus.QUEUED, None),
        (HANAKO, "slack", DeliveryStatus.QUEUED, None),
        (jiro, "slack", DeliveryStatus.SKIPPED, "slack_member_id_missing"),
    }
