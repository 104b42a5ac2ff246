"""`make run` itself: a taken port stops it at once, and its state outlives a restart (unless --clean)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.local_stack.aws import client
from tests.integration.helpers import FINAL_STATUSES, notification, wait_for
from tests.integration.running_stack import RunningStack, free_port

BOT_TOKEN = "xoxb-1-2-restartkeep01"
MEMBER_ID = "U0RESTART1"


@pytest.mark.parametrize("option", ["--aws-port", "--api-port", "--sandbox-port"])
def test_a_taken_port_stops_the_stack_at_once_naming_the_port(tmp_path: Path, option: str) -> None:
    # GIVEN something already listening on the port asked for
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        others = [o for o in ("--aws-port", "--api-port", "--sandbox-port") if o != option]

        # WHEN the stack starts on it (moto used to wait for its server forever)
        with RunningStack(tmp_path / ".local", option, str(port), others[0], "0", others[1], "0") as run:
            code = run.exit_code()

    # THEN it exits with an error that names the port
    assert code != 0
    assert f"port {port}" in run.text


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _configure_slack(described: dict[str, Any]) -> None:
    api, tokens = described["api_url"], described["tokens"]
    assert (
        requests.put(
            f"{api}/admin/integrations/slack",
            json={"enabled": True, "settings": {"bot_token": BOT_TOKEN}},
            headers=_headers(tokens["admin"]),
            timeout=30,
        ).status_code
        == 200
    )
    assert (
        requests.put(
            f"{api}/admin/notification-settings",
            json={"items": {"approval.requested": ["slack"]}},
            headers=_headers(tokens["admin"]),
            timeout=30,
        ).status_code
        == 200
    )
    assert (
        requests.put(
            f"{api}/me/links", json={"slack_member_id": MEMBER_ID}, headers=_headers(tokens["member"]), timeout=30
        ).status_code
        == 200
    )


def _slack_settings(described: dict[str, Any], token: str) -> requests.Response:
    return requests.get(f"{described['api_url']}/admin/integrations/slack", headers=_headers(token), timeout=30)


def _delivery_status(described: dict[str, Any], event_id: str) -> str | None:
    answer = requests.get(
        f"{described['api_url']}/admin/deliveries",
        params={"event_id": event_id},
        headers=_headers(described["tokens"]["admin"]),
        timeout=30,
    ).json()
    statuses = [d["status"] for d in answer["deliveries"]]
    return statuses[0] if statuses and statuses[0] in FINAL_STATUSES else None


def test_tables_queues_secrets_and_keys_outlive_a_restart_and_clean_starts_empty(tmp_path: Path) -> None:
    state_dir = tmp_path / ".local"
    ports = ["--api-port", str(free_port()), "--aws-port", str(free_port()), "--sandbox-port", str(free_port())]

    # GIVEN a stack where the admin saved Slack (its bot token sealed with the stack's KMS key) and its routing,
    # the member linked Slack, and a message waits on a dead-letter queue
    with RunningStack(state_dir, *ports) as first:
        before = first.wait_until_up()
        # (make run prints the console signed in as the dev admin and as the dev member, the token in the fragment)
        banner = wait_for(lambda: first.text if before["tokens"]["member"] in first.text.split("Console")[-1] else None)
        for role in ("admin", "member"):
            assert f"{before['api_url']}/console/#token={before['tokens'][role]}" in banner
        _configure_slack(before)
        sqs = client("sqs", before["aws_endpoint_url"])
        sqs.send_message(QueueUrl=before["queues"]["WorkplaceEventsDLQ"], MessageBody="kept across the restart")

    # WHEN it stops and starts again on the same ports
    with RunningStack(state_dir, *ports) as second:
        after = second.wait_until_up()
        admin_of_the_first_run = before["tokens"]["admin"]

        # THEN the first run's token still works and the settings are there, the secret masked as before
        settings = _slack_settings(after, admin_of_the_first_run)
        assert settings.status_code == 200
        assert (settings.json()["configured"], settings.json()["settings"]["bot_token"]) == (True, "********ep01")

        # AND the queued message is still on its queue
        sqs = client("sqs", after["aws_endpoint_url"])
        bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=after["queues"]["WorkplaceEventsDLQ"])["Messages"]]
        assert bodies == ["kept across the restart"]

        # AND an event is routed with the kept routing and link, and sent with the bot token the kept key unseals
        requests.post(
            f"{after['sandbox_url']}/_sandbox/slack/workspaces",
            data=json.dumps({"token": BOT_TOKEN, "members": [MEMBER_ID]}),
            timeout=30,
        ).raise_for_status()
        event = notification("acme", [{"user_id": "taro.yamada@acme.example"}])
        sqs.send_message(QueueUrl=after["queues"]["WorkplaceEventsQueue"], MessageBody=json.dumps(event))
        assert wait_for(lambda: _delivery_status(after, event["event_id"]), timeout=60) == "sent"

    # WHEN it starts with --clean
    with RunningStack(state_dir, *ports, "--clean") as clean:
        fresh = clean.wait_until_up()

        # THEN nothing is configured, and the earlier runs' tokens no longer work
        assert _slack_settings(fresh, fresh["tokens"]["admin"]).json()["configured"] is False
        assert _slack_settings(fresh, admin_of_the_first_run).status_code == 401
