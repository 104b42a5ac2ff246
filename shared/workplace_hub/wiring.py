"""The composition root: builds each function's collaborators once per cold start.

Functions call these builders at module scope (through a function, so tests can call them with
their own environment); nothing here runs at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from workplace_hub.catalog import Integration, oauth_callback_path
from workplace_hub.config import (
    ApiSettings,
    CalendarSettings,
    HttpTimeouts,
    KakaoResultsSettings,
    LinkingSettings,
    RouterSettings,
    SenderSettings,
    StorageSettings,
    WebhookSettings,
    load_settings,
)
from workplace_hub.errors import ConfigurationError
from workplace_hub.queues import DeadLetters, JobQueue, JobQueues
from workplace_hub.storage.absences import AbsenceRegistry
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.dynamodb import DynamoTables
from workplace_hub.storage.links import LinksRepository
from workplace_hub.storage.settings import CachedSettings, SettingsRepository

if TYPE_CHECKING:
    import requests

    from workplace_hub.calendars.worker import CalendarWorker
    from workplace_hub.credentials.company import CompanyCredentials
    from workplace_hub.crypto import Keyring
    from workplace_hub.delivery.kakao_results import KakaoResultsWorker
    from workplace_hub.delivery.worker import DeliveryWorker
    from workplace_hub.routing.router import EventRouter
    from workplace_hub.workplace_jwt import TokenVerifier

# Each builder imports what only its function needs (the router no provider, a sender only its own, the
# calendar clients only the calendar worker): every module imported is paid by every cold start.

_AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)
PLATFORM_SECRET_MAX_AGE = 300


def http_timeout(settings: HttpTimeouts) -> tuple[float, float]:
    """(connect, read) seconds for every provider call, from `HTTP_CONNECT_TIMEOUT` and `HTTP_READ_TIMEOUT`."""
    return (settings.HTTP_CONNECT_TIMEOUT, settings.HTTP_READ_TIMEOUT)


def call_budget_seconds(settings: HttpTimeouts) -> float:
    """How long one provider call may take in all: both timeouts and a little slack."""
    return settings.HTTP_CONNECT_TIMEOUT + settings.HTTP_READ_TIMEOUT + 2


def cached_settings(repository: SettingsRepository, settings: StorageSettings) -> CachedSettings:
    """Companies' settings, kept in the container for `SETTINGS_CACHE_SECONDS`."""
    return CachedSettings(repository, settings.SETTINGS_CACHE_SECONDS)


@cache
def _aws(service: str) -> Any:
    if service == "dynamodb":
        # Tables on a plain client: the same behaviour as boto3's resource, 40 ms less per cold start.
        return DynamoTables(boto3.client("dynamodb", config=_AWS_CONFIG))
    return boto3.client(service, config=_AWS_CONFIG)


def http_session() -> requests.Session:
    """One keep-alive session per container; no automatic retries (a retried POST can post twice)."""
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = "workplace-integration-hub/1.0"
    return session


def _storage(
    settings: StorageSettings,
) -> tuple[SettingsRepository, LinksRepository, DeliveriesRepository, Keyring]:
    settings_repository, links, deliveries = _tables(settings)
    from workplace_hub.crypto import Keyring

    keyring = Keyring(_aws("kms"), settings.KMS_KEY_ID, settings_repository)
    return settings_repository, links, deliveries, keyring


def _tables(settings: StorageSettings) -> tuple[SettingsRepository, LinksRepository, DeliveriesRepository]:
    """The repositories without the keyring (and its KMS client), for a function that opens no secret."""
    dynamodb = _aws("dynamodb")
    return (
        SettingsRepository(dynamodb.Table(settings.SETTINGS_TABLE_NAME)),
        LinksRepository(dynamodb.Table(settings.LINKS_TABLE_NAME), dynamodb),
        DeliveriesRepository(dynamodb.Table(settings.DELIVERIES_TABLE_NAME)),
    )


def secret_reader(secret_arn: str) -> Callable[[], dict[str, Any]]:
    """A JSON secret from Secrets Manager (the Collabo platform credentials, the hub's own state-signing key),
    cached for a few minutes (powertools' cache, which `parameters.clear_caches()` empties)."""

    def read() -> dict[str, Any]:
        from aws_lambda_powertools.utilities import parameters

        value = parameters.get_secret(secret_arn, transform="json", max_age=PLATFORM_SECRET_MAX_AGE)
        return value if isinstance(value, dict) else {}

    return read


def company_credentials(
    settings: StorageSettings,
    storage: tuple[SettingsRepository, LinksRepository, DeliveriesRepository, Keyring],
    *,
    cached: bool,
) -> CompanyCredentials:
    """Companies' integration credentials; `cached`: settings kept for `SETTINGS_CACHE_SECONDS` (the workers)."""
    from workplace_hub.credentials.company import CompanyCredentials

    settings_repository, links, _, keyring = storage
    return CompanyCredentials(
        settings_repo=settings_repository,
        keyring=keyring,
        platform_credentials=secret_reader(settings.PLATFORM_SECRET_ARN),
        links=links,
        settings_cache=cached_settings(settings_repository, settings) if cached else None,
    )


def build_router(settings: RouterSettings | None = None) -> EventRouter:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    from workplace_hub.routing.router import EventRouter

    settings = settings or load_settings(RouterSettings)
    settings_repository, links, deliveries = _tables(settings)
    sqs = _aws("sqs")
    persistence = DynamoDBPersistenceLayer(
        # A plain client: the resource's own client re-serializes attribute values.
        table_name=settings.IDEMPOTENCY_TABLE_NAME,
        boto3_client=boto3.client("dynamodb", config=_AWS_CONFIG),
    )
    config = IdempotencyConfig(event_key_jmespath="[company_id, event_id]", expires_after_seconds=6 * 3600)

    def guard(function: Any) -> Any:
        return idempotent_function(data_keyword_argument="event", persistence_store=persistence, config=config)(
            function
        )

    calendars_on = settings.ABSENCES_TABLE_NAME and settings.CALENDAR_QUEUE_URL
    return EventRouter(
        settings=cached_settings(settings_repository, settings),
        settings_repository=settings_repository,
        links=links,
        deliveries=deliveries,
        send_queues={channel: JobQueue(sqs, url) for channel, url in settings.send_queue_urls().items()},
        dead_letters=DeadLetters(sqs, settings.EVENTS_DLQ_URL, "router", log=deliveries, replay_queue="events"),
        max_receive_count=settings.MAX_RECEIVE_COUNT,
        guard=guard,
        idempotency_config=config,
        registry=AbsenceRegistry(_aws("dynamodb").Table(settings.ABSENCES_TABLE_NAME)) if calendars_on else None,
        calendar_queue=JobQueue(sqs, settings.CALENDAR_QUEUE_URL) if calendars_on else None,
    )


def build_worker(channel: str, settings: SenderSettings | None = None) -> DeliveryWorker:
    from workplace_hub.delivery.senders import sender_class
    from workplace_hub.delivery.worker import DeliveryWorker
    from workplace_hub.storage.rate_limits import SharedRateLimiter

    on_accepted = None
    settings = settings or load_settings(SenderSettings)
    if channel == "kakao" and settings.KAKAO_RESULTS_QUEUE_URL:
        from workplace_hub.delivery.kakao_results import ResultQueue, Timing, schedule_first_lookups

        on_accepted = schedule_first_lookups(
            ResultQueue(_aws("sqs"), settings.KAKAO_RESULTS_QUEUE_URL), Timing.of(settings)
        )
    settings_repository, links, deliveries, keyring = _storage(settings)
    sqs = _aws("sqs")
    timeout = http_timeout(settings)
    return DeliveryWorker(
        sender=sender_class(channel)(http_session(), settings, timeout),
        settings=cached_settings(settings_repository, settings),
        settings_repository=settings_repository,
        links=links,
        deliveries=deliveries,
        keyring=keyring,
        queue=JobQueue(sqs, settings.SEND_QUEUE_URL),
        dead_letters=DeadLetters(sqs, settings.SEND_DLQ_URL, f"send_{channel}", log=deliveries, replay_queue=channel),
        max_receive_count=settings.MAX_RECEIVE_COUNT,
        lease_seconds=settings.CLAIM_LEASE_SECONDS,
        platform_credentials=secret_reader(settings.PLATFORM_SECRET_ARN),
        call_budget_seconds=call_budget_seconds(settings),
        limiter=(
            SharedRateLimiter(_aws("dynamodb").Table(settings.RATE_LIMITS_TABLE_NAME))
            if settings.RATE_LIMITS_TABLE_NAME
            else None
        ),
        on_accepted=on_accepted,
    )


def build_kakao_results(settings: KakaoResultsSettings | None = None) -> KakaoResultsWorker:
    """The AlimTalk result lookup: a KakaoSender used only for its lookup (a read), never to send."""
    from workplace_hub.delivery.kakao_results import KakaoResultsWorker, ResultQueue, Timing
    from workplace_hub.kakao.alimtalk import KakaoSender

    settings = settings or load_settings(KakaoResultsSettings)
    storage = _storage(settings)
    deliveries = storage[2]
    sqs = _aws("sqs")
    timeout = http_timeout(settings)
    return KakaoResultsWorker(
        lookup=KakaoSender(http_session(), settings, timeout),
        credentials=company_credentials(settings, storage, cached=True),
        deliveries=deliveries,
        queue=ResultQueue(sqs, settings.KAKAO_RESULTS_QUEUE_URL),
        dead_letters=DeadLetters(sqs, settings.KAKAO_RESULTS_DLQ_URL, "kakao_results", log=deliveries),
        timing=Timing.of(settings),
    )


def build_calendar_worker(settings: CalendarSettings | None = None) -> CalendarWorker:
    """The calendar worker: NAVER WORKS (2.0 / 1.0 / personal) and Google (consent / delegation) writers."""
    from workplace_hub.calendars.sync import AbsenceCalendarSync
    from workplace_hub.calendars.worker import CalendarWorker
    from workplace_hub.calendars.writers import GoogleCalendarWriter, NaverWorksCalendarWriter
    from workplace_hub.credentials.user_grants import UserGrants
    from workplace_hub.google.calendar import GoogleCalendarClient
    from workplace_hub.google.delegation import DelegatedCalendarAuth
    from workplace_hub.google.oauth import GoogleOAuthClient
    from workplace_hub.naver_works.auth import WorksTokenProvider
    from workplace_hub.naver_works.calendar import NaverWorksCalendarClient
    from workplace_hub.naver_works.user_oauth import NaverWorksUserOAuthClient

    settings = settings or load_settings(CalendarSettings)
    storage = _storage(settings)
    _, links, deliveries, keyring = storage
    sqs = _aws("sqs")
    session = http_session()
    timeout = http_timeout(settings)
    registry = AbsenceRegistry(_aws("dynamodb").Table(settings.ABSENCES_TABLE_NAME))
    grants = UserGrants(
        links=links,
        keyring=keyring,
        google=GoogleOAuthClient(session, settings, timeout, certs_url=settings.GOOGLE_CERTS_URL),
        naver_works=NaverWorksUserOAuthClient(session, settings, timeout),
    )
    writers = {
        "google": GoogleCalendarWriter(
            GoogleCalendarClient(session, settings, timeout),
            DelegatedCalendarAuth(settings, session=session, timeout=timeout),
            grants,
        ),
        "naver_works": NaverWorksCalendarWriter(
            NaverWorksCalendarClient(session, settings, timeout), WorksTokenProvider(session, settings, timeout), grants
        ),
    }
    sync = AbsenceCalendarSync(
        writers=writers,  # type: ignore[arg-type]
        registry=registry,
        credentials=company_credentials(settings, storage, cached=True),
        links=links,
        call_budget_seconds=call_budget_seconds(settings),
    )
    return CalendarWorker(
        registry=registry,
        sync=sync,
        deliveries=deliveries,
        queue=JobQueue(sqs, settings.CALENDAR_QUEUE_URL),
        dead_letters=DeadLetters(
            sqs, settings.CALENDAR_DLQ_URL, "register_calendars", log=deliveries, replay_queue="calendar"
        ),
        max_receive_count=settings.MAX_RECEIVE_COUNT,
        lease_seconds=settings.ABSENCE_LEASE_SECONDS,
    )


def reset_clients() -> None:
    """Forget the AWS clients built so far (what a new container would do)."""
    _aws.cache_clear()


def provider_hooks(sender: Any) -> Any:
    """verify, plus what the provider derives on save (the AlimTalk template, a NAVER WORKS bot)."""
    from workplace_hub.api.services import ProviderHooks

    return ProviderHooks(verify=sender.verify, on_save=sender.on_save)


def calendar_checks(settings: ApiSettings, session: requests.Session, timeout: tuple[float, float]) -> dict[Any, Any]:
    """verify for the calendar integrations."""
    from workplace_hub.calendars.checks import GoogleCalendarCheck, NaverWorksCalendarCheck
    from workplace_hub.google.delegation import DelegatedCalendarAuth
    from workplace_hub.google.oauth import GoogleOAuthClient
    from workplace_hub.naver_works.bot import NaverWorksSender

    google = GoogleCalendarCheck(
        GoogleOAuthClient(session, settings, timeout),
        DelegatedCalendarAuth(settings, session=session, timeout=timeout),
        settings.HUB_PUBLIC_URL.rstrip("/") + oauth_callback_path("google"),
    )
    works = NaverWorksCalendarCheck(NaverWorksSender(session, settings, timeout, scope="calendar"))
    return {
        Integration.GOOGLE_CALENDAR: provider_hooks(google),
        Integration.NAVER_WORKS_CALENDAR: provider_hooks(works),
    }


def token_verifier(settings: ApiSettings | LinkingSettings) -> TokenVerifier:
    """Verifies WORKPLACE's access tokens (issuer, audience and keys from the environment)."""
    from workplace_hub.workplace_jwt import TokenVerifier

    return TokenVerifier(settings.WORKPLACE_JWT_ISSUER, settings.WORKPLACE_JWT_AUDIENCE, settings.WORKPLACE_JWKS_URL)


def build_api(settings: ApiSettings | None = None) -> Any:
    # Imported here: the router and the senders never load the API stack (OpenAPI, validation).
    from workplace_hub.api import create_app
    from workplace_hub.api.services import ApiServices
    from workplace_hub.delivery.senders import SENDERS
    from workplace_hub.naver_works.bot import NaverWorksSender

    settings = settings or load_settings(ApiSettings)
    storage = _storage(settings)
    settings_repository, links, deliveries, keyring = storage
    session = http_session()
    timeout = http_timeout(settings)
    senders = {channel: sender_class(session, settings, timeout) for channel, sender_class in SENDERS.items()}
    # The bot the hub creates on save shows the hub's own picture, served at its public URL.
    senders["naver_works"] = NaverWorksSender(session, settings, timeout, hub_public_url=settings.HUB_PUBLIC_URL)
    providers = {Integration(channel): provider_hooks(sender) for channel, sender in senders.items()}
    providers.update(calendar_checks(settings, session, timeout))
    services = ApiServices(
        settings=settings_repository,
        links=links,
        deliveries=deliveries,
        keyring=keyring,
        credentials=company_credentials(settings, storage, cached=False),
        token_verifier=token_verifier(settings),
        providers=providers,
        senders=senders,
        hub_public_url=settings.HUB_PUBLIC_URL,
        google_chat_base=settings.GOOGLE_CHAT_BASE,
        replay_queues=JobQueues(_aws("sqs"), settings.replay_queue_urls()),
    )
    return create_app(services)


def build_linking_api(settings: LinkingSettings | None = None) -> Any:
    """The linking function: OAuth start and callbacks, personal calendars."""
    from workplace_hub.api.linking import LinkingApiServices, create_linking_app
    from workplace_hub.calendars.options import CalendarOptions
    from workplace_hub.google.oauth import GoogleOAuthClient
    from workplace_hub.line.login import LineLoginClient
    from workplace_hub.linking.flows import LinkingClients, LinkingService
    from workplace_hub.linking.state import OAuthStateStore
    from workplace_hub.naver_works.user_oauth import NaverWorksUserOAuthClient

    settings = settings or load_settings(LinkingSettings)
    storage = _storage(settings)
    _, links, _, keyring = storage
    credentials = company_credentials(settings, storage, cached=False)
    session = http_session()
    timeout = http_timeout(settings)
    read_app_secret = secret_reader(settings.APP_SECRET_ARN)

    def signing_key() -> bytes:
        key = read_app_secret().get("state_signing_key")
        if not key:
            raise ConfigurationError("the app secret has no state_signing_key")
        return str(key).encode()

    linking = LinkingService(
        credentials=credentials,
        links=links,
        keyring=keyring,
        states=OAuthStateStore(_aws("dynamodb").Table(settings.OAUTH_STATE_TABLE_NAME), signing_key),
        clients=LinkingClients(
            line=LineLoginClient(session, settings, timeout),
            google=GoogleOAuthClient(session, settings, timeout, certs_url=settings.GOOGLE_CERTS_URL),
            naver_works=NaverWorksUserOAuthClient(session, settings, timeout),
        ),
        hub_public_url=settings.HUB_PUBLIC_URL,
    )
    options = CalendarOptions(
        credentials=credentials,
        links=links,
        personal_calendars=linking.personal_calendars,
    )
    return create_linking_app(
        LinkingApiServices(token_verifier=token_verifier(settings), linking=linking, calendar_options=options)
    )


def build_line_webhook(settings: WebhookSettings | None = None) -> Any:
    from workplace_hub.line.messaging import LineSender
    from workplace_hub.linking.line_webhook import LineWebhook

    settings = settings or load_settings(WebhookSettings)
    storage = _storage(settings)
    timeout = http_timeout(settings)
    return LineWebhook(
        credentials=company_credentials(settings, storage, cached=False),
        links=storage[1],
        sender=LineSender(http_session(), settings, timeout),
        line_api_base=settings.LINE_API_BASE,
    )
