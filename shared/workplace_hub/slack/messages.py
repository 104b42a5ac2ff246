"""Slack: a DM from the company's bot via `chat.postMessage` (providers.md §1).

Docs: https://docs.slack.dev/reference/methods/chat.postMessage and .../auth.test
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import requests

from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    RetryableProviderError,
)
from workplace_hub.providers.messenger import (
    Destination,
    Notification,
    PreparedCall,
    Sender,
    SendReceipt,
    button_label,
    error_for_status,
)
from workplace_hub.storage.rate_limits import RateLimit, fingerprint

HEADER_MAX = 150
SECTION_MAX = 3000
# A body longer than one section goes on in the next (Block Kit allows 50 blocks; the contract's 2,000-character
# body escapes to at most 10,000 characters, 4 sections).
SECTIONS_MAX = 8
BUTTON_URL_MAX = 3000
# The `markdown` block (docs.slack.dev/reference/block-kit/blocks/markdown-block): 12,000 characters.
MARKDOWN_MAX = 12_000
TEXT_MAX = 4000

# Slack answers HTTP 200 with ok:false for nearly every failure; the code decides what to do.
RETRYABLE_CODES = frozenset(
    {"ratelimited", "rate_limited", "fatal_error", "internal_error", "service_unavailable", "request_timeout"}
)
CREDENTIAL_CODES = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "team_not_found",
    }
)
DESTINATION_CODES = frozenset({"channel_not_found", "user_not_found", "is_archived", "not_in_channel"})


def _escape_mrkdwn(text: str) -> str:
    # Slack's only required escapes (docs: "Escaping text"); keeps user text from becoming mentions.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# A job's recipients all get the same body: escaped once (character by character), not once per recipient.
@lru_cache(maxsize=16)
def _escaped_parts(text: str, limit: int, max_parts: int) -> tuple[str, ...]:
    """`text` escaped for mrkdwn, in consecutive parts of at most `limit` characters, never splitting an escape
    (`&amp;`); the last part ends with "…" if even `max_parts` parts cannot hold it all."""
    parts: list[list[str]] = [[]]
    sizes = [0]
    for char in text:
        piece = _escape_mrkdwn(char)
        if sizes[-1] + len(piece) > limit:
            if len(parts) == max_parts:
                while sizes[-1] + 1 > limit:  # room for the ellipsis
                    sizes[-1] -= len(parts[-1].pop())
                parts[-1].append("…")
                break
            parts.append([])
            sizes.append(0)
        parts[-1].append(piece)
        sizes[-1] += len(piece)
    return tuple("".join(part) for part in parts if part)


def _link_block(notification: Notification) -> dict[str, Any]:
    """The link to WORKPLACE: a button, or, for a URL longer than a button takes, a markdown link."""
    label = button_label(notification.locale)
    if len(notification.url) <= BUTTON_URL_MAX:
        return {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "open_workplace",
                    "text": {"type": "plain_text", "text": label},
                    "url": notification.url,
                }
            ],
        }
    # `<…>` keeps a URL with parentheses or spaces one link (CommonMark link destination).
    return {"type": "markdown", "text": f"[{label}](<{notification.url}>)"}


def build_blocks(notification: Notification) -> list[dict[str, Any]]:
    """Header (title), the body in as many sections as it needs, and a link to WORKPLACE, within Block Kit's
    limits: nothing the contract allows makes Slack refuse the message (`invalid_blocks`)."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _truncate(notification.title, HEADER_MAX), "emoji": True},
        }
    ]
    for part in _escaped_parts(notification.body, SECTION_MAX, SECTIONS_MAX):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": part}})
    if len(notification.url) + len(button_label(notification.locale)) + 4 <= MARKDOWN_MAX:
        blocks.append(_link_block(notification))
    # (A longer URL has no block that can carry it: the message goes out without the link, the fallback text
    # below keeps the start of it.)
    return blocks


@lru_cache(maxsize=16)  # the same for all of a job's recipients (a Notification is frozen)
def fallback_text(notification: Notification) -> str:
    """What notifications and clients without Block Kit show."""
    parts = [notification.title, notification.body, notification.url]
    return _truncate(_escape_mrkdwn("\n".join(part for part in parts if part)), TEXT_MAX)


class SlackSender(Sender):
    """Posts the notification as a DM from the company's Slack bot to the employee's member ID."""

    channel = "slack"
    api_docs = "https://docs.slack.dev/reference/methods/chat.postMessage"

    def _api(self, method: str) -> str:
        return f"{self._endpoints.SLACK_API_BASE.rstrip('/')}/{method}"

    def build_request(
        self, notification: Notification, destination: Destination, credentials: dict[str, Any]
    ) -> PreparedCall:
        return PreparedCall(
            method="POST",
            url=self._api("chat.postMessage"),
            headers={
                "Authorization": f"Bearer {credentials['bot_token']}",
                "Content-Type": "application/json; charset=utf-8",
            },
            json={
                "channel": destination.address,
                "text": fallback_text(notification),
                "blocks": build_blocks(notification),
                "unfurl_links": False,
                "unfurl_media": False,
            },
        )

    def parse_response(self, response: requests.Response) -> SendReceipt:
        return SendReceipt(provider_message_id=_read_ok(response).get("ts"))

    def rate_limit(self, credentials: dict[str, Any], destinations: list[Destination]) -> RateLimit | None:
        """chat.postMessage: about one message a second per channel (an employee's DM), short bursts allowed."""
        channel = destinations[0].address if destinations else ""
        return RateLimit(f"slack:{fingerprint(credentials.get('bot_token', ''))}:{channel}", 1.0, 3)

    def find_address(self, credentials: dict[str, Any], user_id: str) -> str | None:
        """When the WORKPLACE user ID is an e-mail, Slack may know the member behind it."""
        if "@" not in user_id:
            return None
        response = self.execute(lookup_request(self._endpoints.SLACK_API_BASE, credentials["bot_token"], user_id))
        try:
            member = _read_ok(response).get("user") or {}
        except PermanentProviderError as exc:
            if exc.code == "users_not_found":
                return None
            raise
        return str(member.get("id") or "") or None

    def verify(self, credentials: dict[str, Any]) -> str:
        response = self.execute(
            PreparedCall(
                "POST",
                self._api("auth.test"),
                headers={"Authorization": f"Bearer {credentials['bot_token']}"},
            )
        )
        body = _read_ok(response)
        return f"workspace {body.get('team', '?')} ({body.get('team_id', '?')}), bot user {body.get('user', '?')}"


def lookup_request(api_base: str, token: str, email: str) -> PreparedCall:
    """users.lookupByEmail (scope users:read.email): the member ID of a workspace member's e-mail."""
    return PreparedCall(
        "GET",
        f"{api_base.rstrip('/')}/users.lookupByEmail?{urlencode({'email': email})}",
        headers={"Authorization": f"Bearer {token}"},
    )


def _read_ok(response: requests.Response) -> dict[str, Any]:
    """The JSON body of a successful Slack call, or the matching error."""
    if response.status_code != 200:
        raise error_for_status(
            "slack",
            response,
            "ratelimited" if response.status_code == 429 else f"http_{response.status_code}",
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise RetryableProviderError("slack", "invalid_response", status_code=200, detail="body is not a JSON object")
    if body.get("ok") is True:
        return body
    code = str(body.get("error", "unknown_error"))
    if code in RETRYABLE_CODES:
        raise RetryableProviderError("slack", code, status_code=200)
    if code in CREDENTIAL_CODES:
        raise IntegrationCredentialsError("slack", code, status_code=200, detail="the bot token was refused")
    if code in DESTINATION_CODES:
        raise NeedsRelinkError("slack", code, status_code=200, detail="the Slack member ID cannot be messaged")
    raise PermanentProviderError("slack", code, status_code=200)
