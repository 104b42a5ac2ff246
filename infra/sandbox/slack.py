"""Fake of the Slack Web API: `chat.postMessage` and `auth.test`.

Contract: providers.md §1 (shared provider reference) and https://api.slack.com/methods/chat.postMessage,
https://api.slack.com/methods/auth.test, https://api.slack.com/docs/rate-limits,
https://api.slack.com/reference/block-kit/blocks.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from infra.sandbox.base import (
    ControlError,
    FakeProvider,
    RateLimiter,
    Request,
    Response,
    json_response,
    retry_after_seconds,
)

API_PREFIX = "/slack/api/"
MAX_TEXT = 40_000
MAX_BLOCKS = 50
MAX_ACTIONS = 25
# The `markdown` block: its text, and all markdown blocks of a message together, at most 12,000 characters
# (https://docs.slack.dev/reference/block-kit/blocks/markdown-block).
MAX_MARKDOWN = 12_000


def _derived_id(prefix: str, seed: str) -> str:
    """A stable Slack-style ID (e.g. a DM id for a member) derived from `seed`."""
    return prefix + hashlib.sha256(seed.encode()).hexdigest()[:10].upper()


@dataclass
class Workspace:
    token: str
    team_id: str
    team: str
    members: set[str] = field(default_factory=set)
    channels: set[str] = field(default_factory=set)
    member_emails: dict[str, str] = field(default_factory=dict)  # e-mail → member ID (users.lookupByEmail)
    revoked: bool = False

    @property
    def bot_id(self) -> str:
        return _derived_id("B", self.token)

    @property
    def user_id(self) -> str:
        return _derived_id("U", self.token)


def _text_object(obj: Any, max_len: int, plain_only: bool = False) -> bool:
    if not isinstance(obj, dict) or obj.get("type") not in (
        ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    ):
        return False
    text = obj.get("text")
    return isinstance(text, str) and 0 < len(text) <= max_len


def _valid_button(el: Any) -> bool:
    if not isinstance(el, dict) or el.get("type") != "button" or not _text_object(el.get("text"), 75, True):
        return False
    url = el.get("url")
    return url is None or (isinstance(url, str) and len(url) <= 3000)


def _valid_block(block: Any) -> bool:
    if not isinstance(block, dict):
        return False
    kind = block.get("type")
    if kind == "header":
        return _text_object(block.get("text"), 150, plain_only=True)
    if kind == "section":
        fields = block.get("fields")
        if fields is not None and not (
            isinstance(fields, list) and 0 < len(fields) <= 10 and all(_text_object(f, 2000) for f in fields)
        ):
            return False
        return _text_object(block.get("text"), 3000) if "text" in block else fields is not None
    if kind == "divider":
        return True
    if kind == "markdown":
        text = block.get("text")
        return isinstance(text, str) and 0 < len(text) <= MAX_MARKDOWN
    elements = block.get("elements")
    if kind == "context":
        return (
            isinstance(elements, list)
            and 0 < len(elements) <= 10
            and all(_text_object(e, 3000) or (isinstance(e, dict) and e.get("type") == "image") for e in elements)
        )
    if kind == "actions":
        return isinstance(elements, list) and 0 < len(elements) <= MAX_ACTIONS and all(map(_valid_button, elements))
    return False


def _slug(team: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", team.lower()).strip("-") or "workspace"


class SlackFake(FakeProvider):
    """Slack Web API fake; workspaces (token, members, channels) are registered via the control API."""

    name = "slack"
    prefix = "/slack"
    match_keys = frozenset({"token", "channel", "method"})

    def __init__(self) -> None:
        # chat.postMessage: about 1 message per second per channel, with short bursts tolerated.
        super().__init__(RateLimiter(burst=20, per_second=1.0))
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._workspaces: dict[str, Workspace] = {}
            self._last_ts = 0
        self.limiter.reset()

    # --- control API -------------------------------------------------------------------------------

    def control(self, action: str, method: str, data: dict[str, Any], base_url: str) -> dict[str, Any]:
        if method == "POST" and action == "workspaces":
            return self._add_workspace(data)
        if method == "POST" and action == "revoke":
            with self._lock:
                ws = self._workspaces.get(data.get("token") or "")
                if ws is None:
                    raise ControlError("unknown token", 404)
                ws.revoked = True
            return {"ok": True}
        return super().control(action, method, data, base_url)

    def _add_workspace(self, data: dict[str, Any]) -> dict[str, Any]:
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise ControlError("token is required")
        members, channels = data.get("members") or [], data.get("channels") or []
        if not all(isinstance(m, str) and m[:1] in ("U", "W") for m in members):
            raise ControlError("members must be member IDs starting with U or W")
        if not all(isinstance(c, str) and c[:1] in ("C", "G") for c in channels):
            raise ControlError("channels must be channel IDs starting with C or G")
        ws = Workspace(
            token=token,
            team_id=str(data.get("team_id") or _derived_id("T", token)),
            team=str(data.get("team") or "Sandbox"),
            members=set(members) | set((data.get("member_emails") or {}).values()),
            channels=set(channels),
            member_emails={str(k).lower(): str(v) for k, v in (data.get("member_emails") or {}).items()},
        )
        with self._lock:
            self._workspaces[token] = ws
        return {name: getattr(ws, name) for name in ("token", "team_id", "team", "bot_id", "user_id")}

    # --- request parsing -----------------------------------------------------------------------------

    def _parse_args(self, request: Request) -> tuple[dict[str, Any], str | None]:
        """Arguments from the body (JSON or form) plus an error code if the body is unacceptable."""
        if not request.body and request.method == "GET":
            return {}, None
        if request.media_type == "application/json":
            try:
                args = json.loads(request.body.decode("utf-8"))
            except ValueError:
                return {}, "invalid_json"
            return (args, None) if isinstance(args, dict) else ({}, "json_not_object")
        if request.media_type == "application/x-www-form-urlencoded" or not request.body:
            return dict(parse_qsl(request.body.decode("utf-8", errors="replace"), keep_blank_values=True)), None
        return {}, "invalid_post_type"

    @staticmethod
    def _token(request: Request, args: dict[str, Any]) -> str | None:
        auth = request.header("Authorization") or ""
        if auth.lower().startswith("bearer ") and auth[7:].strip():
            return auth[7:].strip()
        # Tokens in a JSON body are not accepted by Slack; only the form field works.
        token = args.get("token") if request.media_type == "application/x-www-form-urlencoded" else None
        return token or None

    def fault_attrs(self, request: Request) -> dict[str, str]:
        args, _ = self._parse_args(request)
        attrs = {"method": request.path.removeprefix(API_PREFIX)}
        token = self._token(request, args)
        if token:
            attrs["token"] = token
        if isinstance(args.get("channel"), str):
            attrs["channel"] = args["channel"]
        return attrs

    # --- API -----------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        method = request.path.removeprefix(API_PREFIX) if request.path.startswith(API_PREFIX) else None
        if method not in ("chat.postMessage", "auth.test", "users.lookupByEmail"):
            return json_response(404, {"ok": False, "error": "unknown_method"})
        if method == "chat.postMessage" and request.method != "POST":
            return json_response(405, {"ok": False, "error": "method_not_allowed"})
        args, error = self._parse_args(request)
        if error:
            return _error(error)
        token = self._token(request, args)
        with self._lock:
            ws = self._workspaces.get(token) if token else None
        if token is None:
            return _error("not_authed")
        if ws is None:
            return _error("invalid_auth")
        if ws.revoked:
            return _error("token_revoked")
        if method == "auth.test":
            return json_response(
                200,
                {
                    "ok": True,
                    "url": f"https://{_slug(ws.team)}.slack.com/",
                    "team": ws.team,
                    "user": "workplace-bot",
                    "team_id": ws.team_id,
                    "user_id": ws.user_id,
                    "bot_id": ws.bot_id,
                },
            )
        if method == "users.lookupByEmail":
            email = str(args.get("email") or dict(request.query).get("email") or "").lower()
            if not email:
                return _error("invalid_arguments")
            member = ws.member_emails.get(email)
            if member is None:
                return _error("users_not_found")
            return json_response(
                200, {"ok": True, "user": {"id": member, "team_id": ws.team_id, "profile": {"email": email}}}
            )
        return self._post_message(ws, args)

    def _post_message(self, ws: Workspace, args: dict[str, Any]) -> Response:
        channel = args.get("channel")
        if not isinstance(channel, str) or channel not in ws.members | ws.channels:
            return _error("channel_not_found")
        text, blocks = args.get("text"), args.get("blocks")
        text = "" if text is None else str(text)
        if isinstance(blocks, str):  # form-encoded bodies carry blocks as a JSON string
            try:
                blocks = json.loads(blocks) if blocks else None
            except ValueError:
                return _error("invalid_blocks_format")
        attachments = args.get("attachments")
        if isinstance(attachments, str):  # form-encoded: a JSON string too
            try:
                attachments = json.loads(attachments) if attachments else None
            except ValueError:
                return _error("invalid_attachments")
        if not text and not blocks and not _attachments_text(attachments):
            return _error("no_text")
        if len(text) > MAX_TEXT:
            return _error("msg_too_long")
        if blocks is not None and not (
            isinstance(blocks, list)
            and len(blocks) <= MAX_BLOCKS
            and all(map(_valid_block, blocks))
            and sum(len(b["text"]) for b in blocks if b.get("type") == "markdown") <= MAX_MARKDOWN
        ):
            return _error("invalid_blocks")
        wait = self.limiter.take(f"{ws.team_id}/{channel}")
        if wait:
            return _error("ratelimited", 429, {"Retry-After": retry_after_seconds(wait)})
        ts = self._next_ts()
        message = {"type": "message", "text": text, "ts": ts, "bot_id": ws.bot_id, "user": ws.user_id}
        if blocks:
            message["blocks"] = blocks
        # Posting to a member ID lands in the app's DM with that member, answered with its D… ID.
        dm = _derived_id("D", f"{ws.team_id}/{channel}") if channel[0] in ("U", "W") else channel
        return json_response(200, {"ok": True, "channel": dm, "ts": ts, "message": message})

    def _next_ts(self) -> str:
        """A unique, increasing Slack message timestamp ("seconds.micros")."""
        with self._lock:
            self._last_ts = max(self._last_ts + 1, int(time.time() * 1_000_000))
            return f"{self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"

    # --- faults --------------------------------------------------------------------------------------

    def fault_response(self, kind: str, options: dict[str, Any]) -> Response:
        if kind == "rate_limited":
            return _error("ratelimited", 429, {"Retry-After": retry_after_seconds(options["retry_after"] or 1)})
        if kind == "server_error":
            status = options["status"]
            code = {500: "internal_error", 503: "service_unavailable"}.get(status, "fatal_error")
            return _error(code, status)
        return _error(kind)  # invalid_auth, channel_not_found


def _error(code: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, {"ok": False, "error": code}, headers)


def _attachments_text(attachments: Any) -> str:
    """What legacy `attachments` show (Slack accepts a message with only them, e.g. Apprise's)."""
    if not isinstance(attachments, list):
        return ""
    parts = [
        str(a.get("fallback") or a.get("text") or a.get("title") or "") for a in attachments if isinstance(a, dict)
    ]
    return "\n".join(parts).strip()
