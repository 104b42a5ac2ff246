"""Log keys: a batch's record never logs under another record's keys, and each function has a Logger of its own."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from infra.local_stack.functions import LocalContext, import_environment
from infra.template import Resolver, load_template, resources_of_type
from tests.unit.aws import HubStack
from tests.unit.builders import COMPANY, SLACK_TOKEN, TARO, body, notification_event, send_job, sqs_record
from tests.unit.calendars.test_worker import calendar_job
from tests.unit.calendars.test_worker import handle as handle_calendar_job
from tests.unit.calendars.test_worker import make_worker as make_calendar_worker
from tests.unit.delivery.test_kakao_results import ACCEPTED_AT, FakeLookup, FakeResultQueue
from tests.unit.delivery.test_kakao_results import job as result_job
from tests.unit.delivery.test_kakao_results import make as make_results_worker
from tests.unit.delivery.test_worker import handle as handle_send_job
from tests.unit.delivery.test_worker import make_worker, queue_delivery
from tests.unit.fakes import FakeCalendarWriter, FakeSender
from tests.unit.routing.test_router import make_router
from workplace_hub import observability
from workplace_hub.catalog import Integration
from workplace_hub.errors import RetryableProviderError
from workplace_hub.queues import JobPostponedError


@pytest.fixture(autouse=True)
def fresh_log_keys() -> Iterator[None]:
    """Each test starts from the Logger's own keys (an earlier test may have left some, as a request does)."""
    observability.logger.clear_state()
    yield
    observability.logger.clear_state()


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Reads the JSON lines the hub logged meanwhile (its Logger's stream swapped for a buffer)."""
    buffer = io.StringIO()
    handler = observability.logger.registered_handler
    previous = handler.setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]
    finally:
        handler.setStream(previous)


def keys() -> dict[str, Any]:
    return dict(observability.logger.get_current_keys())


def test_router_batch_second_record_logs_without_the_first_records_keys(
    stack: HubStack, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    # GIVEN a batch: a valid event, then a body that is no event at all
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    stack.route(COMPANY, {"approval.requested": ["slack"]})
    router = make_router(stack)
    records = [sqs_record(body(notification_event()), message_id="m-1"), sqs_record("not json", message_id="m-2")]
    batch = {"Records": [record.raw_event for record in records]}

    # WHEN the router handles the batch as its function does
    process_partial_response(event=batch, record_handler=router.handle_record, processor=BatchProcessor(EventType.SQS))

    # THEN the first record's lines carry its event; the second record's line carries none of them
    lines = log_lines()
    (routed,) = [line for line in lines if line["message"] == "event routed"]
    assert routed["event_id"] == notification_event()["event_id"]
    (rejected,) = [line for line in lines if line["message"] == "event rejected"]
    assert not {"event_id", "company_id", "event_type"} & set(rejected), rejected
    assert rejected["message_id"] == "m-2"


def test_send_worker_record_keys_gone_after_the_record_even_when_it_raises(stack: HubStack) -> None:
    # GIVEN a worker whose provider asks to come back later (the record handler raises)
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": SLACK_TOKEN})
    stack.link_slack(COMPANY, TARO, "U0TARO")
    queue_delivery(stack)
    sender = FakeSender("slack")
    sender.fail_with = RetryableProviderError("slack", "http_503", retry_after=5)
    worker = make_worker(stack, sender)
    before = keys()

    # WHEN a job is handled and postponed
    with pytest.raises(JobPostponedError):
        handle_send_job(stack, worker, send_job())

    # THEN the job's keys (company, event, channel) are no longer on the logger
    assert keys() == before


def test_calendar_worker_record_keys_gone_after_the_record(
    calendars: HubStack, google: FakeCalendarWriter, works: FakeCalendarWriter
) -> None:
    # GIVEN the calendar worker
    worker = make_calendar_worker(calendars, google, works)
    before = keys()

    # WHEN it handles a job (of an absence it does not know: dead-lettered)
    handle_calendar_job(calendars, worker, calendar_job())

    # THEN the job's keys are gone
    assert keys() == before


def test_kakao_results_record_keys_gone_after_the_record(stack: HubStack) -> None:
    # GIVEN the AlimTalk result worker
    worker = make_results_worker(stack, FakeLookup({}), FakeResultQueue(), ACCEPTED_AT)
    before = keys()

    # WHEN it handles a lookup job (of records it no longer waits for: nothing to look up)
    worker.handle_record(sqs_record(json.dumps(result_job().model_dump()), receive_count=2))

    # THEN the job's keys are gone
    assert keys() == before


def test_record_keys_that_were_there_before_are_put_back() -> None:
    # GIVEN a key the invocation set, which a record overwrites
    observability.logger.append_keys(company_id="invocation")
    try:
        # WHEN a record handler appends keys of its own
        @observability.per_record_log_keys
        def handle_record() -> None:
            observability.logger.append_keys(company_id="record", event_id="evt-record")

        handle_record()

        # THEN the invocation's value is back and the record's own key gone
        assert keys()["company_id"] == "invocation"
        assert "event_id" not in keys()
    finally:
        observability.logger.remove_keys(["company_id"])


def test_each_function_imported_with_its_service_name_logs_under_it_with_keys_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN two functions, each decorated while its own POWERTOOLS_SERVICE_NAME is set (as the local stack
    # imports them), in one process
    seen: list[tuple[str, str, Any]] = []

    def handler_of(name: str, inner: Any = None) -> Any:
        def handler(event: dict[str, Any], context: Any) -> None:
            current = observability.logger
            seen.append((name, current.service, current.get_current_keys().get("function_name")))
            if inner is not None:
                inner({}, LocalContext("FnB", 30))  # another function's invocation meanwhile (another thread)
                seen.append((name, current.service, current.get_current_keys().get("function_name")))

        return handler

    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "FnB")
    function_b = observability.logger.inject_lambda_context(clear_state=True)(handler_of("b"))
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "FnA")
    function_a = observability.logger.inject_lambda_context(clear_state=True)(handler_of("a", function_b))
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME")

    # WHEN A is invoked, and B runs (and clears its state) while A's invocation is still going
    function_a({}, LocalContext("FnA", 30))

    # THEN each logs under its own service name and function, and B's clear_state left A's keys alone
    assert seen == [("a", "FnA", "FnA"), ("b", "FnB", "FnB"), ("a", "FnA", "FnA")]
    # AND outside invocations `logger` is the process's first Logger again
    assert observability.logger.current is observability.service_loggers()[0]


def test_local_stack_imports_each_function_under_its_own_service_name() -> None:
    # GIVEN the template, whose Globals name one service for every function (in Lambda each function has its own
    # process and log group)
    template = load_template()
    resolver = _Unresolved(parameters={})

    # WHEN / THEN the local stack, which imports them all into one process, names each function's service after it
    for logical_id in resources_of_type(template, "AWS::Serverless::Function"):
        assert import_environment(template, logical_id, resolver)["POWERTOOLS_SERVICE_NAME"] == logical_id


class _Unresolved(Resolver):
    """Leaves Ref / GetAtt / Sub as they are (no resources are created here)."""

    def resolve(self, value: Any) -> Any:
        return value
