"""What every function's wiring builds the same way: AWS clients, the HTTP session and timeouts, secrets, the
tables and the keyring, the settings cache, companies' credentials and WORKPLACE token checks."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import boto3
from botocore.config import Config

from workplace_hub.config import ApiSettings, HttpTimeouts, LinkingSettings, StorageSettings
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.dynamodb import DynamoTables
from workplace_hub.storage.links import LinksRepository
from workplace_hub.storage.settings import CachedSettings, SettingsRepository

if TYPE_CHECKING:
    import requests

    from workplace_hub.crypto import Keyring
    from workplace_hub.integration_settings.credentials import CompanyCredentials
    from workplace_hub.workplace_jwt import TokenVerifier

# parameter_validation off: botocore would check every call's parameters against the service model before sending
# them (a window of 10 claims 0.35 ms, 25 outcomes 1.3 ms: about a tenth of a sender's CPU), and AWS checks them
# again anyway. A malformed call still fails, as the service's ValidationException; the unit tests' clients keep
# botocore's check.
AWS_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10, parameter_validation=False
)
SECRET_MAX_AGE = 300


class Tables(NamedTuple):
    """The repositories every function reads (without the keyring: a function that opens no secret)."""

    settings_repo: SettingsRepository
    links: LinksRepository
    deliveries: DeliveriesRepository


class Storage(NamedTuple):
    """The repositories and the keyring that opens the secrets stored in them."""

    settings_repo: SettingsRepository
    links: LinksRepository
    deliveries: DeliveriesRepository
    keyring: Keyring


@cache
def aws_client(service: str) -> Any:
    """One client per AWS service and container (DynamoDB: tables on a plain client, which behaves as boto3's
    resource and starts 40 ms faster)."""
    if service == "dynamodb":
        return DynamoTables(boto3.client("dynamodb", config=AWS_CONFIG))
    return boto3.client(service, config=AWS_CONFIG)


def reset_clients() -> None:
    """Forget the AWS clients built so far (what a new container would do)."""
    aws_client.cache_clear()


def http_session(connections: int = 10) -> requests.Session:
    """One keep-alive session per container, keeping `connections` per host (as many as a sender's calls in flight
    at once: requests keeps 10, and drops the others after each call); no automatic retries (a retried POST can
    post twice); the environment's proxies read once per host (ProviderSession)."""
    from requests.adapters import HTTPAdapter

    from workplace_hub.http import ProviderSession

    session = ProviderSession()
    session.headers["User-Agent"] = "workplace-integration-hub/1.0"
    adapter = HTTPAdapter(pool_maxsize=max(10, connections), max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def http_timeout(config: HttpTimeouts) -> tuple[float, float]:
    """(connect, read) seconds for every provider call, from `HTTP_CONNECT_TIMEOUT` and `HTTP_READ_TIMEOUT`."""
    return (config.HTTP_CONNECT_TIMEOUT, config.HTTP_READ_TIMEOUT)


def call_budget_seconds(config: HttpTimeouts) -> float:
    """How long one provider call may take in all: both timeouts and a little slack."""
    return config.HTTP_CONNECT_TIMEOUT + config.HTTP_READ_TIMEOUT + 2


def secret_reader(secret_arn: str) -> Callable[[], dict[str, Any]]:
    """A JSON secret from Secrets Manager (the Collabo platform credentials, the hub's own state-signing key),
    cached for a few minutes (powertools' cache, which `parameters.clear_caches()` empties)."""

    def read() -> dict[str, Any]:
        from aws_lambda_powertools.utilities import parameters

        value = parameters.get_secret(secret_arn, transform="json", max_age=SECRET_MAX_AGE)
        return value if isinstance(value, dict) else {}

    return read


def tables(config: StorageSettings) -> Tables:
    """The repositories without the keyring (and its KMS client)."""
    dynamodb = aws_client("dynamodb")
    return Tables(
        SettingsRepository(dynamodb.Table(config.SETTINGS_TABLE_NAME)),
        LinksRepository(dynamodb.Table(config.LINKS_TABLE_NAME), dynamodb),
        DeliveriesRepository(dynamodb.Table(config.DELIVERIES_TABLE_NAME)),
    )


def storage(config: StorageSettings) -> Storage:
    """The repositories and the keyring."""
    from workplace_hub.crypto import Keyring

    settings_repo, links, deliveries = tables(config)
    return Storage(settings_repo, links, deliveries, Keyring(aws_client("kms"), config.KMS_KEY_ID, settings_repo))


def settings_cache(settings_repo: SettingsRepository, config: StorageSettings) -> CachedSettings:
    """Companies' settings, kept in the container for `SETTINGS_CACHE_SECONDS`."""
    return CachedSettings(settings_repo, config.SETTINGS_CACHE_SECONDS)


def company_credentials(config: StorageSettings, stored: Storage, *, cached: bool) -> CompanyCredentials:
    """Companies' integration credentials; `cached`: settings kept for `SETTINGS_CACHE_SECONDS` (the workers)."""
    from workplace_hub.integration_settings.credentials import CompanyCredentials

    return CompanyCredentials(
        settings_repo=stored.settings_repo,
        keyring=stored.keyring,
        platform_credentials=secret_reader(config.PLATFORM_SECRET_ARN),
        links=stored.links,
        settings_cache=settings_cache(stored.settings_repo, config) if cached else None,
    )


def token_verifier(config: ApiSettings | LinkingSettings) -> TokenVerifier:
    """Verifies WORKPLACE's access tokens (issuer, audience and keys from the environment)."""
    from workplace_hub.workplace_jwt import TokenVerifier

    return TokenVerifier(config.WORKPLACE_JWT_ISSUER, config.WORKPLACE_JWT_AUDIENCE, config.WORKPLACE_JWKS_URL)
