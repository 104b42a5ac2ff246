"""Provider latency: per-provider delays set by profile, spec or the control API, without serialising requests.

No assertion here is about time: a delay long enough that nothing answers on its own is set, the requests that
must be waiting are counted through the control API, and lowering the delay releases them.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from infra.local_stack.__main__ import parse_args
from infra.sandbox import Sandbox, SandboxClient, SandboxError
from infra.sandbox.latency import PROVIDER_NAMES, REALISTIC, Latency, argument, parse_spec
from infra.sandbox.server import PROVIDERS

TOKEN = "xoxb-latency"
LONG_MS = 60_000  # nothing answers on its own within a test


@pytest.fixture
def slack(sandbox: Sandbox, control: SandboxClient) -> Callable[[], requests.Response]:
    """`post()`: one chat.postMessage on a connection of its own (as concurrent senders would)."""
    control.add_slack_workspace(TOKEN, members=["U0ALICE"])
    control.set_limits("slack", enabled=False)

    def post() -> requests.Response:
        with requests.Session() as session:
            return session.post(
                f"{sandbox.url}/slack/api/chat.postMessage",
                json={"channel": "U0ALICE", "text": "hi"},
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=30,
            )

    return post


class InFlight:
    """Requests sent from threads of their own; their answers, once they come."""

    def __init__(self, send: Callable[[], requests.Response], count: int) -> None:
        self.answers: list[requests.Response] = []
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._one, args=(send,), daemon=True) for _ in range(count)]
        for thread in self.threads:
            thread.start()

    def _one(self, send: Callable[[], requests.Response]) -> None:
        answer = send()
        with self._lock:
            self.answers.append(answer)

    def join(self) -> list[requests.Response]:
        for thread in self.threads:
            thread.join(timeout=30)
        return self.answers


def wait_for(control: SandboxClient, in_flight: int) -> dict[str, Any]:
    """Poll until `in_flight` delayed requests are waiting (or give up after 20 s); the last reading."""
    deadline = time.monotonic() + 20
    reading = control.latency()
    while reading["in_flight"] < in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
        reading = control.latency()
    return reading


@pytest.fixture
def released(control: SandboxClient) -> Iterator[None]:
    yield
    control.set_latency("off")  # never leave a thread waiting a minute


# --- specs ------------------------------------------------------------------------------------------------


def test_every_fake_can_be_given_a_latency() -> None:
    assert set(PROVIDER_NAMES) == {cls.name for cls in PROVIDERS}
    assert set(REALISTIC) == set(PROVIDER_NAMES)


def test_the_realistic_profile_has_the_starting_figures_with_jitter() -> None:
    fixed = {name: latency.fixed_ms for name, latency in parse_spec("realistic").items()}
    assert {k: fixed[k] for k in ("slack", "google_chat", "line", "naver_works", "sens")} == {
        "slack": 250,
        "google_chat": 150,
        "line": 60,
        "naver_works": 80,
        "sens": 120,
    }
    assert all(latency.jitter_ms > 0 for latency in REALISTIC.values())


def test_specs_name_providers_override_a_profile_and_star_sets_all() -> None:
    assert parse_spec("slack=250,google_chat=150+30") == {"slack": Latency(250), "google_chat": Latency(150, 30)}
    chosen = parse_spec("realistic,slack=400")
    assert chosen["slack"] == Latency(400) and chosen["line"] == REALISTIC["line"]
    assert parse_spec("*=5") == dict.fromkeys(PROVIDER_NAMES, Latency(5))
    assert parse_spec("off") == {} and parse_spec("") == {}


@pytest.mark.parametrize(
    "spec", ["slak=250", "slack", "slack=fast", "slack=-1", "slack=1+x", "nope", "slack=nan", "slack=1+nan", "*=inf"]
)
def test_a_bad_spec_is_refused_with_its_reason(spec: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="latency"):
        argument(spec)


def test_make_run_takes_a_latency_option() -> None:
    assert parse_args(["--latency", "realistic"]).latency == REALISTIC
    assert parse_args(["--latency", "slack=250,google_chat=150"]).latency == {
        "slack": Latency(250),
        "google_chat": Latency(150),
    }
    assert parse_args([]).latency == {}


# --- control API ------------------------------------------------------------------------------------------


def test_the_control_api_sets_shows_and_clears_latency(control: SandboxClient) -> None:
    assert control.latency() == {"providers": {}, "in_flight": 0, "peak_in_flight": 0}
    shown = control.set_latency("realistic", slack=(400, 10), line=None)
    assert shown["providers"]["slack"] == {"fixed_ms": 400, "jitter_ms": 10}
    assert "line" not in shown["providers"]
    assert shown["providers"]["sens"] == {"fixed_ms": 120, "jitter_ms": 24}
    assert control.set_latency(google_chat=150)["providers"]["google_chat"] == {"fixed_ms": 150, "jitter_ms": 0}
    assert control.set_latency("off")["providers"] == {}


@pytest.mark.parametrize(
    "body",
    [
        {"profile": "fast"},
        {"providers": {"slak": {"fixed_ms": 1}}},
        {"providers": {"slack": {"fixed_ms": -1}}},
        {"providers": {"slack": {"fixed_ms": True}}},
        {"providers": {"slack": {"jitter_ms": 5}}},
        {"providers": {"slack": 250}},
        {"providers": []},
        {"delay": 5},
    ],
)
def test_the_control_api_refuses_bad_latency(control: SandboxClient, body: dict[str, Any]) -> None:
    with pytest.raises(SandboxError, match="400"):
        control._call("POST", "latency", body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"profile": {"slack": 250}}, "profile"),  # unhashable: was looked up before it was checked (500)
        ({"profile": ["realistic"]}, "profile"),
        ({"profile": 1}, "profile"),
        ({"profile": "fast"}, "profile"),
        ({"profile": "realistic", "providers": "slack"}, "providers"),
        ({"providers": None}, "providers"),
        ({"profile": "off", "providers": {"slak": {"fixed_ms": 1}}}, "providers.slak"),
        ({"providers": {"slack": [250]}}, "providers.slack"),
        ({"providers": {"slack": {"fixed_ms": 1, "delay": 2}}}, "providers.slack.delay"),
        ({"providers": {"slack": {"jitter_ms": 5}}}, "providers.slack.fixed_ms"),
        ({"providers": {"slack": {"fixed_ms": "250"}}}, "providers.slack.fixed_ms"),
        ({"providers": {"slack": {"fixed_ms": {"ms": 250}}}}, "providers.slack.fixed_ms"),
        ({"providers": {"slack": {"fixed_ms": 10**400}}}, "providers.slack.fixed_ms"),  # float() overflows
        ({"providers": {"line": None, "slack": {"fixed_ms": 1, "jitter_ms": -1}}}, "providers.slack.jitter_ms"),
        ({"providers": {"slack": {"fixed_ms": 1, "jitter_ms": None}}}, "providers.slack.jitter_ms"),
        ({"providers": {"slack": {"fixed_ms": 120_000, "jitter_ms": 1}}}, "providers.slack"),
        ({"speed": "fast", "profile": "off"}, "speed"),
    ],
)
def test_a_bad_latency_body_is_a_400_naming_its_field_and_changes_nothing(
    sandbox: Sandbox, control: SandboxClient, body: dict[str, Any], field: str
) -> None:
    control.set_latency(slack=(250, 50), line=60)
    before = control.latency()

    answer = requests.post(f"{sandbox.url}/_sandbox/latency", json=body, timeout=10)

    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == field and field.split(".")[-1] in answer.json()["error"]
    assert control.latency() == before


@pytest.mark.parametrize(
    "raw",
    [
        b'{"profile": ',  # not JSON
        b"\xff\xfe",  # not even UTF-8
        b'["realistic"]',  # JSON, not an object
        b'{"providers": {"slack": {"fixed_ms": NaN}}}',  # Python's json takes NaN; a delay of NaN never ends
        b'{"providers": {"slack": {"fixed_ms": 1, "jitter_ms": Infinity}}}',
    ],
)
def test_a_latency_body_that_is_not_a_json_object_of_numbers_is_a_400_and_changes_nothing(
    sandbox: Sandbox, control: SandboxClient, raw: bytes
) -> None:
    control.set_latency(slack=250)
    before = control.latency()

    answer = requests.post(
        f"{sandbox.url}/_sandbox/latency", data=raw, headers={"Content-Type": "application/json"}, timeout=10
    )

    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] in {"body", "providers.slack.fixed_ms", "providers.slack.jitter_ms"}
    assert control.latency() == before


def test_reset_goes_back_to_the_latency_the_sandbox_started_with() -> None:
    with Sandbox(latency={"slack": Latency(250)}) as sandbox:
        control = SandboxClient(sandbox.url)
        control.set_latency(slack=None, line=60)
        control.reset()
        assert control.latency()["providers"] == {"slack": {"fixed_ms": 250, "jitter_ms": 0}}
        control.close()


# --- delays -----------------------------------------------------------------------------------------------


def test_an_answer_waits_for_its_providers_delay_and_lowering_it_releases_it(
    slack: Callable[[], requests.Response], control: SandboxClient, released: None
) -> None:
    control.set_latency(slack=LONG_MS)
    waiting = InFlight(slack, 1)
    assert wait_for(control, 1)["in_flight"] == 1
    assert waiting.threads[0].is_alive()  # a minute's delay: no answer yet

    control.set_latency(slack=0)

    (answer,) = waiting.join()
    assert answer.status_code == 200 and answer.json()["ok"] is True
    assert control.latency()["in_flight"] == 0


def test_parallel_requests_wait_side_by_side_not_one_after_another(
    slack: Callable[[], requests.Response], control: SandboxClient, released: None
) -> None:
    """N requests with a delay take about one delay: all N are held at once (one after another, only one
    would be waiting at a time and the rest would not have been read yet)."""
    count = 8
    control.set_latency(slack=LONG_MS)
    waiting = InFlight(slack, count)

    reading = wait_for(control, count)

    assert reading["in_flight"] == count and reading["peak_in_flight"] == count
    control.set_latency(slack=None)
    answers = waiting.join()
    assert [a.status_code for a in answers] == [200] * count
    assert len(control.requests("slack")) == count


def test_a_slow_provider_does_not_delay_another_one_or_the_control_api(
    sandbox: Sandbox, slack: Callable[[], requests.Response], control: SandboxClient, released: None
) -> None:
    webhook = control.add_google_chat_space("AAAALATENCY", "key", "token")
    control.set_latency(slack=LONG_MS)
    waiting = InFlight(slack, 2)
    assert wait_for(control, 2)["in_flight"] == 2

    chat = requests.post(webhook, json={"text": "hi"}, timeout=30)

    assert chat.status_code == 200
    assert [entry["status"] for entry in control.requests("google_chat")] == [200]
    assert control.latency()["in_flight"] == 2  # the Slack requests are still held
    control.set_latency(slack=None)
    assert [a.status_code for a in waiting.join()] == [200, 200]


def test_connections_keep_tcp_nodelay(sandbox: Sandbox, slack: Callable[[], requests.Response]) -> None:
    with requests.Session() as session:
        session.get(f"{sandbox.url}/_sandbox/health", timeout=5)
        server = sandbox._server
        assert server is not None
        with server.connections_lock:
            connections = list(server.connections)
        assert connections
        assert all(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for c in connections)


def test_stopping_the_sandbox_releases_delayed_requests() -> None:
    with Sandbox(latency={"slack": Latency(LONG_MS)}) as sandbox:
        control = SandboxClient(sandbox.url)
        control.add_slack_workspace(TOKEN, members=["U0ALICE"])

        def post() -> requests.Response | None:
            try:
                return requests.post(
                    f"{sandbox.url}/slack/api/chat.postMessage",
                    json={"channel": "U0ALICE", "text": "hi"},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    timeout=30,
                )
            except requests.ConnectionError:
                return None

        thread = threading.Thread(target=post, daemon=True)
        thread.start()
        assert wait_for(control, 1)["in_flight"] == 1
        control.close()
    thread.join(timeout=20)
    assert not thread.is_alive()
