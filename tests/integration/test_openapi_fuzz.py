"""Schemathesis against the hub's own OpenAPI document, on the local stack (loopback only).

The document is the one the stack serves (`GET /openapi.json`, no token). Every operation in it is fuzzed as the
admin of a fresh company, with schemathesis' stateless phases (examples, coverage, fuzzing): no 5xx, every
answer's status code, content type, headers and body as the document declares them, schema-violating requests
refused, and no operation that works without its token. Every operation the document marks as needing a token
is also called with bad tokens, which the gateway must refuse with 401 before any handler runs.

The document covers every route a WORKPLACE token opens: the settings API's and the linking function's
(`/me/links/{provider}/authorize`, `/me/calendars`, `/me/calendar-options`). OAuth callbacks and provider
webhooks, for browsers and providers, are not in it (their own tests forge, replay and corrupt them).

Schemathesis runs as its CLI (`st run`), in a subprocess against the stack's gateway: its pytest plugin's lazy
loader (`schemathesis.pytest.from_fixture`, the only way to fuzz a schema that exists once a fixture ran)
reads `Node._nodeid`, which pytest 9 no longer has. The CLI's JSON report is what the test asserts on; its text
output (failures with a curl command each, tokens filtered) is in the assertion message.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from infra.local_stack import LocalStack
from tests.fuzzing import examples
from tests.integration.helpers import BAD_AUTHORIZATION, user

pytestmark = pytest.mark.integration

# Stateless checks only (no stateful phase: no links between operations are declared).
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "ignored_auth",
)
# Per operation, in the fuzzing phase (the hypothesis profile's size: tests/fuzzing.py); the coverage phase adds
# its own deterministic cases whatever the profile.
MAX_EXAMPLES = examples(quick=15, thorough=100)
RUN_TIMEOUT = 150 if MAX_EXAMPLES < 50 else 600  # seconds; a quick run takes about 20 s on the 2-core machine

# Excluded: TRACE and QUERY requests to the documented paths (the coverage phase's "unexpected method" probes).
# The local gateway is an http.server with no handler for those two methods, so http.server itself answers 501
# before any route or function runs (API Gateway answers 404); nothing of the hub is left out. No operation is
# excluded: every provider host points at the sandbox on loopback (asserted below), so sends, verifications and
# test messages stay on this machine.
SCHEMATHESIS_CONFIG = """
[phases.coverage]
unexpected-methods = ["get", "put", "post", "delete", "options", "patch"]
"""


# ------------------------------------------------------------------------------------------- the document


def _document(stack: LocalStack) -> dict[str, Any]:
    response = requests.get(f"{stack.api_url}/openapi.json", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) for every operation of the document."""
    methods = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
    return [
        (method.upper(), path, operation)
        for path, item in document.get("paths", {}).items()
        for method, operation in item.items()
        if method in methods
    ]


def _needs_token(document: dict[str, Any], operation: dict[str, Any]) -> bool:
    """The operation's security (or the document's): some requirement, and no empty one (anonymous allowed)."""
    security = operation.get("security", document.get("security", []))
    return bool(security) and all(requirement for requirement in security)


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        target: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def _concrete_path(document: dict[str, Any], path: str, operation: dict[str, Any]) -> str:
    """The path with each parameter filled in: the first value its schema allows, or a plain word."""
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path":
            schema = _resolve(document, parameter.get("schema", {}))
            value = schema.get("enum", ["someone"])[0]
            path = path.replace("{" + parameter["name"] + "}", str(value))
    return path


# ------------------------------------------------------------------------------------------- loopback only


def _is_loopback(host: Any) -> bool:
    if host in (None, "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture
def outbound(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Refuses (and records) every connection or name lookup of this process, hub included, off loopback."""
    attempts: list[Any] = []
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def refuse(target: Any) -> OSError:
        attempts.append(target)
        return ConnectionRefusedError(f"this test only talks to loopback (tried {target!r})")

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise refuse(address)
        return connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise refuse(address)
        return connect_ex(self, address)

    def guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host.decode() if isinstance(host, bytes) else host):
            raise refuse((host, port))
        return getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield attempts


# ------------------------------------------------------------------------------------------- fuzzing


def _schemathesis(stack: LocalStack, token: str, workdir: Path, selection: list[str]) -> tuple[dict[str, Any], str]:
    """Run `st run` against the stack (on the operations `selection` picks); returns its JSON report and output."""
    config, report = workdir / "schemathesis.toml", workdir / "report.json"
    config.write_text(SCHEMATHESIS_CONFIG)
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{stack.api_url}/openapi.json",
        *selection,
        "--header",
        f"Authorization: Bearer {token}",
        "--phases",
        "examples,coverage,fuzzing",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        # Derandomized: the same cases every run, and no example database (schemathesis ignores --seed then);
        # schemathesis always turns Hypothesis' deadline off.
        "--generation-deterministic",
        "--continue-on-failure",
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
    ]
    environment = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    finished = subprocess.run(
        command, cwd=workdir, env=environment, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    output = finished.stdout + finished.stderr
    assert report.exists(), output
    return json.loads(report.read_text()), output


def test_every_operation_of_the_document_conforms_under_fuzzing(
    stack: LocalStack, company_id: str, tmp_path: Path, outbound: list[Any]
) -> None:
    # GIVEN the served document, every provider host on loopback, and the admin of a fresh company
    document = _document(stack)
    operations = _operations(document)
    assert {"/me/links/{provider}/authorize", "/me/calendars", "/me/calendar-options"} <= set(document["paths"])
    off_loopback = {name: url for name, url in stack.provider_env.items() if not _is_loopback(urlsplit(url).hostname)}
    assert not off_loopback, f"unset these to fuzz against the sandbox only: {sorted(off_loopback)}"
    token = stack.token(company_id, user(company_id, "admin"), "admin")

    # WHEN schemathesis runs its stateless phases against every one of those operations
    report, output = _schemathesis(stack, token, tmp_path, [])

    # THEN it tested each of them, and no check failed and nothing errored
    summary = (
        f"schemathesis: {report['operations']['tested']} operations, {report['test_cases']['generated']} test cases, "
        f"{report['test_cases']['unique_failures']} unique failures, {len(report['errors'])} errors, "
        f"{report['running_time']:.1f} s"
    )
    print(summary)
    assert report["operations"]["selected"] == report["operations"]["tested"] == len(operations), output
    assert report["exit_code"] == 0 and not report["failures"] and not report["errors"], f"{summary}\n{output}"
    # AND the hub never tried to reach anything but loopback
    assert outbound == []


# ------------------------------------------------------------------------------------------- bad tokens


@pytest.mark.parametrize("case", sorted(BAD_AUTHORIZATION))
def test_every_operation_that_needs_a_token_refuses_a_bad_one(stack: LocalStack, company_id: str, case: str) -> None:
    # GIVEN every operation the document says needs a token, and a request header carrying no usable one
    document = _document(stack)
    guarded = [(method, path, op) for method, path, op in _operations(document) if _needs_token(document, op)]
    assert guarded, "the document marks no operation as needing a token"
    authorization = BAD_AUTHORIZATION[case](stack, company_id)
    headers = {"Authorization": authorization} if authorization is not None else {}
    invocations_before = {name: function.invocations for name, function in stack.functions.items()}

    # WHEN each of them is called with it
    answers = {
        f"{method} {path}": requests.request(
            method, stack.api_url + _concrete_path(document, path, operation), headers=headers, timeout=10
        )
        for method, path, operation in guarded
    }

    # THEN every one is refused with 401, and no handler ran
    assert {name: answer.status_code for name, answer in answers.items()} == {name: 401 for name in answers}
    assert {name: function.invocations for name, function in stack.functions.items()} == invocations_before
