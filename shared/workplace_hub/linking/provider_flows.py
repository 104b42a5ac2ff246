"""One linking flow per OAuth provider: how it starts (the authorization URL, with a fresh one-time state) and
how it ends (exchange the code, check who it is, store the link). `flows.LinkingService` picks one by the
provider's name in the route; codes, tokens and callback URLs are never logged.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from workplace_hub.clock import utc_now_iso
from workplace_hub.credentials.user_grants import UserGrants, user_oauth_client
from workplace_hub.errors import HubError
from workplace_hub.linking.pages import Page, linked_page
from workplace_hub.linking.state import OAuthStateStore, pkce_pair
from workplace_hub.naver_works.auth import is_legacy
from workplace_hub.providers.oauth import IdTokenError
from workplace_hub.storage.link_health import state_attribute
from workplace_hub.storage.links import LinksRepository, line_user_key

if TYPE_CHECKING:
    from workplace_hub.google.oauth import GoogleOAuthClient
    from workplace_hub.line.login import LineLoginClient
    from workplace_hub.naver_works.user_oauth import NaverWorksUserOAuthClient

Credentials = dict[str, Any]


class LinkingError(HubError):
    """A flow cannot start (integration off, Google Workspace ID missing, ...); `code` says which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class IdentityRefusedError(HubError):
    """The provider vouched for someone else (or its ID token failed a check); `code` is the page's reason."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class LinkFlow(Protocol):
    """One provider's linking flow; `credentials` are the integration's, resolved and checked to be on."""

    def start(self, company_id: str, user_id: str, credentials: Credentials, redirect_uri: str) -> str:
        """The provider's authorization URL for this employee; LinkingError when the flow cannot start."""
        ...

    def finish(
        self,
        company_id: str,
        user_id: str,
        data: dict[str, Any],
        code: str,
        credentials: Credentials,
        redirect_uri: str,
        locale: str,
    ) -> Page:
        """Exchange the callback's code (`data`: what `start` kept in the state), store the link, the page."""
        ...


def verified(check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run an ID-token check; its refusal becomes a page reason (the mismatches by name, the rest as one)."""
    try:
        return check()
    except IdTokenError as exc:
        named = exc.code in ("email_mismatch", "hosted_domain_mismatch")
        raise IdentityRefusedError(exc.code if named else "identity_invalid") from None


def _oidc_state(states: OAuthStateStore, company_id: str, user_id: str, provider: str) -> tuple[str, str, str]:
    """(state, nonce, PKCE challenge) of an OpenID Connect login; the nonce and verifier stay in the state."""
    nonce = secrets.token_urlsafe(16)
    verifier, challenge = pkce_pair()
    state = states.issue(company_id, user_id, provider, {"nonce": nonce, "code_verifier": verifier})
    return state, nonce, challenge


class LineFlow:
    """LINE Login: the employee's LINE userId, and whether they follow the company's channel."""

    def __init__(self, client: LineLoginClient, states: OAuthStateStore, links: LinksRepository) -> None:
        self._client = client
        self._states = states
        self._links = links

    def start(self, company_id: str, user_id: str, credentials: Credentials, redirect_uri: str) -> str:
        state, nonce, challenge = _oidc_state(self._states, company_id, user_id, "line")
        return self._client.authorize_url(
            credentials, state=state, nonce=nonce, code_challenge=challenge, redirect_uri=redirect_uri
        )

    def finish(
        self,
        company_id: str,
        user_id: str,
        data: dict[str, Any],
        code: str,
        credentials: Credentials,
        redirect_uri: str,
        locale: str,
    ) -> Page:
        client = self._client
        tokens = client.exchange(credentials, code=code, redirect_uri=redirect_uri, code_verifier=data["code_verifier"])
        claims = verified(lambda: client.verify_id_token(credentials, tokens.id_token or "", nonce=data["nonce"]))
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


class GoogleFlow:
    """Google consent for the employee's Workspace calendar: the ID token must name their registered Google
    Workspace ID in the company domain."""

    def __init__(
        self, client: GoogleOAuthClient, states: OAuthStateStore, links: LinksRepository, grants: UserGrants
    ) -> None:
        self._client = client
        self._states = states
        self._links = links
        self._grants = grants

    def start(self, company_id: str, user_id: str, credentials: Credentials, redirect_uri: str) -> str:
        workspace_id = self._links.get(company_id, user_id).get("google_workspace_id")
        if not workspace_id:
            raise LinkingError(
                "google_workspace_id_missing",
                "your Google Workspace ID is not registered yet: ask your admin to register it first",
            )
        if credentials.get("auth_mode") == "domain_wide_delegation":
            raise LinkingError("consent_not_needed", "your company links Google calendars without your consent")
        client = json.loads(credentials["oauth_client_json"])["web"]
        state, nonce, challenge = _oidc_state(self._states, company_id, user_id, "google")
        return self._client.authorize_url(
            client,
            state=state,
            nonce=nonce,
            code_challenge=challenge,
            redirect_uri=redirect_uri,
            login_hint=workspace_id,
            hosted_domain=credentials.get("company_domain"),
        )

    def finish(
        self,
        company_id: str,
        user_id: str,
        data: dict[str, Any],
        code: str,
        credentials: Credentials,
        redirect_uri: str,
        locale: str,
    ) -> Page:
        client_json = json.loads(credentials["oauth_client_json"])["web"]
        workspace_id = self._links.get(company_id, user_id).get("google_workspace_id") or ""
        google = self._client
        tokens = google.exchange(client_json, code=code, redirect_uri=redirect_uri, code_verifier=data["code_verifier"])
        verified(
            lambda: google.verify_id_token(
                client_json,
                tokens.id_token or "",
                nonce=data["nonce"],
                expected_email=workspace_id,
                expected_domain=credentials.get("company_domain"),
            )
        )
        self._grants.store(company_id, user_id, "google", tokens)
        return linked_page(locale, "google")


class NaverWorksFlow:
    """NAVER WORKS user authorization for the employee's personal calendars (API 2.0 only)."""

    def __init__(self, client: NaverWorksUserOAuthClient, states: OAuthStateStore, grants: UserGrants) -> None:
        self._client = client
        self._states = states
        self._grants = grants

    def start(self, company_id: str, user_id: str, credentials: Credentials, redirect_uri: str) -> str:
        if is_legacy(credentials):
            raise LinkingError(
                "naver_works_personal_calendar_needs_api_2_0",
                "your company connects NAVER WORKS through API 1.0, which has no employee authorization",
            )
        client = user_oauth_client(credentials)
        if not client.get("client_id"):
            # e.g. a Collabo company on the platform's default credentials, which carry no user OAuth app
            raise LinkingError(
                "integration_incomplete",
                "the company's NAVER WORKS calendar settings have no OAuth client for employees: ask your admin",
            )
        state = self._states.issue(company_id, user_id, "naver_works", {})
        return self._client.authorize_url(client, state=state, redirect_uri=redirect_uri)

    def finish(
        self,
        company_id: str,
        user_id: str,
        data: dict[str, Any],
        code: str,
        credentials: Credentials,
        redirect_uri: str,
        locale: str,
    ) -> Page:
        tokens = self._client.exchange(user_oauth_client(credentials), code=code, redirect_uri=redirect_uri)
        self._grants.store(company_id, user_id, "naver_works", tokens)
        return linked_page(locale, "naver_works")
