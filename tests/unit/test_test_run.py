"""`make test`'s lanes (infra/test_run.py): every local-stack test runs in exactly one lane."""

from __future__ import annotations

from pathlib import Path

from infra.test_run import LOCAL_STACK_TESTS, SECOND_LANE

ROOT = Path(__file__).resolve().parents[2]


def test_the_second_lane_names_existing_local_stack_test_files_and_not_the_one_on_fixed_ports() -> None:
    # A file renamed or moved without this list would stop the second lane with "file not found": named here.
    for path in SECOND_LANE:
        assert (ROOT / path).is_file(), path
        assert Path(path).parts[:2] in [tuple(Path(folder).parts) for folder in LOCAL_STACK_TESTS], path
    # Binds the README's ports: two lanes must never both run it.
    assert "tests/integration/test_readme_walkthrough.py" not in SECOND_LANE
    assert len(set(SECOND_LANE)) == len(SECOND_LANE)
