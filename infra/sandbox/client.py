"""Client for the sandbox control API (`/_sandbox/...`), for tests and scripts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests


class SandboxError(RuntimeError):
    """The control API rejected a call."""


class SandboxClient:
    """Thin wrapper over the sandbox control API at `base_url` (e.g. `Sandbox.url`)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()

    def _call(self, method: str, route: str, json: dict[str, Any] | None = None, **params: Any) -> Any:
        resp = self._http.request(
            method,
            f"{self.base_url}/_sandbox/{route}",
            json=json,
            params=params or None,
            timeout=self.timeout,
        )
        if resp.status_code != 200:
            raise SandboxError(f"{method} /_sandbox/{route} -> {resp.status_code}: {resp.text}")
        return resp.json()

    def control(self, provider: str, action: str, payload: dict[str, Any] | None = None, method: str = "POST") -> Any:
        """A provider-specific control call: `{method} /_sandbox/{provider}/{action}`."""
        return self._call(method, f"{provider}/{action}", payload)

    # --- Slack ---------------------------------------------------------------------------------------

    def add_slack_workspace(
        self,
        token: str,
        team_id: str | None = None,
        team: str = "Sandbox",
        members: Iterable[str] = (),
        channels: Iterable[str] = (),
        member_emails: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Register a bot token; returns {token, team_id, team, bot_id, user_id}. `member_emails` (e-mail →
        member ID) answers users.lookupByEmail."""
        body = {
            "token": token,
            "team_id": team_id,
            "team": team,
            "members": list(members),
            "channels": list(channels),
            "member_emails": member_emails or {},
        }
        return self._call("POST", "slack/workspaces", body)

    def revoke_slack_token(self, token: str) -> None:
        """Make `token` answer `token_revoked` from now on."""
        self._call("POST", "slack/revoke", {"token": token})

    # --- Google Chat ---------------------------------------------------------------------------------

    def add_google_chat_space(self, space: str, key: str, token: str) -> str:
        """Register an incoming webhook for `space`; returns its webhook URL."""
        return self._call("POST", "google_chat/spaces", {"space": space, "key": key, "token": token})["webhook_url"]

    # --- common --------------------------------------------------------------------------------------

    def add_fault(
        self,
        provider: str,
        kind: str,
        *,
        times: int | None = None,
        match: dict[str, str] | None = None,
        **options: Any,
    ) -> str:
        """Inject a fault (see `faults.KIND_OPTIONS` for kinds and options); returns its id."""
        body: dict[str, Any] = {"provider": provider, "kind": kind, **options}
        if times is not None:
            body["times"] = times
        if match:
            body["match"] = match
        return self._call("POST", "faults", body)["id"]

    def faults(self) -> list[dict[str, Any]]:
        """Active faults."""
        return self._call("GET", "faults")["faults"]

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def requests(self, provider: str | None = None) -> list[dict[str, Any]]:
        """Recorded provider requests in arrival order, optionally for one provider."""
        params = {"provider": provider} if provider else {}
        return self._call("GET", "requests", **params)["requests"]

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def set_limits(self, provider: str, **limits: Any) -> dict[str, Any]:
        """Change rate limits: enabled (bool), burst (requests), per_second (refill rate); returns them."""
        return self._call("POST", "limits", {"provider": provider, **limits})["limits"]

    def set_latency(
        self, profile: str | None = None, **providers: dict[str, float] | float | tuple[float, float] | None
    ) -> dict[str, Any]:
        """Answer each provider after a delay: `profile` ("realistic", "off") first, then per provider
        `name=ms`, `name=(ms, jitter_ms)` or `name=None` (no delay). Returns the settings and in-flight counts."""
        body: dict[str, Any] = {"providers": {name: _latency(value) for name, value in providers.items()}}
        if profile is not None:
            body["profile"] = profile
        return self._call("POST", "latency", body)

    def latency(self) -> dict[str, Any]:
        """{"providers": {name: {"fixed_ms", "jitter_ms"}}, "in_flight", "peak_in_flight"}."""
        return self._call("GET", "latency")

    def reset(self) -> None:
        """Everything back to empty: workspaces, spaces, limits, faults, request log."""
        self._call("POST", "reset")

    def close(self) -> None:
        self._http.close()


def _latency(value: dict[str, float] | float | tuple[float, float] | None) -> dict[str, float] | None:
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, tuple):
        return {"fixed_ms": value[0], "jitter_ms": value[1]}
    return {"fixed_ms": value}
