"""`make test`'s lanes and `make unit`'s halves (infra/test_run.py): every test runs in exactly one of the runs."""

from __future__ import annotations

from pathlib import Path

from infra.test_run import LOCAL_STACK_TESTS, SECOND_LANE, UNIT_SECOND_HALF, UNIT_TESTS, runs

ROOT = Path(__file__).resolve().parents[2]


def _named_in(paths: tuple[str, ...], folders: tuple[str, ...], *, is_file: bool) -> None:
    # A path renamed or moved without these lists would stop its run with "file not found": named here.
    for path in paths:
        assert (ROOT / path).is_file() if is_file else (ROOT / path).is_dir(), path
        assert any(Path(path).is_relative_to(folder) for folder in folders), path
    assert len(set(paths)) == len(paths)


def test_the_second_lane_names_existing_local_stack_test_files_and_not_the_one_on_fixed_ports() -> None:
    _named_in(SECOND_LANE, LOCAL_STACK_TESTS, is_file=True)
    # Binds the README's ports: two lanes must never both run it.
    assert "tests/integration/test_readme_walkthrough.py" not in SECOND_LANE


def test_the_second_unit_half_names_existing_unit_test_folders() -> None:
    _named_in(UNIT_SECOND_HALF, UNIT_TESTS, is_file=False)


def test_each_run_ignores_what_another_runs() -> None:
    (_, first), (_, second), (_, in_process) = runs(["-x"])
    assert [f"--ignore={path}" for path in SECOND_LANE] == [a for a in first if a.startswith("--ignore")]
    assert [a for a in second if a.startswith("tests/")] == list(SECOND_LANE)
    assert [f"--ignore={path}" for path in LOCAL_STACK_TESTS] == [a for a in in_process if a.startswith("--ignore")]
    (_, unit_first), (_, unit_second) = runs(["--unit", "-x"])
    assert [f"--ignore={path}" for path in UNIT_SECOND_HALF] == [a for a in unit_first if a.startswith("--ignore")]
    assert [a for a in unit_second if a.startswith("tests/")] == list(UNIT_SECOND_HALF)
    # Extra arguments go to every run; --unit itself to none
    assert all(command[-1] == "-x" and "--unit" not in command for command in (first, second, unit_first, unit_second))
