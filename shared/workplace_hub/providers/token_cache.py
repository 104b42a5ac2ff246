"""Provider access tokens cached per warm container, shared by the vendor clients (NAVER WORKS, Google)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_REFRESH_MARGIN = 300.0  # renew this long (at most) before the provider's expiry


def refresh_margin(ttl: float) -> float:
    """How long before expiry a cached token is renewed: 10 % of its lifetime, at most 5 minutes."""
    return min(MAX_REFRESH_MARGIN, ttl / 10)


@dataclass
class _Entry:
    token: str = field(repr=False)
    renew_at: float


class TokenCache:
    """Thread-safe tokens by key; one fetch per key at a time, others wait and reuse its result."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, ...], _Entry] = {}
        self._fetching: dict[tuple[str, ...], threading.Lock] = {}

    def _fresh(self, key: tuple[str, ...]) -> str | None:
        with self._lock:
            entry = self._entries.get(key)
            return entry.token if entry is not None and entry.renew_at > self._clock() else None

    def get(self, key: tuple[str, ...], fetch: Callable[[], tuple[str, float]]) -> str:
        """The cached token for `key`, or a new one from `fetch() -> (token, lifetime seconds)`."""
        token = self._fresh(key)
        if token is not None:
            return token
        with self._lock:
            key_lock = self._fetching.setdefault(key, threading.Lock())
        with key_lock:
            token = self._fresh(key)  # fetched by another thread while this one waited
            if token is not None:
                return token
            started = self._clock()
            token, ttl = fetch()
            with self._lock:
                self._entries[key] = _Entry(token, started + ttl - refresh_margin(ttl))
            return token

    def invalidate(self, key: tuple[str, ...], token: str) -> None:
        """Forget `token` (refused by the API) unless another thread already replaced it."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.token == token:
                del self._entries[key]
