"""Every test directory: the hypothesis profile (tests/fuzzing.py) is loaded before any test module."""

import tests.fuzzing  # noqa: F401  (registers and loads the profile)
