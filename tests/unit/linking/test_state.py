"""A callback's `state` is the caller's text: whatever it holds, a forged one is `state_invalid`, never a 500."""

from __future__ import annotations

import pytest

from workplace_hub.linking.state import OAuthStateError, OAuthStateStore


class NoTable:
    """A forged state must be refused before any lookup."""

    def __getattr__(self, name: str) -> None:
        raise AssertionError(f"the table was used: {name}")


@pytest.mark.parametrize(
    "token",
    ["abc.日本語", "日本語.abc", "a" * 5000 + ".x", "abc.", ".abc", "", None, "abc.\u00e9"],
    ids=["non-ASCII signature", "non-ASCII id", "long id", "no signature", "no id", "empty", "none", "latin-1"],
)
def test_a_forged_state_is_refused_as_invalid(token: str | None) -> None:
    store = OAuthStateStore(NoTable(), lambda: b"k" * 32)
    with pytest.raises(OAuthStateError) as refused:
        store.consume(token, "line")
    assert refused.value.code == "state_invalid"
