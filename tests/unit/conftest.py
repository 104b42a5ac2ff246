"""Unit tests: no network, fake AWS credentials, in-process AWS (moto) only where a test asks for it."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from moto import mock_aws
from moto.core.base_backend import BackendDict

from infra import moto_transactions
from tests.unit.absences import configure_calendars
from tests.unit.aws import REGION, HubStack, SharedResources, boto3_session
from tests.unit.fakes import FakeCalendarWriter, FakeKms, MemoryDataKeyStore
from tests.unit.netguard import block_network
from workplace_hub.crypto import Keyring

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "POWERTOOLS_SERVICE_NAME": "test",
    "POWERTOOLS_METRICS_NAMESPACE": "test",
    "POWERTOOLS_IDEMPOTENCY_DISABLED": "1",
    "POWERTOOLS_TRACE_DISABLED": "1",
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every unit test runs without network access."""
    block_network(monkeypatch)


@pytest.fixture(autouse=True)
def fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, a fixed region and quiet Powertools, whatever the developer's shell has."""
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(autouse=True)
def clear_powertools_metrics() -> Iterator[None]:
    """The shared Metrics instance never flushes in unit tests: drop what a test added."""
    yield
    observability = sys.modules.get("workplace_hub.observability")
    if observability is not None:
        observability.metrics.clear_metrics()


@pytest.fixture(scope="package", autouse=True)
def in_process_aws() -> Iterator[None]:
    """moto's in-process AWS (no sockets), on for every unit test and off once the unit tests are done.

    One `mock_aws` for the run rather than one per test: its state (the hub's resources) outlives a test, and the
    fixtures below say what each test starts from. Autouse, so whether moto is on never depends on test order.
    """
    moto_transactions.install()  # TransactWriteItems without moto's copy of each table it touches
    with mock_aws():
        yield


@pytest.fixture(scope="package")
def shared_resources(in_process_aws: None) -> SharedResources:
    """The hub's tables, queues and KMS key, created on first use and kept for the run."""
    return SharedResources()


@pytest.fixture
def aws(fake_aws_env: None) -> None:
    """An empty in-process AWS: everything earlier tests created is gone (moto's backends reset)."""
    BackendDict.reset()


@pytest.fixture
def stack(fake_aws_env: None, shared_resources: SharedResources) -> HubStack:
    """The hub's tables (from template.yaml), queues and KMS key, emptied for this test, with its own clients,
    repositories and keyring."""
    return shared_resources.checkout()


@pytest.fixture
def kms_key(fake_aws_env: None) -> tuple[object, str]:
    """A moto KMS client and the id of a fresh symmetric key."""
    client = boto3_session().client("kms")
    return client, client.create_key(Description="hub key")["KeyMetadata"]["KeyId"]


@pytest.fixture
def store() -> MemoryDataKeyStore:
    """An in-memory store for company data keys."""
    return MemoryDataKeyStore()


@pytest.fixture
def keyring(store: MemoryDataKeyStore) -> Keyring:
    """A Keyring on a fake KMS and the in-memory key store (fast; test_crypto.py uses moto KMS instead)."""
    return Keyring(FakeKms(), "fake-key", store)


@pytest.fixture
def calendars(stack: HubStack) -> HubStack:
    """acme: NAVER WORKS Calendar (API 2.0 service account) and Google Calendar (employee consent) on."""
    return configure_calendars(stack)


@pytest.fixture
def google() -> FakeCalendarWriter:
    return FakeCalendarWriter("google")


@pytest.fixture
def works() -> FakeCalendarWriter:
    return FakeCalendarWriter("naver_works")
