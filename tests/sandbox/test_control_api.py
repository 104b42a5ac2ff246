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


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-1"])
@pytest.mark.parametrize(
    ("route", "template", "field"),
    [
        ("faults", '{"provider": "slack", "kind": "timeout", "delay": %s}', "delay"),
        ("faults", '{"provider": "slack", "kind": "rate_limited", "retry_after": %s}', "retry_after"),
        ("limits", '{"provider": "slack", "per_second": %s}', "per_second"),
        ("limits", '{"provider": "slack", "burst": %s}', "burst"),
    ],
)
def test_a_number_that_is_not_finite_or_is_negative_is_a_400_naming_the_field(
    sandbox: Sandbox, control: SandboxClient, route: str, template: str, field: str, raw: str
) -> None:
    """Python's JSON reads NaN and Infinity: a fault waiting that long would fail or hang the faked request."""
    before = limits_now(sandbox)

    answer = requests.post(
        f"{sandbox.url}/_sandbox/{route}",
        data=template % raw,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )

    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == field
    assert control._call("GET", "faults") == {"faults": []} and limits_now(sandbox) == before


def limits_now(sandbox: Sandbox) -> dict[str, Any]:
    """The Slack fake's limits as they are (a POST that changes nothing answers them)."""
    answer = requests.post(f"{sandbox.url}/_sandbox/limits", json={"provider": "slack"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["limits"]
