"""Each function's cold start imports what that function uses, and no more (every module is paid per cold start).

Each check runs in a fresh interpreter: this process has long since imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from workplace_hub.delivery.senders import SENDERS

ROOT = Path(__file__).resolve().parents[2]

STORAGE = {
    "SETTINGS_TABLE_NAME": "settings",
    "LINKS_TABLE_NAME": "links",
    "DELIVERIES_TABLE_NAME": "deliveries",
    "KMS_KEY_ID": "arn:aws:kms:ap-northeast-1:123456789012:key/hub",
    "PLATFORM_SECRET_ARN": "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:platform",
    "MAX_RECEIVE_COUNT": "5",
}
QUEUE = "https://sqs.ap-northeast-1.amazonaws.com/123456789012/"
ROUTER_ENV = {
    **STORAGE,
    "IDEMPOTENCY_TABLE_NAME": "idempotency",
    "EVENTS_DLQ_URL": QUEUE + "events-dlq",
    "SEND_SLACK_QUEUE_URL": QUEUE + "slack",
    "ABSENCES_TABLE_NAME": "absences",
    "CALENDAR_QUEUE_URL": QUEUE + "calendar",
}
SENDER_ENV = {**STORAGE, "SEND_QUEUE_URL": QUEUE + "slack", "SEND_DLQ_URL": QUEUE + "slack-dlq"}

# Never needed by the router nor by a sender's cold start.
CALENDARS = {
    "workplace_hub.calendars.sync",
    "workplace_hub.google.calendar",
    "workplace_hub.calendars.writers",
    "workplace_hub.calendars.worker",
}
TRACING = {"aws_xray_sdk", "aws_xray_sdk.core"}
OTHER_PROVIDERS = {f"workplace_hub.providers.{name}" for name in ("google_chat", "line", "naver_works", "kakao")}


def loaded_after(code: str, env: dict[str, str]) -> set[str]:
    """The modules a fresh interpreter has loaded after running `code`."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment.update(
        PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'shared'}",
        AWS_DEFAULT_REGION="ap-northeast-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        **env,
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_the_router_loads_no_calendar_client_provider_cryptography_or_tracing_sdk() -> None:
    # WHEN the router's wiring is imported and the router built (its clients created, no call made)
    loaded = loaded_after("from workplace_hub.wiring import build_router\nbuild_router()", ROUTER_ENV)

    # THEN it has its own modules and nothing of the calendar worker's, the senders', the keyring's or X-Ray's
    assert "workplace_hub.routing.router" in loaded
    assert loaded & (CALENDARS | OTHER_PROVIDERS | TRACING | {"workplace_hub.slack.messages"}) == set()
    assert {"jwt", "cryptography", "workplace_hub.crypto", "workplace_hub.workplace_jwt"} & loaded == set()


def test_a_sender_loads_its_own_provider_only() -> None:
    loaded = loaded_after("from workplace_hub.wiring import build_worker\nbuild_worker('slack')", SENDER_ENV)

    assert "workplace_hub.slack.messages" in loaded
    assert loaded & (CALENDARS | OTHER_PROVIDERS | TRACING | {"jwt"}) == set()


def test_the_registry_still_lists_every_sender_under_its_own_channel() -> None:
    assert set(SENDERS) == {"slack", "google_chat", "line", "naver_works", "kakao"}
    assert {channel: sender.channel for channel, sender in SENDERS.items()} == {c: c for c in SENDERS}


def test_no_function_imports_the_tracer() -> None:
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        assert "tracer" not in app.read_text(), app
