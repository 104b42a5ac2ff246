"""What the NAVER WORKS fake remembers (tenants, tokens, grants, messages, events) and the helpers every part uses."""

from __future__ import annotations

import itertools
import json
import secrets
import time
from typing import Any

from infra.sandbox.base import ControlError, FakeProvider, RateLimiter, Request, Response, json_response
from infra.sandbox.naver_works.tenants import PLANS, Grant, Tenant, Token

REFRESH_TTL = 90 * 86400  # refresh token: 90 days


def works_error(status: int, code: str, description: str, headers: dict[str, str] | None = None) -> Response:
    """An API 2.0 error answer."""
    return json_response(status, {"code": code, "description": description}, headers)


def legacy_error(status: int, code: str, message: str) -> Response:
    """An API 1.0 bot push error answer."""
    return json_response(status, {"code": code, "message": message, "domain": "message"})


def oauth_error(status: int, error: str, description: str) -> Response:
    """A token or authorize endpoint error answer (OAuth 2.0 shape)."""
    return json_response(status, {"error": error, "error_description": description})


def short_text(value: Any, limit: int) -> bool:
    """A non-empty string of at most `limit` characters."""
    return isinstance(value, str) and 0 < len(value) <= limit


class NaverWorksState(FakeProvider):
    """The fake's state and the steps its API parts share; `fake.NaverWorksFake` adds the routes."""

    def __init__(self) -> None:
        super().__init__(RateLimiter(burst=PLANS["standard"], per_second=PLANS["standard"] / 60))
        self.free_limiter = RateLimiter(burst=PLANS["free"], per_second=PLANS["free"] / 60)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.tenants: dict[str, Tenant] = {}
            self.tokens: dict[str, Token] = {}
            self.messages: list[dict[str, Any]] = []
            self._bot_ids = itertools.count(3_000_001)
            self.codes: dict[str, Grant] = {}
            self.refresh_tokens: dict[str, Grant] = {}
            # (domain_id, user_id, calendar key) -> eventId -> stored event
            self.calendar_events: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
        self.limiter.reset()
        self.free_limiter.reset()

    def set_limits(self, limits: dict[str, Any]) -> dict[str, Any]:
        self.free_limiter.configure(limits)
        return self.limiter.configure(limits)

    def _tenant_for_control(self, data: dict[str, Any]) -> Tenant:
        domain_id = str(data.get("domain_id") or "")
        with self._lock:
            tenant = self.tenants.get(domain_id)
        if tenant is None:
            raise ControlError(f"unknown domain_id {domain_id!r}: register the tenant first (POST tenants)")
        return tenant

    def _bearer(self, request: Request) -> Token | None:
        auth = request.header("Authorization") or ""
        value = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        with self._lock:
            return self.tokens.get(value)

    @staticmethod
    def _json(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.body.decode("utf-8")) if request.body else None
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def _issue(
        self,
        tenant: Tenant,
        api: str,
        scopes: frozenset[str],
        user_id: str | None = None,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        value = "kr1A" + secrets.token_urlsafe(24)
        token = Token(tenant.domain_id, api, scopes, time.time() + tenant.token_ttl, user_id, client_id)
        with self._lock:
            self.tokens[value] = token
        return {"access_token": value, "token_type": "Bearer", "expires_in": str(tenant.token_ttl)}

    def _grant_refresh(self, grant: Grant) -> str:
        value = "kr1R" + secrets.token_urlsafe(24)
        grant.expires_at = time.time() + REFRESH_TTL
        with self._lock:
            self.refresh_tokens[value] = grant
        return value

    def _deliver(self, api: str, tenant: Tenant, bot_id: str, user_id: str, content: Any) -> None:
        entry = {"api": api, "domain_id": tenant.domain_id, "bot_id": bot_id, "user_id": user_id, "content": content}
        with self._lock:
            self.messages.append(entry)

    def _bot(self, tenant: Tenant, bot_id: str, require_domain: bool = True) -> dict[str, Any] | None:
        bot = tenant.bots.get(bot_id)
        return bot if bot is not None and (bot["in_domain"] or not require_domain) else None
