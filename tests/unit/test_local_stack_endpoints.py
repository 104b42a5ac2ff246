"""The local stack points every provider at the sandbox unless the environment already says otherwise."""

from __future__ import annotations

from infra.local_stack.stack import provider_endpoints
from workplace_hub.config import ProviderEndpoints

SANDBOX = "http://127.0.0.1:4010"


def test_provider_endpoints_cover_every_provider_host_variable() -> None:
    # GIVEN no provider variable in the environment
    # WHEN the local stack computes its endpoints
    endpoints = provider_endpoints(SANDBOX, {})

    # THEN every host the hub reads is set, each under the sandbox
    assert set(endpoints) == set(ProviderEndpoints.model_fields)
    assert all(url.startswith(SANDBOX + "/") for url in endpoints.values())
    assert endpoints["SLACK_API_BASE"] == f"{SANDBOX}/slack/api"


def test_provider_endpoints_a_variable_already_set_wins() -> None:
    # GIVEN SLACK_API_BASE already set when the stack starts
    environ = {"SLACK_API_BASE": "http://127.0.0.1:9999/my-slack"}

    # WHEN the local stack computes its endpoints
    endpoints = provider_endpoints(SANDBOX, environ)

    # THEN that one is kept and the others still point at the sandbox
    assert endpoints["SLACK_API_BASE"] == "http://127.0.0.1:9999/my-slack"
    assert endpoints["GOOGLE_CHAT_BASE"] == f"{SANDBOX}/google_chat"
