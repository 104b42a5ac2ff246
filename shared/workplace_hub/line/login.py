"""LINE Login v2.1: link a WORKPLACE employee to their LINE userId; check LINE's webhook signature.

Docs (providers.md §3.5, §3.6): https://developers.line.biz/en/docs/line-login/integrate-line-login/,
https://developers.line.biz/en/docs/line-login/verify-id-token/, https://developers.line.biz/en/reference/line-login/
and https://developers.line.biz/en/reference/messaging-api/#signature-validation.

The flow: `authorize_url` sends the employee to LINE's consent page, which (`bot_prompt=aggressive`) also offers
to add the company's Official Account as a friend; the callback's `code` goes to `exchange`; `verify_id_token`
checks the ID token and gives its `sub`, the userId the Messaging API pushes to (the Login and Messaging API
channels must belong to the same LINE provider); `friendship` says whether pushes will reach that user.
Codes, verifiers, tokens and channel secrets never appear in reprs, logs or error messages.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlencode

import jwt
import requests

from workplace_hub.errors import IntegrationCredentialsError, NeedsRelinkError, PermanentProviderError
from workplace_hub.line.messaging import USER_ID
from workplace_hub.providers.messenger import error_for_status
from workplace_hub.providers.oauth import (
    DETAIL_MAX,
    IdTokenError,
    OAuthClient,
    TokenSet,
    json_object,
    oauth_error,
    token_answer,
)

PROVIDER = "line"
ISSUER = "https://access.line.me"
SCOPE = "profile openid"
ACCESS_TOKEN_TTL = 2592000.0  # 30 days, when a token answer lacks expires_in
ID_TOKEN_LEEWAY = 30.0  # seconds of clock skew allowed on exp and iat


# --- pure builders and checks -------------------------------------------------------------------------------


def require(credentials: dict[str, Any], *names: str) -> list[str]:
    """The named settings as strings; a missing one is the admin's to fix (named, never shown)."""
    missing = [name for name in names if not str(credentials.get(name) or "").strip()]
    if missing:
        raise IntegrationCredentialsError(PROVIDER, "missing_credentials", detail="missing: " + ", ".join(missing))
    return [str(credentials[name]).strip() for name in names]


def build_authorize_url(
    access_base: str, channel_id: str, *, state: str, nonce: str, code_challenge: str, redirect_uri: str
) -> str:
    """Pure: LINE's consent page for this login, PKCE S256, offering the Official Account as a friend."""
    for name, value in (("state", state), ("nonce", nonce), ("code_challenge", code_challenge)):
        if not value:
            raise ValueError(f"{name} is required")
    if not redirect_uri.startswith(("https://", "http://")):
        raise ValueError("redirect_uri must be an http(s) URL")
    params = {
        "response_type": "code",
        "client_id": channel_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "scope": SCOPE,
        "nonce": nonce,
        "bot_prompt": "aggressive",
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    # quote, not quote_plus: LINE wants the scope's space as %20.
    return f"{access_base.rstrip('/')}/oauth2/v2.1/authorize?{urlencode(params, quote_via=quote)}"


def decode_id_token(id_token: str, *, channel_id: str, channel_secret: str, nonce: str, now: float) -> dict[str, Any]:
    """Pure: the claims of a web-login ID token after every check LINE asks for; IdTokenError otherwise.

    HS256 only (keyed with the Login channel secret; `none` and the ES256 tokens of native apps are refused),
    iss = https://access.line.me, aud = the Login channel ID, exp (and iat) against `now` with a small
    leeway, and the nonce of this login compared in constant time. `sub` must be a LINE userId.
    """
    try:
        claims = jwt.decode(
            id_token,
            channel_secret,
            algorithms=["HS256"],
            audience=channel_id,
            issuer=ISSUER,
            # exp and iat are checked below against the injected clock instead of PyJWT's own.
            options={"require": ["iss", "sub", "aud", "exp", "iat"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidAudienceError:
        raise IdTokenError("id_token_audience") from None
    except jwt.InvalidIssuerError:
        raise IdTokenError("id_token_issuer") from None
    except jwt.PyJWTError:
        raise IdTokenError("id_token_invalid") from None
    exp, iat = claims["exp"], claims["iat"]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (exp, iat)):
        raise IdTokenError("id_token_invalid")
    if not USER_ID.fullmatch(str(claims["sub"])) or iat > now + ID_TOKEN_LEEWAY:
        raise IdTokenError("id_token_invalid")
    if exp + ID_TOKEN_LEEWAY < now:
        raise IdTokenError("id_token_expired")
    got = claims.get("nonce")
    if not nonce or not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
        raise IdTokenError("id_token_nonce")
    return claims


def parse_token_response(
    response: requests.Response,
    *,
    now: float,
    grant: str,
    secrets: Iterable[str | None] = (),
    previous_refresh_token: str | None = None,
) -> TokenSet:
    """The tokens of a 200 answer, or the error: invalid_grant is the code's or the link's, 429/5xx retryable.

    `grant` is "authorization_code" (invalid_grant: the code expired or was used → PermanentProviderError) or
    "refresh_token" (invalid_grant: the link was revoked or expired → NeedsRelinkError).
    """
    status = response.status_code
    if status == 200:
        return token_answer(
            PROVIDER,
            response,
            now,
            missing=PermanentProviderError,
            default_ttl=ACCESS_TOKEN_TTL,
            previous_refresh_token=previous_refresh_token,
        )
    code, detail = oauth_error(response, secrets)
    code = code or f"http_{status}"
    if status == 429 or status >= 500:
        raise error_for_status(PROVIDER, response, code, detail or "LINE Login token endpoint unavailable")
    if code == "invalid_grant":
        error = NeedsRelinkError if grant == "refresh_token" else PermanentProviderError
        raise error(PROVIDER, code, status_code=status, detail=detail)
    if code == "invalid_client" or status == 401:
        # The Login channel ID or secret in the company's settings is wrong.
        raise IntegrationCredentialsError(PROVIDER, "invalid_client", status_code=status, detail=detail)
    raise PermanentProviderError(PROVIDER, code, status_code=status, detail=detail)


def parse_user_api_response(response: requests.Response) -> dict[str, Any]:
    """The JSON of a user-token API answer (friendship, profile), or the error for its status."""
    body = json_object(response) or {}
    if response.status_code == 200:
        return body
    detail = str(body.get("message") or body.get("error_description") or "")[:DETAIL_MAX]
    if response.status_code == 401:
        # The user's access token expired or was revoked: refresh it, or link again if that fails too.
        raise PermanentProviderError(PROVIDER, "access_token_rejected", status_code=401, detail=detail)
    raise error_for_status(PROVIDER, response, f"http_{response.status_code}", detail)


class LineLoginClient(OAuthClient):
    """LINE Login v2.1 calls for one employee's link; the session, endpoints and clock are injected."""

    provider = PROVIDER

    def authorize_url(
        self, credentials: dict[str, Any], *, state: str, nonce: str, code_challenge: str, redirect_uri: str
    ) -> str:
        """Pure: where to send the employee's browser (LINE_ACCESS_BASE)."""
        (channel_id,) = require(credentials, "login_channel_id")
        return build_authorize_url(
            self._endpoints.LINE_ACCESS_BASE,
            channel_id,
            state=state,
            nonce=nonce,
            code_challenge=code_challenge,
            redirect_uri=redirect_uri,
        )

    def exchange(self, credentials: dict[str, Any], *, code: str, redirect_uri: str, code_verifier: str) -> TokenSet:
        """Trade the callback's code (single use, 10 minutes) for the user's tokens."""
        channel_id, secret = require(credentials, "login_channel_id", "login_channel_secret")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": channel_id,
            "client_secret": secret,
            "code_verifier": code_verifier,
        }
        response = self._post_token(form)
        return parse_token_response(
            response, now=self._clock(), grant="authorization_code", secrets=(code, code_verifier, secret)
        )

    def refresh(self, credentials: dict[str, Any], refresh_token: str) -> TokenSet:
        """New tokens for a stored refresh token (valid up to 90 days); NeedsRelinkError once LINE refuses it."""
        channel_id, secret = require(credentials, "login_channel_id", "login_channel_secret")
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": channel_id,
            "client_secret": secret,
        }
        response = self._post_token(form)
        return parse_token_response(
            response,
            now=self._clock(),
            grant="refresh_token",
            secrets=(refresh_token, secret),
            previous_refresh_token=refresh_token,
        )

    def verify_id_token(self, credentials: dict[str, Any], id_token: str, *, nonce: str) -> dict[str, Any]:
        """Pure: the ID token's claims (`sub` = LINE userId, `name`, `picture`) once every check passes."""
        channel_id, secret = require(credentials, "login_channel_id", "login_channel_secret")
        return decode_id_token(id_token, channel_id=channel_id, channel_secret=secret, nonce=nonce, now=self._clock())

    def friendship(self, tokens: TokenSet) -> bool:
        """Whether the user has added the company's Official Account as a friend (and not blocked it)."""
        body = self._user_api("/friendship/v1/status", tokens)
        flag = body.get("friendFlag")
        if not isinstance(flag, bool):
            raise PermanentProviderError(PROVIDER, "invalid_response", status_code=200, detail="no friendFlag")
        return flag

    def profile(self, tokens: TokenSet) -> dict[str, Any]:
        """The user's LINE profile: `userId`, `displayName`, and `pictureUrl`/`statusMessage` when set."""
        body = self._user_api("/v2/profile", tokens)
        if not USER_ID.fullmatch(str(body.get("userId", ""))):
            raise PermanentProviderError(PROVIDER, "invalid_response", status_code=200, detail="no userId")
        return body

    # --- HTTP ----------------------------------------------------------------------------------------------

    def _post_token(self, form: dict[str, str]) -> requests.Response:
        url = f"{self._endpoints.LINE_API_BASE.rstrip('/')}/oauth2/v2.1/token"
        return self._post_form(url, form)

    def _user_api(self, path: str, tokens: TokenSet) -> dict[str, Any]:
        url = f"{self._endpoints.LINE_API_BASE.rstrip('/')}{path}"
        return parse_user_api_response(
            self._request("GET", url, headers={"Authorization": f"Bearer {tokens.access_token}"})
        )
