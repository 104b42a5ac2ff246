"""Environment variables, read once per cold start through pydantic models (one per function kind).

The names are the same strings as in template.yaml and the README's table.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workplace_hub.errors import ConfigurationError


class _EnvModel(BaseModel):
    # defer_build: a function validates one of these models, once; building every model's validator at import
    # would cost each cold start the others' too.
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)


class ProviderEndpoints(_EnvModel):
    """Every provider host, overridable so the local stack can point them at the sandbox."""

    SLACK_API_BASE: str = "https://slack.com/api"
    GOOGLE_CHAT_BASE: str = "https://chat.googleapis.com"
    LINE_API_BASE: str = "https://api.line.me"
    LINE_ACCESS_BASE: str = "https://access.line.me"
    WORKS_AUTH_BASE: str = "https://auth.worksmobile.com/oauth2/v2.0"
    WORKS_API_BASE: str = "https://www.worksapis.com/v1.0"
    WORKS_LEGACY_API_BASE: str = "https://apis.worksmobile.com"
    SENS_BASE: str = "https://sens.apigw.ntruss.com"
    GOOGLE_ACCOUNTS_BASE: str = "https://accounts.google.com"
    GOOGLE_OAUTH2_BASE: str = "https://oauth2.googleapis.com"
    GOOGLE_CALENDAR_BASE: str = "https://www.googleapis.com/calendar/v3"
    GOOGLE_CERTS_URL: str = "https://www.googleapis.com/oauth2/v3/certs"  # keys of Google's ID tokens


class HttpTimeouts(_EnvModel):
    """Seconds a provider call may take to connect and to read, for every function that calls a provider."""

    HTTP_CONNECT_TIMEOUT: float = 3.05
    HTTP_READ_TIMEOUT: float = 10.0


class StorageSettings(ProviderEndpoints):
    """Tables, the KMS key and the app secrets every function reads."""

    SETTINGS_TABLE_NAME: str = Field(min_length=1)
    LINKS_TABLE_NAME: str = Field(min_length=1)
    DELIVERIES_TABLE_NAME: str = Field(min_length=1)
    KMS_KEY_ID: str = Field(min_length=1)
    PLATFORM_SECRET_ARN: str = Field(min_length=1)
    SETTINGS_CACHE_SECONDS: float = 30.0


class StageQueues(_EnvModel):
    """The queues of the pipeline's stages: where the router sends jobs, and where a replay goes back to."""

    SEND_SLACK_QUEUE_URL: str | None = None
    SEND_GOOGLE_CHAT_QUEUE_URL: str | None = None
    SEND_LINE_QUEUE_URL: str | None = None
    SEND_NAVER_WORKS_QUEUE_URL: str | None = None
    SEND_KAKAO_QUEUE_URL: str | None = None
    CALENDAR_QUEUE_URL: str | None = None
    WORKPLACE_EVENTS_QUEUE_URL: str | None = None

    def send_queue_urls(self) -> dict[str, str]:
        """Channel id → queue URL, for the channels that have a sender deployed."""
        urls = {
            "slack": self.SEND_SLACK_QUEUE_URL,
            "google_chat": self.SEND_GOOGLE_CHAT_QUEUE_URL,
            "line": self.SEND_LINE_QUEUE_URL,
            "naver_works": self.SEND_NAVER_WORKS_QUEUE_URL,
            "kakao": self.SEND_KAKAO_QUEUE_URL,
        }
        return {channel: url for channel, url in urls.items() if url}

    def replay_queue_urls(self) -> dict[str, str]:
        """Stage → queue URL a replayed failure goes back to: `events`, `calendar` and the channels."""
        urls = {"events": self.WORKPLACE_EVENTS_QUEUE_URL, "calendar": self.CALENDAR_QUEUE_URL}
        return {**self.send_queue_urls(), **{stage: url for stage, url in urls.items() if url}}


class RouterSettings(StorageSettings, StageQueues):
    """The router: WorkplaceEventsQueue in, one send queue per provider (and the calendar queue) out."""

    IDEMPOTENCY_TABLE_NAME: str = Field(min_length=1)
    EVENTS_DLQ_URL: str = Field(min_length=1)
    MAX_RECEIVE_COUNT: int = Field(default=5, ge=1)
    # Absence events: the registry of their states.
    ABSENCES_TABLE_NAME: str | None = None


class KakaoResultTiming(_EnvModel):
    """When the hub looks up AlimTalk delivery results: first this long after SENS accepted a request, then
    twice as long each time up to the maximum (SQS delays a message by 900 s at most), until the window ends."""

    KAKAO_RESULT_FIRST_DELAY_SECONDS: float = Field(default=15.0, ge=0, le=900)
    KAKAO_RESULT_MAX_DELAY_SECONDS: float = Field(default=900.0, ge=1, le=900)
    KAKAO_RESULT_WINDOW_SECONDS: float = Field(default=24 * 3600.0, gt=0)


class SenderSettings(StorageSettings, KakaoResultTiming, HttpTimeouts):
    """A provider sender: its own queue (to postpone a job by Retry-After) and dead-letter queue."""

    SEND_QUEUE_URL: str = Field(min_length=1)
    SEND_DLQ_URL: str = Field(min_length=1)
    MAX_RECEIVE_COUNT: int = Field(default=8, ge=1)
    # Longer than the function timeout, shorter than the queue's visibility timeout: a claim left by
    # a crashed attempt has expired by the time SQS hands the job out again.
    CLAIM_LEASE_SECONDS: float = 60.0
    # Provider rate limits shared by all containers (unset: each container only reacts to 429s).
    RATE_LIMITS_TABLE_NAME: str | None = None
    # A job's provider calls in flight at once (1: one after another). At most 100: a window's claims and its
    # rate-limit tokens each fit one DynamoDB transaction (100 items).
    SEND_CONCURRENCY: int = Field(default=1, ge=1, le=100)
    # The Kakao sender: where the lookups of accepted AlimTalk requests' delivery results go.
    KAKAO_RESULTS_QUEUE_URL: str | None = None


class KakaoResultsSettings(StorageSettings, KakaoResultTiming, HttpTimeouts):
    """The AlimTalk result lookup: KakaoResultsQueue in (and back, delayed, until a result or the window's end)."""

    KAKAO_RESULTS_QUEUE_URL: str = Field(min_length=1)
    KAKAO_RESULTS_DLQ_URL: str = Field(min_length=1)
    MAX_RECEIVE_COUNT: int = Field(default=8, ge=1)


class CalendarSettings(StorageSettings, HttpTimeouts):
    """The calendar worker: CalendarQueue in; writes NAVER WORKS and Google calendars."""

    ABSENCES_TABLE_NAME: str = Field(min_length=1)
    CALENDAR_QUEUE_URL: str = Field(min_length=1)
    CALENDAR_DLQ_URL: str = Field(min_length=1)
    MAX_RECEIVE_COUNT: int = Field(default=8, ge=1)
    # Longer than the function timeout: a lease left by a crashed worker has expired when the job returns.
    ABSENCE_LEASE_SECONDS: float = 60.0


class ApiSettings(StorageSettings, StageQueues, HttpTimeouts):
    """The settings API (the stage queues: where an admin's replay of a failure goes)."""

    WORKPLACE_JWT_ISSUER: str = Field(min_length=1)
    WORKPLACE_JWT_AUDIENCE: str = Field(min_length=1)
    WORKPLACE_JWKS_URL: str = Field(min_length=1)
    HUB_PUBLIC_URL: str = Field(min_length=1)


class LinkingSettings(StorageSettings, HttpTimeouts):
    """The linking function: OAuth flows, callbacks, personal calendars; and the LINE webhook."""

    WORKPLACE_JWT_ISSUER: str = Field(min_length=1)
    WORKPLACE_JWT_AUDIENCE: str = Field(min_length=1)
    WORKPLACE_JWKS_URL: str = Field(min_length=1)
    HUB_PUBLIC_URL: str = Field(min_length=1)
    OAUTH_STATE_TABLE_NAME: str = Field(min_length=1)
    APP_SECRET_ARN: str = Field(min_length=1)


class ConsoleSettings(_EnvModel):
    """The web console: the origin(s) of WORKPLACE allowed to frame it (CSP frame-ancestors)."""

    WORKPLACE_ORIGIN: str = Field(default="'none'", min_length=1)


class WebhookSettings(StorageSettings, HttpTimeouts):
    """The LINE webhook function."""


SettingsT = TypeVar("SettingsT", bound=BaseModel)


def load_settings(model: type[SettingsT], environ: Mapping[str, str] | None = None) -> SettingsT:
    """Validate the environment against `model`; a missing or bad variable fails the cold start."""
    env = os.environ if environ is None else environ
    try:
        return model.model_validate(dict(env))
    except ValidationError as exc:
        names = ", ".join(str(err["loc"][0]) for err in exc.errors())
        raise ConfigurationError(f"invalid or missing environment variables: {names}") from None
