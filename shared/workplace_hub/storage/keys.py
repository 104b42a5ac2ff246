"""DynamoDB's size limits, and keys built from outside input that fit them by construction.

DynamoDB refuses a partition key over 2,048 bytes, a sort key over 1,024 bytes (UTF-8 bytes, index keys
alike) and an item over 400 KB. Outside input reaches keys: a contract-valid `user_id` of 256 four-byte
characters is 1,024 bytes on its own. So every key part the hub builds from outside input goes through `fit`,
and items that outside input can grow are measured with `item_size` before they are written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

PARTITION_KEY_BYTES = 2048
SORT_KEY_BYTES = 1024
ITEM_BYTES = 400 * 1024

_DIGEST_MARK = "~sha256:"
_DIGEST_CHARS = 64
# The shortest budget `fit` accepts: the mark and the digest, and a few bytes of readable prefix.
MIN_FIT_BYTES = len(_DIGEST_MARK) + _DIGEST_CHARS + 8


def fit(value: str, max_bytes: int) -> str:
    """`value` unchanged when its UTF-8 form has at most `max_bytes` bytes; else a readable prefix of it, the
    mark `~sha256:` and the SHA-256 of the whole value, `max_bytes` at most. Distinct values keep distinct
    keys (a long value's key is its digest), and a value that fits keeps the key it always had."""
    if max_bytes < MIN_FIT_BYTES:
        raise ValueError(f"a key part needs at least {MIN_FIT_BYTES} bytes")
    encoded = value.encode("utf-8")
    if len(encoded) <= max_bytes:
        return value
    room = max_bytes - len(_DIGEST_MARK) - _DIGEST_CHARS
    # Cut on a character boundary: a split multi-byte character is dropped, never half-encoded.
    prefix = encoded[:room].decode("utf-8", "ignore")
    return f"{prefix}{_DIGEST_MARK}{hashlib.sha256(encoded).hexdigest()}"


def byte_size(value: str) -> int:
    return len(value.encode("utf-8"))


def item_size(item: Mapping[str, Any]) -> int:
    """An upper bound of the size DynamoDB bills an item at: attribute names and values, as UTF-8 bytes (a
    number counted as its digits, a map or list with its per-element overhead)."""
    return sum(byte_size(name) + _value_size(value) for name, value in item.items())


def _value_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return byte_size(value)
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, int | float | Decimal):
        return len(str(value)) + 1
    if isinstance(value, Mapping):
        return 3 + sum(byte_size(str(k)) + _value_size(v) + 1 for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return 3 + sum(_value_size(v) + 1 for v in value)
    return byte_size(str(value))
