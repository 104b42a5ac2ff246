"""One local stack for the whole integration session, on loopback ports chosen by the OS."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.local_stack import LocalStack
from infra.local_stack.aws import client as local_client
from infra.sandbox import SandboxClient

# Test modules import these from tests.integration.helpers; re-exported here for older callers.
from tests.integration.helpers import Api, DeadLetterQueue, notification, tee_logs, user, wait_for
from tests.integration.secrets_sweep import ACTIVE, SecretsSweep

__all__ = ["Api", "notification", "wait_for"]


# Warm functions cache company settings (SETTINGS_CACHE_SECONDS, 30 s by default): a test that changes a
# setting and then sends an event waits this long for the change to reach the workers.
SETTINGS_CACHE_SECONDS = 1.0
# AlimTalk result lookups (24 h apart at most in production): 1 s after acceptance, then every 2 s, for 20 s
# (longer than one lookup that runs into the 10 s read timeout).
KAKAO_RESULT_TIMING = {
    "KAKAO_RESULT_FIRST_DELAY_SECONDS": "1",
    "KAKAO_RESULT_MAX_DELAY_SECONDS": "2",
    "KAKAO_RESULT_WINDOW_SECONDS": "20",
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SETTINGS_CACHE_SECONDS", str(SETTINGS_CACHE_SECONDS))
        for name, value in KAKAO_RESULT_TIMING.items():
            env.setenv(name, value)
        # Short visibility timeouts so that retried batches come back within a test's patience.
        local = LocalStack(state_dir=Path(tmp_path_factory.mktemp("local")), visibility_timeout=5).start()
        yield local
        local.stop()


# The sweep of this session and its stack, until the verdict after the last integration test.
_SWEEPING: list[tuple[LocalStack, SecretsSweep]] = []
HERE = Path(__file__).parent


@pytest.fixture(scope="session", autouse=True)
def no_secret_leaks_in_the_whole_session(stack: LocalStack) -> Iterator[None]:
    """The whole integration session is swept for leaked secrets (tests/integration/secrets_sweep.py); the
    verdict comes after the last integration test (pytest_runtest_teardown below), which then fails, naming
    the place, if any secret showed in a log line, an API response or a dead letter."""
    sweep = SecretsSweep()
    ACTIVE.append(sweep)
    _SWEEPING.append((stack, sweep))
    with tee_logs(sweep.logs):
        yield
    if sweep in ACTIVE:
        ACTIVE.remove(sweep)


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After the last integration test (before other folders' tests run, whose mocks may patch botocore)."""
    if nextitem is not None and Path(str(nextitem.fspath)).is_relative_to(HERE):
        return
    if not _SWEEPING:
        return
    stack, sweep = _SWEEPING.pop()
    ACTIVE.remove(sweep)
    sweep.note_provider_requests(SandboxClient(stack.sandbox.url).requests())
    # The stack's own region and credentials, whatever the environment says by now.
    sqs = local_client("sqs", stack.aws_endpoint_url)
    dead_letters: list[str] = []
    for logical_id, url in stack.queues.items():
        if logical_id.endswith("DLQ"):
            dead_letters += _all_messages(sqs, url)
    leaks = sweep.leaks(dead_letters)
    # No test after this one uses the stack: its pollers would only compete with the other folders' tests for
    # the CPU (and draw from `random` while hypothesis generates data). The servers stop with the session.
    stack.stop_pollers()
    assert leaks == {}, f"secrets leaked: {leaks}"


def _all_messages(sqs: Any, url: str) -> list[str]:
    """Bodies and reasons of every message on a queue (received with a short visibility, then left there)."""
    texts: list[str] = []
    seen: set[str] = set()
    for _ in range(100):
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, MessageAttributeNames=["All"]
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            return texts
        for message in fresh:
            seen.add(message["MessageId"])
            reason = message.get("MessageAttributes", {}).get("reason", {}).get("StringValue", "")
            texts += [message["Body"], reason]
    return texts


@pytest.fixture
def sandbox(stack: LocalStack) -> Iterator[SandboxClient]:
    client = SandboxClient(stack.sandbox.url)
    client.reset()
    yield client
    for sweep in ACTIVE:  # the providers' secrets the hub received in this test (the log is reset next)
        sweep.note_provider_requests(client.requests())
    client.reset()


@pytest.fixture
def company_id() -> str:
    """A fresh company per test: tests never see each other's settings or deliveries."""
    return f"co-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def other_company_id() -> str:
    """A second fresh company, for the tenancy tests."""
    return f"co-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def api_as(stack: LocalStack) -> Callable[..., Api]:
    def make(company_id: str, user_id: str = "admin@example.com", role: str = "admin") -> Api:
        return Api(stack, company_id, user_id, role)

    return make


@pytest.fixture
def admin(api_as: Callable[..., Api], company_id: str) -> Api:
    """The admin of this test's company."""
    return api_as(company_id, user(company_id, "admin"), "admin")


@pytest.fixture
def member(api_as: Callable[..., Api], company_id: str) -> Api:
    """An employee (role member) of this test's company: taro."""
    return api_as(company_id, user(company_id, "taro"), "member")


@pytest.fixture
def sqs(stack: LocalStack) -> Any:
    return boto3.client("sqs", endpoint_url=stack.aws_endpoint_url)


@pytest.fixture
def send_event(stack: LocalStack) -> Callable[[Any], None]:
    """Put a WORKPLACE event (dict, or a raw string) on WorkplaceEventsQueue."""
    sqs = boto3.client("sqs")

    def send(event: Any) -> None:
        body = event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)
        sqs.send_message(QueueUrl=stack.queues["WorkplaceEventsQueue"], MessageBody=body)

    return send


@pytest.fixture
def send_batch(stack: LocalStack, sqs: Any) -> Callable[[list[Any]], None]:
    """Put several events on WorkplaceEventsQueue in one SendMessageBatch call (back to back)."""

    def send(events: list[Any]) -> None:
        entries = [
            {"Id": str(i), "MessageBody": e if isinstance(e, str) else json.dumps(e, ensure_ascii=False)}
            for i, e in enumerate(events)
        ]
        response = sqs.send_message_batch(QueueUrl=stack.queues["WorkplaceEventsQueue"], Entries=entries)
        assert not response.get("Failed"), response

    return send


@pytest.fixture
def events_dlq(stack: LocalStack, sqs: Any) -> DeadLetterQueue:
    """WorkplaceEventsDLQ (shared by the session: find your own messages by marker)."""
    return DeadLetterQueue(sqs, stack.queues["WorkplaceEventsDLQ"])
