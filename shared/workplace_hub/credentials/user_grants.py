"""Employees' OAuth grants (Google consent, NAVER WORKS user authorization): stored sealed, refreshed on use.

Shared by the linking function (which stores a grant when an employee links) and the calendar worker
(which uses it to write the employee's calendar). A grant that can no longer be refreshed marks the link
`needs_relink`, so the employee and the admin see why registrations stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from workplace_hub.catalog import OAUTH_PROVIDERS
from workplace_hub.crypto import Keyring
from workplace_hub.errors import NeedsRelinkError
from workplace_hub.providers.oauth import TokenSet
from workplace_hub.storage.link_health import mark_needs_relink, state_attribute
from workplace_hub.storage.links import LinksRepository, link_purpose

if TYPE_CHECKING:
    from workplace_hub.google.oauth import GoogleOAuthClient
    from workplace_hub.naver_works.user_oauth import NaverWorksUserOAuthClient

TOKEN_ATTRIBUTE = {"google": "google_calendar_tokens", "naver_works": "naver_works_calendar_tokens"}
INTEGRATION_OF_GRANT = {provider: OAUTH_PROVIDERS[provider] for provider in TOKEN_ATTRIBUTE}
# Refresh this long before the access token expires, so it does not expire mid-call.
EXPIRY_MARGIN_SECONDS = 60


def user_oauth_client(credentials: dict[str, Any]) -> dict[str, Any]:
    """NAVER WORKS user OAuth uses its own client when the admin set one, else the app's."""
    return {
        **credentials,
        "client_id": credentials.get("user_oauth_client_id") or credentials.get("client_id"),
        "client_secret": credentials.get("user_oauth_client_secret") or credentials.get("client_secret"),
    }


class UserGrants:
    """Reads, refreshes and stores one employee's grant for `google` or `naver_works`."""

    def __init__(
        self,
        *,
        links: LinksRepository,
        keyring: Keyring,
        google: GoogleOAuthClient,
        naver_works: NaverWorksUserOAuthClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._links = links
        self._keyring = keyring
        self._google = google
        self._naver_works = naver_works
        self._clock = clock

    def store(self, company_id: str, user_id: str, provider: str, tokens: TokenSet) -> None:
        """Seal and keep the grant; a stored grant clears an earlier needs_relink state."""
        attribute = TOKEN_ATTRIBUTE[provider]
        document = json.dumps(
            {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "expires_at": tokens.expires_at,
                "scope": tokens.scope,
            }
        )
        sealed = self._keyring.seal(company_id, link_purpose(user_id, attribute), document)
        channel = INTEGRATION_OF_GRANT[provider].value
        self._links.update(company_id, user_id, {attribute: sealed}, [state_attribute(channel)])

    def access_token(
        self, company_id: str, user_id: str, provider: str, credentials: dict[str, Any], *, force_refresh: bool = False
    ) -> str:
        """A valid access token of the employee's grant, refreshed before it expires (or now, when
        `force_refresh`: the API refused the token although it looked valid).

        `credentials` are the integration's resolved settings (the OAuth client). A refused refresh
        (revoked or expired grant) marks the link `needs_relink` and raises NeedsRelinkError.
        """
        attribute = TOKEN_ATTRIBUTE[provider]
        sealed = self._links.get(company_id, user_id).get(attribute)
        if not sealed:
            raise NeedsRelinkError(provider, "not_linked", detail="the employee has not authorized yet")
        tokens = json.loads(self._keyring.open(company_id, link_purpose(user_id, attribute), sealed))
        if not force_refresh and float(tokens.get("expires_at") or 0) - EXPIRY_MARGIN_SECONDS > self._clock():
            return str(tokens["access_token"])
        try:
            if provider == "google":
                client_json = json.loads(credentials["oauth_client_json"])["web"]
                fresh = self._google.refresh(client_json, tokens.get("refresh_token") or "")
            else:
                fresh = self._naver_works.refresh(user_oauth_client(credentials), tokens.get("refresh_token") or "")
        except NeedsRelinkError as exc:
            self.mark_needs_relink(company_id, user_id, provider, exc.code)
            raise
        # A refresh answer usually carries no refresh token: the stored one stays valid.
        refreshed = replace(fresh, refresh_token=fresh.refresh_token or tokens.get("refresh_token"))
        self.store(company_id, user_id, provider, refreshed)
        return str(refreshed.access_token)

    def mark_needs_relink(self, company_id: str, user_id: str, provider: str, reason: str) -> None:
        """The employee sees it in GET /me/links, the admin in GET /admin/links, until they link again."""
        mark_needs_relink(self._links, company_id, user_id, INTEGRATION_OF_GRANT[provider].value, reason)
