"""README's "Try it by hand" (and its Kakao example) run exactly as written, on `make run`'s default ports.

The walkthrough's second block and the Kakao example are given to bash unchanged, in a directory laid out like
the checkout (`.local/` of this run, `.venv`). `curl` on the PATH is the real curl that also records each
answer's status and body (curl prints only the body), so that each `# → <status> {fields}` line of README is
checked against the answer of the command above it. The ports are README's own (3000, 5000, 4010): CI has them
free, and a taken one fails the test at once, naming it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.local_stack.aws import client
from infra.local_stack.stack import PortInUseError, ensure_free
from tests.integration.helpers import FINAL_STATUSES, notification, wait_for
from tests.integration.running_stack import ROOT, RunningStack, child_environment

README = ROOT / "README.md"
DEFAULT_PORTS = {3000: "API gateway", 5000: "AWS / moto server", 4010: "provider sandbox"}
EXPECTED = re.compile(r"^#\s*→\s*(?P<status>\d{3})\b\s*(?P<rest>.*)$")

CURL_RECORDER = """#!/bin/sh
# curl as README runs it, also recording each answer's status and body for the test.
body=$(mktemp)
status=$("$REAL_CURL" -sS -o "$body" -w '%{http_code}' "$@") || { rc=$?; cat "$body"; rm -f "$body"; exit $rc; }
cat "$body"
{ printf '%s ' "$status"; tr -d '\\n' < "$body"; printf '\\n'; } >> "$CURL_LOG"
rm -f "$body"
"""


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", markdown, flags=re.DOTALL | re.MULTILINE)


def section(markdown: str, heading: str) -> str:
    start = markdown.index(f"\n{heading}\n")
    following = re.search(r"^#{2,3} ", markdown[start + len(heading) + 2 :], flags=re.MULTILINE)
    return markdown[start : start + len(heading) + 2 + following.start()] if following else markdown[start:]


def walkthrough(markdown: str) -> tuple[str, str]:
    """README's two blocks of "Try it by hand": what starts the stack, and the commands to run against it."""
    start, commands = shell_blocks(section(markdown, "### Try it by hand"))
    return start, commands


def kakao_example(markdown: str) -> str:
    (block,) = [block for block in shell_blocks(markdown) if "/admin/integrations/kakao" in block]
    return block


def expectations(script: str) -> list[tuple[int, dict[str, Any] | None] | None]:
    """Per curl command of `script`, in order: the status and fields its `# →` line shows (None: no such line)."""
    found: list[tuple[int, dict[str, Any] | None] | None] = []
    for line in script.splitlines():
        if line.startswith("curl "):
            found.append(None)
        match = EXPECTED.match(line.strip())
        if match and found:
            rest = match["rest"]
            found[-1] = (int(match["status"]), json.loads(rest) if rest.startswith("{") else None)
    return found


def contains(actual: Any, shown: Any) -> bool:
    """The answer has every field README shows, with the value shown (answers have more fields)."""
    if isinstance(shown, dict):
        return isinstance(actual, dict) and all(k in actual and contains(actual[k], v) for k, v in shown.items())
    return actual == shown


def test_the_parser_reads_statuses_and_fields_of_the_answers() -> None:
    script = (
        'A=1\ncurl -X PUT x -d \'{\n  "a": 1}\'\n# → 400 {"error": "invalid_setting"}\n'
        "curl y\ncurl z\n# → 200 (a second later: sent)\n"
    )
    assert expectations(script) == [(400, {"error": "invalid_setting"}), None, (200, None)]
    assert contains({"error": "invalid_setting", "field": "f", "n": {"a": 1, "b": 2}}, {"n": {"a": 1}})
    assert not contains({"error": "invalid_request"}, {"error": "invalid_setting"})


def _routed_delivery(described: dict[str, Any], event_id: str) -> str | None:
    answer = requests.get(
        f"{described['api_url']}/admin/deliveries",
        params={"event_id": event_id},
        headers={"Authorization": f"Bearer {described['tokens']['admin']}"},
        timeout=30,
    ).json()
    statuses = [d["status"] for d in answer["deliveries"] if d["status"] in FINAL_STATUSES]
    return statuses[0] if statuses else None


def test_the_readme_walkthrough_works_as_written(tmp_path: Path) -> None:
    markdown = README.read_text(encoding="utf-8")
    start, commands = walkthrough(markdown)
    script = commands + "\n" + kakao_example(markdown)
    assert start.strip() == "make run"
    for port, what in DEFAULT_PORTS.items():
        try:
            ensure_free("127.0.0.1", port, what)
        except PortInUseError as taken:
            pytest.fail(f"{taken}: README's walkthrough uses the default ports")
    real_curl = shutil.which("curl")
    assert real_curl, "the walkthrough needs curl"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "curl").write_text(CURL_RECORDER)
    (bin_dir / "curl").chmod(0o755)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    curl_log = tmp_path / "curl.log"

    # GIVEN `make run`'s stack on its default ports, whose router already routed an event of acme before anything
    # was set up (a newcomer trying things): it has read acme's settings, with no routing, once
    with RunningStack(tmp_path / ".local") as run:
        described = run.wait_until_up()
        early = notification("acme", [{"user_id": "taro.yamada@acme.example"}])
        sqs = client("sqs", described["aws_endpoint_url"])
        sqs.send_message(QueueUrl=described["queues"]["WorkplaceEventsQueue"], MessageBody=json.dumps(early))
        assert wait_for(lambda: _routed_delivery(described, early["event_id"]), timeout=60) == "skipped"

        # WHEN README's commands run as written, from a directory laid out like the checkout
        env = {
            **child_environment(),
            "PATH": f"{bin_dir}:{child_environment()['PATH']}",
            "REAL_CURL": real_curl,
            "CURL_LOG": str(curl_log),
        }
        ran = subprocess.run(
            ["bash", "-eu", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert ran.returncode == 0, f"{ran.stdout}\n{ran.stderr}"

        # THEN every answer is what README shows under its command
        answers = [line.split(" ", 1) for line in curl_log.read_text().splitlines()]
        shown = expectations(script)
        assert len(answers) == len(shown), ran.stdout
        for number, ((status, body), expected) in enumerate(zip(answers, shown, strict=True), start=1):
            if expected is None:
                continue
            assert int(status) == expected[0], f"curl #{number} answered {status} {body}"
            if expected[1] is not None:
                assert contains(json.loads(body), expected[1]), f"curl #{number} answered {body}"

        # AND the event sent right after saving the routing reaches Slack
        assert wait_for(lambda: _routed_delivery(described, "evt-1"), timeout=60) == "sent"
