"""Which LINE webhook events still apply to a link (pure: no tables, no network)."""

from __future__ import annotations

import json

import pytest

from workplace_hub.line.webhook_events import (
    APPLY,
    DUPLICATE,
    STALE,
    AppliedEvents,
    LinkEvent,
    MalformedBody,
    read_events,
)

USER = "U4af4980629abcdef0123456789abcdef"
AT = 1_700_000_000_000  # providers.md §3.5's example timestamp (2023-11-14T22:13:20Z)


def link_event(kind: str = "follow", at: int = AT, event_id: str = "01HXYZABCDEF0123456789ABCD") -> LinkEvent:
    return LinkEvent(kind, USER, at, event_id, redelivery=False)


def test_the_first_event_applies_and_is_remembered() -> None:
    applied = AppliedEvents.of({})
    assert applied.verdict(link_event()) == APPLY
    assert applied.after(link_event()).attributes() == {"line_event_at": AT, "line_event_ids": [link_event().event_id]}
    assert applied.attributes() == {"line_event_at": None, "line_event_ids": None}


def test_older_same_and_newer_events() -> None:
    applied = AppliedEvents.of({"line_event_at": AT, "line_event_ids": ["A1"]})
    assert applied.verdict(link_event(at=AT - 1, event_id="B2")) == STALE
    assert applied.verdict(link_event(at=AT, event_id="A1")) == DUPLICATE
    assert applied.verdict(link_event(at=AT, event_id="C3")) == APPLY
    assert applied.verdict(link_event(at=AT + 1, event_id="D4")) == APPLY
    assert applied.after(link_event(at=AT, event_id="C3")).event_ids == ("A1", "C3")
    assert applied.after(link_event(at=AT + 1, event_id="D4")) == AppliedEvents(AT + 1, ("D4",))


def test_an_event_from_before_the_link_is_stale_and_an_unreadable_link_time_hides_nothing() -> None:
    applied = AppliedEvents()
    assert applied.verdict(link_event(at=AT), "2023-11-14T22:13:20.001Z") == STALE
    assert applied.verdict(link_event(at=AT), "2023-11-14T22:13:20.000Z") == APPLY
    assert applied.verdict(link_event(at=AT), "not a time") == APPLY


def test_the_ids_kept_for_one_millisecond_are_bounded() -> None:
    applied = AppliedEvents()
    for index in range(50):
        applied = applied.after(link_event(event_id=f"E{index}"))
    assert len(applied.event_ids) == 20 and applied.event_ids[-1] == "E49"


def test_read_events_keeps_follow_and_unfollow_passes_other_types_and_names_malformed_ones() -> None:
    follow = {
        "type": "follow",
        "mode": "active",
        "timestamp": AT,
        "source": {"type": "user", "userId": USER},
        "webhookEventId": "01HXYZABCDEF0123456789ABCD",
        "deliveryContext": {"isRedelivery": True},
        "replyToken": "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA",
        "follow": {"isUnblocked": False},
    }
    message = {"type": "message", "timestamp": AT, "source": {"type": "user", "userId": USER}}
    long_id = {**follow, "webhookEventId": "0" * 65}
    body = json.dumps({"destination": "U" + "0" * 32, "events": [1, message, follow, long_id]}).encode()

    events, skipped = read_events(body)

    assert events == [LinkEvent("follow", USER, AT, "01HXYZABCDEF0123456789ABCD", redelivery=True)]
    assert skipped == ["events[0]: not an object", "events[3].webhookEventId: not an event id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [(b"{", "body"), (b"1", "body"), (b"{}", "events"), (b'{"events": null}', "events")],
)
def test_read_events_refuses_a_body_that_is_not_a_webhook(body: bytes, field: str) -> None:
    with pytest.raises(MalformedBody) as raised:
        read_events(body)
    assert raised.value.field == field
