"""The linking flows in a real headless Chromium (Debian's chromium and chromedriver; nothing is downloaded).

The local stack runs in a child process. It cannot run in this one: a process holds at most one LocalStack
(the functions are imported once, with the first stack's environment), and `make test` collects this folder
before tests/integration, whose session-wide `stack` fixture would then start a second one. Re-exporting that
fixture from here does not share it either: pytest makes one instance per conftest that defines it. So the
child starts `LocalStack(state_dir=<tmp>, visibility_timeout=5)`, writes its description next to its dev
signing key, and stops when its stdin closes; this process mints WORKPLACE tokens with that same key, as
`make token` does, and talks to the stack over loopback only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.local_stack.identity import DevIssuer
from infra.sandbox import SandboxClient
from infra.sandbox.server import SANDBOX_PATHS
from infra.template import ROOT
from tests.integration.helpers import Api, user

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
STARTUP_SECONDS = 60.0

CHILD = """
import json, sys
from pathlib import Path
from infra.local_stack import LocalStack

state_dir = Path(sys.argv[1])
stack = LocalStack(state_dir=state_dir, visibility_timeout=5).start()
try:
    description = {**stack.description(), "tokens": {}}
    (state_dir / "stack.tmp").write_text(json.dumps(description))
    (state_dir / "stack.tmp").rename(state_dir / "stack.json")
    sys.stdin.read()  # until the test session closes our stdin (or ends)
finally:
    stack.stop()
"""


@dataclass(frozen=True)
class RemoteStack:
    """The parts of a LocalStack the browser tests use, for a stack in a child process."""

    api_url: str
    sandbox_url: str
    aws_endpoint_url: str
    provider_env: dict[str, str]
    issuer: DevIssuer

    def token(self, company_id: str, user_id: str, role: str, **claims: Any) -> str:
        return self.issuer.mint(company_id, user_id, role, **claims)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteStack]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(f"{CHROMIUM} and {CHROMEDRIVER} are needed (make browser installs Debian's chromium)")
    state_dir = tmp_path_factory.mktemp("browser-stack")
    # Not this process's provider endpoints: an in-process stack (tests/integration) points them at its sandbox.
    inherited = {k: v for k, v in os.environ.items() if k not in SANDBOX_PATHS and k != "AWS_ENDPOINT_URL"}
    env = {**inherited, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "shared")])}
    with (state_dir / "stack.log").open("wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(state_dir)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        description_file = state_dir / "stack.json"
        while not description_file.exists():
            if child.poll() is not None or time.monotonic() > deadline:
                tail = (state_dir / "stack.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"the local stack did not start (exit {child.poll()}):\n{tail}")
            time.sleep(0.1)
        description = json.loads(description_file.read_text())
        issuer = DevIssuer(state_dir / "dev-signing-key.pem", description["issuer"], description["audience"])
        yield RemoteStack(
            api_url=description["api_url"],
            sandbox_url=description["sandbox_url"],
            aws_endpoint_url=description["aws_endpoint_url"],
            provider_env=description["provider_endpoints"],
            issuer=issuer,
        )
    finally:
        assert child.stdin is not None
        child.stdin.close()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.terminate()
            child.wait(timeout=5)


@pytest.fixture
def sandbox(stack: RemoteStack) -> Iterator[SandboxClient]:
    client = SandboxClient(stack.sandbox_url)
    client.reset()
    yield client
    client.reset()
    client.close()


@pytest.fixture
def company_id() -> str:
    return f"co-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def api_as(stack: RemoteStack) -> Callable[..., Api]:
    def make(company_id: str, user_id: str, role: str = "member") -> Api:
        return Api(stack, company_id, user_id, role)  # type: ignore[arg-type]

    return make


@pytest.fixture
def admin(api_as: Callable[..., Api], company_id: str) -> Api:
    return api_as(company_id, user(company_id, "admin"), "admin")


@pytest.fixture
def member(api_as: Callable[..., Api], company_id: str) -> Api:
    return api_as(company_id, user(company_id, "taro"), "member")


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Callable[[str], Any]]:
    """Start headless Chromium speaking a language (`--lang` and Accept-Language); quit every one at the end."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers: list[Any] = []

    def start(lang: str) -> Any:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        profile = tmp_path / f"profile-{len(drivers)}"
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=800,1000",
            f"--lang={lang}",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(argument)
        options.add_experimental_option("prefs", {"intl.accept_languages": lang})
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
        driver.set_page_load_timeout(20)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()
