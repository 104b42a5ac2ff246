"""`make test`'s and `make unit`'s pytest: several pytest runs side by side, one report after another.

`make test`: the local-stack tests (tests/integration, tests/browser) mostly wait (retry delays, read timeouts,
visibility timeouts); the others (unit, contract, sandbox, build) mostly compute. The local-stack tests run in two
lanes, each a pytest run with a local stack of its own (ports chosen by the OS, its own state directory):
SECOND_LANE holds the files that wait longest, about half of all the waiting, and the first lane the rest. Together
the three runs take about as long as the longest lane alone.

`make unit` (`--unit`): the unit and contract tests, which only compute, in two runs, one per core of the 2-core
machine (UNIT_SECOND_HALF: about half of their time); each has its own in-process AWS.

The first run reports as it goes; the others' reports follow when all have ended. The exit status is the first
failing run's. Extra arguments go to every run.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from contextlib import ExitStack
from typing import IO

LOCAL_STACK_TESTS = ("tests/integration", "tests/browser")
# Most of these wait 30 s or more in all (the retry backoffs after timeouts and 5xx answers, the AlimTalk result
# window, schemathesis' run, `make run` started and restarted in child processes). The first lane keeps
# test_readme_walkthrough.py, the only one that binds fixed ports (the README's).
SECOND_LANE = (
    "tests/integration/test_openapi_fuzz.py",
    "tests/integration/test_kakao_delivery.py",
    "tests/integration/test_calendar_registration.py",
    "tests/integration/test_local_stack_run.py",
    "tests/integration/test_line_delivery.py",
    "tests/integration/test_failures.py",  # ~20 s: evens the lanes out (first lane ~415 s, second ~370 s before)
)
UNIT_TESTS = ("tests/unit", "tests/contract")
# The pipeline's stages (the router fuzz among them) and linking: about half of the unit tests' CPU time.
UNIT_SECOND_HALF = ("tests/unit/routing", "tests/unit/calendars", "tests/unit/delivery", "tests/unit/linking")

PYTEST = (sys.executable, "-m", "pytest")


def _ignoring(paths: tuple[str, ...]) -> list[str]:
    return [f"--ignore={path}" for path in paths]


def runs(argv: list[str]) -> list[tuple[str, list[str]]]:
    """(title, command) of each pytest run, the one that reports as it goes first."""
    if argv[:1] == ["--unit"]:
        extra = argv[1:]
        return [
            ("unit and contract tests, first half", [*PYTEST, *UNIT_TESTS, *_ignoring(UNIT_SECOND_HALF), *extra]),
            (f"unit tests, second half ({', '.join(UNIT_SECOND_HALF)})", [*PYTEST, *UNIT_SECOND_HALF, *extra]),
        ]
    return [
        ("local-stack tests, first lane", [*PYTEST, *LOCAL_STACK_TESTS, *_ignoring(SECOND_LANE), *argv]),
        (f"local-stack tests, second lane ({', '.join(SECOND_LANE)})", [*PYTEST, *SECOND_LANE, *argv]),
        (
            "in-process tests (everything but tests/integration and tests/browser)",
            [*PYTEST, *_ignoring(LOCAL_STACK_TESTS), *argv],
        ),
    ]


def main(argv: list[str]) -> int:
    (_, first_command), *others = runs(argv)
    reports: list[tuple[str, IO[str], subprocess.Popen[bytes]]] = []
    with ExitStack() as files:
        try:
            for title, command in others:
                report = files.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))
                reports.append((title, report, subprocess.Popen(command, stdout=report, stderr=subprocess.STDOUT)))
            first = subprocess.run(first_command, check=False)
        finally:
            for _, _, process in reports:
                process.wait()
        codes = [first.returncode]
        for title, report, process in reports:
            report.seek(0)
            print(f"\n======== {title} ========")
            sys.stdout.write(report.read())
            codes.append(process.returncode)
    return next((code for code in codes if code), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
