"""`make test`'s pytest: the local-stack tests in two lanes and the in-process tests, as three pytest runs side by side.

The local-stack tests (tests/integration, tests/browser) mostly wait (retry delays, read timeouts, visibility
timeouts); the others (unit, contract, sandbox, build) mostly compute. The local-stack tests run in two lanes, each
a pytest run with a local stack of its own (ports chosen by the OS, its own state directory): SECOND_LANE holds the
files that wait longest, about half of all the waiting, and the first lane the rest. Together the three runs take
about as long as the longest lane alone. The first lane reports as it goes; the others' reports follow when all
have ended. The exit status is the first failing run's. Extra arguments go to every run.
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


def _ignoring(paths: tuple[str, ...]) -> list[str]:
    return [f"--ignore={path}" for path in paths]


def main(argv: list[str]) -> int:
    pytest = [sys.executable, "-m", "pytest"]
    first_lane = [*pytest, *LOCAL_STACK_TESTS, *_ignoring(SECOND_LANE), *argv]
    second_lane = [*pytest, *SECOND_LANE, *argv]
    in_process = [*pytest, *_ignoring(LOCAL_STACK_TESTS), *argv]
    reports: list[tuple[str, IO[str], subprocess.Popen[bytes]]] = []
    with ExitStack() as files:
        try:
            for title, command in (
                (f"local-stack tests, second lane ({', '.join(SECOND_LANE)})", second_lane),
                ("in-process tests (everything but tests/integration and tests/browser)", in_process),
            ):
                report = files.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))
                reports.append((title, report, subprocess.Popen(command, stdout=report, stderr=subprocess.STDOUT)))
            first = subprocess.run(first_lane, check=False)
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
