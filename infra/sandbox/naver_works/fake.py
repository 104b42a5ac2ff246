"""`NaverWorksFake`: the parts of the fake in one provider, and what sends each request to its part."""

from __future__ import annotations

import time
from typing import Any

from infra.sandbox.base import Request, Response
from infra.sandbox.naver_works.auth import AuthApi
from infra.sandbox.naver_works.bots import BotsApi
from infra.sandbox.naver_works.calendar import CalendarApi
from infra.sandbox.naver_works.legacy import LegacyApi
from infra.sandbox.naver_works.routing import MESSAGE_SCOPES, NEEDED_SCOPES, route
from infra.sandbox.naver_works.state import legacy_error, works_error
from infra.sandbox.naver_works.tenants import new_tenant
from infra.sandbox.naver_works.user_oauth import UserOAuthApi


class NaverWorksFake(AuthApi, UserOAuthApi, BotsApi, LegacyApi, CalendarApi):
    """NAVER WORKS fake; tenants (keys, bots, users, plan) are registered through the control API.

    Each base class is one part of the API in its own module; this class checks the token, scope and rate
    limit that every API call shares and sends each request and control call to its part."""

    name = "naver_works"
    prefix = "/works"
    match_keys = frozenset({"api", "domain_id", "bot_id", "user_id", "calendar_id", "event_id"})
    fault_kinds = frozenset({"rate_limited", "server_error", "invalid_auth", "not_found"})

    # --- control API -------------------------------------------------------------------------------

    def control(self, action: str, method: str, data: dict[str, Any], base_url: str) -> dict[str, Any]:
        if method == "POST" and action == "tenants":
            return self._add_tenant(data)
        if method == "POST" and action == "legacy_quota":
            return self._legacy_quota(data)
        if method == "POST" and action == "expire_tokens":
            with self._lock:
                expired = [t for t in self.tokens.values() if t.domain_id == str(data.get("domain_id"))]
                for token in expired:
                    token.expires_at = 0.0
            return {"expired": len(expired)}
        if method in ("GET", "POST") and action == "messages":
            wanted = data.get("domain_id")
            with self._lock:
                return {"messages": [m for m in self.messages if wanted is None or m["domain_id"] == str(wanted)]}
        if method in ("GET", "POST") and action == "calendar_events":
            return self._list_calendar_events(data)
        if method == "POST" and action == "oauth_users":
            return self._set_login(data)
        if method == "POST" and action == "revoke_user":
            return self._revoke_user(data)
        if method == "POST" and action == "expire_codes":
            return self._expire_codes(data)
        return super().control(action, method, data, base_url)

    def _add_tenant(self, data: dict[str, Any]) -> dict[str, Any]:
        tenant = new_tenant(data)
        with self._lock:
            self.tenants[tenant.domain_id] = tenant
        return {"domain_id": tenant.domain_id, "plan": tenant.plan, "bots": sorted(tenant.bots)}

    def fault_attrs(self, request: Request) -> dict[str, str]:
        api, params = route(request)
        attrs = {"api": api, **{k: v for k, v in params.items() if k in self.match_keys}}
        token = self._bearer(request)
        if token is not None:
            attrs.setdefault("domain_id", token.domain_id)
        if api == "legacy_push":
            attrs["user_id"] = str(self._json(request).get("accountId") or "")
        return attrs

    def fault_response(self, kind: str, options: dict[str, Any]) -> Response:
        if kind == "rate_limited":
            reset = str(options["retry_after"] or 60)
            headers = {"rateLimit-limit": "240", "rateLimit-remaining": "0", "rateLimit-reset": reset}
            return works_error(429, "TOO_MANY_REQUESTS", "API rate limit exceeded", headers)
        if kind == "server_error":
            code = "SERVICE_UNAVAILABLE" if options["status"] == 503 else "INTERNAL_SERVER_ERROR"
            return works_error(options["status"], code, "Internal server error")
        if kind == "invalid_auth":
            return works_error(401, "UNAUTHORIZED", "Authentication failed")
        return works_error(404, "NOT_FOUND", "user not found")

    # --- API -----------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        api, params = route(request)
        if api == "token":
            return self._token(request)
        if api == "authorize":
            return self._authorize(request)
        if api == "legacy_token":
            return self._legacy_token(request, params["api_id"])
        if api == "unknown":
            return works_error(404, "NOT_FOUND", f"no API {request.method} {request.path}")
        token = self._bearer(request)
        legacy = api.startswith("legacy_")
        if token is None or token.expires_at <= time.time() or token.api != ("1.0" if legacy else "2.0"):
            if legacy:
                return legacy_error(401, "UNAUTHORIZED", "invalid or expired token")
            return works_error(401, "UNAUTHORIZED", "Authentication failed")
        with self._lock:
            tenant = self.tenants[token.domain_id]
        if not legacy and not token.scopes & NEEDED_SCOPES.get(api, MESSAGE_SCOPES):
            return works_error(403, "FORBIDDEN", "the access token lacks the required scope")
        limiter = self.free_limiter if tenant.plan == "free" else self.limiter
        wait = limiter.take(f"{tenant.domain_id}/{api}")
        if wait:
            limit, reset = str(int(limiter.limits["burst"])), str(int(wait) + 1)
            headers = {"rateLimit-limit": limit, "rateLimit-remaining": "0", "rateLimit-reset": reset}
            return works_error(429, "TOO_MANY_REQUESTS", "API rate limit exceeded", headers)
        if api.startswith("legacy_event_"):
            return self._legacy_event(api, request, tenant, params)
        if legacy:
            return self._legacy_push(request, tenant, params)
        if api.startswith("event_"):
            return self._event(api, request, tenant, token, params)
        if api.startswith("calendar_"):
            return self._calendar(api, request, tenant, token, params["user_id"])
        return getattr(self, f"_{api}")(request, tenant, params)
