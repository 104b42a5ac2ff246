"""NAVER WORKS User Account OAuth: authorize, user tokens, the user's calendar list and its control routes."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from infra.sandbox.base import ControlError, Request, Response, json_response
from infra.sandbox.naver_works.state import NaverWorksState, oauth_error, short_text, works_error
from infra.sandbox.naver_works.tenants import SCOPES, Grant, Tenant, Token, http_url

CODE_TTL = 600  # authorization code: 10 minutes, single use (auth-oauth)
CALENDAR_NAME_MAX, CALENDAR_PAGE_MAX = 50, 50


def _scopes(value: str) -> frozenset[str]:
    return frozenset(s for s in value.replace(",", " ").split() if s)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _cursor_offset(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except ValueError:
        return None
    number = text.removeprefix("offset:")
    return int(number) if text.startswith("offset:") and number.isdigit() else None


def _calendars(entries: Any) -> list[dict[str, Any]]:
    """A user's calendars from the control API, in display order; exactly one is the default."""
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ControlError('calendars must be a non-empty list of {"calendarId"?, "calendarName"} objects')
    calendars, ids = [], set()
    for order, entry in enumerate(entries):
        calendar_id = entry.get("calendarId") or f"calendar-{uuid.uuid4()}"
        if not isinstance(calendar_id, str) or calendar_id in ids:
            raise ControlError(f"calendarId must be a unique string ({calendar_id!r})")
        if not short_text(entry.get("calendarName"), CALENDAR_NAME_MAX):
            raise ControlError(f"calendarName must be 1-{CALENDAR_NAME_MAX} characters")
        ids.add(calendar_id)
        calendars.append(
            {
                "calendarId": calendar_id,
                "calendarName": entry["calendarName"],
                "isShowOnLNBList": bool(entry.get("isShowOnLNBList", True)),
                "displayOrder": order,
                "default": bool(entry.get("isDefault", False)),
            }
        )
    defaults = sum(c["default"] for c in calendars)
    if defaults > 1:
        raise ControlError("at most one calendar may have isDefault")
    if defaults == 0:
        calendars[0]["default"] = True
    return calendars


def _calendar_view(calendar: dict[str, Any]) -> dict[str, Any]:
    """A CalendarPersonal as calendar-personals lists it (no default flag in the documented shape)."""
    view = {k: calendar[k] for k in ("calendarId", "calendarName", "isShowOnLNBList", "displayOrder")}
    return {**view, "resourceLocation": 14101}


class UserOAuthApi(NaverWorksState):
    """`authorize`, the authorization-code and refresh-token grants, `calendar-personals` and `calendar`, and
    the control routes `oauth_users`, `revoke_user` and `expire_codes`."""

    def _set_login(self, data: dict[str, Any]) -> dict[str, Any]:
        tenant = self._tenant_for_control(data)
        user_id, consent = data.get("user_id"), data.get("consent", "approve")
        if not isinstance(user_id, str) or not user_id:
            raise ControlError("user_id (a user ID or login e-mail) is required")
        if consent not in ("approve", "deny"):
            raise ControlError('consent must be "approve" or "deny"')
        calendars = _calendars(data["calendars"]) if data.get("calendars") is not None else None
        with self._lock:
            tenant.users.add(user_id)
            if calendars is not None:
                tenant.calendars[user_id] = calendars
            elif user_id not in tenant.calendars:
                tenant.calendars[user_id] = _calendars([{"calendarName": "My calendar"}])
            tenant.login = {"user_id": user_id, "consent": consent}
            listed = [{**_calendar_view(c), "isDefault": c["default"]} for c in tenant.calendars[user_id]]
        return {"domain_id": tenant.domain_id, "user_id": user_id, "consent": consent, "calendars": listed}

    def _revoke_user(self, data: dict[str, Any]) -> dict[str, Any]:
        tenant = self._tenant_for_control(data)
        user_id = str(data.get("user_id") or "")
        if not user_id:
            raise ControlError("user_id is required")
        mine = lambda g: g.domain_id == tenant.domain_id and g.user_id == user_id  # noqa: E731
        with self._lock:
            refresh = [value for value, grant in self.refresh_tokens.items() if mine(grant)]
            for value in refresh:
                del self.refresh_tokens[value]
            for value in [value for value, grant in self.codes.items() if mine(grant)]:
                del self.codes[value]
            access = [token for token in self.tokens.values() if mine(token)]
            for token in access:
                token.expires_at = 0.0
        return {"revoked_refresh_tokens": len(refresh), "expired_access_tokens": len(access)}

    def _expire_codes(self, data: dict[str, Any]) -> dict[str, Any]:
        wanted = data.get("domain_id")
        with self._lock:
            codes = [c for c in self.codes.values() if wanted is None or c.domain_id == str(wanted)]
            for code in codes:
                code.expires_at = 0.0
        return {"expired": len(codes)}

    def _authorize(self, request: Request) -> Response:
        """The login and consent pages in one step: 302 back to the app with a code, or with an error."""
        query = request.query
        client_id, redirect_uri, state = query.get("client_id", ""), query.get("redirect_uri", ""), query.get("state")
        with self._lock:
            tenant = next((t for t in self.tenants.values() if client_id and t.app_secret(client_id)), None)
        if tenant is None:  # never redirect to an unverified redirect_uri
            return oauth_error(400, "invalid_client", "unknown client_id")
        registered = tenant.redirect_uris
        if not http_url(redirect_uri) or (registered is not None and redirect_uri not in registered):
            return oauth_error(400, "invalid_request", "redirect_uri is not a registered Redirect URL")

        def back(**params: str) -> Response:
            if state is not None:
                params["state"] = state
            joiner = "&" if "?" in redirect_uri else "?"
            return Response(302, headers={"Location": redirect_uri + joiner + urlencode(params)})

        if query.get("response_type") != "code":
            return back(error="unsupported_response_type", error_description="response_type must be code")
        scopes = _scopes(query.get("scope", ""))
        if not scopes or not scopes <= SCOPES:
            return back(error="invalid_scope", error_description="unknown or missing scope")
        if query.get("domain") not in (None, tenant.domain_id):
            return back(error="invalid_request", error_description="domain is not the app's domain")
        with self._lock:
            login = dict(tenant.login) if tenant.login else None
        if login is None:
            return oauth_error(
                400, "login_required", "nobody logs in: POST /_sandbox/naver_works/oauth_users first (sandbox)"
            )
        if login["consent"] == "deny":
            return back(error="access_denied", error_description="the user denied the request")
        code = "kr1C" + secrets.token_urlsafe(24)
        grant = Grant(tenant.domain_id, login["user_id"], client_id, scopes, time.time() + CODE_TTL, redirect_uri)
        with self._lock:
            self.codes[code] = grant
        return back(code=code)

    def _user_token(self, form: dict[str, str], grant_type: str) -> Response:
        client_id = form.get("client_id", "")
        with self._lock:
            tenant = next((t for t in self.tenants.values() if client_id and t.app_secret(client_id)), None)
        if tenant is None or form.get("client_secret") != tenant.app_secret(client_id):
            return oauth_error(401, "invalid_client", "unknown client or wrong client_secret")
        if grant_type == "refresh_token":
            with self._lock:
                grant = self.refresh_tokens.get(form.get("refresh_token", ""))
            if grant is None or grant.client_id != client_id or grant.expires_at <= time.time():
                return oauth_error(400, "invalid_grant", "the refresh token is invalid, expired or revoked")
            body = self._issue(tenant, "2.0", grant.scopes, grant.user_id, client_id)
            return json_response(200, {**body, "scope": ",".join(sorted(grant.scopes))})
        if form.get("domain") not in (None, tenant.domain_id):
            return oauth_error(400, "invalid_request", "domain is not the app's domain")
        with self._lock:
            grant = self.codes.get(form.get("code", ""))
            if grant is not None and grant.client_id == client_id:
                del self.codes[form["code"]]  # single use, whatever follows
        if grant is None or grant.client_id != client_id:
            return oauth_error(400, "invalid_grant", "the authorization code is invalid or was already used")
        if grant.expires_at <= time.time():
            return oauth_error(400, "invalid_grant", "the authorization code has expired")
        if form.get("redirect_uri") not in (None, grant.redirect_uri):
            return oauth_error(400, "invalid_grant", "redirect_uri differs from the authorization request")
        body = self._issue(tenant, "2.0", grant.scopes, grant.user_id, client_id)
        refresh = self._grant_refresh(Grant(tenant.domain_id, grant.user_id, client_id, grant.scopes, 0.0))
        return json_response(200, {**body, "refresh_token": refresh, "scope": ",".join(sorted(grant.scopes))})

    def _calendar(self, api: str, request: Request, tenant: Tenant, token: Token, user_id: str) -> Response:
        if token.user_id is None:
            return works_error(403, "FORBIDDEN", "personal calendars need the user's own token (sandbox)")
        if user_id not in ("me", token.user_id):
            return works_error(403, "FORBIDDEN", "the access token belongs to another user")
        with self._lock:
            calendars = list(tenant.calendars.get(token.user_id) or [])
        if not calendars:
            return works_error(404, "NOT_FOUND", "calendar not found")
        if api == "calendar_default":
            default = next((c for c in calendars if c["default"]), calendars[0])
            return json_response(200, self._default_view(token.user_id, default))
        count, cursor = request.query.get("count", str(CALENDAR_PAGE_MAX)), request.query.get("cursor")
        if not count.isdigit() or not 1 <= int(count) <= CALENDAR_PAGE_MAX:
            return works_error(400, "INVALID_PARAMETER", f"count must be 1-{CALENDAR_PAGE_MAX}")
        start = _cursor_offset(cursor) if cursor else 0
        if start is None:
            return works_error(400, "INVALID_PARAMETER", "invalid cursor")
        end = start + int(count)
        next_cursor = _cursor(end) if end < len(calendars) else None
        page = [_calendar_view(c) for c in calendars[start:end]]
        return json_response(200, {"calendarPersonals": page, "responseMetaData": {"nextCursor": next_cursor}})

    @staticmethod
    def _default_view(user_id: str, calendar: dict[str, Any]) -> dict[str, Any]:
        return {
            "calendarId": calendar["calendarId"],
            "calendarName": calendar["calendarName"],
            "members": [{"id": user_id, "type": "USER", "role": "CALENDAR_EVENT_READ_WRITE"}],
            "description": "",
            "isPublic": False,
            "calendarEmail": f"{calendar['calendarId']}@groups.sandbox.example",
            "type": "INDIVIDUAL",
        }
