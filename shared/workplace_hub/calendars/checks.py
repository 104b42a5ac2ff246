"""`verify` for the two calendar integrations: prove the company's credentials with real calls."""

from __future__ import annotations

import json
from typing import Any

from workplace_hub.catalog import Integration
from workplace_hub.errors import IntegrationCredentialsError, PermanentProviderError
from workplace_hub.google.delegation import DelegatedCalendarAuth
from workplace_hub.google.oauth import GoogleOAuthClient
from workplace_hub.naver_works.bot import NaverWorksSender

PROVIDER = Integration.GOOGLE_CALENDAR.value


class GoogleCalendarCheck:
    """User-consent mode: the OAuth client must authenticate at Google's token endpoint (a made-up code
    is refused as `invalid_grant` only when the client id and secret are right). Delegation mode: a
    calendar token is issued for the admin's chosen `verify_subject`."""

    def __init__(self, oauth: GoogleOAuthClient, delegated: DelegatedCalendarAuth, redirect_uri: str) -> None:
        self._oauth = oauth
        self._delegated = delegated
        self._redirect_uri = redirect_uri

    def verify(self, credentials: dict[str, Any]) -> str:
        if credentials.get("auth_mode") == "domain_wide_delegation":
            subject = credentials.get("verify_subject")
            if not subject:
                raise PermanentProviderError(
                    PROVIDER, "verify_subject_missing", detail="set verify_subject: the user to act as for this check"
                )
            info = json.loads(credentials["service_account_json"])
            self._delegated.token_for(info, subject)
            return f"domain-wide delegation works: a calendar token was issued for {subject}"
        client = json.loads(credentials["oauth_client_json"])["web"]
        try:
            self._oauth.exchange(
                client, code="workplace-hub-credential-check", redirect_uri=self._redirect_uri, code_verifier="x" * 43
            )
        except IntegrationCredentialsError:
            raise
        except PermanentProviderError as exc:
            if exc.code == "invalid_grant":  # the client authenticated; only our made-up code was refused
                return f"OAuth client {client.get('client_id', '?')} accepted by Google"
            raise
        raise PermanentProviderError(PROVIDER, "unexpected_grant", detail="a made-up code was accepted")

    def on_save(self, credentials: dict[str, Any]) -> dict[str, Any]:
        return {}


class NaverWorksCalendarCheck:
    """The service account (2.0) or server token (1.0) that writes default calendars is issued."""

    def __init__(self, sender: NaverWorksSender) -> None:
        self._sender = sender

    def verify(self, credentials: dict[str, Any]) -> str:
        # No bot here: verify then only proves the token (calendar scope).
        return self._sender.verify({**credentials, "bot_id": ""}).replace("(no bot yet)", "(calendar scope)")

    def on_save(self, credentials: dict[str, Any]) -> dict[str, Any]:
        return {}
