"""`python -m infra.local_stack` (what `make run` starts) in a child process, for the tests of `make run` itself."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.integration.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
BANNER = "local stack is up"


def child_environment() -> dict[str, str]:
    """A newcomer's shell: no PYTHONPATH, and none of the variables the session's own stack set in this process."""
    return {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RunningStack:
    """One run of the local stack; `stop()` sends SIGINT, as Ctrl-C in its terminal does."""

    def __init__(self, state_dir: Path, *options: str) -> None:
        self.state_dir = state_dir
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "infra.local_stack", "--state-dir", str(state_dir), *options],
            cwd=ROOT,
            env=child_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    @property
    def text(self) -> str:
        return "".join(self.output)

    def wait_until_up(self) -> dict[str, Any]:
        """The stack's description (.local/stack.json) once the banner is out."""
        wait_for(lambda: BANNER in self.text or self.process.poll() is not None, timeout=180, interval=0.2)
        assert BANNER in self.text, f"the stack did not start:\n{self.text[-3000:]}"
        return json.loads((self.state_dir / "stack.json").read_text())

    def exit_code(self, timeout: float = 120) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> RunningStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
