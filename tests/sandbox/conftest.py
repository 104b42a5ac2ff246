"""Fixtures for the provider sandbox tests: a fresh sandbox per test on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from infra.sandbox import Sandbox, SandboxClient


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def control(sandbox: Sandbox) -> Iterator[SandboxClient]:
    client = SandboxClient(sandbox.url)
    yield client
    client.close()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
