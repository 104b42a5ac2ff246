"""load_settings: a missing or bad environment variable fails the cold start, by name, never by value."""

from __future__ import annotations

import pytest

from workplace_hub.config import ApiSettings, RouterSettings, SenderSettings, StorageSettings, load_settings
from workplace_hub.errors import ConfigurationError

STORAGE_ENV = {
    "SETTINGS_TABLE_NAME": "hub-settings",
    "LINKS_TABLE_NAME": "hub-links",
    "DELIVERIES_TABLE_NAME": "hub-deliveries",
    "KMS_KEY_ID": "arn:aws:kms:ap-northeast-1:123456789012:key/SECRET-KEY-ID-0001",
    "PLATFORM_SECRET_ARN": "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:platform-SECRET",
}
ROUTER_ENV = {
    **STORAGE_ENV,
    "IDEMPOTENCY_TABLE_NAME": "hub-idempotency",
    "EVENTS_DLQ_URL": "https://sqs.ap-northeast-1.amazonaws.com/123456789012/events-dlq",
    "SEND_SLACK_QUEUE_URL": "https://sqs.ap-northeast-1.amazonaws.com/123456789012/send-slack",
}


def configuration_error(model: type, environ: dict[str, str]) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(model, environ)
    return raised.value


def test_load_settings_empty_environment_names_every_missing_variable() -> None:
    # GIVEN no environment at all
    # WHEN the storage settings are loaded
    message = str(configuration_error(StorageSettings, {}))

    # THEN every required variable is named
    for name in STORAGE_ENV:
        assert name in message
    assert "SLACK_API_BASE" not in message  # has a default


@pytest.mark.parametrize("missing", list(STORAGE_ENV))
def test_load_settings_one_missing_variable_named_alone(missing: str) -> None:
    # GIVEN the storage environment without one variable
    environ = {name: value for name, value in STORAGE_ENV.items() if name != missing}

    # WHEN / THEN only that variable is named
    message = str(configuration_error(StorageSettings, environ))
    assert missing in message
    assert [name for name in STORAGE_ENV if name in message] == [missing]


def test_load_settings_empty_value_counts_as_missing() -> None:
    # GIVEN a required table name set to ""
    # WHEN / THEN it is named
    assert "LINKS_TABLE_NAME" in str(configuration_error(StorageSettings, {**STORAGE_ENV, "LINKS_TABLE_NAME": ""}))


def test_load_settings_bad_values_named_but_never_echoed() -> None:
    # GIVEN values of the wrong type, one of them looking like a secret
    environ = {**ROUTER_ENV, "MAX_RECEIVE_COUNT": "sk-live-SECRET-VALUE", "SETTINGS_CACHE_SECONDS": "SECRET-2"}

    # WHEN the router settings are loaded
    error = configuration_error(RouterSettings, environ)
    message = str(error)

    # THEN the variables are named, no value appears, and no pydantic error (with the input) is chained
    assert "MAX_RECEIVE_COUNT" in message
    assert "SETTINGS_CACHE_SECONDS" in message
    assert "SECRET" not in message
    for value in environ.values():
        assert value not in message
    assert error.__cause__ is None
    assert error.__suppress_context__ is True


def test_load_settings_receive_count_below_one_refused() -> None:
    # GIVEN MAX_RECEIVE_COUNT=0
    # WHEN / THEN it is named
    assert "MAX_RECEIVE_COUNT" in str(configuration_error(SenderSettings, {**STORAGE_ENV, "MAX_RECEIVE_COUNT": "0"}))


@pytest.mark.parametrize(
    ("model", "required"),
    [
        (RouterSettings, {"IDEMPOTENCY_TABLE_NAME", "EVENTS_DLQ_URL"}),
        (SenderSettings, {"SEND_QUEUE_URL", "SEND_DLQ_URL"}),
        (ApiSettings, {"HUB_PUBLIC_URL"}),
    ],
)
def test_load_settings_function_specific_variables_required(model: type, required: set[str]) -> None:
    # GIVEN only the storage variables
    # WHEN a function's settings are loaded
    message = str(configuration_error(model, dict(STORAGE_ENV)))

    # THEN its own required variables are named
    for name in required:
        assert name in message


def test_load_settings_complete_environment_uses_defaults() -> None:
    # GIVEN a complete router environment
    # WHEN it is loaded
    settings = load_settings(RouterSettings, ROUTER_ENV)

    # THEN values are read, provider hosts default to the real ones, and only deployed senders have queues
    assert settings.SETTINGS_TABLE_NAME == "hub-settings"
    assert settings.SLACK_API_BASE == "https://slack.com/api"
    assert settings.GOOGLE_CHAT_BASE == "https://chat.googleapis.com"
    assert settings.MAX_RECEIVE_COUNT == 5
    assert settings.send_queue_urls() == {"slack": ROUTER_ENV["SEND_SLACK_QUEUE_URL"]}


def test_load_settings_provider_base_overridable() -> None:
    # GIVEN provider hosts pointed at the sandbox
    environ = {**STORAGE_ENV, "SLACK_API_BASE": "http://127.0.0.1:4010/slack/api", "SETTINGS_CACHE_SECONDS": "5"}

    # WHEN / THEN the overrides win
    settings = load_settings(StorageSettings, environ)
    assert settings.SLACK_API_BASE == "http://127.0.0.1:4010/slack/api"
    assert settings.SETTINGS_CACHE_SECONDS == 5.0


def test_load_settings_reads_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the storage variables in the process environment
    for name, value in STORAGE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SEND_QUEUE_URL", "https://sqs.example/q")
    monkeypatch.setenv("SEND_DLQ_URL", "https://sqs.example/dlq")

    # WHEN settings are loaded without an explicit mapping
    settings = load_settings(SenderSettings)

    # THEN os.environ was used
    assert settings.SEND_QUEUE_URL == "https://sqs.example/q"
    assert settings.CLAIM_LEASE_SECONDS == 60.0


def test_load_settings_missing_from_process_environment_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a process environment without the KMS key
    for name, value in STORAGE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KMS_KEY_ID")

    # WHEN / THEN it is named
    with pytest.raises(ConfigurationError, match="KMS_KEY_ID"):
        load_settings(StorageSettings)
