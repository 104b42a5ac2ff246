"""Fault injection shared by all provider fakes: a store of faults matched against incoming requests."""

from __future__ import annotations

import itertools
import math
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from infra.sandbox.base import ControlError

# Options each kind accepts, with their defaults (None: not set unless given).
KIND_OPTIONS: dict[str, dict[str, Any]] = {
    "rate_limited": {"retry_after": None},
    "server_error": {"status": 503},
    "timeout": {"delay": 30.0, "drop": False},
    "invalid_auth": {},
    "channel_not_found": {},
    "monthly_limit": {},  # LINE: 429 "You have reached your monthly limit."
    "not_found": {},  # NAVER WORKS: 404 for the bot or user
    "malformed": {},  # SENS: 200 with a body that is not the answer
}


@dataclass
class Fault:
    """One injected fault; `times` None means until cleared."""

    id: str
    provider: str
    kind: str
    times: int | None
    match: dict[str, str]
    options: dict[str, Any] = field(default_factory=dict)


def _check_option(name: str, value: Any) -> None:
    if name == "drop":
        if not isinstance(value, bool):
            raise ControlError("drop must be a boolean", field="drop")
    elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        # (JSON as Python reads it takes NaN and Infinity: a wait of either would fail or hang the request.)
        raise ControlError(f"{name} must be a non-negative number", field=name)
    if name == "status" and not (isinstance(value, int) and 500 <= value <= 599):
        raise ControlError("status must be an integer 500-599", field="status")


class FaultStore:
    """Thread-safe list of faults; `take` finds the first matching fault and spends one use of it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(
        self, provider: str, spec: dict[str, Any], allowed_kinds: frozenset[str], match_keys: frozenset[str]
    ) -> Fault:
        """Validate and store a fault from its control-API spec: kind, times, match and kind options."""
        options = dict(spec)
        kind, times, match = options.pop("kind", None), options.pop("times", None), options.pop("match", None)
        if not isinstance(kind, str) or kind not in allowed_kinds:
            raise ControlError(f"unknown fault kind {kind!r} for {provider}; known: {sorted(allowed_kinds)}")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            raise ControlError("times must be a positive integer")
        match = match or {}
        if not isinstance(match, dict) or not all(isinstance(v, str) for v in match.values()):
            raise ControlError("match must be an object of strings")
        if set(match) - match_keys:
            raise ControlError(f"unknown match key(s) {sorted(set(match) - match_keys)}; known: {sorted(match_keys)}")
        defaults = KIND_OPTIONS[kind]
        if set(options) - set(defaults):
            raise ControlError(f"unknown option(s) {sorted(set(options) - set(defaults))} for {kind}")
        for name, value in options.items():
            _check_option(name, value)
        with self._lock:
            fault = Fault(f"f{next(self._ids)}", provider, kind, times, dict(match), {**defaults, **options})
            self._faults.append(fault)
        return fault

    def take(self, provider: str, attrs: dict[str, str]) -> Fault | None:
        """The first fault for `provider` whose match filters all equal `attrs`; spends one of its uses."""
        with self._lock:
            for fault in self._faults:
                if fault.provider != provider or any(attrs.get(k) != v for k, v in fault.match.items()):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                return fault
        return None

    def list(self) -> list[dict[str, Any]]:
        """All active faults as dicts."""
        with self._lock:
            return [asdict(f) for f in self._faults]

    def clear(self) -> None:
        """Remove all faults."""
        with self._lock:
            self._faults.clear()
