"""The clients every function builds: the providers' HTTP session (the environment read once per host) and the
AWS clients (no client-side parameter validation)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from workplace_hub import http
from workplace_hub.http import ProviderSession
from workplace_hub.wiring.common import aws_client, http_session, reset_clients

URLS = (
    "https://slack.com/api/chat.postMessage",
    "https://chat.googleapis.com/v1/spaces/AAAA/messages?key=k&token=t",
    "http://127.0.0.1:4010/slack/api/chat.postMessage",
    "https://api.line.me/v2/bot/message/multicast",
)
ENVIRONMENTS: tuple[dict[str, str], ...] = (
    {},
    {"HTTPS_PROXY": "http://proxy.example:3128", "HTTP_PROXY": "http://proxy.example:3129"},
    {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "googleapis.com,127.0.0.1"},
    {"https_proxy": "http://proxy.example:3128", "no_proxy": "*"},
    {"REQUESTS_CA_BUNDLE": "/etc/ssl/bundle.pem"},
    {"CURL_CA_BUNDLE": "/etc/ssl/curl.pem", "ALL_PROXY": "socks5://proxy.example:1080"},
)
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _clean(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("arguments", [{}, {"proxies": {"no_proxy": "slack.com"}}, {"verify": False}])
def test_provider_session_merges_the_environment_as_requests_does(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], arguments: dict[str, Any]
) -> None:
    # GIVEN proxies, NO_PROXY or a CA bundle in the environment (or none), and a plain requests session beside ours
    _clean(monkeypatch, environment)
    plain, ours = requests.Session(), ProviderSession()
    for url in URLS * 2:  # the second time from what ProviderSession kept
        # WHEN each merges the environment's settings for the same request
        expected = plain.merge_environment_settings(
            url, dict(arguments.get("proxies", {})), None, arguments.get("verify"), None
        )
        found = ours.merge_environment_settings(
            url, dict(arguments.get("proxies", {})), None, arguments.get("verify"), None
        )
        # THEN both give the same proxies, verify, stream and cert
        assert found == expected, url


def test_provider_session_reads_proxies_once_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the session every function builds for provider calls
    _clean(monkeypatch, {"HTTPS_PROXY": "http://proxy.example:3128"})
    lookups: list[str] = []
    real = http.get_environ_proxies

    def counted(url: str, no_proxy: str | None = None) -> dict[str, str]:
        lookups.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(http, "get_environ_proxies", counted)
    session = http_session()
    # WHEN it prepares many calls to two hosts (Google Chat: one webhook URL per space, one host)
    for index in range(20):
        space = f"https://chat.googleapis.com/v1/spaces/S{index}/messages"
        session.merge_environment_settings(space, {}, None, None, None)
        session.merge_environment_settings("https://slack.com/api/chat.postMessage", {}, None, None, None)
    # THEN the environment was walked once per host, and the proxy still applies
    assert len(lookups) == 2
    merged = session.merge_environment_settings("https://slack.com/api/chat.postMessage", {}, None, None, None)
    assert merged["proxies"]["https"] == "http://proxy.example:3128"


def test_provider_session_survives_pickling() -> None:
    # GIVEN a session that has prepared a call
    session = ProviderSession()
    session.merge_environment_settings("https://slack.com/api/chat.postMessage", {}, None, None, None)
    # WHEN it is pickled and back (as requests allows for its sessions)
    copied = pickle.loads(pickle.dumps(session))
    # THEN it still prepares calls
    merged = copied.merge_environment_settings("https://slack.com/api/chat.postMessage", {}, None, None, None)
    expected = requests.Session().merge_environment_settings(
        "https://slack.com/api/chat.postMessage", {}, None, None, None
    )
    assert merged == expected


def test_aws_clients_leave_parameter_checks_to_the_service(aws: None) -> None:
    # GIVEN the SQS client a function's wiring builds (the unit tests' own clients keep botocore's checks)
    reset_clients()
    try:
        sqs = aws_client("sqs")
        # WHEN a call's parameter has the wrong type
        # THEN botocore sends it all the same (no ParamValidationError): the service refuses what it refuses
        with pytest.raises(ClientError):
            sqs.get_queue_url(QueueName=123)
    finally:
        reset_clients()
