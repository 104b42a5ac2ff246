"""What the deliveries table's claims, log and listings share: the injected table, its low-level client's
updates, and calls run side by side."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

_PARALLEL_CALLS = 10


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
