"""NAVER WORKS access tokens: the API 2.0 service-account JWT grant and the API 1.0 server token.

Docs: https://developers.worksmobile.com/jp/docs/auth-jwt (2.0, providers.md §4.2) and the legacy
"Server Token (ID registration type)" page, https://developers.worksmobile.com/jp/document/1002002 (1.0,
providers.md §4.7). A token is cached per set of credentials and scope until shortly before it expires,
so a warm container asks the token endpoint once, not once per message. Tokens, the client secret and
the private keys never appear in reprs, logs or error messages.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import jwt
import requests
from cryptography.exceptions import UnsupportedAlgorithm

from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import IntegrationCredentialsError, RetryableProviderError
from workplace_hub.http import provider_request
from workplace_hub.providers.messenger import PreparedCall, error_for_status
from workplace_hub.providers.token_cache import TokenCache

PROVIDER = "naver_works"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600  # 2.0: exp ≤ iat + 60 min (auth-jwt)
LEGACY_ASSERTION_LIFETIME = 300  # 1.0: 5 min (official 1.0 sample, common/token.py)
DEFAULT_TTL = 3600.0  # 2.0 when expires_in is missing: the shorter of the two console settings (1 h / 24 h)
LEGACY_DEFAULT_TTL = 86400.0  # 1.0: lifetime UNCONFIRMED, commonly 24 h
FORM = "application/x-www-form-urlencoded"
LEGACY_FORM = "application/x-www-form-urlencoded; charset=UTF-8"
V2_FIELDS = ("client_id", "client_secret", "service_account", "private_key")
V1_FIELDS = ("api_id", "server_list_id", "server_list_private_key", "server_api_consumer_key")


def is_legacy(credentials: dict[str, Any]) -> bool:
    """True for API 1.0 credentials; "2.0" or no api_version means API 2.0."""
    return str(credentials.get("api_version") or "2.0").strip() == "1.0"


def require(credentials: dict[str, Any], *names: str) -> list[str]:
    """The named credential values as strings; a missing one is the admin's to fix (named, never shown)."""
    missing = [name for name in names if not credentials.get(name)]
    if missing:
        raise IntegrationCredentialsError(PROVIDER, "missing_credentials", detail="missing: " + ", ".join(missing))
    return [str(credentials[name]).strip() for name in names]


def _sign(claims: dict[str, Any], pem: str, field_name: str) -> str:
    try:
        return jwt.encode(claims, pem, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError, UnsupportedAlgorithm):
        # The library's message may quote the key: say only which field is wrong.
        raise IntegrationCredentialsError(
            PROVIDER, "invalid_private_key", detail=f"{field_name} is not a usable RSA private key"
        ) from None


def build_token_assertion(credentials: dict[str, Any], now: float) -> str:
    """Pure: the 2.0 JWT (RS256, iss=Client ID, sub=Service Account, exp=iat+1 h) for the token grant."""
    client_id, service_account, private_key = require(credentials, "client_id", "service_account", "private_key")
    iat = int(now)
    claims = {"iss": client_id, "sub": service_account, "iat": iat, "exp": iat + ASSERTION_LIFETIME}
    return _sign(claims, private_key, "private_key")


def build_token_form(credentials: dict[str, Any], assertion: str, scope: str) -> dict[str, str]:
    """Pure: the form posted to `{WORKS_AUTH_BASE}/token` (requests form-encodes it once)."""
    client_id, client_secret = require(credentials, "client_id", "client_secret")
    return {
        "assertion": assertion,
        "grant_type": JWT_BEARER,
        "client_id": client_id,
        "client_secret": client_secret,
        "scope": scope,
    }


def build_legacy_token_assertion(credentials: dict[str, Any], now: float) -> str:
    """Pure: the 1.0 JWT (RS256, iss=Server List ID, exp=iat+5 min) signed with the Server List key."""
    server_list_id, private_key = require(credentials, "server_list_id", "server_list_private_key")
    iat = int(now)
    claims = {"iss": server_list_id, "iat": iat, "exp": iat + LEGACY_ASSERTION_LIFETIME}
    return _sign(claims, private_key, "server_list_private_key")


def legacy_auth_base(works_auth_base: str) -> str:
    """The 1.0 auth host: WORKS_AUTH_BASE without its `/oauth2/v2.0` (https://auth.worksmobile.com)."""
    return works_auth_base.rstrip("/").removesuffix("/oauth2/v2.0")


def build_legacy_token_request(credentials: dict[str, Any], works_auth_base: str, now: float) -> PreparedCall:
    """Pure: `POST {auth}/b/{api_id}/server/token?grant_type=…&assertion=<JWT>` with an empty body."""
    (api_id,) = require(credentials, "api_id")
    assertion = build_legacy_token_assertion(credentials, now)
    grant = quote(JWT_BEARER, safe="")
    url = f"{legacy_auth_base(works_auth_base)}/b/{quote(api_id, safe='')}/server/token"
    return PreparedCall(
        "POST", f"{url}?grant_type={grant}&assertion={assertion}", headers={"Content-Type": LEGACY_FORM}
    )


def _ttl(value: Any, default: float) -> float:
    # 2.0 sends expires_in as a string ("86400"); accept a number too.
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return default
    return seconds if seconds > 0 else default


def _oauth_error(response: requests.Response) -> tuple[str, str]:
    """(error code, description) from an OAuth-style or WORKS-style error body (shape UNCONFIRMED)."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    code = body.get("error") or body.get("code") or ""
    description = body.get("error_description") or body.get("description") or body.get("message") or ""
    return str(code), str(description)


def parse_token_response(response: requests.Response, default_ttl: float = DEFAULT_TTL) -> tuple[str, float]:
    """(access token, lifetime in seconds), or the error: refusals are the admin's, 429/5xx are retryable."""
    status = response.status_code
    if status == 200:
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RetryableProviderError(PROVIDER, "invalid_token_response", status_code=200, detail="no access_token")
        return token, _ttl(body.get("expires_in"), default_ttl)
    code, description = _oauth_error(response)
    if status == 429 or status >= 500:
        raise error_for_status(PROVIDER, response, code or f"http_{status}", "token endpoint unavailable")
    # invalid_client, invalid_grant, invalid_scope, unauthorized_client…: the settings are wrong.
    raise IntegrationCredentialsError(
        PROVIDER, code or f"http_{status}", status_code=status, detail=("token refused: " + description)[:200]
    )


def _fingerprint(*secrets: str) -> str:
    # Part of the cache key, so that a company that copied another's client ID without its secret
    # and key can never be handed the other company's cached token.
    return hashlib.sha256("\0".join(secrets).encode()).hexdigest()


class WorksTokenProvider:
    """Issues and caches 2.0 access tokens and 1.0 server tokens for the sender."""

    def __init__(
        self,
        session: requests.Session,
        endpoints: ProviderEndpoints,
        timeout: tuple[float, float],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._session = session
        self._endpoints = endpoints
        self._timeout = timeout
        self._clock = clock
        self.cache = TokenCache(clock)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(auth_base={self._endpoints.WORKS_AUTH_BASE!r})"

    def key(self, credentials: dict[str, Any], scope: str) -> tuple[str, ...]:
        """Cache key: who the token is for, and a fingerprint of the secrets that proved it."""
        if is_legacy(credentials):
            api_id, server_list_id, private_key, consumer_key = require(credentials, *V1_FIELDS)
            return ("1.0", api_id, server_list_id, _fingerprint(private_key, consumer_key))
        client_id, client_secret, service_account, private_key = require(credentials, *V2_FIELDS)
        return ("2.0", client_id, service_account, scope, _fingerprint(client_secret, private_key))

    def token(self, credentials: dict[str, Any], scope: str) -> str:
        """A valid token for these credentials (API 2.0 with `scope`, or the 1.0 server token)."""
        if is_legacy(credentials):
            return self.cache.get(self.key(credentials, scope), lambda: self._legacy_fetch(credentials))
        return self.cache.get(self.key(credentials, scope), lambda: self._fetch(credentials, scope))

    def invalidate(self, credentials: dict[str, Any], scope: str, token: str) -> None:
        self.cache.invalidate(self.key(credentials, scope), token)

    def _fetch(self, credentials: dict[str, Any], scope: str) -> tuple[str, float]:
        form = build_token_form(credentials, build_token_assertion(credentials, self._clock()), scope)
        url = self._endpoints.WORKS_AUTH_BASE.rstrip("/") + "/token"
        return parse_token_response(self._post(url, headers={"Content-Type": FORM}, data=form), DEFAULT_TTL)

    def _legacy_fetch(self, credentials: dict[str, Any]) -> tuple[str, float]:
        call = build_legacy_token_request(credentials, self._endpoints.WORKS_AUTH_BASE, self._clock())
        return parse_token_response(self._post(call.url, headers=call.headers), LEGACY_DEFAULT_TTL)

    def _post(self, url: str, headers: dict[str, str], data: dict[str, str] | None = None) -> requests.Response:
        return provider_request(
            self._session,
            "POST",
            url,
            provider=PROVIDER,
            timeout=self._timeout,
            code_prefix="token_",
            headers=headers,
            data=data,
        )
