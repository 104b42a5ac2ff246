"""Blocks outbound network access for a test (unit and contract tests must never open a socket)."""

from __future__ import annotations

import socket
from typing import Any

import pytest


class NetworkBlockedError(RuntimeError):
    """Raised when a test tries to open a network connection."""


def _refuse(address: Any) -> NetworkBlockedError:
    return NetworkBlockedError(f"network access is blocked in this test suite (tried to connect to {address!r})")


def block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every connect attempt (connect/connect_ex, create_connection, getaddrinfo) fail loudly."""

    def guarded_connect(self: socket.socket, address: Any) -> None:
        raise _refuse(address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        raise _refuse(address)

    def guarded_create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        raise _refuse(address)

    def guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        # Name lookups are network traffic too (and hang without a resolver).
        raise _refuse((host, port))

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "create_connection", guarded_create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
