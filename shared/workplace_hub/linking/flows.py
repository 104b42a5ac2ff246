"""Linking an employee's own accounts: start an OAuth flow, finish it on the callback, store the link.

One flow per provider (`provider_flows.py`: LINE Login, Google consent, NAVER WORKS user authorization); this
service checks the integration is on, keeps the one-time state and turns every refusal into a callback page.
Tokens are sealed like every credential; codes, tokens and callback URLs are never logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workplace_hub.catalog import OAUTH_PROVIDERS, oauth_redirect_uri
from workplace_hub.credentials.user_grants import UserGrants
from workplace_hub.crypto import Keyring
from workplace_hub.errors import NeedsRelinkError, ProviderError, RetryableProviderError
from workplace_hub.integration_settings.credentials import CompanyCredentials
from workplace_hub.linking.pages import Page, failed_page
from workplace_hub.linking.provider_flows import (
    GoogleFlow,
    IdentityRefusedError,
    LineFlow,
    LinkFlow,
    LinkingError,
    NaverWorksFlow,
)
from workplace_hub.linking.state import OAuthStateError, OAuthStateStore
from workplace_hub.observability import logger
from workplace_hub.storage.links import LinksRepository

if TYPE_CHECKING:
    from workplace_hub.google.oauth import GoogleOAuthClient
    from workplace_hub.line.login import LineLoginClient
    from workplace_hub.naver_works.user_oauth import NaverWorksUserOAuthClient


@dataclass(frozen=True)
class LinkingClients:
    line: LineLoginClient
    google: GoogleOAuthClient
    naver_works: NaverWorksUserOAuthClient


class LinkingService:
    """Starts and finishes the linking flows of every provider."""

    def __init__(
        self,
        *,
        credentials: CompanyCredentials,
        links: LinksRepository,
        keyring: Keyring,
        states: OAuthStateStore,
        clients: LinkingClients,
        hub_public_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._company_credentials = credentials
        self._states = states
        self._works = clients.naver_works
        self._hub_public_url = hub_public_url
        self._grants = UserGrants(
            links=links, keyring=keyring, google=clients.google, naver_works=clients.naver_works, clock=clock
        )
        self._flows: dict[str, LinkFlow] = {
            "line": LineFlow(clients.line, states, links),
            "google": GoogleFlow(clients.google, states, links, self._grants),
            "naver_works": NaverWorksFlow(clients.naver_works, states, self._grants),
        }

    def redirect_uri(self, provider: str) -> str:
        return oauth_redirect_uri(self._hub_public_url, provider)

    def _credentials(self, company_id: str, provider: str) -> dict[str, Any]:
        integration = OAUTH_PROVIDERS[provider]
        credentials = self._company_credentials.of(self._company_credentials.company(company_id), integration)
        if credentials is None:
            raise LinkingError("integration_unavailable", f"{integration.value} is not turned on for this company")
        return credentials

    # ------------------------------------------------------------------ start

    def authorize_url(self, company_id: str, user_id: str, provider: str) -> str:
        """The provider's authorization URL for this employee, with a fresh one-time state."""
        credentials = self._credentials(company_id, provider)
        return self._flows[provider].start(company_id, user_id, credentials, self.redirect_uri(provider))

    # ------------------------------------------------------------------ finish

    def complete(self, provider: str, query: dict[str, str], locale: str) -> Page:
        """The callback: consume the state, exchange the code, verify who it is, store the link."""
        try:
            state = self._states.consume(query.get("state"), provider)
        except OAuthStateError as exc:
            logger.warning("linking callback refused", extra={"provider": provider, "reason": exc.code})
            return failed_page(locale, exc.code)
        logger.append_keys(company_id=state.company_id, user_id=state.user_id, provider=provider)
        if query.get("error") or not query.get("code"):
            logger.info("linking declined at the provider", extra={"error": (query.get("error") or "")[:40]})
            return failed_page(locale, "access_denied")
        try:
            credentials = self._credentials(state.company_id, provider)
            page = self._flows[provider].finish(
                state.company_id,
                state.user_id,
                state.data,
                query["code"],
                credentials,
                self.redirect_uri(provider),
                locale,
            )
        except LinkingError:
            return failed_page(locale, "integration_unavailable")
        except IdentityRefusedError as exc:
            logger.warning("linking refused: identity", extra={"reason": exc.code})
            return failed_page(locale, exc.code)
        except RetryableProviderError as exc:
            logger.warning("linking failed: provider unavailable", extra={"code": exc.code})
            return failed_page(locale, "provider_unavailable", status=502)
        except ProviderError as exc:
            logger.warning("linking failed: provider refused", extra={"code": exc.code})
            return failed_page(locale, "code_invalid" if exc.code == "invalid_grant" else "identity_invalid")
        logger.info("account linked")
        return page

    def access_token(self, company_id: str, user_id: str, provider: str) -> str:
        """A valid access token of the employee's grant (see UserGrants.access_token)."""
        credentials = self._credentials(company_id, provider)  # the integration must still be on
        return self._grants.access_token(company_id, user_id, provider, credentials)

    def personal_calendars(self, company_id: str, user_id: str) -> list[dict[str, Any]]:
        token = self.access_token(company_id, user_id, "naver_works")
        try:
            return self._works.personal_calendars(token, user_id)
        except NeedsRelinkError as exc:  # the grant was revoked while the token still looked valid
            self._grants.mark_needs_relink(company_id, user_id, "naver_works", exc.code)
            raise
