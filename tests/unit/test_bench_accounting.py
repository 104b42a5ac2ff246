"""The benchmark's accounting (part 9): item sizes and write units, the cost model and the provider-limit bound.

The benchmark prints figures and asserts none; these check that the arithmetic behind them is what its text says.
"""

from __future__ import annotations

import math

import pytest

from infra.bench import aws_cost
from infra.bench.probes import item_bytes, written_items
from infra.bench.sender_time import bound_seconds, concurrency, merge_channel_runs, summed_stats


def test_item_bytes_follow_dynamodbs_sizing_rules() -> None:
    assert item_bytes({"pk": {"S": "acme#e1"}}) == 2 + 7
    assert item_bytes({"n": {"N": "12345"}}) == 1 + 3 + 1  # 5 digits: 3 bytes, plus 1
    assert item_bytes({"n": {"N": "-0.50"}}) == 1 + 1 + 1  # leading and trailing zeros do not count
    assert item_bytes({"flag": {"BOOL": True}, "gone": {"NULL": True}}) == 4 + 1 + 4 + 1
    assert item_bytes({"l": {"L": [{"S": "ab"}]}}) == 1 + 3 + 2 + 1
    assert item_bytes({"m": {"M": {"x": {"S": "日本"}}}}) == 1 + 3 + 1 + 6 + 1
    assert item_bytes({"b": {"B": "AAEC"}}) == 1 + 3  # base64 of 3 bytes


def test_written_items_size_puts_and_leave_updates_to_the_tables_largest_item() -> None:
    big = {"pk": {"S": "x" * 2000}}
    assert written_items("PutItem", {"TableName": "T", "Item": big}) == [("T", 2002, 1)]
    assert written_items("UpdateItem", {"TableName": "T", "Key": {}}) == [("T", None, 1)]
    assert written_items("GetItem", {"TableName": "T", "Key": {}}) == []
    batch = {"RequestItems": {"T": [{"PutRequest": {"Item": big}}, {"DeleteRequest": {"Key": {}}}]}}
    assert written_items("BatchWriteItem", batch) == [("T", 2002, 1), ("T", None, 1)]
    transaction = {
        "TransactItems": [{"Update": {"TableName": "T", "Key": {}}}, {"Put": {"TableName": "U", "Item": big}}]
    }
    assert written_items("TransactWriteItems", transaction) == [("T", None, 2), ("U", 2002, 2)]


def _raw(calls: dict[str, int], sized: dict[str, int], unsized: dict[str, int]) -> dict:
    counted = {"calls": calls, "sized_units": sized, "unsized_items": unsized, "read_items": {}, "sqs_chunks": {}}
    mapping = {
        "calls": {"sqs ReceiveMessage SendSlackQueue": 5},
        "sized_units": {},
        "unsized_items": {},
        "read_items": {},
        "sqs_chunks": {"sqs ReceiveMessage SendSlackQueue": 5},
    }
    stats = {"function_seconds": 10.0, "invocations": 4, "aws": counted, "mapping_aws": mapping, "empty_polls": 3}
    return {"functions": {"SendSlackFunction": stats}, "producer": {"calls": 1, "chunks": 2}}


def test_cost_counts_requests_units_and_prices_per_notification() -> None:
    template = {"Globals": {"Function": {"MemorySize": 512}}, "Resources": {"SendSlackFunction": {"Properties": {}}}}
    raw = _raw(
        {"dynamodb UpdateItem DeliveriesTable": 100, "dynamodb TransactWriteItems DeliveriesTable": 1},
        {},
        {"dynamodb UpdateItem DeliveriesTable": 100, "dynamodb TransactWriteItems DeliveriesTable": 20},
    )

    tallied = aws_cost.tally(raw, template, {"DeliveriesTable": 1500})  # 2 KB a record: 2 units per item
    figures = aws_cost.cost(tallied, 100)

    # 101 DynamoDB calls, 2 receives that returned messages (5 less 3 empty polls), 1 producer call
    assert figures["aws_requests"] == pytest.approx((101 + 2 + 1) / 100)
    assert figures["function_aws_requests"] == pytest.approx(101 / 100)
    assert figures["write_units"] == pytest.approx((100 * 2 + 20 * 2) / 100)
    usd = figures["usd_per_million"]
    assert usd["lambda_duration"] == pytest.approx(10.0 * 0.5 * aws_cost.PRICES["lambda_arm64_gb_second"] / 100 * 1e6)
    assert usd["sqs"] == pytest.approx((2 + 2) * aws_cost.PRICES["sqs_request"] / 100 * 1e6)
    assert figures["usd_per_million_total"] == pytest.approx(sum(usd.values()))


def test_the_bound_waits_only_where_a_limit_binds() -> None:
    latency = {"slack": {"fixed_ms": 250, "jitter_ms": 50}, "naver_works": {"fixed_ms": 80, "jitter_ms": 16}}
    assert bound_seconds("slack", 1000, latency) == pytest.approx(0.275)  # one DM channel each: one answer
    # 240 a minute per domain: 240 at once, the other 760 at 4 a second, then the last answer
    assert bound_seconds("naver_works", 1000, latency) == pytest.approx(760 / 4 + 0.088)
    assert bound_seconds("line", 1000, {}) == 0.0  # two multicasts, far below 200 a second
    assert math.isfinite(bound_seconds("kakao", 1000, {}))


def test_the_concurrent_side_takes_the_templates_setting_else_the_default() -> None:
    assert concurrency({"SEND_CONCURRENCY": "8"}, 16) == (8, "template")
    assert concurrency({}, 16) == (16, "bench default")
    assert concurrency({"SEND_CONCURRENCY": "1"}, 16) == (1, "template")  # as deployed (NAVER WORKS: its bound)


def _channel_run(t0: float, router_cpu: float, slack_invocations: int, line_invocations: int) -> dict:
    def sender(invocations: int) -> dict:
        calls = {"dynamodb BatchWriteItem DeliveriesTable": invocations}
        aws = {"calls": calls, "sized_units": {}, "unsized_items": {}, "read_items": {}, "sqs_chunks": {}}
        return {"invocations": invocations, "handler_cpu_seconds": 0.1 * invocations, "aws": aws, "empty_polls": 50}

    return {
        "t0": t0,
        "functions": {
            "RouterFunction": {"invocations": 1, "handler_cpu_seconds": router_cpu, "timed_out": False},
            "SendSlackFunction": sender(slack_invocations),
            "SendLineFunction": sender(line_invocations),
        },
        "records": {"channels": {}, "largest_record_bytes": int(t0)},
        "provider_requests": {"slack": {"requests": 1}, "line": {"requests": 2}},
        "producer": {"calls": 1, "chunks": 1},
        "timed_out": False,
    }


def test_part_9_one_channel_at_a_time_takes_each_sender_from_its_own_run_and_sums_the_router() -> None:
    # GIVEN the Slack run (where the LINE sender only polled) and the LINE run (where the Slack sender only polled)
    runs = {"slack": _channel_run(100.0, 0.5, 4, 0), "line": _channel_run(200.0, 0.25, 0, 2)}

    merged = merge_channel_runs(runs)

    # THEN each sender's figures are its own channel's run's, the router's both runs', each channel keeps its start
    functions = merged["functions"]
    assert functions["SendSlackFunction"]["invocations"] == 4 and functions["SendLineFunction"]["invocations"] == 2
    assert functions["SendSlackFunction"]["empty_polls"] == 50  # not the other run's polls on top
    assert functions["RouterFunction"]["handler_cpu_seconds"] == pytest.approx(0.75)
    assert functions["RouterFunction"]["invocations"] == 2
    assert merged["t0_by_channel"] == {"slack": 100.0, "line": 200.0} and merged["t0"] == 100.0
    assert merged["provider_requests"] == {"slack": {"requests": 1}, "line": {"requests": 2}}
    assert merged["producer"] == {"calls": 2, "chunks": 2}
    assert merged["records"]["largest_record_bytes"] == 200


def test_summed_stats_adds_two_runs_calls_kind_by_kind() -> None:
    first = {"invocations": 1, "aws": {"calls": {"a": 1, "b": 2}, "seconds": {"a": 0.5}}}
    second = {"invocations": 2, "aws": {"calls": {"a": 3, "c": 4}, "seconds": {"a": 0.25}}}

    summed = summed_stats(first, second)

    assert summed["invocations"] == 3
    assert summed["aws"]["calls"] == {"a": 4, "b": 2, "c": 4}
    assert summed["aws"]["seconds"] == {"a": 0.75}
