"""LINE: a Flex message from the company's LINE Official Account to the employee's userId (providers.md §3).

Docs: https://developers.line.biz/en/reference/messaging-api/#send-push-message, ...#send-multicast-message,
...#get-bot-info, ...#flex-message, https://developers.line.biz/en/docs/messaging-api/retrying-api-request/ and
https://developers.line.biz/en/docs/messaging-api/text-character-count/ (lengths count UTF-16 code units).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import requests

from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    ProviderError,
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

USER_ID = re.compile(r"U[0-9a-f]{32}")
LOGIN_CHANNEL_ID = re.compile(r"[0-9]{10}")
CHANNEL_SECRET = re.compile(r"[0-9a-f]{32}")
MULTICAST_MAX = 500
# altText, action label and uri are kept at LINE's older, stricter limits (the reference now allows 1,500,
# 40 and 10,000), so the message is valid under either.
ALT_TEXT_MAX = 400
LABEL_MAX = 20
URI_MAX = 1000
# A bubble's JSON may be at most 30 KB. requests escapes non-ASCII text as \uXXXX (6 bytes per unit), so
# 200 + 3,000 units of text, the URI and the skeleton stay under it whichever way LINE measures.
TITLE_MAX = 200
BODY_MAX = 3000
DETAIL_MAX = 300
# Retry keys of single sends (`send`): a stable UUID per event and WORKPLACE user.
RETRY_KEY_NAMESPACE = uuid.UUID("0c5e1d7a-8f3b-4a57-b1f4-2a9d6e3c7b10")


def utf16_len(text: str) -> int:
    """Length as LINE counts it: UTF-16 code units (🍎 counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def truncate_utf16(text: str, limit: int) -> str:
    """`text` if it fits in `limit` UTF-16 units, else its start plus "…" (never splitting a surrogate pair)."""
    if utf16_len(text) <= limit:
        return text
    kept, used = [], 0
    for char in text:
        width = 2 if ord(char) > 0xFFFF else 1
        if used + width > limit - 1:
            break
        kept.append(char)
        used += width
    return "".join(kept) + "…"


def alt_text(notification: Notification) -> str:
    """What notifications and the chat list show: the title and the start of the body."""
    text = "\n".join(part for part in (notification.title, notification.body) if part) or "WORKPLACE"
    return truncate_utf16(text, ALT_TEXT_MAX)


def build_message(notification: Notification) -> dict[str, Any]:
    """A Flex bubble: bold title in the header, wrapped body, a footer button opening the WORKPLACE URL."""
    url = notification.url
    if not re.fullmatch(r"https?://\S+", url or "") or len(url) > URI_MAX:
        raise PermanentProviderError("line", "invalid_url", detail=f"the link must be http(s), ≤ {URI_MAX} characters")
    title = truncate_utf16(notification.title or "WORKPLACE", TITLE_MAX)
    bubble: dict[str, Any] = {
        "type": "bubble",
        "header": _box([{"type": "text", "text": title, "weight": "bold", "size": "md", "wrap": True}]),
    }
    if notification.body:
        body = truncate_utf16(notification.body, BODY_MAX)
        bubble["body"] = _box([{"type": "text", "text": body, "size": "sm", "wrap": True}])
    label = button_label(notification.locale)[:LABEL_MAX]
    action = {"type": "uri", "label": label, "uri": url}
    bubble["footer"] = _box([{"type": "button", "style": "primary", "height": "sm", "action": action}])
    return {"type": "flex", "altText": alt_text(notification), "contents": bubble}


def _box(contents: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "box", "layout": "vertical", "contents": contents}


def retry_key(idempotency_key: str, part: int | None = None) -> str:
    """The `X-Line-Retry-Key` (a UUID) for an idempotency key, and for one part of a split batch."""
    try:
        base = uuid.UUID(idempotency_key)
    except ValueError:
        base = uuid.uuid5(RETRY_KEY_NAMESPACE, idempotency_key)
    return str(base if part is None else uuid.uuid5(base, f"part-{part}"))


def build_send(api_base: str, token: str, to: list[str], messages: list[dict[str, Any]], key: str) -> PreparedCall:
    """Push for one userId, multicast for several (at most 500); the same retry key on every attempt."""
    if not 1 <= len(to) <= MULTICAST_MAX:
        raise ValueError(f"1 to {MULTICAST_MAX} recipients per call, not {len(to)}")
    single = len(to) == 1
    return PreparedCall(
        method="POST",
        url=f"{api_base.rstrip('/')}/v2/bot/message/{'push' if single else 'multicast'}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "X-Line-Retry-Key": key},
        json={"to": to[0] if single else list(to), "messages": messages},
    )


# --- responses (providers.md §3.2, §3.3, §7) ------------------------------------------------------------
# 200 sent · 409 + x-line-accepted-request-id: already sent with this retry key (success)
# 429 "monthly limit" → permanent · 429 rate limit, 5xx → retry · 401 → token refused · other 4xx → permanent


def parse_send_response(response: requests.Response) -> SendReceipt:
    """Push answers `sentMessages` (the first id is the receipt); multicast `{}` (the request id is)."""
    body = _json(response)
    sent = body.get("sentMessages")
    message_id = sent[0].get("id") if isinstance(sent, list) and sent and isinstance(sent[0], dict) else None
    if response.status_code == 200:
        return SendReceipt(provider_message_id=message_id or response.headers.get("x-line-request-id"))
    accepted = response.headers.get("x-line-accepted-request-id")
    if response.status_code == 409 and accepted:
        return SendReceipt(provider_message_id=message_id or accepted)
    raise error_from_response(response, body)


def error_from_response(response: requests.Response, body: dict[str, Any] | None = None) -> ProviderError:
    status = response.status_code
    body = _json(response) if body is None else body
    message, detail = str(body.get("message", "")), summarise(body)
    if status == 429 and "monthly limit" in message.lower():
        # The free/paid message quota of the month is used up: retrying cannot help until next month.
        return PermanentProviderError(
            "line", "monthly_limit", status_code=429, detail=detail, reason="line_monthly_limit"
        )
    if status == 429 or status >= 500:
        return error_for_status("line", response, "rate_limited" if status == 429 else f"http_{status}", detail)
    if status == 401:
        return IntegrationCredentialsError("line", "http_401", status_code=401, detail=detail or "token refused")
    return PermanentProviderError("line", f"http_{status}", status_code=status, detail=detail)


def summarise(body: dict[str, Any]) -> str:
    """LINE's `message` and its `details` (`property: message`), short; LINE never echoes the token."""
    parts = [str(body.get("message", ""))]
    for item in body.get("details") or []:
        if isinstance(item, dict):
            parts.append(f"{item.get('property', '?')}: {item.get('message', '')}")
    return "; ".join(part for part in parts if part)[:DETAIL_MAX]


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class LineSender(Sender):
    """Pushes (one) or multicasts (up to 500) the Flex message from the company's Official Account."""

    channel = "line"
    api_docs = "https://developers.line.biz/en/reference/messaging-api/#send-push-message"
    max_batch = MULTICAST_MAX
    idempotent_retries = True

    def build_request(
        self, notification: Notification, destination: Destination, credentials: dict[str, Any]
    ) -> PreparedCall:
        _check_address(destination)
        key = str(uuid.uuid5(RETRY_KEY_NAMESPACE, f"{notification.event_id}|{destination.user_id}"))
        messages = [build_message(notification)]
        return build_send(
            self._endpoints.LINE_API_BASE, _access_token(credentials), [destination.address], messages, key
        )

    def parse_response(self, response: requests.Response) -> SendReceipt:
        return parse_send_response(response)

    def rate_limit(self, credentials: dict[str, Any], destinations: list[Destination]) -> RateLimit | None:
        """Per channel and endpoint: multicast 200 requests a second (push 2,000: the stricter one for both)."""
        return RateLimit(f"line:{fingerprint(_access_token(credentials))}", 200.0, 200)

    def send_batch(
        self,
        notification: Notification,
        destinations: list[Destination],
        credentials: dict[str, Any],
        *,
        idempotency_key: str,
    ) -> dict[str, SendReceipt | ProviderError]:
        """One call per 500 userIds; every destination of a call gets that call's outcome."""
        outcomes: dict[str, SendReceipt | ProviderError] = {}
        valid: list[Destination] = []
        for destination in destinations:
            try:
                _check_address(destination)
                valid.append(destination)
            except NeedsRelinkError as exc:
                outcomes[destination.user_id] = exc
        try:
            token, messages = _access_token(credentials), [build_message(notification)]
        except ProviderError as exc:
            return {**outcomes, **{d.user_id: exc for d in valid}}
        addresses = list(dict.fromkeys(d.address for d in valid))
        parts = [addresses[i : i + MULTICAST_MAX] for i in range(0, len(addresses), MULTICAST_MAX)]
        for index, part in enumerate(parts):
            key = retry_key(idempotency_key, index if len(parts) > 1 else None)
            outcome: SendReceipt | ProviderError
            try:
                call = build_send(self._endpoints.LINE_API_BASE, token, part, messages, key)
                outcome = self.parse_response(self.execute(call))
            except ProviderError as exc:
                outcome = exc
            members = set(part)
            outcomes.update({d.user_id: outcome for d in valid if d.address in members})
        return outcomes

    def verify(self, credentials: dict[str, Any]) -> str:
        login_id, login_secret = (str(credentials.get(k, "")) for k in ("login_channel_id", "login_channel_secret"))
        if not (LOGIN_CHANNEL_ID.fullmatch(login_id) and CHANNEL_SECRET.fullmatch(login_secret)):
            raise IntegrationCredentialsError(
                "line", "invalid_login_channel", detail="LINE Login channel ID (10 digits) or secret (32 hex) malformed"
            )
        if not CHANNEL_SECRET.fullmatch(str(credentials.get("channel_secret", ""))):
            raise IntegrationCredentialsError("line", "invalid_channel_secret", detail="channel secret is not 32 hex")
        url = f"{self._endpoints.LINE_API_BASE.rstrip('/')}/v2/bot/info"
        auth = {"Authorization": f"Bearer {_access_token(credentials)}"}
        response = self.execute(PreparedCall("GET", url, headers=auth))
        if response.status_code != 200:
            raise error_from_response(response)
        bot = _json(response)
        return f"LINE Official Account {bot.get('displayName', '?')} ({bot.get('basicId', '?')})"


def _check_address(destination: Destination) -> None:
    if not USER_ID.fullmatch(destination.address or ""):
        raise NeedsRelinkError("line", "invalid_user_id", detail="not a LINE userId (U + 32 hex)")


def _access_token(credentials: dict[str, Any]) -> str:
    token = credentials.get("channel_access_token")
    if not isinstance(token, str) or not token.strip():
        raise IntegrationCredentialsError("line", "missing_channel_access_token", detail="no channel access token")
    return token.strip()
