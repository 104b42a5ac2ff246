"""NAVER WORKS User Account OAuth (authorization code) for an employee's own calendar, and their calendar list.

Docs: https://developers.worksmobile.com/jp/docs/auth-oauth (providers.md §4.3): `GET {auth}/authorize`
with client_id, redirect_uri, scope, response_type=code, state (and the tenant's `domain`, as the
LINE WORKS API PdM's CLI sends it); the code is single-use and valid for 10 minutes; `POST {auth}/token`
exchanges it for an access token (1 h or 24 h) and a refresh token (90 days). `expires_in` is a string.
The docs describe no PKCE parameters, so none are sent. Calendars:
https://developers.worksmobile.com/jp/docs/calendar-personals-user-list (`count` ≤ 50, `cursor`,
`responseMetaData.nextCursor`) and …/calendar-default-user-get (the user's default calendar).

The OAuth client is the calendar integration's `user_oauth_client_id` / `user_oauth_client_secret`, or
its service-account app's `client_id` / `client_secret` when those are empty. Tokens, codes and the
client secret never appear in reprs, logs or error messages.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import requests

from workplace_hub.catalog import Integration
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
)
from workplace_hub.naver_works.auth import DEFAULT_TTL, is_legacy
from workplace_hub.naver_works.bot import error_for, rate_limit_wait
from workplace_hub.providers.oauth import OAuthClient, TokenSet, json_object, scrub, token_answer

PROVIDER = Integration.NAVER_WORKS_CALENDAR.value  # errors name the integration
SCOPE = "calendar"
PAGE_SIZE = 50  # calendar-personals: count 1-50
MAX_PAGES = 40  # 2,000 calendars: a cursor that never ends is the provider's bug, not a reason to loop
# Token-endpoint errors that mean the app's own settings are wrong, not the employee's grant.
CLIENT_ERRORS = frozenset({"invalid_client", "unauthorized_client", "invalid_scope", "unsupported_grant_type"})


def _setting(credentials: dict[str, Any], name: str, fallback: str) -> str:
    return str(credentials.get(name) or credentials.get(fallback) or "").strip()


def oauth_client(credentials: dict[str, Any]) -> tuple[str, str]:
    """(client ID, client secret) for user OAuth: the dedicated pair, else the app's; API 2.0 only."""
    if is_legacy(credentials):
        raise IntegrationCredentialsError(
            PROVIDER, "unsupported_api_version", detail="employee calendar links need API 2.0 settings"
        )
    client_id = _setting(credentials, "user_oauth_client_id", "client_id")
    client_secret = _setting(credentials, "user_oauth_client_secret", "client_secret")
    missing = [name for name, value in (("client_id", client_id), ("client_secret", client_secret)) if not value]
    if missing:
        raise IntegrationCredentialsError(PROVIDER, "missing_credentials", detail="missing: " + ", ".join(missing))
    return client_id, client_secret


def _domain(credentials: dict[str, Any]) -> str:
    return str(credentials.get("domain_id") or "").strip()


def build_authorize_url(auth_base: str, credentials: dict[str, Any], *, state: str, redirect_uri: str) -> str:
    """Pure: where to send the employee's browser to approve calendar access."""
    if is_legacy(credentials):
        oauth_client(credentials)  # raises unsupported_api_version
    client_id = _setting(credentials, "user_oauth_client_id", "client_id")
    if not client_id:
        raise IntegrationCredentialsError(PROVIDER, "missing_credentials", detail="missing: client_id")
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": SCOPE,
        "response_type": "code",
        "state": state,
    }
    domain = _domain(credentials)
    if domain:
        params["domain"] = domain
    return f"{auth_base.rstrip('/')}/authorize?{urlencode(params, quote_via=quote)}"


def build_code_form(credentials: dict[str, Any], code: str, redirect_uri: str) -> dict[str, str]:
    """Pure: the authorization_code grant. redirect_uri is not in the NAVER WORKS samples; it is sent as
    RFC 6749 §4.1.3 asks, on the assumption that the server ignores or checks it (UNCONFIRMED)."""
    client_id, client_secret = oauth_client(credentials)
    form = {
        "code": code,
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": redirect_uri,
    }
    domain = _domain(credentials)
    if domain:
        form["domain"] = domain
    return form


def build_refresh_form(credentials: dict[str, Any], refresh_token: str) -> dict[str, str]:
    """Pure: the refresh_token grant (providers.md §4.2)."""
    client_id, client_secret = oauth_client(credentials)
    return {
        "refresh_token": refresh_token,
        "grant_type": "refresh_token",
        "client_id": client_id,
        "client_secret": client_secret,
    }


def token_error(response: requests.Response, secrets: tuple[str, ...] = ()) -> ProviderError:
    """The error for a refused token request: a dead grant is the employee's, a bad client the admin's."""
    status = response.status_code
    # NAVER WORKS answers with OAuth's `error` / `error_description`, or its API's `code` / `description`.
    body = json_object(response) or {}
    code = str(body.get("error") or body.get("code") or "")
    description = str(body.get("error_description") or body.get("description") or body.get("message") or "")
    detail = scrub(description, secrets)
    if status == 429 or status >= 500:
        return RetryableProviderError(
            PROVIDER,
            code or f"http_{status}",
            status_code=status,
            detail=detail or "token endpoint unavailable",
            retry_after=rate_limit_wait(response),
        )
    if code in CLIENT_ERRORS:
        return IntegrationCredentialsError(PROVIDER, code, status_code=status, detail=detail or "client refused")
    if code == "invalid_grant" or status == 401:
        # Expired, used or revoked code / refresh token: only a new consent helps.
        return NeedsRelinkError(PROVIDER, "invalid_grant", status_code=status, detail=detail or "grant refused")
    return PermanentProviderError(PROVIDER, code or f"http_{status}", status_code=status, detail=detail)


def parse_token_set(
    response: requests.Response, issued_at: float, previous_refresh_token: str = "", secrets: tuple[str, ...] = ()
) -> TokenSet:
    """The tokens from a 200 (a refresh answer may omit refresh_token: the old one stays), else the error."""
    if response.status_code != 200:
        raise token_error(response, secrets)
    return token_answer(
        PROVIDER,
        response,
        issued_at,
        missing=RetryableProviderError,
        default_ttl=DEFAULT_TTL,
        previous_refresh_token=previous_refresh_token,
        default_scope=SCOPE,
    )


def api_error(response: requests.Response) -> ProviderError:
    """The error for a failed calendar API call made with the employee's token."""
    status = response.status_code
    body = json_object(response) or {}
    code = str(body.get("code") or "")
    if status == 401 or (status == 403 and code == "UNAUTHORIZED"):
        return NeedsRelinkError(PROVIDER, "token_invalid", status_code=status, detail="the access token was refused")
    base = error_for(response)  # the NAVER WORKS classification, re-labelled for the calendar integration
    if isinstance(base, RetryableProviderError):
        return RetryableProviderError(
            PROVIDER, base.code, status_code=status, detail=base.detail, retry_after=base.retry_after
        )
    return PermanentProviderError(PROVIDER, base.code, status_code=status, detail=base.detail, reason=base.reason)


def normalize_calendar(entry: dict[str, Any], default_id: str | None = None) -> dict[str, Any] | None:
    """`{"calendar_id", "name", "is_default", "visible", "display_order"}` from a CalendarPersonal."""
    calendar_id = entry.get("calendarId")
    if not isinstance(calendar_id, str) or not calendar_id:
        return None
    order = entry.get("displayOrder")
    return {
        "calendar_id": calendar_id,
        "name": str(entry.get("calendarName") or ""),
        "is_default": default_id is not None and calendar_id == default_id,
        "visible": bool(entry.get("isShowOnLNBList", True)),
        "display_order": order if isinstance(order, int) and not isinstance(order, bool) else None,
    }


class NaverWorksUserOAuthClient(OAuthClient):
    """Links an employee's NAVER WORKS account (authorization code grant) and lists their calendars."""

    provider = PROVIDER

    def __repr__(self) -> str:
        return f"{type(self).__name__}(auth_base={self._endpoints.WORKS_AUTH_BASE!r})"

    # --- OAuth -----------------------------------------------------------------------------------

    def authorize_url(self, credentials: dict[str, Any], *, state: str, redirect_uri: str) -> str:
        """Pure: `{WORKS_AUTH_BASE}/authorize?client_id&redirect_uri&scope=calendar&response_type=code&state`
        plus `&domain=<domain_id>` when the settings have one."""
        return build_authorize_url(self._endpoints.WORKS_AUTH_BASE, credentials, state=state, redirect_uri=redirect_uri)

    def exchange(self, credentials: dict[str, Any], *, code: str, redirect_uri: str) -> TokenSet:
        """The callback's code for tokens. A used or expired code → NeedsRelinkError("invalid_grant")."""
        form = build_code_form(credentials, code, redirect_uri)
        issued_at = self._clock()
        response = self._token_call(form)
        return parse_token_set(response, issued_at, secrets=(code, form["client_secret"]))

    def refresh(self, credentials: dict[str, Any], refresh_token: str) -> TokenSet:
        """A new access token; a revoked or expired refresh token → NeedsRelinkError("invalid_grant")."""
        form = build_refresh_form(credentials, refresh_token)
        issued_at = self._clock()
        response = self._token_call(form)
        return parse_token_set(response, issued_at, refresh_token, secrets=(refresh_token, form["client_secret"]))

    def _token_call(self, form: dict[str, str]) -> requests.Response:
        return self._post_form(self._endpoints.WORKS_AUTH_BASE.rstrip("/") + "/token", form)

    # --- calendars -------------------------------------------------------------------------------

    def default_calendar(self, access_token: str, user_id: str) -> dict[str, Any]:
        """`GET /users/{userId}/calendar` → `{"calendar_id", "name"}` of the user's default calendar."""
        body = self._get_json(access_token, f"{self._user_base(user_id)}/calendar")
        calendar_id = body.get("calendarId")
        if not isinstance(calendar_id, str) or not calendar_id:
            raise RetryableProviderError(PROVIDER, "invalid_response", status_code=200, detail="no calendarId")
        return {"calendar_id": calendar_id, "name": str(body.get("calendarName") or "")}

    def personal_calendars(self, access_token: str, user_id: str, *, mark_default: bool = True) -> list[dict[str, Any]]:
        """Every calendar the user can access (`GET /users/{userId}/calendar-personals`, all pages), as
        `{"calendar_id", "name", "is_default", "visible", "display_order"}` in the provider's order.

        The list has no default flag, so with `mark_default` the default calendar is read too and marked
        (and put first if the list lacks it — whether the list includes it is UNCONFIRMED)."""
        url = f"{self._user_base(user_id)}/calendar-personals"
        entries: list[dict[str, Any]] = []
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            params = {"count": str(PAGE_SIZE)}
            if cursor:
                params["cursor"] = cursor
            body = self._get_json(access_token, f"{url}?{urlencode(params, quote_via=quote)}")
            page = body.get("calendarPersonals")
            entries.extend(e for e in (page if isinstance(page, list) else []) if isinstance(e, dict))
            meta = body.get("responseMetaData")
            cursor = meta.get("nextCursor") if isinstance(meta, dict) else None
            if not isinstance(cursor, str) or not cursor or cursor in seen:
                break
            seen.add(cursor)
        default = self.default_calendar(access_token, user_id) if mark_default else None
        default_id = default["calendar_id"] if default else None
        calendars: list[dict[str, Any]] = []
        ids: set[str] = set()
        for entry in entries:
            calendar = normalize_calendar(entry, default_id)
            if calendar is not None and calendar["calendar_id"] not in ids:
                ids.add(calendar["calendar_id"])
                calendars.append(calendar)
        if default is not None and default_id not in ids:
            calendars.insert(0, {**default, "is_default": True, "visible": True, "display_order": None})
        return calendars

    def _user_base(self, user_id: str) -> str:
        return f"{self._endpoints.WORKS_API_BASE.rstrip('/')}/users/{quote(str(user_id), safe='')}"

    def _get_json(self, access_token: str, url: str) -> dict[str, Any]:
        response = self._request("GET", url, headers={"Authorization": f"Bearer {access_token}"})
        if response.status_code != 200:
            raise api_error(response)
        body = json_object(response)
        if body is None:
            raise RetryableProviderError(PROVIDER, "invalid_response", status_code=200, detail="not a JSON object")
        return body
