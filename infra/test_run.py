"""`make test`'s pytest: the local-stack tests and the in-process tests side by side, as two pytest runs.

The local-stack tests (tests/integration, tests/browser) mostly wait (retry delays, visibility timeouts); the
others (unit, contract, sandbox, build) mostly compute. Run together they take about as long as the first run
alone. The local-stack run reports as it goes; the in-process run's report follows when both have ended. The
exit status is the first failing run's. Extra arguments go to both runs.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile

LOCAL_STACK_TESTS = ("tests/integration", "tests/browser")


def main(argv: list[str]) -> int:
    pytest = [sys.executable, "-m", "pytest"]
    in_process_args = [*pytest, *(f"--ignore={path}" for path in LOCAL_STACK_TESTS), *argv]
    with tempfile.TemporaryFile("w+", encoding="utf-8") as report:
        in_process = subprocess.Popen(in_process_args, stdout=report, stderr=subprocess.STDOUT)
        try:
            local_stack = subprocess.run([*pytest, *LOCAL_STACK_TESTS, *argv], check=False)
        finally:
            in_process.wait()
        report.seek(0)
        print("\n======== in-process tests (everything but tests/integration and tests/browser) ========")
        sys.stdout.write(report.read())
    return local_stack.returncode or in_process.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
