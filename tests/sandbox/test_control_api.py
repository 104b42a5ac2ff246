"""The control API's own checks (each fake's control routes are tested beside the fake)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from infra.sandbox import Sandbox, SandboxClient


@pytest.mark.parametrize("provider", [{"name": "slack"}, ["slack"], 1, None, "slak"])
@pytest.mark.parametrize(
    ("route", "body"), [("faults", {"kind": "server_error", "times": 1}), ("limits", {"enabled": False})]
)
def test_a_provider_that_is_not_a_known_name_is_a_400_naming_the_field(
    sandbox: Sandbox, control: SandboxClient, route: str, body: dict[str, Any], provider: Any
) -> None:
    """An object or list as the provider is unhashable: it was looked up before it was checked (500)."""
    answer = requests.post(f"{sandbox.url}/_sandbox/{route}", json={"provider": provider, **body}, timeout=10)

    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == "provider" and "provider" in answer.json()["error"]
    assert control._call("GET", "faults") == {"faults": []}
