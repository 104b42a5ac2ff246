"""NAVER WORKS bots (API 2.0): messages to a user, and bot create, domain registration and get."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from infra.sandbox.base import Request, Response, json_response
from infra.sandbox.naver_works.state import NaverWorksState, short_text, works_error
from infra.sandbox.naver_works.tenants import Tenant

LINK_MAX, TEXT_MAX = 1000, 2000


def _photo_url(value: str) -> bool:
    """bot-create's photoUrl is HTTPS; the local stack's hub has no TLS, so the sandbox also takes its loopback
    http:// URL (a sandbox allowance, not NAVER WORKS's rule)."""
    host = urlsplit(value).hostname or ""
    return value.startswith("https://") or (value.startswith("http://") and host in ("127.0.0.1", "localhost"))


def content_error(content: Any) -> str | None:
    """Why a message `content` is invalid (text and link only), or None."""
    if not isinstance(content, dict):
        return "content is required"
    kind = content.get("type")
    if kind == "text":
        return None if short_text(content.get("text"), TEXT_MAX) else f"text must be 1-{TEXT_MAX} characters"
    if kind == "link":
        for name in ("contentText", "linkText", "link"):
            if not short_text(content.get(name), LINK_MAX):
                return f"{name} must be 1-{LINK_MAX} characters"
        return None if content["link"].startswith(("http://", "https://")) else "link must be an http(s) URL"
    return f"unsupported content type {kind!r}"


class BotsApi(NaverWorksState):
    """`api/v1.0/bots/...`: messages, bot-create, bot-domain-register and bot-get."""

    def _message(self, request: Request, tenant: Tenant, params: dict[str, str]) -> Response:
        if self._bot(tenant, params["bot_id"]) is None:
            return works_error(404, "NOT_FOUND", "bot not found")
        if params["user_id"] not in tenant.users:
            return works_error(404, "NOT_FOUND", "user not found")
        content = self._json(request).get("content")
        problem = content_error(content)
        if problem:
            return works_error(400, "INVALID_PARAMETER", problem)
        self._deliver("2.0", tenant, params["bot_id"], params["user_id"], content)
        return Response(201)

    def _bot_create(self, request: Request, tenant: Tenant, params: dict[str, str]) -> Response:
        body = self._json(request)
        admins, allow = body.get("administrators"), body.get("allowDomains") or []
        problems = [
            not short_text(body.get("botName"), 100) and "botName must be 1-100 characters",
            not short_text(body.get("description"), 100) and "description must be 1-100 characters",
            not (short_text(body.get("photoUrl"), 1000) and _photo_url(body["photoUrl"]))
            and "photoUrl must be an HTTPS URL",
            not (isinstance(admins, list) and 1 <= len(admins) <= 3 and all(a in tenant.users for a in admins))
            and "administrators must be 1-3 users of the tenant",
            not (isinstance(allow, list) and all(isinstance(d, int) for d in allow)) and "allowDomains: integers",
        ]
        problem = next((p for p in problems if p), None)
        if problem:
            return works_error(400, "INVALID_PARAMETER", problem)
        bot_id = next(self._bot_ids)
        bot = {"name": body["botName"], "in_domain": False, "allow_domains": [str(d) for d in allow]}
        bot.update(description=body["description"], photo_url=body["photoUrl"], administrators=admins)
        with self._lock:
            tenant.bots[str(bot_id)] = bot
        return json_response(201, {"botId": bot_id, **self._bot_view(str(bot_id), bot)})

    def _bot_domain(self, request: Request, tenant: Tenant, params: dict[str, str]) -> Response:
        bot = self._bot(tenant, params["bot_id"], require_domain=False)
        if bot is None:
            return works_error(404, "NOT_FOUND", "bot not found")
        allowed = bot.get("allow_domains") or [tenant.domain_id]
        if params["domain_id"] != tenant.domain_id or params["domain_id"] not in allowed:
            return works_error(400, "INVALID_PARAMETER", "the domain is not in the bot's allowDomains")
        body = self._json(request)
        with self._lock:
            bot["in_domain"] = True
        visible, selected = bool(body.get("visible", False)), bool(body.get("allowToSelectedMember", False))
        return json_response(
            201, {"domainId": int(tenant.domain_id), "visible": visible, "allowToSelectedMember": selected}
        )

    def _bot_get(self, request: Request, tenant: Tenant, params: dict[str, str]) -> Response:
        bot = self._bot(tenant, params["bot_id"], require_domain=False)
        if bot is None:
            return works_error(404, "NOT_FOUND", "bot not found")
        bot_id = params["bot_id"]
        return json_response(200, {"botId": int(bot_id) if bot_id.isdigit() else bot_id, **self._bot_view(bot_id, bot)})

    @staticmethod
    def _bot_view(bot_id: str, bot: dict[str, Any]) -> dict[str, Any]:
        return {
            "botName": bot["name"],
            "photoUrl": bot.get("photo_url", "https://static.worksmobile.net/bot.png"),
            "description": bot.get("description", bot["name"]),
            "administrators": bot.get("administrators", []),
            "allowDomains": [int(d) for d in bot.get("allow_domains", []) if d.isdigit()],
        }
