"""What the deliveries table's claims, log and listings share: the injected table, its low-level client's
updates, and calls run side by side."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from boto3.dynamodb.conditions import ConditionBase, ConditionExpressionBuilder

_PARALLEL_CALLS = 10


def built_query(key_condition: ConditionBase, filter_condition: ConditionBase | None = None) -> dict[str, Any]:
    """A query's key condition (and filter) as expression strings with their placeholders, built by a builder
    of this call's own. Queries made side by side must not hand condition objects to the client: its one
    shared builder renumbers placeholders per request, so two threads can each send the other's names
    (`#n0 = :v0 AND #n0 < :v1`, refused as "missed key schema element"; boto/boto3#1332)."""
    builder = ConditionExpressionBuilder()
    key = builder.build_expression(key_condition, is_key_condition=True)
    query = {
        "KeyConditionExpression": key.condition_expression,
        "ExpressionAttributeNames": dict(key.attribute_name_placeholders),
        "ExpressionAttributeValues": dict(key.attribute_value_placeholders),
    }
    if filter_condition is not None:
        wanted = builder.build_expression(filter_condition)  # the same builder: its placeholders go on counting
        query["FilterExpression"] = wanted.condition_expression
        query["ExpressionAttributeNames"].update(wanted.attribute_name_placeholders)
        query["ExpressionAttributeValues"].update(wanted.attribute_value_placeholders)
    return query


class DeliveriesTable:
    """The deliveries table resource (injected) and a pool for calls made side by side."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self._pool: ThreadPoolExecutor | None = None

    def _update(self, arguments: dict[str, Any]) -> dict[str, Any]:
        # The resource's low-level client (thread-safe, unlike the Table resource) with its value serializer.
        return self._table.meta.client.update_item(TableName=self._table.name, **arguments).get("Attributes", {})

    def _parallel(self, call: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        if len(items) <= 1:
            return [call(item) for item in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=_PARALLEL_CALLS, thread_name_prefix="deliveries")
        # Every call runs even when one fails (map would drop the ones not started yet): a throttled write must
        # not leave the job's other outcomes unwritten. The first failure is raised once all are done.
        futures = [self._pool.submit(call, item) for item in items]
        wait(futures)
        for future in futures:
            error = future.exception()
            if error is not None:
                raise error
        return [future.result() for future in futures]
