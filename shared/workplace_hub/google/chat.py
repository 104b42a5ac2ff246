"""Google Chat: a card posted to the employee's incoming webhook (providers.md §2).

Docs: https://developers.google.com/workspace/chat/quickstart/webhooks and the `spaces.messages.create`
reference. The webhook URL carries its own key and token, so it is a secret: never log it.
"""

from __future__ import annotations

import hashlib
import html
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from workplace_hub.errors import NeedsRelinkError, PermanentProviderError, RetryableProviderError
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

# Google Chat limits: the whole message ≤ 32,000 bytes; keep the text well inside.
FALLBACK_MAX = 4000
# `messageId`: `client-` then lowercase letters, digits and hyphens, 63 characters in all.
MESSAGE_ID_PREFIX = "client-"
MESSAGE_ID_MAX = 63


def client_message_id(company_id: str, event_id: str, user_id: str) -> str:
    """The `messageId` of one delivery (company x event x recipient on Google Chat): the same for every attempt
    and replay of it, so a repeated create is refused (409 ALREADY_EXISTS) instead of posting twice."""
    delivery = json.dumps([company_id, event_id, user_id, "google_chat"], ensure_ascii=False)
    digest = hashlib.sha256(delivery.encode("utf-8", "surrogatepass")).hexdigest()
    return MESSAGE_ID_PREFIX + digest[: MESSAGE_ID_MAX - len(MESSAGE_ID_PREFIX)]


def is_webhook_url(url: str, base: str) -> bool:
    """True for `<GOOGLE_CHAT_BASE>/v1/spaces/<space>/messages?key=…&token=…` and nothing else."""
    prefix = base.rstrip("/") + "/v1/spaces/"
    if not url.startswith(prefix):
        return False
    parts = urlsplit(url)
    tail = parts.path[len(urlsplit(prefix).path) :]
    space, _, rest = tail.partition("/")
    query = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
    return bool(space) and rest == "messages" and bool(query.get("key")) and bool(query.get("token"))


def with_message_id(webhook_url: str, message_id: str) -> str:
    """The webhook URL with this post's `messageId` (replacing one the employee's URL may already carry)."""
    base, _, query = webhook_url.partition("?")
    kept = [pair for pair in query.split("&") if pair and not pair.startswith("messageId=")]
    return f"{base}?{'&'.join([*kept, f'messageId={message_id}'])}"


def build_message(notification: Notification) -> dict[str, Any]:
    """A `cardsV2` card (title, body, link button) with a plain-text fallback."""
    widgets: list[dict[str, Any]] = []
    if notification.body:
        # textParagraph takes a small HTML subset: escape the user's text, keep line breaks.
        widgets.append({"textParagraph": {"text": html.escape(notification.body).replace("\n", "<br>")}})
    widgets.append(
        {
            "buttonList": {
                "buttons": [
                    {
                        "text": button_label(notification.locale),
                        "onClick": {"openLink": {"url": notification.url}},
                    }
                ]
            }
        }
    )
    fallback = "\n".join(part for part in (notification.title, notification.body, notification.url) if part)
    return {
        "fallbackText": fallback[:FALLBACK_MAX],
        "cardsV2": [
            {
                "cardId": "workplace-notification",
                "card": {
                    "header": {"title": notification.title, "subtitle": "WORKPLACE"},
                    "sections": [{"widgets": widgets}],
                },
            }
        ],
    }


class GoogleChatSender(Sender):
    """Posts to the webhook the employee registered (only ever to GOOGLE_CHAT_BASE)."""

    channel = "google_chat"
    api_docs = "https://developers.google.com/workspace/chat/api/reference/rest/v1/spaces.messages/create"
    # Each post carries the delivery's own messageId, so a repeat after a lost answer cannot post twice.
    # (Documented for spaces.messages.create; whether key+token webhooks honour it is not confirmed: README.)
    idempotent_retries = True

    def rate_limit(self, credentials: dict[str, Any], destinations: list[Destination]) -> RateLimit | None:
        """Per space: 60 writes a minute (providers.md §2.3; webhooks maybe stricter, ~1/s). Paced 10% under
        1/s, with a smaller burst: the provider's bucket and ours do not start or tick at the same moment."""
        address = destinations[0].address if destinations else ""
        space = urlsplit(address).path.rstrip("/").split("/")[-2] if "/spaces/" in address else address
        return RateLimit(f"google_chat:{fingerprint(space)}", 0.9, 4)

    def build_request(
        self, notification: Notification, destination: Destination, credentials: dict[str, Any]
    ) -> PreparedCall:
        if not is_webhook_url(destination.address, self._endpoints.GOOGLE_CHAT_BASE):
            # Defence in depth against SSRF: the links API already refuses such URLs.
            raise NeedsRelinkError("google_chat", "webhook_url_not_allowed", detail="not a Google Chat webhook URL")
        message_id = client_message_id(notification.company_id, notification.event_id, destination.user_id)
        return PreparedCall(
            method="POST",
            url=with_message_id(destination.address, message_id),
            headers={"Content-Type": "application/json; charset=UTF-8"},
            json=build_message(notification),
        )

    def parse_response(self, response: requests.Response) -> SendReceipt:
        if response.status_code == 200:
            body = _json_object(response)
            if body is None:
                raise RetryableProviderError("google_chat", "invalid_response", status_code=200)
            return SendReceipt(provider_message_id=body.get("name"))
        status, code, message = _google_error(response)
        if response.status_code == 409 and status == "ALREADY_EXISTS":
            # A repeat of a create that went through (its answer was lost): this delivery's message is there.
            return SendReceipt(provider_message_id=_created_name(response))
        if response.status_code == 429 or response.status_code >= 500:
            raise error_for_status("google_chat", response, status or f"http_{response.status_code}", message)
        if response.status_code in (403, 404) or code == "API_KEY_INVALID":
            # The webhook was deleted or its key/token no longer valid: the employee must register it again.
            raise NeedsRelinkError(
                "google_chat",
                status or f"http_{response.status_code}",
                status_code=response.status_code,
                detail="webhook refused",
            )
        raise PermanentProviderError(
            "google_chat",
            status or f"http_{response.status_code}",
            status_code=response.status_code,
            detail=message[:200],
        )

    def verify(self, credentials: dict[str, Any]) -> str:
        return "nothing to verify at company level: each employee registers their own webhook"


def _google_error(response: requests.Response) -> tuple[str, str, str]:
    """(status, ErrorInfo reason, message) from Google's error envelope."""
    error = (_json_object(response) or {}).get("error")
    if not isinstance(error, dict):
        return "", "", ""
    reason = ""
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("reason"):
            reason = str(detail["reason"])
    return str(error.get("status", "")), reason, str(error.get("message", ""))


def _created_name(response: requests.Response) -> str | None:
    """`spaces/<space>/messages/<messageId>`, the name of the message a refused repeat asked for."""
    request = getattr(response, "request", None)
    if request is None or not request.url:
        return None
    parts = urlsplit(request.url)
    space = parts.path.rstrip("/").split("/")[-2] if "/spaces/" in parts.path else ""
    message_id = (parse_qs(parts.query).get("messageId") or [""])[0]
    return f"spaces/{space}/messages/{message_id}" if space and message_id else None


def _json_object(response: requests.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None (a proxy's HTML or a bare JSON value are not Google's answer)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
