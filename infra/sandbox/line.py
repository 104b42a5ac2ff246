"""Fake of the LINE Messaging API: push, multicast and bot info.

Contract: providers.md §3 (shared provider reference) and https://developers.line.biz/en/reference/messaging-api/
(#send-push-message, #send-multicast-message, #get-bot-info, #flex-message, #rate-limits),
https://developers.line.biz/en/docs/messaging-api/retrying-api-request/,
https://developers.line.biz/en/docs/messaging-api/text-character-count/.

Mounted under `/line`: the hub's LINE_API_BASE is `{sandbox}/line/api`. `/line/access/...` and
`/line/api/oauth2/...` are left for LINE Login, webhooks for later.

Control API (`/_sandbox/line/...`, JSON):

    POST channels  {"channel_access_token", "channel_secret"?, "bot"?: {"userId", "basicId", "displayName"},
                    "friends"?: [userId], "quota"?: N}     register (or replace) a Messaging API channel
    POST revoke    {"channel_access_token"}                  the token answers 401 from now on
    POST friends   {"channel_access_token", "add"?: [...], "remove"?: [...]}   follow / block
    POST quota     {"channel_access_token", "remaining": N | null}   messages left this month (null: no limit)
    POST advance   {"seconds": N}                            move the fake's clock (retry keys live 24 h)
    GET  deliveries                                          every accepted send, with who really got it

Limits: `POST /_sandbox/limits {"provider": "line", "endpoint"?: "push" | "multicast", ...}` (bot info shares
the push bucket: "other endpoints", 2,000 req/s). The request log's `response` of an accepted send also has
`_sandbox: {"request_id", "delivered_to", "not_delivered"}`; that key is not sent on the wire. A userId that is
not a friend of the channel is accepted (200) like the real API does, but nothing reaches it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from infra.sandbox.base import (
    ControlError,
    FakeProvider,
    RateLimiter,
    Request,
    Response,
    json_response,
    retry_after_seconds,
)

API_PREFIX = "/line/api"
ROUTES = {
    "/v2/bot/message/push": ("POST", "push"),
    "/v2/bot/message/multicast": ("POST", "multicast"),
    "/v2/bot/info": ("GET", "info"),
}
USER_ID = re.compile(r"U[0-9a-f]{32}")
CHAT_ID = re.compile(r"[UCR][0-9a-f]{32}")  # push also takes group (C…) and room (R…) IDs
UUID_HEX = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
RETRY_KEY_TTL = 24 * 3600
MULTICAST_MAX = 500
MESSAGES_MAX = 5
TEXT_MAX = 5000  # UTF-16 code units
# The reference now allows altText 1,500, flex button labels 40 and URIs 10,000; the fake keeps the older,
# stricter limits (400, 20, 1,000) so that what passes here passes LINE under either.
ALT_TEXT_MAX = 400
LABEL_MAX = 20
URI_MAX = 1000
BUBBLE_MAX, CAROUSEL_MAX, CAROUSEL_BUBBLES = 30 * 1024, 50 * 1024, 12
MESSAGE_TYPES = frozenset(
    {"text", "textV2", "sticker", "image", "video", "audio", "location", "imagemap", "template", "flex", "coupon"}
)
QUOTABLE = frozenset({"text", "textV2", "sticker", "image", "video"})
COMPONENTS = frozenset({"box", "button", "image", "video", "icon", "text", "span", "separator", "filler"})
ACTIONS = frozenset(
    {"uri", "postback", "message", "datetimepicker", "camera", "cameraRoll", "location", "richmenuswitch", "clipboard"}
)
URI_SCHEMES = ("http://", "https://", "line://", "tel:")

NO_AUTH = "Authorization header required. Must follow the scheme, 'Authorization: Bearer <ACCESS TOKEN>'"
INVALID_TOKEN = (
    "Authentication failed due to the following reason: invalid token. "
    "Confirm that the access token in the authorization header is valid."
)
RATE_LIMITED = "The API rate limit has been exceeded. Try again later."
MONTHLY_LIMIT = "You have reached your monthly limit."
KEY_ACCEPTED = "The retry key is already accepted"
STATUS_TEXT = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass
class Channel:
    token: str
    secret: str | None
    bot: dict[str, str]
    friends: set[str] = field(default_factory=set)
    quota: int | None = None  # messages left this month; None: unlimited
    revoked: bool = False
    retry_keys: dict[str, tuple[float, str, list[dict[str, str]]]] = field(default_factory=dict)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _json_size(value: Any) -> int:
    # Strictest reading of "30 KB of JSON": compact, non-ASCII escaped as requests sends it.
    return len(json.dumps(value, separators=(",", ":")).encode())


def _respond(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """Every LINE answer carries a fresh `x-line-request-id` unless one is given."""
    return json_response(status, payload, {"x-line-request-id": str(uuid.uuid4()), **(headers or {})})


def _error(status: int, message: str, details: list[dict[str, str]] | None = None, **headers: str) -> Response:
    payload: dict[str, Any] = {"message": message}
    if details:
        payload["details"] = details
    return _respond(status, payload, headers)


# --- request body checks: lists of (property, message) ------------------------------------------------------


def _action_errors(action: Any, path: str, label_required: bool) -> list[tuple[str, str]]:
    if not isinstance(action, dict) or action.get("type") not in ACTIONS:
        return [(f"{path}.type", "Invalid action type")]
    errors, label = [], action.get("label")
    # Labels count grapheme clusters; code points are close enough for a fake.
    if (label is None and label_required) or (
        label is not None and not (isinstance(label, str) and 1 <= len(label) <= LABEL_MAX)
    ):
        errors.append((f"{path}.label", f"Length must be between 1 and {LABEL_MAX}"))
    uri = action.get("uri")
    if action["type"] == "uri" and not (isinstance(uri, str) and uri.startswith(URI_SCHEMES) and len(uri) <= URI_MAX):
        errors.append((f"{path}.uri", f"Must be an http, https, line or tel URI of at most {URI_MAX} characters"))
    return errors


def _component_errors(component: Any, path: str) -> list[tuple[str, str]]:
    if not isinstance(component, dict) or component.get("type") not in COMPONENTS:
        return [(f"{path}.type", "Invalid component type")]
    kind, errors = component["type"], []
    if kind == "box":
        if component.get("layout") not in ("horizontal", "vertical", "baseline"):
            errors.append((f"{path}.layout", "Must be one of horizontal, vertical, baseline"))
        contents = component.get("contents")
        if not isinstance(contents, list):
            errors.append((f"{path}.contents", "Must not be null"))
        else:
            for i, child in enumerate(contents):
                errors += _component_errors(child, f"{path}.contents[{i}]")
    elif kind in ("text", "span") and not component.get("contents"):
        if not (isinstance(component.get("text"), str) and component["text"]):
            errors.append((f"{path}.text", "May not be empty"))
    elif kind in ("image", "icon"):
        url = component.get("url")
        if not (isinstance(url, str) and url.startswith("https://") and len(url) <= 2000):
            errors.append((f"{path}.url", "Must be an https URL of at most 2000 characters"))
    if kind == "button" or "action" in component:
        errors += _action_errors(component.get("action"), f"{path}.action", label_required=kind == "button")
    return errors


def _bubble_errors(bubble: Any, path: str) -> list[tuple[str, str]]:
    if not isinstance(bubble, dict) or bubble.get("type") != "bubble":
        return [(f"{path}.type", "Must be bubble")]
    errors = []
    for block in ("header", "hero", "body", "footer"):
        if block not in bubble:
            continue
        if block != "hero" and not (isinstance(bubble[block], dict) and bubble[block].get("type") == "box"):
            errors.append((f"{path}.{block}", "Must be a box"))
        else:
            errors += _component_errors(bubble[block], f"{path}.{block}")
    if "action" in bubble:
        errors += _action_errors(bubble["action"], f"{path}.action", label_required=False)
    if _json_size(bubble) > BUBBLE_MAX:
        errors.append((path, "The JSON of a bubble must be at most 30 KB"))
    return errors


def _message_errors(message: Any, path: str) -> list[tuple[str, str]]:
    if not isinstance(message, dict) or message.get("type") not in MESSAGE_TYPES:
        return [(f"{path}.type", "Invalid message type")]
    if message["type"] == "text":
        text = message.get("text")
        if not (isinstance(text, str) and text):
            return [(f"{path}.text", "May not be empty")]
        return [(f"{path}.text", f"Length must be between 0 and {TEXT_MAX}")] if utf16_len(text) > TEXT_MAX else []
    if message["type"] != "flex":
        return []  # other types are accepted as they are
    errors, alt = [], message.get("altText")
    if not (isinstance(alt, str) and 1 <= utf16_len(alt) <= ALT_TEXT_MAX):
        errors.append((f"{path}.altText", f"Length must be between 1 and {ALT_TEXT_MAX}"))
    contents = message.get("contents")
    if isinstance(contents, dict) and contents.get("type") == "carousel":
        bubbles = contents.get("contents")
        if not (isinstance(bubbles, list) and 1 <= len(bubbles) <= CAROUSEL_BUBBLES):
            return [*errors, (f"{path}.contents.contents", f"Size must be between 1 and {CAROUSEL_BUBBLES}")]
        for i, bubble in enumerate(bubbles):
            errors += _bubble_errors(bubble, f"{path}.contents.contents[{i}]")
        if _json_size(contents) > CAROUSEL_MAX:
            errors.append((f"{path}.contents", "The JSON of a carousel must be at most 50 KB"))
        return errors
    return errors + _bubble_errors(contents, f"{path}.contents")


def _body_errors(endpoint: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    to, messages, errors = body.get("to"), body.get("messages"), []
    if to is None:
        errors.append(("to", "Must not be null"))
    elif endpoint == "push" and not (isinstance(to, str) and CHAT_ID.fullmatch(to)):
        errors.append(("to", "Must be a user, group or room ID"))
    elif endpoint == "multicast":
        if not (isinstance(to, list) and 1 <= len(to) <= MULTICAST_MAX):
            errors.append(("to", f"Size must be between 1 and {MULTICAST_MAX}"))
        else:
            errors += [(f"to[{i}]", "Must be a user ID") for i, u in enumerate(to) if not USER_ID.fullmatch(str(u))]
    if not (isinstance(messages, list) and 1 <= len(messages) <= MESSAGES_MAX):
        errors.append(("messages", f"Size must be between 1 and {MESSAGES_MAX}"))
    else:
        for i, message in enumerate(messages):
            errors += _message_errors(message, f"messages[{i}]")
    if not isinstance(body.get("notificationDisabled", False), bool):
        errors.append(("notificationDisabled", "Must be a boolean"))
    return errors


class LineFake(FakeProvider):
    """LINE Messaging API fake; channels (token, bot, friends, quota) are registered via the control API."""

    name = "line"
    prefix = "/line"
    match_keys = frozenset({"token", "endpoint", "to"})
    fault_kinds = frozenset({"rate_limited", "server_error", "invalid_auth", "monthly_limit"})

    def __init__(self) -> None:
        # Per channel and endpoint: push and other endpoints 2,000 req/s, multicast 200 req/s.
        super().__init__(RateLimiter(burst=2000, per_second=2000))
        self.multicast_limiter = RateLimiter(burst=200, per_second=200)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._channels: dict[str, Channel] = {}
            self._deliveries: list[dict[str, Any]] = []
            self._clock_offset = 0.0
            self._message_ids = itertools.count(461230966842064897)
        self.limiter.reset()
        self.multicast_limiter.reset()

    def set_limits(self, limits: dict[str, Any]) -> dict[str, Any]:
        limits = dict(limits)
        endpoint = limits.pop("endpoint", None)
        limiters = {"push": self.limiter, "multicast": self.multicast_limiter}
        if endpoint is not None and endpoint not in limiters:
            raise ControlError("endpoint must be push or multicast (bot info shares push)")
        for name in [endpoint] if endpoint else list(limiters):
            limiters[name].configure(limits)
        return {name: dict(limiter.limits) for name, limiter in limiters.items()}

    def _now(self) -> float:
        return time.time() + self._clock_offset

    # --- control API -------------------------------------------------------------------------------------

    def control(self, action: str, method: str, data: dict[str, Any], base_url: str) -> dict[str, Any]:
        if method == "POST" and action == "channels":
            return self._add_channel(data)
        if method == "GET" and action == "deliveries":
            with self._lock:
                return {"deliveries": [dict(d) for d in self._deliveries]}
        if method == "POST" and action == "advance":
            seconds = data.get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise ControlError("seconds must be a non-negative number")
            with self._lock:
                self._clock_offset += seconds
                return {"clock_offset": self._clock_offset}
        if method == "POST" and action in ("revoke", "friends", "quota"):
            with self._lock:
                channel = self._channels.get(data.get("channel_access_token") or "")
                if channel is None:
                    raise ControlError("unknown channel_access_token", 404)
                if action == "revoke":
                    channel.revoked = True
                    return {"ok": True}
                if action == "friends":
                    channel.friends |= set(_chat_ids(data.get("add") or [], "add"))
                    channel.friends -= set(_chat_ids(data.get("remove") or [], "remove"))
                    return {"friends": sorted(channel.friends)}
                channel.quota = _quota(data.get("remaining"))
                return {"remaining": channel.quota}
        return super().control(action, method, data, base_url)

    def _add_channel(self, data: dict[str, Any]) -> dict[str, Any]:
        token = data.get("channel_access_token")
        if not isinstance(token, str) or not token.strip():
            raise ControlError("channel_access_token is required")
        secret, bot = data.get("channel_secret"), data.get("bot") or {}
        if secret is not None and not isinstance(secret, str):
            raise ControlError("channel_secret must be a string")
        digest = hashlib.sha256(token.encode()).hexdigest()
        bot = {"userId": "U" + digest[:32], "basicId": "@" + digest[32:40], "displayName": "Sandbox OA", **bot}
        if not USER_ID.fullmatch(str(bot["userId"])) or not all(isinstance(v, str) for v in bot.values()):
            raise ControlError("bot needs string userId (U + 32 hex), basicId and displayName")
        channel = Channel(token, secret, bot, set(_chat_ids(data.get("friends") or [], "friends")))
        channel.quota = _quota(data.get("quota"))
        with self._lock:
            self._channels[token] = channel
        return {"channel_access_token": token, "bot": bot, "friends": sorted(channel.friends), "quota": channel.quota}

    # --- API ---------------------------------------------------------------------------------------------

    def _route(self, request: Request) -> tuple[str, str] | None:
        """(method, endpoint) for a Messaging API path, else None."""
        if not request.path.startswith(API_PREFIX + "/"):
            return None
        return ROUTES.get(request.path.removeprefix(API_PREFIX))

    @staticmethod
    def _token(request: Request) -> str | None:
        auth = request.header("Authorization") or ""
        return auth[7:].strip() or None if auth.lower().startswith("bearer ") else None

    def fault_attrs(self, request: Request) -> dict[str, str]:
        route, token = self._route(request), self._token(request)
        attrs = {"endpoint": route[1]} if route else {}
        if token:
            attrs["token"] = token
        body = request.parsed_body()
        if route and route[1] == "push" and isinstance(body, dict) and isinstance(body.get("to"), str):
            attrs["to"] = body["to"]
        return attrs

    def handle(self, request: Request) -> Response:
        route = self._route(request)
        if route is None:
            return _error(404, "Not found")
        method, endpoint = route
        if request.method != method:
            return _error(405, "Method Not Allowed")
        token = self._token(request)
        if token is None:
            return _error(401, NO_AUTH)
        with self._lock:
            channel = self._channels.get(token)
        if channel is None or channel.revoked:
            return _error(401, INVALID_TOKEN)
        key = request.header("X-Line-Retry-Key")
        if endpoint == "info":
            if key is not None:  # only push, multicast, narrowcast and broadcast take a retry key
                return _error(400, "The X-Line-Retry-Key header is not supported by this endpoint")
            if self.limiter.take(f"{token}/info"):
                return _error(429, RATE_LIMITED)
            return _respond(200, {**channel.bot, "chatMode": "bot", "markAsReadMode": "auto"})
        if key is not None and not UUID_HEX.fullmatch(key):
            return _error(400, "The value of the X-Line-Retry-Key header must be a UUID")
        if request.media_type != "application/json":
            return _error(415, f"The content type, {request.media_type or '(none)'}, is not supported")
        try:
            body = json.loads(request.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            where = f"line: {getattr(exc, 'lineno', 1)}, column: {getattr(exc, 'colno', 1)}"
            return _error(400, f"The request body could not be parsed as JSON ({where})")
        if not isinstance(body, dict):
            return _error(400, "The request body could not be parsed as JSON (line: 1, column: 1)")
        errors = _body_errors(endpoint, body)
        if errors:
            details = [{"message": message, "property": prop} for prop, message in errors]
            return _error(400, f"The request body has {len(errors)} error(s)", details)
        limiter = self.multicast_limiter if endpoint == "multicast" else self.limiter
        if limiter.take(f"{token}/{endpoint}"):  # retries count too, so before the retry-key check
            return _error(429, RATE_LIMITED)
        return self._accept(channel, endpoint, body, key)

    def _accept(self, channel: Channel, endpoint: str, body: dict[str, Any], key: str | None) -> Response:
        now, request_id = self._now(), str(uuid.uuid4())
        with self._lock:
            channel.retry_keys = {k: v for k, v in channel.retry_keys.items() if now - v[0] < RETRY_KEY_TTL}
            if key is not None and key.lower() in channel.retry_keys:
                _, accepted_id, sent = channel.retry_keys[key.lower()]
                payload: dict[str, Any] = {"message": KEY_ACCEPTED}
                if endpoint == "push":
                    payload["sentMessages"] = sent
                return _respond(
                    409, payload, {"x-line-request-id": request_id, "x-line-accepted-request-id": accepted_id}
                )
            to = [body["to"]] if endpoint == "push" else list(dict.fromkeys(body["to"]))
            delivered = [chat for chat in to if chat in channel.friends]
            if channel.quota is not None and (channel.quota == 0 or len(delivered) > channel.quota):
                return _error(429, MONTHLY_LIMIT)
            if channel.quota is not None:
                channel.quota -= len(delivered)
            sent = [self._sent_message(message) for message in body["messages"]]
            if key is not None:
                channel.retry_keys[key.lower()] = (now, request_id, sent)
            not_delivered = [chat for chat in to if chat not in channel.friends]
            self._deliveries.append(
                {
                    "request_id": request_id,
                    "endpoint": endpoint,
                    "bot": channel.bot["userId"],
                    "retry_key": key,
                    "to": to,
                    "delivered_to": delivered,
                    "not_delivered": not_delivered,
                    "messages": body["messages"],
                    "sent_messages": sent,
                    "at": now,
                }
            )
        response = _respond(
            200, {"sentMessages": sent} if endpoint == "push" else {}, {"x-line-request-id": request_id}
        )
        sandbox = {"request_id": request_id, "delivered_to": delivered, "not_delivered": not_delivered}
        response.payload = {**response.payload, "_sandbox": sandbox}  # for the request log only
        return response

    def _sent_message(self, message: dict[str, Any]) -> dict[str, str]:
        sent = {"id": str(next(self._message_ids))}
        if message["type"] in QUOTABLE:
            sent["quoteToken"] = uuid.uuid4().hex[:22]
        return sent

    # --- faults ------------------------------------------------------------------------------------------

    def fault_response(self, kind: str, options: dict[str, Any]) -> Response:
        if kind == "rate_limited":
            retry_after = options.get("retry_after")
            headers = {"Retry-After": retry_after_seconds(retry_after)} if retry_after is not None else {}
            return _error(429, RATE_LIMITED, **headers)
        if kind == "server_error":
            status = options.get("status", 500)
            return _error(status, STATUS_TEXT.get(status, "Internal Server Error"))
        if kind == "monthly_limit":
            return _error(429, MONTHLY_LIMIT)
        return _error(401, INVALID_TOKEN)  # invalid_auth


def _chat_ids(values: Any, name: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) and CHAT_ID.fullmatch(v) for v in values):
        raise ControlError(f"{name} must be a list of userIds (U + 32 hex; C/R for groups and rooms)")
    return values


def _quota(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ControlError("the quota must be a non-negative integer or null")
    return value
