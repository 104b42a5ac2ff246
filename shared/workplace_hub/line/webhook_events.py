"""LINE webhook events, pure: the body's signature, reading follow / unfollow from a verified body, and which of
them still apply.

LINE does not promise order, redelivers an event it thinks was not received (same `webhookEventId`,
`deliveryContext.isRedelivery: true`), and a signed body captured once can be posted again. So each employee's
link remembers the time of the latest LINE event applied to it (`line_event_at`, the event's `timestamp` in ms)
and the ids of the events applied at that time (`line_event_ids`): an event older than that, older than the
link itself (`line_linked_at`: the link read the friendship from LINE then), or already applied is ignored.
Older events are always refused, so only ids sharing the latest millisecond need keeping: the list stays tiny.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workplace_hub.line.messaging import USER_ID

FOLLOW, UNFOLLOW = "follow", "unfollow"
APPLY, STALE, DUPLICATE = "apply", "stale", "duplicate"

EVENT_AT, EVENT_IDS = "line_event_at", "line_event_ids"
_EVENT_ID = re.compile(r"[0-9A-Za-z]{1,64}")  # a ULID (26 characters) today; bounded so it always fits an item
_MAX_TIMESTAMP_MS = 10**13  # the year 2286: a `timestamp` beyond it is not one
_MAX_IDS = 20  # ids kept per millisecond; LINE sends one or two events per user per moment


# --- webhook signature (providers.md §3.5, vector §8.2) -----------------------------------------------------


def webhook_signature(channel_secret: str, body: bytes) -> str:
    """The `X-Line-Signature` of a webhook body: Base64(HMAC-SHA256(channel secret, raw body))."""
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_webhook_signature(channel_secret: str, body: bytes, signature: str | None) -> bool:
    """True if `signature` is the body's signature under `channel_secret` (compared in constant time)."""
    if not channel_secret or not signature:
        return False
    expected = webhook_signature(channel_secret, body).encode("ascii")
    return hmac.compare_digest(expected, signature.strip().encode("utf-8"))


class MalformedBody(ValueError):
    """A verified body that is not a webhook (`{"destination", "events": [...]}`); `field` names the part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class LinkEvent:
    """A follow or unfollow of the Official Account by one LINE user."""

    kind: str
    line_user_id: str
    at: int  # ms since the epoch, LINE's `timestamp`
    event_id: str
    redelivery: bool


def read_events(body: bytes) -> tuple[list[LinkEvent], list[str]]:
    """The follow / unfollow events of a webhook body, and why each malformed event was skipped.

    Raises MalformedBody when the body as a whole is not a webhook. Other event types are not ours and are
    passed over without a reason.
    """
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested beyond the parser
        raise MalformedBody("body", "must be a JSON object") from None
    if not isinstance(payload, dict):
        raise MalformedBody("body", "must be a JSON object")
    raw_events = payload.get("events")
    if not isinstance(raw_events, list):
        raise MalformedBody("events", "must be a list")
    events: list[LinkEvent] = []
    skipped: list[str] = []
    for index, raw in enumerate(raw_events):
        event_or_reason = _read_event(raw)
        if isinstance(event_or_reason, LinkEvent):
            events.append(event_or_reason)
        elif event_or_reason:
            skipped.append(f"events[{index}]{event_or_reason}")
    return events, skipped


def _read_event(raw: Any) -> LinkEvent | str | None:
    """The event, or the reason it is malformed (a field path and what is wrong), or None if not ours."""
    if not isinstance(raw, dict):
        return ": not an object"
    kind = raw.get("type")
    if kind not in (FOLLOW, UNFOLLOW):
        return None
    source = raw.get("source")
    line_user_id = source.get("userId") if isinstance(source, dict) else None
    if not isinstance(line_user_id, str) or not USER_ID.fullmatch(line_user_id):
        return ".source.userId: not a LINE userId"
    at = raw.get("timestamp")
    if type(at) is not int or not 0 < at < _MAX_TIMESTAMP_MS:
        return ".timestamp: not a time in milliseconds"
    event_id = raw.get("webhookEventId")
    if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
        return ".webhookEventId: not an event id"
    context = raw.get("deliveryContext")
    redelivery = isinstance(context, dict) and context.get("isRedelivery") is True
    return LinkEvent(kind, line_user_id, at, event_id, redelivery)


@dataclass(frozen=True)
class AppliedEvents:
    """What a link remembers of the LINE events applied to it."""

    at: int | None = None
    event_ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, attributes: dict[str, Any]) -> AppliedEvents:
        at = attributes.get(EVENT_AT)
        return cls(int(at), tuple(attributes.get(EVENT_IDS) or ())) if at is not None else cls()

    def verdict(self, event: LinkEvent, linked_at: str | None = None) -> str:
        """APPLY, DUPLICATE (this event was applied) or STALE (older than the latest applied, or the link)."""
        if event.event_id in self.event_ids:
            return DUPLICATE
        if self.at is not None and event.at < self.at:
            return STALE
        if linked_at and event.at < _ms(linked_at):
            return STALE
        return APPLY

    def after(self, event: LinkEvent) -> AppliedEvents:
        """What to remember once `event` (judged APPLY) is applied."""
        if self.at is None or event.at > self.at:
            return AppliedEvents(event.at, (event.event_id,))
        return AppliedEvents(self.at, (*self.event_ids, event.event_id)[-_MAX_IDS:])

    def attributes(self) -> dict[str, Any]:
        """The link attributes as stored (both absent before the first event)."""
        if self.at is None:
            return {EVENT_AT: None, EVENT_IDS: None}
        return {EVENT_AT: self.at, EVENT_IDS: list(self.event_ids)}


def _ms(iso: str) -> int:
    """An RFC 3339 UTC time (as utc_now_iso writes it) in ms; 0 when unreadable, so it never hides an event."""
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
    except (TypeError, ValueError):
        return 0
