"""`make run` / `make token` as a newcomer types them (no PYTHONPATH, options through make, no $USER mix-up)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from infra.local_stack import token
from infra.local_stack.stack import PortInUseError, ensure_free

ROOT = Path(__file__).resolve().parents[2]


def _make_dry_run(*arguments: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """`make -n`: prints the commands a target would run, runs none."""
    env = {"PATH": os.environ["PATH"], **environ}
    return subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(ROOT), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _last_command(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.strip().splitlines()[-1]


def test_python_m_local_stack_help_works_without_pythonpath() -> None:
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}

    result = subprocess.run(
        [sys.executable, "-m", "infra.local_stack", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "--api-port" in result.stdout and "--clean" in result.stdout


def test_make_run_passes_args_to_the_stack() -> None:
    result = _make_dry_run("run", "ARGS=--api-port 3001 --clean")

    assert _last_command(result).endswith("-m infra.local_stack --api-port 3001 --clean")


def test_make_token_takes_the_user_from_user_id_not_the_shells_user() -> None:
    result = _make_dry_run("token", "USER_ID=hanako@acme.example", "ROLE=admin", USER="login-name")

    assert result.returncode == 0, result.stderr
    command = _last_command(result)
    assert '--user "hanako@acme.example"' in command and '--role "admin"' in command
    assert "login-name" not in command


def test_make_token_refuses_an_empty_user_even_when_the_shell_has_user() -> None:
    result = _make_dry_run("token", USER="login-name")

    assert result.returncode != 0
    assert "USER_ID is empty" in result.stderr
    assert "--user" not in result.stdout


def test_the_token_command_refuses_an_empty_user(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        token.main(["--company", "acme", "--user", "", "--role", "admin"])

    assert exited.value.code == 2
    assert "the user is empty" in capsys.readouterr().err


def test_ensure_free_names_a_port_something_listens_on() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(PortInUseError, match=rf"port {port} \(API gateway\)"):
            ensure_free("127.0.0.1", port, "API gateway")


def test_ensure_free_lets_a_free_port_and_port_0_pass() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ensure_free("127.0.0.1", port, "API gateway")
    ensure_free("127.0.0.1", 0, "API gateway")
