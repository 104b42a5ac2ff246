"""The LINE webhook handler on moto's tables: events applied in LINE's time order and once each, malformed
bodies and events never a 500, and one answer for a bad signature, an unknown company and a company without LINE
(providers.md §3.5). Only `handle_http`, as the function calls it, is used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from infra.sandbox.line_login import signed_webhook, webhook_event
from tests.unit.aws import HubStack
from workplace_hub.catalog import Integration
from workplace_hub.clock import utc_now_iso
from workplace_hub.integration_settings.credentials import CompanyCredentials
from workplace_hub.linking import line_webhook
from workplace_hub.linking.line_webhook import LineWebhook
from workplace_hub.storage.links import EmployeeLinks, LinksRepository

COMPANY = "acme"
USER = "taro.yamada@acme.example"
LINE_USER = "U4af4980629abcdef0123456789abcdef"
SECRET = "fedcba9876543210fedcba9876543210"
LINE_SETTINGS = {
    "login_channel_id": "1234567890",
    "login_channel_secret": "0123456789abcdef0123456789abcdef",
    "channel_access_token": "SECRETchannelAccessToken0123456789+/=",
    "channel_secret": SECRET,
    "friend_link_url": "https://lin.ee/AbCdEfG",
}
DAY_MS = 86_400_000


@dataclass
class RecordingSender:
    """Stands in for LineSender.execute: every welcome push is recorded and answered 200."""

    calls: list[Any] = field(default_factory=list)

    def execute(self, call: Any) -> Any:
        self.calls.append(call)
        return type("Answer", (), {"status_code": 200})()


@dataclass
class Hub:
    stack: HubStack
    webhook: LineWebhook
    sender: RecordingSender

    def post(self, body: bytes, headers: dict[str, str], company_id: str = COMPANY) -> tuple[int, dict[str, Any]]:
        answer = self.webhook.handle_http(
            {
                "pathParameters": {"company_id": company_id},
                "headers": headers,
                "body": base64.b64encode(body).decode(),
                "isBase64Encoded": True,
            }
        )
        return answer["statusCode"], json.loads(answer["body"])

    def send(self, *events: dict[str, Any]) -> int:
        status, _ = self.post(*signed_webhook(SECRET, list(events)))
        return status

    def link(self) -> dict[str, Any]:
        return self.stack.links.get(COMPANY, USER).attributes


def build(stack: HubStack, links: LinksRepository | None = None) -> Hub:
    sender = RecordingSender()
    webhook = LineWebhook(
        credentials=CompanyCredentials(
            settings_repo=stack.settings_repository, keyring=stack.keyring, links=stack.links
        ),
        links=links or stack.links,
        sender=sender,  # type: ignore[arg-type]
        line_api_base="https://api.line.me",
    )
    return Hub(stack, webhook, sender)


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def link_employee(stack: HubStack, *, linked_at: str, friend: bool = True) -> None:
    values = {
        "line_user_id": LINE_USER,
        "line_user_key": f"{COMPANY}#{LINE_USER}",
        "line_friend": friend,
        "line_linked_at": linked_at,
    }
    stack.links.update(COMPANY, USER, values, [])


@pytest.fixture
def hub(stack: HubStack) -> Hub:
    """acme with LINE configured, and taro linked to LINE 60 days ago, a friend."""
    stack.configure(COMPANY, Integration.LINE, LINE_SETTINGS)
    link_employee(stack, linked_at=iso(now_ms() - 60 * DAY_MS))
    return build(stack)


def event(kind: str, at: int, **extra: Any) -> dict[str, Any]:
    return webhook_event({"type": kind, "userId": LINE_USER, "timestamp": at, **extra})


def sign(body: bytes) -> dict[str, str]:
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return {"Content-Type": "application/json", "X-Line-Signature": signature}


def state(hub: Hub) -> tuple[bool, str | None]:
    link = hub.link()
    return link["line_friend"], (link.get("line_link_state") or {}).get("state")


# ------------------------------------------------------------------------------------------- order and once


def test_an_old_follow_replayed_after_a_newer_unfollow_changes_nothing(hub: Hub) -> None:
    # GIVEN taro unfollowed 30 days ago (signed by LINE, arriving now)
    assert hub.send(event("unfollow", now_ms() - 30 * DAY_MS)) == 200
    assert state(hub) == (False, "blocked")

    # WHEN an older follow (31 days ago) is posted after it
    status = hub.send(event("follow", now_ms() - 31 * DAY_MS))

    # THEN LINE gets its 200, the link stays blocked and no welcome message is pushed
    assert status == 200
    assert state(hub) == (False, "blocked")
    assert hub.sender.calls == []


def test_a_newer_follow_after_an_unfollow_unblocks_and_welcomes(hub: Hub) -> None:
    at = now_ms() - 1000
    assert hub.send(event("unfollow", at)) == 200

    assert hub.send(event("follow", at + 1)) == 200

    assert state(hub) == (True, None)
    assert len(hub.sender.calls) == 1
    assert hub.link()["line_event_at"] == at + 1


def test_events_in_one_body_out_of_order_keep_the_latest_state(hub: Hub) -> None:
    at = now_ms() - 1000
    assert hub.send(event("unfollow", at + 5), event("follow", at)) == 200
    assert state(hub) == (False, "blocked")
    assert hub.sender.calls == []


@pytest.mark.parametrize("redelivery", [False, True], ids=["replayed as is", "redelivered by LINE"])
def test_an_event_already_applied_is_applied_once(hub: Hub, redelivery: bool) -> None:
    # GIVEN taro blocked, then a follow applied (friend again, one welcome message)
    at = now_ms() - 1000
    assert hub.send(event("unfollow", at - 10)) == 200
    follow = event("follow", at)
    assert hub.send(follow) == 200
    assert state(hub) == (True, None) and len(hub.sender.calls) == 1

    # WHEN the same follow comes again (its webhookEventId and timestamp), replayed or marked a redelivery
    again = {**follow, "deliveryContext": {"isRedelivery": redelivery}}
    status = hub.send(again)

    # THEN it is acknowledged and changes nothing: no second welcome message
    assert status == 200
    assert state(hub) == (True, None)
    assert len(hub.sender.calls) == 1
    assert hub.link()["line_event_ids"] == [follow["webhookEventId"]]


def test_a_redelivered_event_that_was_never_applied_is_applied(hub: Hub) -> None:
    unfollow = event("unfollow", now_ms() - 1000, deliveryContext={"isRedelivery": True})
    assert hub.send(unfollow) == 200
    assert state(hub) == (False, "blocked")


def test_two_events_in_the_same_millisecond_are_both_applied_in_order(hub: Hub) -> None:
    at = now_ms() - 1000
    assert hub.send(event("unfollow", at), event("follow", at)) == 200
    assert state(hub) == (True, None)
    assert len(hub.link()["line_event_ids"]) == 2
    # AND both are remembered: neither applies again
    assert hub.send(event("unfollow", at - 1)) == 200
    assert state(hub) == (True, None)


def test_an_event_from_before_the_link_changes_nothing(stack: HubStack) -> None:
    # GIVEN taro linked LINE a day ago (the link read the friendship from LINE then)
    stack.configure(COMPANY, Integration.LINE, LINE_SETTINGS)
    link_employee(stack, linked_at=iso(now_ms() - DAY_MS))
    hub = build(stack)

    # WHEN an unfollow dated 30 days ago arrives
    assert hub.send(event("unfollow", now_ms() - 30 * DAY_MS)) == 200

    # THEN the link is as the linking left it
    assert state(hub) == (True, None)
    assert "line_event_at" not in hub.link()


def test_a_newer_event_written_by_another_call_meanwhile_wins(stack: HubStack) -> None:
    # GIVEN taro linked, and another webhook call that applies a newer unfollow between this call's read and
    # write (the index read is already taken)
    stack.configure(COMPANY, Integration.LINE, LINE_SETTINGS)
    link_employee(stack, linked_at=iso(now_ms() - DAY_MS))
    newer = now_ms() - 1000
    other = build(stack)

    class RacingLinks(LinksRepository):
        def find_by_line_user(self, company_id: str, line_user_id: str) -> EmployeeLinks | None:
            found = super().find_by_line_user(company_id, line_user_id)
            assert other.send(event("unfollow", newer)) == 200
            return found

    hub = build(stack, RacingLinks(stack.dynamodb.Table("links"), stack.dynamodb))

    # WHEN this call applies an older follow
    assert hub.send(event("follow", newer - 500)) == 200

    # THEN the newer unfollow stays, and no welcome message was sent
    assert state(hub) == (False, "blocked")
    assert hub.link()["line_event_at"] == newer
    assert hub.sender.calls == []


def test_the_api_facing_link_fields_are_kept(hub: Hub) -> None:
    before = hub.link()
    assert hub.send(event("follow", now_ms() - 1000)) == 200
    after = hub.link()
    assert {name: after[name] for name in before if name != "updated_at"} == {
        name: before[name] for name in before if name != "updated_at"
    }
    assert set(after) - set(before) == {"line_event_at", "line_event_ids"}


# ------------------------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([1], id="a number"),
        pytest.param(["follow"], id="a string"),
        pytest.param([None, []], id="null and a list"),
        pytest.param([{"type": "follow", "source": {"userId": "U\ud800"}, "timestamp": 1}], id="lone surrogate"),
        pytest.param([{"type": "follow", "source": "U4af4980629abcdef0123456789abcdef"}], id="source not an object"),
        pytest.param([{"type": "unfollow", "source": {"userId": LINE_USER}, "timestamp": "1"}], id="text timestamp"),
        pytest.param(
            [{"type": "unfollow", "source": {"userId": LINE_USER}, "timestamp": True, "webhookEventId": "01H"}],
            id="boolean timestamp",
        ),
        pytest.param([{"type": "unfollow", "source": {"userId": LINE_USER}, "timestamp": 5}], id="no event id"),
    ],
)
def test_a_signed_body_with_malformed_events_is_acknowledged_and_changes_nothing(hub: Hub, events: list[Any]) -> None:
    before = hub.link()
    body = json.dumps({"destination": "U" + "0" * 32, "events": events}).encode()

    status, answer = hub.post(body, sign(body))

    assert (status, answer) == (200, {})
    assert hub.link() == before
    assert hub.sender.calls == []


def test_a_malformed_event_does_not_hold_back_the_good_one_beside_it(hub: Hub) -> None:
    unfollow = event("unfollow", now_ms() - 1000)
    body = json.dumps({"destination": "U" + "0" * 32, "events": [1, unfollow]}).encode()

    status, _ = hub.post(body, sign(body))

    assert status == 200
    assert state(hub) == (False, "blocked")


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        pytest.param(b"not json", "body", id="not JSON"),
        pytest.param(b"\xff\xfe", "body", id="not UTF-8"),
        pytest.param(b"[1]", "body", id="a list"),
        pytest.param(b"null", "body", id="null"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "body", id="nested 100,000 deep"),
        pytest.param(b'{"destination": "U0"}', "events", id="no events"),
        pytest.param(b'{"events": "follow"}', "events", id="events a string"),
        pytest.param(b'{"events": {"0": 1}}', "events", id="events an object"),
    ],
)
def test_a_signed_body_that_is_not_a_webhook_is_a_400_naming_the_field(hub: Hub, body: bytes, field_name: str) -> None:
    before = hub.link()

    status, answer = hub.post(body, sign(body))

    assert status == 400
    assert answer["error"] == "invalid_request" and answer["field"] == field_name and answer["message"]
    assert hub.link() == before


def test_the_empty_connectivity_check_is_acknowledged(hub: Hub) -> None:
    assert hub.post(*signed_webhook(SECRET, [])) == (200, {})


# ------------------------------------------------------------------------------------------- one refusal


def test_bad_signature_unknown_company_and_company_without_line_answer_alike(hub: Hub) -> None:
    # GIVEN a body signed with acme's channel secret, and companies without LINE: one never seen, one with
    # other settings only, one with LINE turned off
    hub.stack.route("beta", {"approval.requested": []})
    hub.stack.configure("gamma", Integration.LINE, LINE_SETTINGS, enabled=False)
    body, headers = signed_webhook(SECRET, [event("unfollow", now_ms() - 1000)])
    before = hub.link()

    # WHEN it is posted with a wrong signature, and to those companies, and to a malformed company id
    answers = [
        hub.post(body, {**headers, "X-Line-Signature": "bm90IHRoZSBzaWduYXR1cmU="}),
        hub.post(body, {"Content-Type": "application/json"}),
        hub.post(body, headers, company_id="nobody"),
        hub.post(body, headers, company_id="beta"),
        hub.post(body, headers, company_id="gamma"),
        hub.post(body, headers, company_id="not a company"),
    ]

    # THEN every answer is the same 401 with the usual error body, and nothing changed
    assert answers == [(401, {"error": "signature_invalid", "message": answers[0][1]["message"]})] * 6
    assert hub.link() == before


def test_a_signature_header_that_is_not_ascii_is_refused_like_any_bad_one(hub: Hub) -> None:
    # GIVEN a signed body whose signature header carries characters no Base64 signature has
    body, headers = signed_webhook(SECRET, [event("unfollow", now_ms() - 1000)])
    before = hub.link()

    # WHEN it is posted (before: hmac.compare_digest raised TypeError on a non-ASCII str)
    status, answer = hub.post(body, {**headers, "X-Line-Signature": headers["X-Line-Signature"][:-2] + "é="})

    # THEN the usual 401, and the link is untouched
    assert (status, answer["error"]) == (401, "signature_invalid")
    assert hub.link() == before


def test_a_company_without_line_still_checks_a_signature(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the signature check counted
    checked: list[int] = []
    real = line_webhook.verify_webhook_signature

    def counted(secret: str, body: bytes, signature: str | None) -> bool:
        checked.append(len(body))
        return real(secret, body, signature)

    monkeypatch.setattr(line_webhook, "verify_webhook_signature", counted)
    body, headers = signed_webhook(SECRET, [event("unfollow", now_ms() - 1000)])

    # WHEN a body goes to a company with LINE (bad signature) and to one without
    hub.post(body, {**headers, "X-Line-Signature": "bm90IHRoZSBzaWduYXR1cmU="})
    hub.post(body, headers, company_id="nobody")

    # THEN both cost one HMAC of the whole body (so the answer's timing does not tell them apart)
    assert checked == [len(body), len(body)]


def test_a_signature_made_with_an_empty_secret_never_opens_a_company_without_line(hub: Hub) -> None:
    body = json.dumps({"destination": "U" + "0" * 32, "events": []}).encode()
    for secret in ("", "0" * 32):
        signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        assert hub.post(body, {"X-Line-Signature": signature}, company_id="nobody")[0] == 401


def test_the_updated_at_of_the_link_moves_only_when_an_event_applies(hub: Hub) -> None:
    at = now_ms() - 1000
    assert hub.send(event("unfollow", at)) == 200
    stamped = hub.link()["updated_at"]
    assert stamped <= utc_now_iso()
    assert hub.send(event("follow", at - 1)) == 200
    assert hub.link()["updated_at"] == stamped


def test_an_unmarked_repeat_is_logged_as_a_replay_and_a_redelivery_is_not(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    follow = event("follow", now_ms() - 1000)
    assert hub.send(follow) == 200

    def ignored() -> list[tuple[str, str]]:
        found = [(r.levelname, r.verdict) for r in caplog.records if r.getMessage() == "LINE webhook event ignored"]
        caplog.clear()
        return found

    caplog.clear()
    assert hub.send(follow) == 200
    assert ignored() == [("WARNING", "replayed")]
    assert hub.send({**follow, "deliveryContext": {"isRedelivery": True}}) == 200
    assert ignored() == [("INFO", "duplicate")]
