"""Provider latency: each fake can answer after a delay (fixed plus a uniform jitter), set per provider.

The delay holds only the request's own handler thread (the server is a ThreadingHTTPServer, one thread per
connection), so N requests in flight at once all answer after about one delay, not N. A request's delay is
counted from its arrival and re-read whenever the settings change: lowering a provider's delay (or clearing it)
releases the requests already waiting on it.

Specs, as `make run ARGS="--latency ..."`, `python -m infra.sandbox --latency ...` and `make bench ARGS=...` take
them: `realistic` (the profile below), `off`, or comma-separated `provider=FIXED[+JITTER]` in milliseconds
(`slack=250,google_chat=150+30`), optionally after a profile (`realistic,slack=400`); `*=N` sets every provider.
"""

from __future__ import annotations

import argparse
import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from infra.sandbox.base import ControlError

# The fakes' names (server.PROVIDERS): what a latency setting is keyed by.
PROVIDER_NAMES = (
    "slack",
    "google_chat",
    "google_oauth",
    "google_calendar",
    "line_login",
    "line",
    "naver_works",  # API 2.0 and 1.0 (legacy), bots, calendars, OAuth: one host family
    "sens",
)


@dataclass(frozen=True)
class Latency:
    """`fixed_ms` always, plus up to `jitter_ms` more (uniform), per request."""

    fixed_ms: float
    jitter_ms: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"fixed_ms": self.fixed_ms, "jitter_ms": self.jitter_ms}


# The "realistic" profile: a warm keep-alive HTTPS connection (no TCP/TLS handshake) from a Lambda in
# ap-northeast-1 (Tokyo), request sent to answer read. These are assumptions, not measurements: round trip
# from Tokyo to where each API is served, plus the provider's typical time to accept a message, rounded.
# Jitter is 20% of the fixed part (uniform, so the mean is 10% above it). Change them with --latency.
REALISTIC: dict[str, Latency] = {
    # Slack's Web API is served from AWS us-east-1: ~150 ms Tokyo <-> Virginia round trip, plus ~100 ms for
    # chat.postMessage to persist and fan the message out.
    "slack": Latency(250, 50),
    # Google's front end terminates in Tokyo (a few ms away); creating a Chat message through an incoming
    # webhook takes the API ~100-150 ms.
    "google_chat": Latency(150, 30),
    # Google OAuth token exchange / refresh and Calendar event writes: same front end, similar server time.
    "google_oauth": Latency(150, 30),
    "google_calendar": Latency(150, 30),
    # LINE's Messaging API and LINE Login are served from Japan: a few ms of network, ~50 ms to accept.
    "line": Latency(60, 12),
    "line_login": Latency(60, 12),
    # NAVER WORKS (worksapis.com / jp1 and kr1 regions): ~35 ms Tokyo <-> Seoul, ~45 ms to accept a bot message.
    "naver_works": Latency(80, 16),
    # NAVER Cloud SENS (AlimTalk) is served from Seoul: ~35 ms network, ~85 ms to validate the template and queue.
    "sens": Latency(120, 24),
}
PROFILES: dict[str, dict[str, Latency]] = {"realistic": REALISTIC, "off": {}}


def parse_spec(text: str) -> dict[str, Latency]:
    """`realistic`, `off`, `slack=250,google_chat=150+30`, `realistic,slack=400`, `*=100` → provider → Latency."""
    chosen: dict[str, Latency] = {}
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        if part in PROFILES:
            chosen = dict(PROFILES[part])
            continue
        name, equals, value = part.partition("=")
        name = name.strip()
        if not equals or (name != "*" and name not in PROVIDER_NAMES):
            raise ValueError(
                f"latency {part!r}: expected a profile ({', '.join(PROFILES)}) or provider=MS[+JITTER_MS] with a"
                f" provider among {', '.join(PROVIDER_NAMES)} or *"
            )
        fixed, _, jitter = value.partition("+")
        try:
            latency = Latency(float(fixed), float(jitter or 0))
        except ValueError:
            raise ValueError(f"latency {part!r}: milliseconds must be numbers") from None
        _check(latency)
        for provider in PROVIDER_NAMES if name == "*" else (name,):
            chosen[provider] = latency
    return chosen


def argument(text: str) -> dict[str, Latency]:
    """`parse_spec` as an argparse `type` (its message shown on a bad spec)."""
    try:
        return parse_spec(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _check(latency: Latency) -> None:
    parts = (latency.fixed_ms, latency.jitter_ms)
    # NaN passes every comparison, and a delay of NaN would never be reached: refused with the rest.
    if not all(math.isfinite(ms) and ms >= 0 for ms in parts) or sum(parts) > 120_000:
        raise ValueError("latency must be 0-120000 ms (fixed plus jitter)")


class LatencyStore:
    """Per-provider delays, and how many delayed requests are waiting now and at most since the last reset."""

    def __init__(self, settings: dict[str, Latency] | None = None, rng: random.Random | None = None) -> None:
        self._changed = threading.Condition()
        self._initial: dict[str, Latency] = dict(settings or {})
        self._settings = dict(self._initial)
        self._random = rng or random.Random()  # jitter, not a secret
        self.in_flight = 0
        self.peak_in_flight = 0

    def settings(self) -> dict[str, dict[str, float]]:
        with self._changed:
            return {name: latency.as_dict() for name, latency in sorted(self._settings.items())}

    def configure(self, data: dict[str, Any]) -> dict[str, dict[str, float]]:
        """Control API body: {"profile"?: name, "providers"?: {name: {"fixed_ms", "jitter_ms"?} | null}};
        a profile replaces everything, then each provider given is set (null: no delay). The whole body is checked
        before anything changes: a refused body (ControlError naming its field) leaves the settings as they were."""
        unknown = sorted(set(data) - {"profile", "providers"})
        if unknown:
            raise ControlError(f"unknown latency field(s) {unknown}", field=unknown[0])
        profile = data.get("profile")
        # Type first: a JSON object or list as the profile is unhashable, and looking it up would answer 500.
        if profile is not None and (not isinstance(profile, str) or profile not in PROFILES):
            raise ControlError(f"profile must be one of {sorted(PROFILES)}, not {profile!r}", field="profile")
        providers = data.get("providers", {})
        if not isinstance(providers, dict):
            raise ControlError("providers must be an object of provider name to latency or null", field="providers")
        updates: dict[str, Latency | None] = {}
        for name, value in providers.items():
            if name not in PROVIDER_NAMES:
                raise ControlError(
                    f"unknown provider {name!r} in providers; known: {list(PROVIDER_NAMES)}", field=f"providers.{name}"
                )
            updates[name] = None if value is None else _latency(name, value)
        with self._changed:
            if profile is not None:
                self._settings = dict(PROFILES[profile])
            for name, latency in updates.items():
                if latency is None:
                    self._settings.pop(name, None)
                else:
                    self._settings[name] = latency
            self.peak_in_flight = self.in_flight
            self._changed.notify_all()  # waiting requests re-read their delay
        return self.settings()

    def reset(self) -> None:
        """Back to the settings the sandbox started with (the sandbox's reset)."""
        with self._changed:
            self._settings = dict(self._initial)
            self.peak_in_flight = self.in_flight
            self._changed.notify_all()

    def wake(self) -> None:
        """Make waiting requests look again (the sandbox is stopping)."""
        with self._changed:
            self._changed.notify_all()

    def stats(self) -> dict[str, int]:
        with self._changed:
            return {"in_flight": self.in_flight, "peak_in_flight": self.peak_in_flight}

    def wait(self, provider: str, arrived: float, stopping: threading.Event) -> None:
        """Hold the calling handler thread until `provider`'s delay since `arrived` (monotonic) has passed."""
        share = self._random.random()  # this request's share of the jitter, kept if the setting changes
        with self._changed:
            if provider not in self._settings:
                return
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                while not stopping.is_set():
                    latency = self._settings.get(provider)
                    if latency is None:
                        return
                    left = arrived + (latency.fixed_ms + share * latency.jitter_ms) / 1000 - time.monotonic()
                    if left <= 0:
                        return
                    self._changed.wait(left)
            finally:
                self.in_flight -= 1


def _latency(provider: str, value: Any) -> Latency:
    """One provider's setting from the control API, or ControlError naming the field at fault."""
    where = f"providers.{provider}"
    if not isinstance(value, dict):
        raise ControlError(f'{where} must be {{"fixed_ms": N, "jitter_ms"?: N}} or null', field=where)
    unknown = sorted(set(value) - {"fixed_ms", "jitter_ms"})
    if unknown:
        raise ControlError(f"unknown field(s) {unknown} in {where}", field=f"{where}.{unknown[0]}")
    if "fixed_ms" not in value:
        raise ControlError(f"{where}.fixed_ms is required", field=f"{where}.fixed_ms")
    numbers = []
    for key in ("fixed_ms", "jitter_ms"):
        number = _milliseconds(value.get(key, 0))
        if number is None:
            raise ControlError(f"{where}.{key} must be a non-negative number of milliseconds", field=f"{where}.{key}")
        numbers.append(number)
    latency = Latency(*numbers)
    try:
        _check(latency)
    except ValueError as exc:
        raise ControlError(f"{where}: {exc}", field=where) from None
    return latency


def _milliseconds(value: Any) -> float | None:
    """`value` as a finite non-negative float, or None (JSON's true/false, strings, NaN, 1e400 and huge integers
    are not milliseconds)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and number >= 0 else None
