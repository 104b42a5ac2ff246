"""The unit suite's own guard: no test can reach the network."""

from __future__ import annotations

import socket

import pytest
import requests

from tests.unit.netguard import NetworkBlockedError


def test_network_guard_create_connection_refused_naming_address() -> None:
    # GIVEN the autouse no_network fixture
    # WHEN a test opens a TCP connection
    # THEN it fails and the error names the address it tried
    with pytest.raises(NetworkBlockedError, match=r"example\.com"):
        socket.create_connection(("example.com", 443), timeout=1)


def test_network_guard_socket_connect_and_connect_ex_refused() -> None:
    # GIVEN a raw socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # WHEN it connects, with either API
        # THEN both are refused with the address in the message
        with pytest.raises(NetworkBlockedError, match=r"10\.0\.0\.1"):
            sock.connect(("10.0.0.1", 80))
        with pytest.raises(NetworkBlockedError, match=r"10\.0\.0\.2"):
            sock.connect_ex(("10.0.0.2", 80))


def test_network_guard_requests_call_never_leaves_the_process() -> None:
    # GIVEN a real requests session
    # WHEN it is used against a real host
    # THEN the guard stops it before any byte is sent
    with requests.Session() as session:
        with pytest.raises(NetworkBlockedError, match=r"slack\.com"):
            session.get("https://slack.com/api/auth.test", timeout=1)
        with pytest.raises(NetworkBlockedError, match=r"192\.0\.2\.1"):
            session.get("https://192.0.2.1/api/auth.test", timeout=1)
