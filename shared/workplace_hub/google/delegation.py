"""Google domain-wide delegation: calendar access tokens acting as each employee through the company's service
account, and the check of the uploaded service-account key file.

Docs: https://developers.google.com/identity/protocols/oauth2/service-account (providers.md §6.4). The token
request always goes to `{GOOGLE_OAUTH2_BASE}/token`, never to the key file's `token_uri`; the key material never
appears in reprs, logs or error messages.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import google.auth.exceptions
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from google.auth.transport.requests import Request as GoogleAuthRequest
from google.oauth2 import service_account

from workplace_hub.config import ProviderEndpoints
from workplace_hub.email_address import is_email_address
from workplace_hub.errors import (
    IntegrationCredentialsError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
)
from workplace_hub.google.oauth import CALENDAR_EVENTS_SCOPE, DEFAULT_TTL, PROVIDER
from workplace_hub.providers.token_cache import TokenCache


def validate_service_account_json(text: str) -> str:
    """The service-account key file, checked and compacted; ValueError naming the field that is wrong."""
    try:
        info = json.loads(text)
    except (TypeError, ValueError):
        raise ValueError("is not JSON (upload the service account key file downloaded from Google Cloud)") from None
    if not isinstance(info, dict):
        raise ValueError("must be a JSON object (a service account key file)")
    if info.get("type") != "service_account":
        raise ValueError('type must be "service_account"')
    email = info.get("client_email")
    if not isinstance(email, str) or not is_email_address(email):
        raise ValueError("client_email is missing or not an e-mail address")
    pem = info.get("private_key")
    if not isinstance(pem, str) or "-----BEGIN" not in pem:
        raise ValueError("private_key is missing or not a PEM private key")
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("private_key is not a readable unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("private_key must be an RSA private key")
    token_uri = info.get("token_uri")
    if not isinstance(token_uri, str) or urlsplit(token_uri).scheme != "https" or not urlsplit(token_uri).netloc:
        raise ValueError("token_uri must be an https:// URL")
    return json.dumps(info, separators=(",", ":"))


class _Transport(GoogleAuthRequest):
    """google-auth's requests transport with the hub's timeout, on a session it does not own."""

    def __init__(self, session: requests.Session, timeout: tuple[float, float]) -> None:
        super().__init__(session)
        self._timeout = timeout

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> Any:
        return super().__call__(url, method=method, body=body, headers=headers, timeout=self._timeout, **kwargs)

    def __del__(self) -> None:
        # google-auth's Request closes its session when collected; the hub's session outlives it.
        pass


class DelegatedCalendarAuth:
    """Calendar access tokens for employees through the company's service account (domain-wide delegation).

    One token per (service account, key, employee) is cached until shortly before it expires. The
    token request always goes to `{GOOGLE_OAUTH2_BASE}/token`, whatever the key file's `token_uri`.
    """

    def __init__(
        self,
        endpoints: ProviderEndpoints,
        clock: Callable[[], float] = time.time,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (3.05, 10.0),
    ) -> None:
        self._endpoints = endpoints
        self._session = session if session is not None else requests.Session()
        self._transport = _Transport(self._session, timeout)
        self.cache = TokenCache(clock)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(oauth2_base={self._endpoints.GOOGLE_OAUTH2_BASE!r})"

    @staticmethod
    def key(service_account_info: dict[str, Any], subject: str) -> tuple[str, ...]:
        """Cache key: service account, employee, scope and a fingerprint of the private key."""
        fingerprint = hashlib.sha256(str(service_account_info.get("private_key") or "").encode()).hexdigest()
        email = str(service_account_info.get("client_email") or "")
        return (email, subject.strip().lower(), CALENDAR_EVENTS_SCOPE, fingerprint)

    def token_for(self, service_account_info: dict[str, Any], subject: str) -> str:
        """An access token acting as `subject` (the employee's Workspace e-mail) for calendar events.

        Raises PermanentProviderError(code="unauthorized_client", reason="google_delegation_not_authorized")
        when the Workspace admin has not authorised the client for the scope, IntegrationCredentialsError
        when the key file is unusable or refused, RetryableProviderError when Google is unavailable.
        """
        return self.cache.get(
            self.key(service_account_info, subject), lambda: self._fetch(service_account_info, subject)
        )

    def invalidate(self, service_account_info: dict[str, Any], subject: str, token: str) -> None:
        """Forget a token the Calendar API refused (401)."""
        self.cache.invalidate(self.key(service_account_info, subject), token)

    def _fetch(self, info: dict[str, Any], subject: str) -> tuple[str, float]:
        if "@" not in subject:
            # Without a subject google-auth would fetch the service account's own token, silently.
            raise PermanentProviderError(PROVIDER, "invalid_subject", detail="no Google Workspace e-mail to act as")
        info = {**info, "token_uri": self._endpoints.GOOGLE_OAUTH2_BASE.rstrip("/") + "/token"}
        try:
            credentials = service_account.Credentials.from_service_account_info(
                info, scopes=[CALENDAR_EVENTS_SCOPE], subject=subject
            )
        except (ValueError, TypeError, KeyError):
            # The library's message may quote the key material: name the problem only.
            raise IntegrationCredentialsError(
                PROVIDER, "invalid_service_account", detail="the service account key file is unusable"
            ) from None
        try:
            credentials.refresh(self._transport)
        except google.auth.exceptions.RefreshError as exc:
            raise _refresh_error(exc) from None
        except google.auth.exceptions.TransportError as exc:
            timed_out = isinstance(exc.__cause__, requests.Timeout)
            code = "token_timeout" if timed_out else "token_connection_error"
            raise RetryableProviderError(PROVIDER, code, detail="token endpoint unreachable") from None
        return str(credentials.token), _ttl(credentials.expiry)


def _ttl(expiry: datetime | None) -> float:
    if expiry is None:
        return DEFAULT_TTL
    # google-auth keeps a naive UTC datetime computed from the wall clock.
    return max(1.0, (expiry - datetime.now(UTC).replace(tzinfo=None)).total_seconds())


def _refresh_error(exc: google.auth.exceptions.RefreshError) -> ProviderError:
    """google-auth's token-grant failure as a hub error (never quoting the assertion or the key)."""
    data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    code = str(data.get("error") or "")
    description = str(data.get("error_description") or "")[:200]
    if code == "unauthorized_client":
        return PermanentProviderError(PROVIDER, code, detail=description, reason="google_delegation_not_authorized")
    if exc.retryable or not code:
        # 429/5xx (google-auth already retried them), or an answer without an OAuth error code.
        return RetryableProviderError(PROVIDER, code or "token_unavailable", detail="token endpoint unavailable")
    # invalid_grant (key deleted, unknown subject), invalid_client, invalid_scope...: the settings are wrong.
    return IntegrationCredentialsError(PROVIDER, code, detail=description)
