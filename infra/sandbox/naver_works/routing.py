"""Which NAVER WORKS operation a request names (with its path parameters), and the scopes it needs."""

from __future__ import annotations

from urllib.parse import unquote

from infra.sandbox.base import Request

CALENDAR_SCOPES = frozenset({"calendar", "calendar.read"})
MESSAGE_SCOPES = frozenset({"bot", "bot.message"})  # what an operation not listed below needs (one of)
# operation -> the scopes of which a 2.0 token needs one (API 1.0 server tokens have no scopes)
NEEDED_SCOPES: dict[str, frozenset[str]] = {
    "bot_create": frozenset({"bot"}),
    "bot_domain": frozenset({"bot"}),
    "bot_get": frozenset({"bot", "bot.read"}),
    "calendar_personals": CALENDAR_SCOPES,
    "calendar_default": CALENDAR_SCOPES,
    "event_get": CALENDAR_SCOPES,
    "event_create": frozenset({"calendar"}),
    "event_update": frozenset({"calendar"}),
    "event_delete": frozenset({"calendar"}),
}


def route(request: Request) -> tuple[str, dict[str, str]]:
    """The operation name and its path parameters (decoded)."""
    parts = [unquote(p) for p in request.path.removeprefix("/works/").split("/")]
    m, n = request.method, len(parts)
    if parts == ["auth", "oauth2", "v2.0", "token"] and m == "POST":
        return "token", {}
    if parts == ["auth", "oauth2", "v2.0", "authorize"] and m == "GET":
        return "authorize", {}
    if n == 5 and parts[:3] == ["api", "v1.0", "users"] and m == "GET":
        if parts[4] == "calendar-personals":
            return "calendar_personals", {"user_id": parts[3]}
        if parts[4] == "calendar":
            return "calendar_default", {"user_id": parts[3]}
    if n == 5 and parts[:2] == ["auth", "b"] and parts[3:] == ["server", "token"] and m == "POST":
        return "legacy_token", {"api_id": parts[2]}
    event = event_route(parts, m)
    if event is not None:
        return event
    legacy = ["legacy", "r", parts[2] if n > 2 else "", "message", "v1", "bot"]
    if n == 9 and parts[:6] == legacy and parts[7:] == ["message", "push"] and m == "POST":
        return "legacy_push", {"api_id": parts[2], "bot_id": parts[6]}
    if parts[:3] != ["api", "v1.0", "bots"]:
        return "unknown", {}
    rest = parts[3:]
    if rest == [] and m == "POST":
        return "bot_create", {}
    if len(rest) == 1 and m == "GET":
        return "bot_get", {"bot_id": rest[0]}
    if len(rest) == 3 and rest[1] == "domains" and m == "POST":
        return "bot_domain", {"bot_id": rest[0], "domain_id": rest[2]}
    if len(rest) == 4 and rest[1] == "users" and rest[3] == "messages" and m == "POST":
        return "message", {"bot_id": rest[0], "user_id": rest[2]}
    return "unknown", {}


def event_route(parts: list[str], method: str) -> tuple[str, dict[str, str]] | None:
    """Calendar event operations (2.0 `api/v1.0/users/...`, 1.0 `legacy/r/.../calendar/v1/...`), else None."""
    n, verbs = len(parts), {"GET": "get", "PUT": "update", "DELETE": "delete"}
    if n >= 6 and parts[:3] == ["api", "v1.0", "users"]:
        if parts[4:6] == ["calendar", "events"]:
            calendar, rest = "", parts[6:]
        elif n >= 7 and parts[4] == "calendars" and parts[6] == "events":
            calendar, rest = parts[5], parts[7:]
        else:
            return None
        params = {"user_id": parts[3], "calendar_id": calendar}
        if not rest and method == "POST":
            return "event_create", params
        if len(rest) == 1 and method in verbs:
            return f"event_{verbs[method]}", {**params, "event_id": rest[0]}
        return None
    if n >= 9 and parts[:2] == ["legacy", "r"] and parts[3:5] == ["calendar", "v1"]:
        if parts[6] != "calendars" or parts[8] != "events":
            return None
        params = {"api_id": parts[2], "user_id": parts[5], "calendar_id": parts[7]}
        if n == 9 and method == "POST":
            return "legacy_event_create", params
        if n == 10 and method in ("PUT", "DELETE"):
            return f"legacy_event_{verbs[method]}", {**params, "event_id": parts[9]}
    return None
