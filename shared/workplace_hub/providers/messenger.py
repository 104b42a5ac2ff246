"""The sender interface every messenger provider implements.

A sender turns one notification for one destination into one provider call. The request is built
by a pure function (`build_request`) and the response is read by another (`parse_response`), so both
are unit-tested without HTTP; `send` only joins them with an injected `requests.Session`. Senders
never retry by themselves (a retried POST can post twice): they raise a `ProviderError` subclass and
leave retries to SQS.
"""

from __future__ import annotations

import email.utils
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import requests

from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import PermanentProviderError, ProviderError, RetryableProviderError
from workplace_hub.http import provider_request
from workplace_hub.storage.rate_limits import RateLimit


@dataclass(frozen=True)
class Notification:
    """What to say: the event's message, in the recipient's locale."""

    event_id: str
    item: str
    title: str
    body: str
    url: str
    locale: str = "ja"
    # Whose event: with event_id, names the delivery (Google Chat's messageId is derived from it).
    company_id: str = ""


@dataclass(frozen=True)
class Destination:
    """Who gets it: the WORKPLACE user and their address on this provider (may be a secret URL)."""

    user_id: str
    address: str = field(repr=False)
    name: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class PreparedCall:
    """One HTTP request, fully built. Holds credentials: never log it."""

    method: str
    url: str = field(repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    json: dict[str, Any] | None = None


@dataclass(frozen=True)
class SendReceipt:
    """A delivered message: the provider's message id where it gives one."""

    provider_message_id: str | None = None


BUTTON_LABELS = {"ja": "WORKPLACEで開く", "ko": "WORKPLACE에서 열기", "en": "Open in WORKPLACE"}


def button_label(locale: str) -> str:
    return BUTTON_LABELS.get(locale, BUTTON_LABELS["ja"])


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def error_for_status(provider: str, response: requests.Response, code: str, detail: str = "") -> ProviderError:
    """Retryable for 429 and 5xx (with Retry-After), permanent otherwise."""
    status = response.status_code
    if status == 429 or status >= 500:
        return RetryableProviderError(
            provider,
            code,
            status_code=status,
            detail=detail,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    return PermanentProviderError(provider, code, status_code=status, detail=detail)


class Sender(ABC):
    """Delivers one notification to one destination on one messenger."""

    channel: ClassVar[str]
    api_docs: ClassVar[str]
    # How many recipients one provider call can take (LINE multicast: 500, SENS AlimTalk: 100).
    max_batch: ClassVar[int] = 1
    # True when the provider deduplicates a repeated request (LINE's X-Line-Retry-Key), so a call whose
    # outcome is unknown may be repeated with the same idempotency key.
    idempotent_retries: ClassVar[bool] = False

    def __init__(
        self,
        session: requests.Session,
        endpoints: ProviderEndpoints,
        timeout: tuple[float, float] = (3.05, 10.0),
    ) -> None:
        self._session = session
        self._endpoints = endpoints
        self._timeout = timeout

    def send(self, notification: Notification, destination: Destination, credentials: dict[str, Any]) -> SendReceipt:
        """Build, call, parse. Raises RetryableProviderError, PermanentProviderError or a subclass."""
        call = self.build_request(notification, destination, credentials)
        return self.parse_response(self.execute(call))

    def send_batch(
        self,
        notification: Notification,
        destinations: list[Destination],
        credentials: dict[str, Any],
        *,
        idempotency_key: str,
    ) -> dict[str, SendReceipt | ProviderError]:
        """Send one notification to several destinations; the outcome per destination user_id.

        The default makes one call per destination; providers with batch endpoints override it.
        `idempotency_key` is the call's retry key, the same for every repeat of this very call (empty where the
        provider does not deduplicate repeats: `idempotent_retries` False).
        """
        outcomes: dict[str, SendReceipt | ProviderError] = {}
        for destination in destinations:
            try:
                outcomes[destination.user_id] = self.send(notification, destination, credentials)
            except ProviderError as exc:
                outcomes[destination.user_id] = exc
        return outcomes

    def execute(self, call: PreparedCall) -> requests.Response:
        """One HTTP call; network failures become retryable errors without the URL in them."""
        return provider_request(
            self._session,
            call.method,
            call.url,
            provider=self.channel,
            timeout=self._timeout,
            headers=call.headers,
            json=call.json,
        )

    @abstractmethod
    def build_request(
        self, notification: Notification, destination: Destination, credentials: dict[str, Any]
    ) -> PreparedCall:
        """Pure: the provider call for this notification."""

    @abstractmethod
    def parse_response(self, response: requests.Response) -> SendReceipt:
        """Map the provider's answer to a receipt, or raise the matching ProviderError."""

    @abstractmethod
    def verify(self, credentials: dict[str, Any]) -> str:
        """Prove the company's credentials with a real call; return a short description."""

    def find_address(self, credentials: dict[str, Any], user_id: str) -> str | None:
        """The address of an employee who has not linked, found by the provider (default: cannot)."""
        return None

    def rate_limit(self, credentials: dict[str, Any], destinations: list[Destination]) -> RateLimit | None:
        """The provider's limit the next send_batch call counts against (shared by all containers through
        SharedRateLimiter), or None when the hub need not pace it."""
        return None

    def on_save(self, credentials: dict[str, Any]) -> dict[str, Any]:
        """Settings the hub derives from the provider when an admin saves or verifies (default: none)."""
        return {}
