"""Google: per-employee OAuth consent for Google Calendar, ID-token checks, and domain-wide delegation.

Docs: https://developers.google.com/identity/protocols/oauth2/web-server (authorization code flow,
providers.md §6.3), https://developers.google.com/identity/openid-connect/openid-connect (ID token, `hd`),
https://developers.google.com/identity/protocols/oauth2/service-account (delegation, §6.4).

Every call goes to the configured hosts only (`GOOGLE_ACCOUNTS_BASE`, `GOOGLE_OAUTH2_BASE` and the
certificate URL), never to the `auth_uri`/`token_uri` of an uploaded client or service-account file: an
admin's upload must not be able to point the hub at another host. Tokens, codes, client secrets and
private keys never appear in reprs, logs or error messages.

The ID token's signing keys come from `certs_url`: Google's JWKS at
`https://www.googleapis.com/oauth2/v3/certs` unless the endpoints carry a `GOOGLE_CERTS_URL`, or the
caller passes one (the sandbox serves it at `{sandbox}/google/oauth2/certs`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import google.auth.exceptions
import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from google.auth.transport.requests import Request as GoogleAuthRequest
from google.oauth2 import service_account

from workplace_hub.config import ProviderEndpoints
from workplace_hub.email_address import is_email_address
from workplace_hub.errors import (
    HubError,
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
)
from workplace_hub.http import provider_request
from workplace_hub.providers.messenger import error_for_status
from workplace_hub.providers.oauth import TokenSet
from workplace_hub.providers.token_cache import TokenCache

PROVIDER = "google_calendar"
CALENDAR_EVENTS_SCOPE = "https://www.googleapis.com/auth/calendar.events"
SCOPES = ("openid", "email", CALENDAR_EVENTS_SCOPE)
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v3/certs"
GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})  # google-auth _GOOGLE_ISSUERS
FORM = "application/x-www-form-urlencoded"
CLOCK_SKEW = 60.0  # seconds of leeway on exp/iat
CERTS_MAX_AGE = 3600.0  # when the JWKS answer has no Cache-Control max-age
CERTS_MIN_REFETCH = 60.0  # an unknown key id refetches the JWKS at most this often
DEFAULT_TTL = 3600.0  # delegated token lifetime when Google's answer has none
# Token-endpoint refusals that mean the company's OAuth client (not the employee) is wrong.
CLIENT_ERRORS = frozenset({"invalid_client", "redirect_uri_mismatch", "deleted_client", "disabled_client"})


class IdTokenError(HubError):
    """The ID token is not acceptable; `code` says why.

    Codes: `id_token_invalid` (malformed, bad signature, unknown key, nonce mismatch),
    `id_token_audience`, `id_token_issuer`, `id_token_expired`, `hosted_domain_mismatch`,
    `email_unverified`, `email_mismatch`. The message never quotes the token or its claims.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# --- pure helpers ------------------------------------------------------------------------------------


def client_fields(client: dict[str, Any]) -> tuple[str, str]:
    """(client_id, client_secret) of a "web" OAuth client (the inner object or the whole file)."""
    web = client.get("web") if isinstance(client.get("web"), dict) else client
    client_id, secret = web.get("client_id"), web.get("client_secret")
    missing = [name for name, value in (("client_id", client_id), ("client_secret", secret)) if not value]
    if missing:
        raise IntegrationCredentialsError(
            PROVIDER, "missing_credentials", detail="missing: web." + ", web.".join(missing)
        )
    return str(client_id), str(secret)


def build_authorize_url(
    accounts_base: str,
    client: dict[str, Any],
    *,
    state: str,
    nonce: str,
    code_challenge: str,
    redirect_uri: str,
    login_hint: str | None = None,
    hosted_domain: str | None = None,
) -> str:
    """Pure: `{GOOGLE_ACCOUNTS_BASE}/o/oauth2/v2/auth?...` asking for offline access to calendar events."""
    client_id, _ = client_fields(client)
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(SCOPES),
        # offline + consent: Google issues a refresh token on every consent, also on a re-link.
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "state": state,
        "nonce": nonce,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    # Hints only: the account chooser starts there, but the ID token is what is checked.
    if login_hint:
        params["login_hint"] = login_hint
    if hosted_domain:
        params["hd"] = hosted_domain
    return f"{accounts_base.rstrip('/')}/o/oauth2/v2/auth?{urlencode(params)}"


def _oauth_error(response: requests.Response) -> tuple[str, str]:
    """(error, error_description) of an OAuth error body; empty strings when it has none."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error") or ""), str(body.get("error_description") or "")[:200]


def parse_token_response(
    response: requests.Response, now: float, *, refresh_token: str | None = None, refreshing: bool = False
) -> TokenSet:
    """A TokenSet from the token endpoint's answer, or the matching ProviderError.

    On a refresh, `invalid_grant` (revoked, expired, password changed) and `unauthorized_client` (the
    grant belongs to another OAuth client) mean the employee must consent again: NeedsRelinkError.
    """
    status = response.status_code
    if status == 200:
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RetryableProviderError(PROVIDER, "invalid_token_response", status_code=200, detail="no access_token")
        try:
            expires_in = float(body.get("expires_in") or DEFAULT_TTL)
        except (TypeError, ValueError):
            expires_in = DEFAULT_TTL
        return TokenSet(
            access_token=token,
            refresh_token=body.get("refresh_token") or None,
            expires_at=now + expires_in,
            id_token=body.get("id_token") or None,
            scope=str(body.get("scope") or ""),
        )
    code, description = _oauth_error(response)
    code = code or f"http_{status}"
    if status == 429 or status >= 500:
        raise error_for_status(PROVIDER, response, code, "token endpoint unavailable")
    if code in CLIENT_ERRORS:
        raise IntegrationCredentialsError(PROVIDER, code, status_code=status, detail=description)
    if refreshing and code in ("invalid_grant", "unauthorized_client"):
        raise NeedsRelinkError(PROVIDER, code, status_code=status, detail=description)
    raise PermanentProviderError(PROVIDER, code, status_code=status, detail=description)


# --- the OAuth client --------------------------------------------------------------------------------


class GoogleOAuthClient:
    """Authorization URL, code exchange, refresh, revoke and ID-token checks for the employee's consent."""

    def __init__(
        self,
        session: requests.Session,
        endpoints: ProviderEndpoints,
        timeout: tuple[float, float] = (3.05, 10.0),
        clock: Callable[[], float] = time.time,
        certs_url: str | None = None,
    ) -> None:
        self._session = session
        self._endpoints = endpoints
        self._timeout = timeout
        self._clock = clock
        self.certs_url = certs_url or getattr(endpoints, "GOOGLE_CERTS_URL", None) or GOOGLE_CERTS_URL
        self._keys: dict[str, jwt.PyJWK] = {}
        self._keys_fetched_at = float("-inf")
        self._keys_expire_at = float("-inf")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(oauth2_base={self._endpoints.GOOGLE_OAUTH2_BASE!r})"

    @property
    def token_url(self) -> str:
        return self._endpoints.GOOGLE_OAUTH2_BASE.rstrip("/") + "/token"

    def authorize_url(
        self,
        client: dict[str, Any],
        *,
        state: str,
        nonce: str,
        code_challenge: str,
        redirect_uri: str,
        login_hint: str | None = None,
        hosted_domain: str | None = None,
    ) -> str:
        """Pure: where to send the employee's browser (see `build_authorize_url`)."""
        return build_authorize_url(
            self._endpoints.GOOGLE_ACCOUNTS_BASE,
            client,
            state=state,
            nonce=nonce,
            code_challenge=code_challenge,
            redirect_uri=redirect_uri,
            login_hint=login_hint,
            hosted_domain=hosted_domain,
        )

    def exchange(self, client: dict[str, Any], *, code: str, redirect_uri: str, code_verifier: str) -> TokenSet:
        """Trade the callback's code for tokens; `invalid_grant` means the code is used, expired or not ours."""
        client_id, secret = client_fields(client)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "client_secret": secret,
            "code_verifier": code_verifier,
        }
        return parse_token_response(self._post(self.token_url, form), self._clock())

    def refresh(self, client: dict[str, Any], refresh_token: str) -> TokenSet:
        """A new access token; Google normally sends no new refresh token (then `refresh_token` is None).

        Raises NeedsRelinkError(code="invalid_grant") when the grant was revoked or has expired.
        """
        if not refresh_token:
            raise NeedsRelinkError(PROVIDER, "invalid_grant", detail="no refresh token stored")
        client_id, secret = client_fields(client)
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": secret,
        }
        return parse_token_response(self._post(self.token_url, form), self._clock(), refreshing=True)

    def revoke(self, token: str) -> None:
        """Revoke a refresh (or access) token and its grant; an already dead token counts as revoked."""
        response = self._post(self._endpoints.GOOGLE_OAUTH2_BASE.rstrip("/") + "/revoke", {"token": token})
        if response.status_code == 200:
            return
        code, description = _oauth_error(response)
        if response.status_code == 400 and code in ("invalid_token", "invalid_grant"):
            return
        raise error_for_status(PROVIDER, response, code or f"http_{response.status_code}", description)

    # --- ID token --------------------------------------------------------------------------------

    def verify_id_token(
        self,
        client: dict[str, Any],
        id_token: str,
        *,
        nonce: str,
        expected_email: str | None = None,
        expected_domain: str | None = None,
    ) -> dict[str, Any]:
        """The ID token's claims once every check passed; raises IdTokenError (or a ProviderError for the JWKS).

        Checks, in order: RS256 signature with a published Google key, `iss`, `aud` = client_id, `exp`
        (and `iat` not in the future), `nonce`; then `hd` = `expected_domain`, `email_verified`, and
        `email` = `expected_email` (case-insensitive). `hd` is absent for consumer accounts, which
        therefore never match a company domain.
        """
        client_id, _ = client_fields(client)
        try:
            header = jwt.get_unverified_header(id_token or "")
        except jwt.PyJWTError:
            raise IdTokenError("id_token_invalid", "not a JWT") from None
        if header.get("alg") != "RS256":
            raise IdTokenError("id_token_invalid", "not signed with RS256")
        key = self._signing_key(str(header.get("kid") or ""))
        try:
            claims = jwt.decode(
                id_token,
                key.key,
                algorithms=["RS256"],
                audience=client_id,
                # exp/iat are checked below against the injected clock.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["iss", "aud", "exp", "iat", "sub"],
                },
            )
        except jwt.InvalidAudienceError:
            raise IdTokenError("id_token_audience", "issued to another client") from None
        except jwt.PyJWTError:
            raise IdTokenError("id_token_invalid", "signature or claims invalid") from None
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise IdTokenError("id_token_issuer", "not issued by Google")
        now = self._clock()
        try:
            exp, iat = float(claims["exp"]), float(claims["iat"])
        except (TypeError, ValueError):
            raise IdTokenError("id_token_invalid", "exp/iat are not numbers") from None
        if exp + CLOCK_SKEW < now:
            raise IdTokenError("id_token_expired", "the ID token has expired")
        if iat - CLOCK_SKEW > now:
            raise IdTokenError("id_token_invalid", "issued in the future")
        if not hmac.compare_digest(str(claims.get("nonce") or ""), nonce or "\0"):
            raise IdTokenError("id_token_invalid", "nonce mismatch")
        if expected_domain and str(claims.get("hd") or "").lower() != expected_domain.lower():
            raise IdTokenError("hosted_domain_mismatch", "the account is not in the company's Google Workspace")
        if claims.get("email_verified") not in (True, "true"):
            raise IdTokenError("email_unverified", "Google has not verified the account's e-mail")
        if expected_email and str(claims.get("email") or "").lower() != expected_email.strip().lower():
            raise IdTokenError("email_mismatch", "signed in with another Google account")
        return claims

    def _signing_key(self, kid: str) -> jwt.PyJWK:
        now = self._clock()
        if now >= self._keys_expire_at or (kid not in self._keys and now - self._keys_fetched_at >= CERTS_MIN_REFETCH):
            self._fetch_keys()
        key = self._keys.get(kid)
        if key is None:
            raise IdTokenError("id_token_invalid", "signed with an unknown key")
        return key

    def _fetch_keys(self) -> None:
        response = provider_request(
            self._session, "GET", self.certs_url, provider=PROVIDER, timeout=self._timeout, code_prefix="certs_"
        )
        if response.status_code != 200:
            status = response.status_code
            raise RetryableProviderError(
                PROVIDER, f"certs_http_{status}", status_code=status, detail="JWKS unavailable"
            )
        try:
            keyset = jwt.PyJWKSet.from_dict(response.json())
        except (ValueError, TypeError, AttributeError, jwt.PyJWTError):
            raise RetryableProviderError(PROVIDER, "certs_invalid", status_code=200, detail="JWKS unreadable") from None
        now = self._clock()
        self._keys = {key.key_id: key for key in keyset.keys if key.key_id}
        self._keys_fetched_at = now
        self._keys_expire_at = now + _max_age(response.headers.get("Cache-Control"))

    def _post(self, url: str, form: dict[str, str]) -> requests.Response:
        try:
            return self._session.request("POST", url, headers={"Content-Type": FORM}, data=form, timeout=self._timeout)
        except requests.Timeout:
            raise RetryableProviderError(PROVIDER, "token_timeout", detail="no answer in time") from None
        except requests.ConnectionError:
            raise RetryableProviderError(PROVIDER, "token_connection_error", detail="could not connect") from None


def _max_age(cache_control: str | None) -> float:
    match = re.search(r"max-age=(\d+)", cache_control or "")
    return float(match.group(1)) if match else CERTS_MAX_AGE


# --- domain-wide delegation --------------------------------------------------------------------------


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
