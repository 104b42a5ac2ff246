"""The benchmark's function containers (infra/bench/containers.py): a side's own variables reach the handler module.

The bench's sequential side loads a sender with `overrides={"SEND_CONCURRENCY": "1"}`; the handler module reads its
settings at import, so the override must be in the environment then (a past bug set the template's variables over
it, and both sides ran at the template's concurrency). Checked by what the loaded sender does with a real job: how
many provider calls it has in flight at once, and on which threads it makes them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from infra.bench.containers import Container, EventSourceMapping, load_container
from infra.template import Resolver, load_template
from tests.unit.aws import HubStack
from tests.unit.builders import COMPANY, EVENT_ID, SLACK_TOKEN, body, recipient, send_job
from workplace_hub.catalog import Integration
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus, NewDelivery

FUNCTION = "SendSlackFunction"
SLACK_API = "https://slack.com/api/"  # the sender's default SLACK_API_BASE: answered below, never reached
TEMPLATE_CONCURRENCY = 10  # template.yaml's SEND_CONCURRENCY for SendSlackFunction


class SlackAnswers(BaseAdapter):
    """Answers chat.postMessage in-process and counts the calls in flight. Each call waits until `together` calls
    are in flight (the timeout only keeps a broken sender from hanging the run; nothing here is timed), so calls
    a pool makes side by side are seen overlapping."""

    def __init__(self, together: int) -> None:
        super().__init__()
        self._condition = threading.Condition()
        self._together = together
        self.in_flight = 0
        self.most = 0
        self.threads: list[str] = []

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:
        with self._condition:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self.threads.append(threading.current_thread().name)
            self._condition.notify_all()
            self._condition.wait_for(lambda: self.most >= self._together, timeout=60)
        try:
            answer = requests.Response()
            answer.status_code = 200
            answer.headers["Content-Type"] = "application/json; charset=utf-8"
            answer._content = b'{"ok": true, "ts": "1700000000.000100"}'
            answer.url, answer.request = request.url or "", request
            return answer
        finally:
            with self._condition:
                self.in_flight -= 1

    def close(self) -> None:
        """Nothing to close."""


def resolver_for(stack: HubStack) -> Resolver:
    """The template's references, resolved to the unit tests' moto resources."""
    return Resolver(
        parameters={"Stage": "test"},
        refs={
            "SettingsTable": "settings",
            "LinksTable": "links",
            "DeliveriesTable": "deliveries",
            "RateLimitsTable": "rate_limits",
            "SendSlackQueue": stack.queue_urls["slack"],
            "SendSlackDLQ": stack.queue_urls["slack_dlq"],
            "PlatformSecret": "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:platform",
        },
        attributes={("HubKey", "Arn"): stack.kms_key_id},
    )


@pytest.fixture
def loaded() -> Iterator[list[Container]]:
    """The containers a test loads (their send pools shut down afterwards)."""
    containers: list[Container] = []
    yield containers
    for container in containers:
        for pool in container.find(ThreadPoolExecutor):
            pool.shutdown(wait=False)


def load(stack: HubStack, loaded: list[Container], overrides: dict[str, str] | None) -> Container:
    """Load the Slack sender's container; os.environ is as it was before, whatever the import set."""
    before = dict(os.environ)
    container = load_container(load_template(), resolver_for(stack), FUNCTION, overrides)
    loaded.append(container)
    assert dict(os.environ) == before
    return container


def deliver(stack: HubStack, container: Container, people: int, together: int) -> SlackAnswers:
    """One Slack job for `people` linked employees, through the container's real handler as its event source
    mapping feeds it; the provider's side of it."""
    users = [f"emp{index:02d}@acme.example" for index in range(people)]
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    for index, user_id in enumerate(users):
        stack.link_slack(COMPANY, user_id, f"U0BENCH{index:02d}")
    stack.deliveries.add_many(
        [
            NewDelivery(DeliveryKey(COMPANY, EVENT_ID, u, "slack"), "approval.requested", DeliveryStatus.QUEUED)
            for u in users
        ]
    )
    slack = SlackAnswers(together)
    (session,) = container.find(requests.Session)  # the sender's keep-alive session, built at import
    session.mount(SLACK_API, slack)
    queue_url = stack.queue_urls["slack"]
    stack.sqs.send_message(QueueUrl=queue_url, MessageBody=body(send_job(recipients=[recipient(u) for u in users])))
    arn = stack.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    drive = EventSourceMapping(stack.sqs, queue_url, arn, container).drain(expected=1)

    assert (drive.records, drive.failures) == (1, 0)
    assert {(stack.record(COMPANY, EVENT_ID, u, "slack") or {}).get("status") for u in users} == {"sent"}
    return slack


def test_an_override_reaches_the_handler_module_at_import_and_the_sender_runs_at_it(
    stack: HubStack, loaded: list[Container]
) -> None:
    # GIVEN the Slack sender loaded as the bench's sequential side loads it
    container = load(stack, loaded, {"SEND_CONCURRENCY": "1"})

    # WHEN it sends a job of four
    slack = deliver(stack, container, people=4, together=1)

    # THEN its calls went one after another, each on the invocation's own thread: the sender has no pool
    assert slack.most == 1 and len(slack.threads) == 4
    assert set(slack.threads) == {threading.current_thread().name}
    assert container.find(ThreadPoolExecutor) == []


def test_without_overrides_the_sender_runs_at_the_templates_concurrency(
    stack: HubStack, loaded: list[Container]
) -> None:
    # GIVEN the Slack sender loaded with the template's variables only
    container = load(stack, loaded, None)

    # WHEN it sends a job of as many as its concurrency
    slack = deliver(stack, container, people=TEMPLATE_CONCURRENCY, together=TEMPLATE_CONCURRENCY)

    # THEN all its calls were in flight at once, on its pool's threads
    assert slack.most == TEMPLATE_CONCURRENCY
    assert threading.current_thread().name not in slack.threads


def test_the_template_still_gives_the_slack_sender_the_concurrency_these_tests_assume() -> None:
    variables = load_template()["Resources"][FUNCTION]["Properties"]["Environment"]["Variables"]
    assert variables["SEND_CONCURRENCY"] == str(TEMPLATE_CONCURRENCY)
