"""The interface of an employee's OAuth client (LINE Login, Google, NAVER WORKS user OAuth): the grant as a token
endpoint returns it, the ID-token refusal, and the base every client builds on (HTTP, token answers, OAuth
error bodies). Each vendor's client adds its URLs and its own reading of a refusal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from workplace_hub.errors import HubError, ProviderError
from workplace_hub.http import provider_request

if TYPE_CHECKING:
    import requests

    from workplace_hub.config import ProviderEndpoints

FORM = "application/x-www-form-urlencoded"
DETAIL_MAX = 200  # characters of a provider's error description kept in an error's detail


@dataclass(frozen=True)
class TokenSet:
    """`expires_at` is the access token's expiry (epoch seconds); `refresh_token` is None when the
    provider sent none (usual on a refresh); `id_token` only where the flow is OpenID Connect."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    id_token: str | None = field(default=None, repr=False)
    scope: str = ""


class IdTokenError(HubError):
    """The ID token must not be trusted: no link may come of it; `code` says why.

    Codes: `id_token_invalid` (malformed, wrong algorithm or signature, unknown key, missing claims),
    `id_token_expired`, `id_token_audience`, `id_token_issuer`, `id_token_nonce`, and Google's
    `hosted_domain_mismatch`, `email_unverified`, `email_mismatch`. The message never quotes the token or its claims.
    """

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


def json_object(response: requests.Response) -> dict[str, Any] | None:
    """The answer's body when it is a JSON object, else None."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` shortened to DETAIL_MAX, with any of `secrets` (the code, verifier, client secret…) masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:DETAIL_MAX]


def oauth_error(response: requests.Response, secrets: Iterable[str | None] = ()) -> tuple[str, str]:
    """(error, error_description) of an OAuth error body (RFC 6749 §5.2), the description scrubbed; empty
    strings when the body has none."""
    body = json_object(response) or {}
    return str(body.get("error") or ""), scrub(str(body.get("error_description") or ""), secrets)


def lifetime(expires_in: Any, default: float) -> float:
    """Seconds an access token lives: `expires_in` as a number or a numeric string; `default` when it is
    missing, unreadable or not positive."""
    try:
        seconds = float(str(expires_in).strip()) if expires_in is not None else default
    except ValueError:
        return default
    return seconds if seconds > 0 else default


def token_answer(
    provider: str,
    response: requests.Response,
    now: float,
    *,
    missing: type[ProviderError],
    default_ttl: float,
    previous_refresh_token: str | None = None,
    default_scope: str = "",
) -> TokenSet:
    """The TokenSet of a token endpoint's 200 answer; one without an access token raises `missing`
    (`invalid_token_response`). A missing refresh token keeps `previous_refresh_token` (a refresh answer
    usually has none)."""
    body = json_object(response) or {}
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise missing(provider, "invalid_token_response", status_code=200, detail="no access_token")
    refresh_token, id_token = body.get("refresh_token"), body.get("id_token")
    return TokenSet(
        access_token=access_token,
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else previous_refresh_token,
        expires_at=now + lifetime(body.get("expires_in"), default_ttl),
        id_token=id_token if isinstance(id_token, str) and id_token else None,
        scope=str(body.get("scope") or default_scope),
    )


class OAuthClient:
    """The base of the employees' OAuth clients: the injected session, endpoints, timeout and clock, and one
    place for their HTTP calls. Subclasses name their `provider` (the error's provider) and add the flow."""

    provider: ClassVar[str]

    def __init__(
        self,
        session: requests.Session,
        endpoints: ProviderEndpoints,
        timeout: tuple[float, float] = (3.05, 10.0),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._session = session
        self._endpoints = endpoints
        self._timeout = timeout
        self._clock = clock

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One HTTP call; network failures become retryable errors without the URL or form in them."""
        return provider_request(self._session, method, url, provider=self.provider, timeout=self._timeout, **kwargs)

    def _post_form(self, url: str, form: dict[str, str]) -> requests.Response:
        """A form POST to a token (or revoke) endpoint."""
        return self._request("POST", url, headers={"Content-Type": FORM}, data=form)
