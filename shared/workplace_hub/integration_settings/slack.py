"""Slack's settings: the bot token."""

from __future__ import annotations

from workplace_hub.integration_settings.fields import FieldSpec, pattern

SLACK = [
    FieldSpec("bot_token", pattern(r"xoxb-[0-9A-Za-z-]{10,}", "must be a bot token starting with xoxb-"), secret=True),
]
