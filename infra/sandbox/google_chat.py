"""Fake of Google Chat incoming webhooks (`spaces.messages.create` with `key` + `token` query params).

Contract: providers.md §2 (shared provider reference) and
https://developers.google.com/workspace/chat/quickstart/webhooks,
https://developers.google.com/workspace/chat/api/reference/rest/v1/spaces.messages/create,
https://developers.google.com/workspace/chat/limits.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from infra.sandbox.base import (
    ControlError,
    FakeProvider,
    RateLimiter,
    Request,
    Response,
    json_response,
    retry_after_seconds,
)

MESSAGES_PATH = re.compile(r"^/google_chat/v1/spaces/([^/]+)/messages$")
MAX_MESSAGE_BYTES = 32_000
MAX_CARD_BYTES = 32 * 1024
MAX_THREAD_KEY = 4_000
WIDGETS = frozenset({"textParagraph", "decoratedText", "buttonList", "divider", "image"})
# Fields of the Message resource (chat.v1 discovery); anything else is rejected like the real API does.
# fmt: off
MESSAGE_FIELDS = frozenset([
    "name", "sender", "createTime", "lastUpdateTime", "deleteTime", "text", "formattedText", "cards", "cardsV2",
    "annotations", "thread", "space", "fallbackText", "actionResponse", "argumentText", "slashCommand",
    "attachment", "matchedUrl", "threadReply", "clientAssignedMessageId", "emojiReactionSummaries",
    "privateMessageViewer", "deletionMetadata", "quotedMessageMetadata", "attachedGifs", "accessoryWidgets",
])
# fmt: on
REPLY_OPTIONS = frozenset(
    ["MESSAGE_REPLY_OPTION_UNSPECIFIED", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD", "REPLY_MESSAGE_OR_FAIL"]
)
CONTENT_TYPE = "application/json; charset=UTF-8"
# spaces.messages.create `messageId`: "client-" then lowercase letters, digits and hyphens, at most 63 in all,
# unique in the space (a second create with it is refused). Documented for the API; whether key+token webhooks
# honour it is not confirmed by any source (providers.md §2.1): the fake assumes they do.
MESSAGE_ID = re.compile(r"client-[a-z0-9-]{1,56}")

TOKEN_INVALID = (
    "The API is called without a valid token. Instructions on how to use incoming webhooks can be found at "
    "https://developers.google.com/chat/how-tos/webhooks"
)
STATUS_NAMES = {500: "INTERNAL", 501: "NOT_IMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def google_error(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    """The standard Google API error envelope."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return json_response(code, {"error": error}, content_type=CONTENT_TYPE)


def _invalid(message: str) -> Response:
    return google_error(400, "INVALID_ARGUMENT", message)


def _key_invalid() -> Response:
    return google_error(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "chat.googleapis.com"},
            }
        ],
    )


def _not_found() -> Response:
    return google_error(404, "NOT_FOUND", "Requested entity was not found.")


def _is_http_url(url: Any) -> bool:
    return isinstance(url, str) and re.match(r"^https?://[^\s/]+", url) is not None


def _widget_error(widget: Any, where: str) -> str | None:
    keys = set(widget) - {"horizontalAlignment"} if isinstance(widget, dict) else set()
    if len(keys) != 1 or not keys <= WIDGETS:
        return f"{where} must set exactly one of {sorted(WIDGETS)}"
    (kind,) = keys
    body = widget[kind]
    if kind in ("textParagraph", "decoratedText") and not (
        isinstance(body, dict) and isinstance(body.get("text"), str)
    ):
        return f"{where}.{kind}.text is required"
    if kind == "image" and not (isinstance(body, dict) and _is_http_url(body.get("imageUrl"))):
        return f"{where}.image.imageUrl must be an http(s) URL"
    if kind == "buttonList":
        buttons = body.get("buttons") if isinstance(body, dict) else None
        if not isinstance(buttons, list):
            return f"{where}.buttonList.buttons must be a list"
        for i, button in enumerate(buttons):
            ok = isinstance(button, dict) and isinstance(button.get("text"), str) and button["text"]
            url = ((button.get("onClick") or {}).get("openLink") or {}).get("url") if ok else None
            if not ok or not _is_http_url(url):
                return f"{where}.buttonList.buttons[{i}] needs text and onClick.openLink.url (http/https)"
    return None


def _cards_error(cards: Any) -> str | None:
    """Why `cardsV2` is invalid, or None."""
    if not isinstance(cards, list):
        return "cardsV2 must be a list"
    for i, entry in enumerate(cards):
        where = f"cards_v2[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("card"), dict):
            return f"{where}.card is required"
        if len(cards) > 1 and not (isinstance(entry.get("cardId"), str) and entry["cardId"]):
            return f"{where}.card_id is required when sending more than one card"
        card = entry["card"]
        if len(json.dumps(card, ensure_ascii=False).encode()) > MAX_CARD_BYTES:
            return f"{where}.card exceeds the maximum card size of 32 KB"
        sections = card.get("sections", [])
        if not isinstance(sections, list):
            return f"{where}.card.sections must be a list"
        for j, section in enumerate(sections):
            widgets = section.get("widgets", []) if isinstance(section, dict) else None
            if not isinstance(widgets, list):
                return f"{where}.card.sections[{j}].widgets must be a list"
            for k, widget in enumerate(widgets):
                error = _widget_error(widget, f"{where}.card.sections[{j}].widgets[{k}]")
                if error:
                    return error
    return None


class GoogleChatFake(FakeProvider):
    """Google Chat webhook fake; spaces (with webhook key and token) are registered via the control API."""

    name = "google_chat"
    prefix = "/google_chat"
    match_keys = frozenset({"space", "key", "token"})

    def __init__(self) -> None:
        # Per-space write quota: 60 per 60 s.
        super().__init__(RateLimiter(burst=60, per_second=1.0))
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._spaces: dict[str, dict[str, Any]] = {}  # space -> {"key": str, "tokens": set[str]}
            self._threads: dict[tuple[str, str], str] = {}  # (space, threadKey) -> thread id
            self._message_ids: set[tuple[str, str]] = set()  # (space, client-assigned messageId)
        self.limiter.reset()

    def control(self, action: str, method: str, data: dict[str, Any], base_url: str) -> dict[str, Any]:
        if method != "POST" or action != "spaces":
            return super().control(action, method, data, base_url)
        space, key, token = (data.get(f) for f in ("space", "key", "token"))
        if not all(isinstance(v, str) and v for v in (space, key, token)):
            raise ControlError("space, key and token are required strings")
        space = space.removeprefix("spaces/")
        with self._lock:
            entry = self._spaces.setdefault(space, {"key": key, "tokens": set()})
            entry["key"] = key  # the key is per project, so the latest one wins
            entry["tokens"].add(token)  # a space may have several webhooks
        query = urlencode({"key": key, "token": token})
        return {"webhook_url": f"{base_url}/google_chat/v1/spaces/{space}/messages?{query}"}

    def fault_attrs(self, request: Request) -> dict[str, str]:
        match = MESSAGES_PATH.match(request.path)
        attrs = {k: request.query[k] for k in ("key", "token") if k in request.query}
        return {**attrs, "space": match.group(1)} if match else attrs

    def fault_response(self, kind: str, options: dict[str, Any]) -> Response:
        if kind == "rate_limited":
            response = google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
            if options["retry_after"] is not None:
                response.headers["Retry-After"] = retry_after_seconds(options["retry_after"])
            return response
        if kind == "server_error":
            status = options["status"]
            return google_error(status, STATUS_NAMES.get(status, "UNKNOWN"), "The service is currently unavailable.")
        if kind == "invalid_auth":
            return google_error(403, "PERMISSION_DENIED", TOKEN_INVALID)
        return _not_found()  # channel_not_found

    def handle(self, request: Request) -> Response:
        match = MESSAGES_PATH.match(request.path)
        if not match or request.method != "POST":
            return google_error(404, "NOT_FOUND", f"Method not found: {request.method} {request.path}")
        space = match.group(1)
        with self._lock:
            entry = self._spaces.get(space)
            key, tokens = (entry["key"], set(entry["tokens"])) if entry else (None, set())
        if entry is None:
            return _not_found()
        if request.query.get("key") != key:
            return _key_invalid()
        if request.query.get("token") not in tokens:
            return google_error(403, "PERMISSION_DENIED", TOKEN_INVALID)
        if request.media_type != "application/json":
            return _invalid(f"Invalid Content-Type {request.media_type or '(none)'}; expected application/json.")
        if len(request.body) > MAX_MESSAGE_BYTES:
            return _invalid(f"Message exceeds the maximum size of {MAX_MESSAGE_BYTES} bytes.")
        try:
            message = json.loads(request.body.decode("utf-8"))
        except ValueError as exc:
            return _invalid(f"Invalid JSON payload received. {exc}")
        if not isinstance(message, dict):
            return _invalid("Invalid JSON payload received. Root element must be a message.")
        error = self._message_error(message, request.query)
        if error:
            return _invalid(error)
        if self.limiter.take(space):
            return google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
        return self._create(space, message, request)

    @staticmethod
    def _message_error(message: dict[str, Any], query: dict[str, str]) -> str | None:
        unknown = sorted(set(message) - MESSAGE_FIELDS)
        if unknown:
            return f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.'
        text, cards = message.get("text"), message.get("cardsV2")
        if text is not None and not isinstance(text, str):
            return "Invalid value at 'message.text', expected a string."
        if not text and not cards:
            return "Message cannot be empty. Discarded message must contain text or cards."
        if cards is not None:
            error = _cards_error(cards)
            if error:
                return f"Invalid JSON payload received. {error}"
        thread = message.get("thread", {})
        if not isinstance(thread, dict):
            return "Invalid value at 'message.thread', expected an object."
        thread_key = thread.get("threadKey", query.get("threadKey"))
        if thread_key is not None and not (isinstance(thread_key, str) and len(thread_key) <= MAX_THREAD_KEY):
            return f"thread.threadKey must be a string of at most {MAX_THREAD_KEY} characters."
        option = query.get("messageReplyOption")
        if option is not None and option not in REPLY_OPTIONS:
            return f"Invalid value at 'message_reply_option', \"{option}\""
        message_id = query.get("messageId")
        if message_id is not None and not MESSAGE_ID.fullmatch(message_id):
            return (
                "Invalid message ID. Message IDs must begin with 'client-' and contain at most 63 lowercase "
                "letters, numbers and hyphens."
            )
        return None

    def _create(self, space: str, message: dict[str, Any], request: Request) -> Response:
        thread_in = message.get("thread") or {}
        thread_key = thread_in.get("threadKey", request.query.get("threadKey"))
        replying = request.query.get("messageReplyOption", "MESSAGE_REPLY_OPTION_UNSPECIFIED") != (
            "MESSAGE_REPLY_OPTION_UNSPECIFIED"
        )
        thread: dict[str, Any]
        message_id = request.query.get("messageId")
        with self._lock:
            if message_id is not None:
                if (space, message_id) in self._message_ids:
                    return google_error(409, "ALREADY_EXISTS", f"Message spaces/{space}/messages/{message_id} exists.")
                self._message_ids.add((space, message_id))
            if replying and thread_key:
                thread_id = self._threads.setdefault((space, thread_key), _new_id())
                thread = {"name": f"spaces/{space}/threads/{thread_id}", "threadKey": thread_key}
            elif replying and isinstance(thread_in.get("name"), str):
                thread = {"name": thread_in["name"]}
            else:  # the default option always starts a new thread and ignores threadKey
                thread = {"name": f"spaces/{space}/threads/{_new_id()}"}
        sender_id = int(hashlib.sha256(request.query["token"].encode()).hexdigest(), 16) % 10**21
        result: dict[str, Any] = {
            "name": f"spaces/{space}/messages/" + (message_id or f"{_new_id()}.{thread['name'].rsplit('/', 1)[1]}"),
            "sender": {"name": f"users/{sender_id}", "type": "BOT"},
            "text": message.get("text", ""),
            "thread": thread,
            "space": {"name": f"spaces/{space}"},
            "createTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        for field in ("cardsV2", "fallbackText"):
            if field in message:
                result[field] = message[field]
        return json_response(200, result, content_type=CONTENT_TYPE)


def _new_id() -> str:
    return uuid.uuid4().hex[:11]
