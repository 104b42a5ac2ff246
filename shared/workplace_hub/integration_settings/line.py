"""LINE's settings: the LINE Login channel, the Messaging API channel and the Official Account's friend link."""

from __future__ import annotations

from workplace_hub.integration_settings.fields import URL_MAX_LENGTH, FieldSpec, https_url, pattern

LINE = [
    FieldSpec("login_channel_id", pattern(r"[0-9]{10}", "must be the 10-digit LINE Login channel ID")),
    FieldSpec("login_channel_secret", pattern(r"[0-9a-f]{32}", "must be 32 hex characters"), secret=True),
    FieldSpec("channel_access_token", pattern(r"\S{20,512}", "must be a channel access token"), secret=True),
    FieldSpec("channel_secret", pattern(r"[0-9a-f]{32}", "must be 32 hex characters"), secret=True),
    FieldSpec("friend_link_url", https_url(("lin.ee", "line.me")), max_length=URL_MAX_LENGTH),
]
