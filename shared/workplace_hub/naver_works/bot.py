"""NAVER WORKS: a link message from the company's bot to the employee (providers.md §4).

Docs: https://developers.worksmobile.com/jp/docs/bot-user-message-send, …/bot-send-link, …/bot-get,
…/bot-create, …/bot-domain-register, …/rate-limits; API 1.0 (legacy) push:
https://developers.worksmobile.com/jp/document/1005008. The destination address is the employee's
WORKPLACE user ID, which is their NAVER WORKS user ID / login e-mail. Tokens: naver_works_auth.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import requests

from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    IntegrationCredentialsError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
)
from workplace_hub.naver_works.auth import PROVIDER, WorksTokenProvider, is_legacy, require
from workplace_hub.providers.messenger import (
    Destination,
    Notification,
    PreparedCall,
    Sender,
    SendReceipt,
    button_label,
    parse_retry_after,
)
from workplace_hub.storage.rate_limits import RateLimit

# Link content: contentText, linkText and link ≤ 1,000 characters each; text content ≤ 2,000 (bot-send-link,
# bot-send-text; the 1.0 text push has the same 2,000). The 1.0 link content is assumed to match (UNCONFIRMED).
LINK_TEXT_MAX = 1000
TEXT_MAX = 2000
BOT_NAME_MAX = 100  # bot-create: botName and description ≤ 100, photoUrl ≤ 1,000 (HTTPS, PNG 640×640)
BOT_DESCRIPTION = "WORKPLACE notifications"
# UNCONFIRMED placeholder: the docs require an HTTPS PNG; replace with the real hosted WORKPLACE icon.
# The hub's own bot picture (a 640x640 PNG), served by the linking function at its public URL.
BOT_PHOTO_PATH = "/assets/naver-works-bot.png"
JSON = "application/json"
LEGACY_JSON = "application/json; charset=UTF-8"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote(value: str) -> str:
    return quote(str(value), safe="")  # an e-mail user ID: "@" and "+" encoded too


def build_content(notification: Notification) -> dict[str, Any]:
    """A link message: title and body as its text, the URL behind the localized link text."""
    text = "\n".join(part for part in (notification.title, notification.body) if part)
    url = notification.url
    if url and len(url) <= LINK_TEXT_MAX:
        return {
            "type": "link",
            "contentText": _truncate(text or url, LINK_TEXT_MAX),
            "linkText": button_label(notification.locale),
            "link": url,
        }
    # No URL, or one longer than a link allows: plain text with the URL at the end.
    room = TEXT_MAX - (len(url) + 1 if url else 0)
    if room < 1:
        raise PermanentProviderError(PROVIDER, "url_too_long", detail=f"the link has {len(url)} characters")
    return {"type": "text", "text": _truncate(text, room) + (f"\n{url}" if url else "")}


def build_message_request(
    api_base: str, bot_id: str, user_id: str, token: str, notification: Notification
) -> PreparedCall:
    """Pure: `POST {WORKS_API_BASE}/bots/{botId}/users/{userId}/messages` (user ID URL-encoded)."""
    return PreparedCall(
        "POST",
        f"{api_base.rstrip('/')}/bots/{_quote(bot_id)}/users/{_quote(user_id)}/messages",
        headers={"Authorization": f"Bearer {token}", "Content-Type": JSON},
        json={"content": build_content(notification)},
    )


def build_legacy_push_request(
    legacy_api_base: str, credentials: dict[str, Any], user_id: str, token: str, notification: Notification
) -> PreparedCall:
    """Pure: API 1.0 `POST {base}/r/{apiId}/message/v1/bot/{botNo}/message/push` with the consumer key."""
    api_id, bot_id, consumer_key = require(credentials, "api_id", "bot_id", "server_api_consumer_key")
    return PreparedCall(
        "POST",
        f"{legacy_api_base.rstrip('/')}/r/{_quote(api_id)}/message/v1/bot/{_quote(bot_id)}/message/push",
        headers={"Authorization": f"Bearer {token}", "consumerKey": consumer_key, "Content-Type": LEGACY_JSON},
        json={"accountId": user_id, "content": build_content(notification)},
    )


def build_create_bot_request(
    api_base: str, token: str, name: str, admin_email: str, domain_id: str, photo_url: str
) -> PreparedCall:
    """Pure: `POST /bots` (bot-create) for a 1:1 bot limited to the company's domain."""
    body = {
        "botName": _truncate(name.replace("\n", " ").strip() or "WORKPLACE", BOT_NAME_MAX),
        "photoUrl": photo_url,
        "description": BOT_DESCRIPTION,
        "administrators": [admin_email],
        "allowDomains": [int(domain_id) if domain_id.isdigit() else domain_id],
    }
    headers = {"Authorization": f"Bearer {token}", "Content-Type": JSON}
    return PreparedCall("POST", f"{api_base.rstrip('/')}/bots", headers=headers, json=body)


def build_bot_domain_request(api_base: str, token: str, bot_id: str, domain_id: str) -> PreparedCall:
    """Pure: `POST /bots/{botId}/domains/{domainId}`: every member may use it, hidden from the org chart."""
    url = f"{api_base.rstrip('/')}/bots/{_quote(bot_id)}/domains/{_quote(domain_id)}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": JSON}
    return PreparedCall("POST", url, headers=headers, json={"visible": False, "allowToSelectedMember": False})


def rate_limit_wait(response: requests.Response, now: float | None = None) -> float | None:
    """Seconds to wait from Retry-After, else from `rateLimit-reset` (seconds, or an epoch: UNCONFIRMED)."""
    wait = parse_retry_after(response.headers.get("Retry-After"), now)
    if wait is not None:
        return wait
    try:
        reset = float(response.headers.get("rateLimit-reset") or "")
    except ValueError:
        return None
    if reset > 1e12:  # epoch milliseconds
        reset /= 1000
    if reset > 1e9:  # epoch seconds
        reset -= time.time() if now is None else now
    return max(0.0, reset)


# API 1.0 push quota: 20,000 a day plus 100 per member above 100, reset at 00:00 JST (providers.md §9.1). LINE
# WORKS answers it with 429 (its developer forum, 2020); the body's code is the hub's ASSUMPTION (README).
DAILY_QUOTA_CODE = "QUOTA_EXCEEDED"
DAILY_QUOTA_REASON = "daily_quota_reached"
JST = timezone(timedelta(hours=9))
QUOTA_RESET_MARGIN_SECONDS = 60  # come back just after the reset, not on its edge


def seconds_until_quota_reset(now: float | None = None) -> float:
    """Seconds from `now` until just after the next 00:00 JST."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, JST)
    midnight = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), JST)
    return (midnight - moment).total_seconds() + QUOTA_RESET_MARGIN_SECONDS


def _error_body(response: requests.Response) -> tuple[str, str]:
    """(code, description): 2.0 sends {"code","description"}, 1.0 {"code","message","domain"}."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("code") or ""), str(body.get("description") or body.get("message") or "")


def _auth_refused(response: requests.Response, legacy: bool) -> bool:
    """A refused token: re-issue it once. 1.0 sample re-issues on 401/403; 2.0 sample checks 403 UNAUTHORIZED."""
    if response.status_code == 401:
        return True
    return response.status_code == 403 and (legacy or _error_body(response)[0] == "UNAUTHORIZED")


def error_for(response: requests.Response) -> ProviderError:
    """The error for a failed NAVER WORKS API call (codes other than 401/429 are UNCONFIRMED names)."""
    status = response.status_code
    code, description = _error_body(response)
    code, detail = code or f"http_{status}", description[:200]
    if status == 429 and code == DAILY_QUOTA_CODE:
        # The day's push quota is spent: nothing goes through before it resets at 00:00 JST.
        return RetryableProviderError(
            PROVIDER,
            code,
            status_code=status,
            detail=detail,
            retry_after=seconds_until_quota_reset(),
            reason=DAILY_QUOTA_REASON,
        )
    if status == 429 or status >= 500:
        return RetryableProviderError(
            PROVIDER, code, status_code=status, detail=detail, retry_after=rate_limit_wait(response)
        )
    if status == 401 or (status == 403 and code == "UNAUTHORIZED"):
        return IntegrationCredentialsError(PROVIDER, code, status_code=status, detail=detail or "token refused")
    lowered = description.lower()
    if code == "NONEXISTENT_BOT" or (status == 404 and "bot" in lowered and "user" not in lowered):
        # A wrong or deleted bot_id: the admin must fix the settings.
        return IntegrationCredentialsError(
            PROVIDER, code, status_code=status, detail=detail or "bot not found", reason="naver_works_bot_not_found"
        )
    if status == 404:
        return PermanentProviderError(
            PROVIDER, code, status_code=status, detail=detail or "user not found", reason="naver_works_user_not_found"
        )
    return PermanentProviderError(PROVIDER, code, status_code=status, detail=detail)


def _json_or_error(*ok: int) -> Callable[[requests.Response], dict[str, Any]]:
    def read(response: requests.Response) -> dict[str, Any]:
        if response.status_code not in ok:
            raise error_for(response)
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):  # a 2xx that is not a JSON object: the outcome is unclear
            raise RetryableProviderError(PROVIDER, "invalid_response", status_code=response.status_code)
        return body

    return read


class NaverWorksSender(Sender):
    """Sends from the company's bot (API 2.0, or the legacy 1.0 push) to the employee's user ID."""

    channel = "naver_works"
    api_docs = "https://developers.worksmobile.com/jp/docs/bot-user-message-send"

    def __init__(
        self,
        session: requests.Session,
        endpoints: ProviderEndpoints,
        timeout: tuple[float, float] = (3.05, 10.0),
        *,
        scope: str = "bot",
        clock: Callable[[], float] = time.time,
        hub_public_url: str = "",
    ) -> None:
        super().__init__(session, endpoints, timeout)
        self._hub_public_url = hub_public_url.rstrip("/")
        # "bot" covers messages, bot lookup and bot creation (bot-api "API scopes"); calendar scopes later.
        self.scope = scope
        self.tokens = WorksTokenProvider(session, endpoints, timeout, clock)

    def build_request(
        self, notification: Notification, destination: Destination, credentials: dict[str, Any]
    ) -> PreparedCall:
        """Pure: the call for this message with the token in `credentials["access_token"]`, which `send`
        puts there from its token cache (NAVER WORKS calls need a token obtained beforehand)."""
        token = credentials.get("access_token")
        if not token:
            raise IntegrationCredentialsError(PROVIDER, "no_access_token", detail="obtain a token first (send does)")
        return self._message_call(notification, destination, credentials, str(token))

    def _message_call(
        self, notification: Notification, destination: Destination, credentials: dict[str, Any], token: str
    ) -> PreparedCall:
        if is_legacy(credentials):
            base = self._endpoints.WORKS_LEGACY_API_BASE
            return build_legacy_push_request(base, credentials, destination.address, token, notification)
        (bot_id,) = require(credentials, "bot_id")
        return build_message_request(self._endpoints.WORKS_API_BASE, bot_id, destination.address, token, notification)

    def rate_limit(self, credentials: dict[str, Any], destinations: list[Destination]) -> RateLimit | None:
        """Per API and domain: 240 requests a minute on paid plans (60 on the free one, whose rare 429s the
        retries absorb). Paced at the paid plan's rate, with a burst well under a minute's allowance."""
        domain = str(credentials.get("domain_id") or credentials.get("api_id") or "")
        return RateLimit(f"naver_works:{domain}:message", 4.0, 60)

    def parse_response(self, response: requests.Response) -> SendReceipt:
        # 2.0 answers 201, 1.0 answers 200; neither returns a message id.
        if response.status_code in (200, 201):
            return SendReceipt(provider_message_id=None)
        raise error_for(response)

    def send(self, notification: Notification, destination: Destination, credentials: dict[str, Any]) -> SendReceipt:
        build = lambda token: self._message_call(notification, destination, credentials, token)  # noqa: E731
        return self._call(credentials, build, self.parse_response)

    def _call(self, credentials: dict[str, Any], build: Callable[[str], PreparedCall], read: Callable[..., Any]) -> Any:
        """One API call with a cached token; a refused token is dropped, re-issued and tried once more."""
        legacy = is_legacy(credentials)
        for _ in range(2):
            token = self.tokens.token(credentials, self.scope)
            response = self.execute(build(token))
            if not _auth_refused(response, legacy):
                return read(response)
            self.tokens.invalidate(credentials, self.scope, token)
        code = _error_body(response)[0] or "UNAUTHORIZED"
        raise IntegrationCredentialsError(
            PROVIDER, code, status_code=response.status_code, detail="a freshly issued token was refused too"
        )

    def verify(self, credentials: dict[str, Any]) -> str:
        """Issue a token and (2.0) read the bot: "bot <botName> (<botId>)"."""
        if is_legacy(credentials):
            self.tokens.token(credentials, self.scope)
            (api_id,) = require(credentials, "api_id")
            return f"API 1.0 server token issued for API ID {api_id} (the bot is checked on the first message)"
        bot_id = str(credentials.get("bot_id") or "")
        if not bot_id:
            self.tokens.token(credentials, self.scope)
            return "service account token issued (no bot yet)"
        url = f"{self._endpoints.WORKS_API_BASE.rstrip('/')}/bots/{_quote(bot_id)}"
        get = lambda token: PreparedCall("GET", url, headers={"Authorization": f"Bearer {token}"})  # noqa: E731
        body = self._call(credentials, get, _json_or_error(200))
        return f"bot {body.get('botName', '?')} ({body.get('botId', bot_id)})"

    def on_save(self, credentials: dict[str, Any]) -> dict[str, Any]:
        """Settings hook: an API 2.0 integration saved without a bot_id gets a new bot ({"bot_id": …})."""
        if is_legacy(credentials) or credentials.get("bot_id"):
            return {}
        return {"bot_id": self.provision_bot(credentials)}

    def bot_photo_url(self, credentials: dict[str, Any]) -> str:
        """The admin's `bot_photo_url`, else the hub's own picture at its public URL."""
        return str(credentials.get("bot_photo_url") or "") or self._hub_public_url + BOT_PHOTO_PATH

    def provision_bot(self, credentials: dict[str, Any], name: str = "WORKPLACE") -> str:
        """API 2.0: create a bot (admin_email as its administrator), add it to the domain; returns its botId."""
        if is_legacy(credentials):
            raise PermanentProviderError(PROVIDER, "unsupported_api_version", detail="bots are created with API 2.0")
        admin_email, domain_id = require(credentials, "admin_email", "domain_id")
        base, photo_url = self._endpoints.WORKS_API_BASE, self.bot_photo_url(credentials)
        created = self._call(
            credentials,
            lambda token: build_create_bot_request(base, token, name, admin_email, domain_id, photo_url),
            _json_or_error(200, 201),
        )
        bot_id = str(created.get("botId") or "")
        if not bot_id:
            raise RetryableProviderError(PROVIDER, "invalid_response", status_code=201, detail="no botId")
        try:
            self._call(
                credentials,
                lambda token: build_bot_domain_request(base, token, bot_id, domain_id),
                _json_or_error(200, 201),
            )
        except ProviderError as exc:
            # The bot exists now: name it, so it can be entered as bot_id instead of creating another one.
            raise PermanentProviderError(
                PROVIDER,
                "bot_domain_registration_failed",
                status_code=exc.status_code,
                detail=f"bot {bot_id} was created but not added to domain {domain_id} ({exc.code})",
            ) from None
        return bot_id
