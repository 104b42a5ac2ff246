"""moto's TransactWriteItems, affordable: moto rolls a cancelled transaction back by deep-copying every table it
touches before each call (0.7 s a call with 1,000 records in the table, 4.3 s with 5,000), which the senders'
windowed claims would pay on every window. `install()` keeps moto's own checks and results and rolls back only
the items the transaction names: saved before, put back (or deleted) when it is cancelled or fails.

Used by the local stack's moto server and the unit tests' in-process moto (both run moto in this process).
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from moto.dynamodb import models
from moto.dynamodb.models.table import Table

_state = threading.local()
_original = models.DynamoDBBackend.transact_write_items


class _CopyInTransactions:
    """`copy` as moto's DynamoDB backend module sees it: inside a transaction, a table's "snapshot" is the table
    itself (its touched items are saved instead); everything else is copied as before."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if getattr(_state, "active", False) and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)

    copy = staticmethod(copy.copy)


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    saved: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
    for entry in transact_items:
        _, operation = next(iter(entry.items()))
        name = operation.get("TableName")
        table = self.tables.get(name)
        if table is None:
            continue
        key = operation.get("Key") or {
            attribute: operation["Item"][attribute]
            for attribute in (table.hash_key_attr, table.range_key_attr)
            if attribute and attribute in operation.get("Item", {})
        }
        current = self.get_item(name, key)
        saved.append((name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
    _state.active = True
    try:
        return _original(self, transact_items)
    except Exception:
        for name, key, attributes in reversed(saved):
            if attributes is None:
                if self.get_item(name, key) is not None:
                    self.delete_item(name, key)
            else:
                self.tables[name].put_item(attributes)
        raise
    finally:
        _state.active = False


def install() -> None:
    """Patch moto's DynamoDB backend (idempotent)."""
    if models.DynamoDBBackend.transact_write_items is not _transact_write_items:
        models.copy = _CopyInTransactions  # type: ignore[assignment]
        models.DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
