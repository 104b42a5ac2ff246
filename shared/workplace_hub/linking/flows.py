"""Linking an employee's own accounts: start an OAuth flow, finish it on the callback, store the link.

LINE: LINE Login (the employee's LINE userId, and whether they follow the company's channel).
Google: per-employee consent for their Workspace calendar (the ID token must name their registered
Google Workspace ID in the company domain). NAVER WORKS: user authorization for personal calendars.
Tokens are sealed like every credential; codes, tokens and callback URLs are never logged.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workplace_hub.catalog import OAUTH_PROVIDERS, oauth_callback_path
from workplace_hub.clock import utc_now_iso
from workplace_hub.credentials.company import CompanyCredentials
from workplace_hub.credentials.user_grants import UserGrants, user_oauth_client
from workplace_hub.crypto import Keyring
from workplace_hub.errors import HubError, NeedsRelinkError, ProviderError, RetryableProviderError
from workplace_hub.linking.pages import Page, failed_page, linked_page
from workplace_hub.linking.state import OAuthStateError, OAuthStateStore, pkce_pair
from workplace_hub.naver_works.auth import is_legacy
from workplace_hub.observability import logger
from workplace_hub.storage.link_health import state_attribute
from workplace_hub.storage.links import LinksRepository, line_user_key

if TYPE_CHECKING:
    from workplace_hub.google.oauth import GoogleOAuthClient
    from workplace_hub.line.login import LineLoginClient
    from workplace_hub.naver_works.user_oauth import NaverWorksUserOAuthClient


class LinkingError(HubError):
    """A flow cannot start (integration off, Google Workspace ID missing, ...); `code` says which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
        self._links = links
        self._states = states
        self._clients = clients
        self._hub_public_url = hub_public_url.rstrip("/")
        self._grants = UserGrants(
            links=links, keyring=keyring, google=clients.google, naver_works=clients.naver_works, clock=clock
        )

    def redirect_uri(self, provider: str) -> str:
        return self._hub_public_url + oauth_callback_path(provider)

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
        redirect_uri = self.redirect_uri(provider)
        nonce = secrets.token_urlsafe(16)
        verifier, challenge = pkce_pair()
        if provider == "line":
            state = self._states.issue(company_id, user_id, provider, {"nonce": nonce, "code_verifier": verifier})
            return self._clients.line.authorize_url(
                credentials, state=state, nonce=nonce, code_challenge=challenge, redirect_uri=redirect_uri
            )
        if provider == "google":
            workspace_id = self._links.get(company_id, user_id).get("google_workspace_id")
            if not workspace_id:
                raise LinkingError(
                    "google_workspace_id_missing",
                    "your Google Workspace ID is not registered yet: ask your admin to register it first",
                )
            if credentials.get("auth_mode") == "domain_wide_delegation":
                raise LinkingError("consent_not_needed", "your company links Google calendars without your consent")
            client = json.loads(credentials["oauth_client_json"])["web"]
            state = self._states.issue(company_id, user_id, provider, {"nonce": nonce, "code_verifier": verifier})
            return self._clients.google.authorize_url(
                client,
                state=state,
                nonce=nonce,
                code_challenge=challenge,
                redirect_uri=redirect_uri,
                login_hint=workspace_id,
                hosted_domain=credentials.get("company_domain"),
            )
        if is_legacy(credentials):
            raise LinkingError(
                "naver_works_personal_calendar_needs_api_2_0",
                "your company connects NAVER WORKS through API 1.0, which has no employee authorization",
            )
        client = self._user_oauth(credentials)
        if not client.get("client_id"):
            # e.g. a Collabo company on the platform's default credentials, which carry no user OAuth app
            raise LinkingError(
                "integration_incomplete",
                "the company's NAVER WORKS calendar settings have no OAuth client for employees: ask your admin",
            )
        state = self._states.issue(company_id, user_id, provider, {})
        return self._clients.naver_works.authorize_url(client, state=state, redirect_uri=redirect_uri)

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
            finish = {"line": self._finish_line, "google": self._finish_google, "naver_works": self._finish_works}
            page = finish[provider](state.company_id, state.user_id, state.data, query["code"], credentials, locale)
        except LinkingError:
            return failed_page(locale, "integration_unavailable")
        except _IdentityRefusedError as exc:
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

    def _finish_line(
        self, company_id: str, user_id: str, data: dict[str, Any], code: str, credentials: dict[str, Any], locale: str
    ) -> Page:
        client = self._clients.line
        tokens = client.exchange(
            credentials, code=code, redirect_uri=self.redirect_uri("line"), code_verifier=data["code_verifier"]
        )
        claims = _verified(lambda: client.verify_id_token(credentials, tokens.id_token or "", nonce=data["nonce"]))
        line_user_id = str(claims["sub"])
        is_friend = bool(client.friendship(tokens))
        self._links.update(
            company_id,
            user_id,
            {
                "line_user_id": line_user_id,
                "line_user_key": line_user_key(company_id, line_user_id),
                "line_friend": is_friend,
                "line_linked_at": utc_now_iso(),
            },
            [state_attribute("line")],
        )
        return linked_page(locale, "line", friend_link_url=credentials.get("friend_link_url"), is_friend=is_friend)

    def _finish_google(
        self, company_id: str, user_id: str, data: dict[str, Any], code: str, credentials: dict[str, Any], locale: str
    ) -> Page:
        client_json = json.loads(credentials["oauth_client_json"])["web"]
        workspace_id = self._links.get(company_id, user_id).get("google_workspace_id") or ""
        google = self._clients.google
        tokens = google.exchange(
            client_json, code=code, redirect_uri=self.redirect_uri("google"), code_verifier=data["code_verifier"]
        )
        _verified(
            lambda: google.verify_id_token(
                client_json,
                tokens.id_token or "",
                nonce=data["nonce"],
                expected_email=workspace_id,
                expected_domain=credentials.get("company_domain"),
            )
        )
        self._store_tokens(company_id, user_id, "google", tokens)
        return linked_page(locale, "google")

    def _finish_works(
        self, company_id: str, user_id: str, data: dict[str, Any], code: str, credentials: dict[str, Any], locale: str
    ) -> Page:
        tokens = self._clients.naver_works.exchange(
            self._user_oauth(credentials), code=code, redirect_uri=self.redirect_uri("naver_works")
        )
        self._store_tokens(company_id, user_id, "naver_works", tokens)
        return linked_page(locale, "naver_works")

    # ------------------------------------------------------------------ tokens

    def _store_tokens(self, company_id: str, user_id: str, provider: str, tokens: Any) -> None:
        self._grants.store(company_id, user_id, provider, tokens)

    def access_token(self, company_id: str, user_id: str, provider: str) -> str:
        """A valid access token of the employee's grant (see UserGrants.access_token)."""
        credentials = self._credentials(company_id, provider)  # the integration must still be on
        return self._grants.access_token(company_id, user_id, provider, credentials)

    def personal_calendars(self, company_id: str, user_id: str) -> list[dict[str, Any]]:
        token = self.access_token(company_id, user_id, "naver_works")
        try:
            return self._clients.naver_works.personal_calendars(token, user_id)
        except NeedsRelinkError as exc:  # the grant was revoked while the token still looked valid
            self._grants.mark_needs_relink(company_id, user_id, "naver_works", exc.code)
            raise

    @staticmethod
    def _user_oauth(credentials: dict[str, Any]) -> dict[str, Any]:
        return user_oauth_client(credentials)


class _IdentityRefusedError(HubError):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _verified(check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run an ID-token check; its provider-specific error becomes a page reason."""
    try:
        return check()
    except (ProviderError, LinkingError):
        raise
    except HubError as exc:  # the clients' IdTokenError (code: email_mismatch, hosted_domain_mismatch, ...)
        code = getattr(exc, "code", "identity_invalid")
        raise _IdentityRefusedError(
            code if code in ("email_mismatch", "hosted_domain_mismatch") else "identity_invalid"
        ) from None
