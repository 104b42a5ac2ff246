"""Hypothesis profiles: `quick`, the default and what CI (`make test`) runs, and `thorough` (`make test-thorough`).

Both are derandomized (the same examples on every run, so a failure is never a matter of luck) and write nothing to
.hypothesis/. The profile is chosen by HYPOTHESIS_PROFILE; a property that needs its own number of examples asks
`examples()` for it, so both profiles size it.
"""

from __future__ import annotations

import os

from hypothesis import settings

QUICK, THOROUGH = "quick", "thorough"

settings.register_profile(QUICK, max_examples=10, derandomize=True, database=None, deadline=None)
settings.register_profile(THOROUGH, max_examples=100, derandomize=True, database=None, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", QUICK))


def examples(*, quick: int, thorough: int) -> int:
    """How many examples a property runs under the current profile."""
    return thorough if settings.get_current_profile_name() == THOROUGH else quick
