"""Google: per-employee OAuth consent for Google Calendar and its ID-token checks (delegation: `delegation.py`).

Docs: https://developers.google.com/identity/protocols/oauth2/web-server (authorization code flow,
providers.md §6.3), https://developers.google.com/identity/openid-connect/openid-connect (ID token, `hd`).

Every call goes to the configured hosts only (`GOOGLE_ACCOUNTS_BASE`, `GOOGLE_OAUTH2_BASE` and the
certificate URL), never to the `auth_uri`/`token_uri` of an uploaded client file: an admin's upload must
not be able to point the hub at another host. Tokens, codes and client secrets never appear in reprs, logs
or error messages.

The ID token's signing keys come from `certs_url`: Google's JWKS at
`https://www.googleapis.com/oauth2/v3/certs` unless the endpoints carry a `GOOGLE_CERTS_URL`, or the
caller passes one (the sandbox serves it at `{sandbox}/google/oauth2/certs`).
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import jwt
import requests

from workplace_hub.catalog import Integration
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    RetryableProviderError,
)
from workplace_hub.http import provider_request
from workplace_hub.providers.messenger import error_for_status
from workplace_hub.providers.oauth import FORM, IdTokenError, OAuthClient, TokenSet, oauth_error, token_answer

PROVIDER = Integration.GOOGLE_CALENDAR.value  # errors name the integration
CALENDAR_EVENTS_SCOPE = "https://www.googleapis.com/auth/calendar.events"
SCOPES = ("openid", "email", CALENDAR_EVENTS_SCOPE)
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v3/certs"
GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})  # google-auth _GOOGLE_ISSUERS
CLOCK_SKEW = 60.0  # seconds of leeway on exp/iat
CERTS_MAX_AGE = 3600.0  # when the JWKS answer has no Cache-Control max-age
CERTS_MIN_REFETCH = 60.0  # an unknown key id refetches the JWKS at most this often
DEFAULT_TTL = 3600.0  # an access token's lifetime when Google's answer has none
# Token-endpoint refusals that mean the company's OAuth client (not the employee) is wrong.
CLIENT_ERRORS = frozenset({"invalid_client", "redirect_uri_mismatch", "deleted_client", "disabled_client"})


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


def parse_token_response(response: requests.Response, now: float, *, refreshing: bool = False) -> TokenSet:
    """A TokenSet from the token endpoint's answer, or the matching ProviderError.

    On a refresh, `invalid_grant` (revoked, expired, password changed) and `unauthorized_client` (the
    grant belongs to another OAuth client) mean the employee must consent again: NeedsRelinkError.
    """
    status = response.status_code
    if status == 200:
        return token_answer(PROVIDER, response, now, missing=RetryableProviderError, default_ttl=DEFAULT_TTL)
    code, description = oauth_error(response)
    code = code or f"http_{status}"
    if status == 429 or status >= 500:
        raise error_for_status(PROVIDER, response, code, "token endpoint unavailable")
    if code in CLIENT_ERRORS:
        raise IntegrationCredentialsError(PROVIDER, code, status_code=status, detail=description)
    if refreshing and code in ("invalid_grant", "unauthorized_client"):
        raise NeedsRelinkError(PROVIDER, code, status_code=status, detail=description)
    raise PermanentProviderError(PROVIDER, code, status_code=status, detail=description)


# --- the OAuth client --------------------------------------------------------------------------------


class GoogleOAuthClient(OAuthClient):
    """Authorization URL, code exchange, refresh, revoke and ID-token checks for the employee's consent."""

    provider = PROVIDER

    def __init__(
        self,
        session: requests.Session,
        endpoints: ProviderEndpoints,
        timeout: tuple[float, float] = (3.05, 10.0),
        clock: Callable[[], float] = time.time,
        certs_url: str | None = None,
    ) -> None:
        super().__init__(session, endpoints, timeout, clock)
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
        return parse_token_response(self._post_form(self.token_url, form), self._clock())

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
        return parse_token_response(self._post_form(self.token_url, form), self._clock(), refreshing=True)

    def revoke(self, token: str) -> None:
        """Revoke a refresh (or access) token and its grant; an already dead token counts as revoked."""
        response = self._post_form(self._endpoints.GOOGLE_OAUTH2_BASE.rstrip("/") + "/revoke", {"token": token})
        if response.status_code == 200:
            return
        code, description = oauth_error(response)
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

    def _post_form(self, url: str, form: dict[str, str]) -> requests.Response:
        # Not provider_request: a lost answer of a token call is `token_timeout`, retryable, not an unknown outcome.
        try:
            return self._session.request("POST", url, headers={"Content-Type": FORM}, data=form, timeout=self._timeout)
        except requests.Timeout:
            raise RetryableProviderError(PROVIDER, "token_timeout", detail="no answer in time") from None
        except requests.ConnectionError:
            raise RetryableProviderError(PROVIDER, "token_connection_error", detail="could not connect") from None


def _max_age(cache_control: str | None) -> float:
    match = re.search(r"max-age=(\d+)", cache_control or "")
    return float(match.group(1)) if match else CERTS_MAX_AGE
