"""Common plumbing for provider fakes: request/response types, the `FakeProvider` interface, rate limits.

A provider fake is one module (or package) exposing a `FakeProvider` subclass; `server.PROVIDERS` lists them.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl


class ControlError(Exception):
    """A bad control-API call; answered as `{"error": message}` (plus `"field"`, the body's field at fault, when
    known) with `status`."""

    def __init__(self, message: str, status: int = 400, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field

    def payload(self) -> dict[str, str]:
        """The JSON answer's body."""
        return {"error": str(self)} | ({"field": self.field} if self.field else {})


@dataclass
class Request:
    """One HTTP request as seen by a fake."""

    method: str
    path: str  # without the query string
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    base_url: str  # the sandbox's own URL, e.g. http://127.0.0.1:54321

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        name = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == name), None)

    @property
    def media_type(self) -> str:
        """Content-Type without parameters, lower-cased ('' when absent)."""
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def parsed_body(self) -> Any:
        """Body for the request log: JSON if it parses, else a form dict, else text (None when empty)."""
        if not self.body:
            return None
        text = self.body.decode("utf-8", errors="replace")
        if self.media_type == "application/x-www-form-urlencoded":
            return dict(parse_qsl(text, keep_blank_values=True))
        try:
            return json.loads(text)
        except ValueError:
            return text


@dataclass
class Response:
    """What a fake answers. `payload` is the parsed JSON body, kept for the request log."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    payload: Any = None


def json_response(
    status: int,
    payload: Any,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json; charset=utf-8",
) -> Response:
    """Serialise `payload` as a JSON response."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return Response(status, body, {"Content-Type": content_type, **(headers or {})}, payload)


class RateLimiter:
    """Token buckets keyed by e.g. channel or space: `burst` requests at once, refilled at `per_second`."""

    def __init__(self, burst: float, per_second: float) -> None:
        self._defaults = {"enabled": True, "burst": burst, "per_second": per_second}
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Back to the default limits with full buckets."""
        with self._lock:
            self.limits: dict[str, Any] = dict(self._defaults)
            self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)

    def configure(self, limits: dict[str, Any]) -> dict[str, Any]:
        """Change `enabled`, `burst` and/or `per_second`; buckets start full again."""
        unknown = set(limits) - set(self._defaults)
        if unknown:
            raise ControlError(f"unknown limit(s) {sorted(unknown)}; known: {sorted(self._defaults)}")
        if "enabled" in limits and not isinstance(limits["enabled"], bool):
            raise ControlError("enabled must be a boolean", field="enabled")
        for name in ("burst", "per_second"):
            value = limits.get(name, 1)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ControlError(f"{name} must be a positive number", field=name)
        with self._lock:
            self.limits.update(limits)
            self._buckets.clear()
            return dict(self.limits)

    def take(self, key: str) -> float:
        """Spend one token for `key`: 0 if allowed, else the seconds until the next token."""
        now = time.monotonic()
        with self._lock:
            if not self.limits["enabled"]:
                return 0.0
            burst, rate = float(self.limits["burst"]), float(self.limits["per_second"])
            tokens, last = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / rate


def retry_after_seconds(wait: float) -> str:
    """A `Retry-After` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait)))


class FakeProvider:
    """Interface of one provider fake, mounted by the server under `prefix` (e.g. "/slack").

    Subclasses implement `handle`, `reset`, `fault_attrs` and `fault_response`, and may add control
    routes under `/_sandbox/{name}/...` by overriding `control`.
    """

    name: str = ""
    prefix: str = ""
    # Keys a fault's "match" may filter on; values come from `fault_attrs`.
    match_keys: frozenset[str] = frozenset()
    # Fault kinds answered by `fault_response` ("timeout" is handled by the server for every provider).
    fault_kinds: frozenset[str] = frozenset({"rate_limited", "server_error", "invalid_auth", "channel_not_found"})

    def serves(self, path: str) -> bool:
        """Whether this fake answers `path` (default: everything under `prefix`)."""
        return path.startswith(self.prefix + "/")

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self._lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        """Answer a provider API request exactly as the real service would."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget all state and restore default limits."""
        raise NotImplementedError

    def control(self, action: str, method: str, data: dict[str, Any], base_url: str) -> dict[str, Any]:
        """Provider-specific control route `/_sandbox/{name}/{action}`; returns the JSON answer."""
        raise ControlError(f"unknown control route /_sandbox/{self.name}/{action}", 404)

    def set_limits(self, limits: dict[str, Any]) -> dict[str, Any]:
        """Change rate limits (see `RateLimiter.configure`)."""
        return self.limiter.configure(limits)

    def fault_attrs(self, request: Request) -> dict[str, str]:
        """Attributes of a request that a fault's "match" filter compares against."""
        raise NotImplementedError

    def fault_response(self, kind: str, options: dict[str, Any]) -> Response:
        """The provider-shaped answer for an injected fault."""
        raise NotImplementedError
