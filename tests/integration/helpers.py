"""Helpers for the integration tests, imported as `tests.integration.helpers` (like tests/unit's modules).

Kept out of conftest.py so test modules can import them by a unique name: `make test` runs several
folders' conftest.py files in one session, and a bare `from conftest import ...` could get another one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives import serialization

from infra.keys import rsa_key_pair
from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from tests.integration import secrets_sweep

FINAL_STATUSES = frozenset({"sent", "delivered", "skipped", "failed"})
MESSAGE_URL = "https://acme.workplace.example/approvals/8812"


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll until `condition()` returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")


def notification(company_id: str, recipients: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    """A contract-valid notification event."""
    event = {
        "version": "1",
        "event_id": f"evt-{uuid.uuid4().hex[:12]}",
        "company_id": company_id,
        "type": "notification",
        "occurred_at": "2026-11-28T09:15:00+09:00",
        "item": "approval.requested",
        "recipients": recipients,
        "message": {
            "title": "決裁依頼: 出張申請 (大阪)",
            "body": "鈴木 一郎 さんから決裁依頼が届きました。",
            "url": MESSAGE_URL,
        },
    }
    event.update(overrides)
    return event


class Api:
    """The settings API as one user of one company."""

    def __init__(self, stack: LocalStack, company_id: str, user_id: str, role: str) -> None:
        self.base = stack.api_url
        self.company_id = company_id
        self.user_id = user_id
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {stack.token(company_id, user_id, role)}"
        self.responses: list[requests.Response] = []  # every answer, for the secrets-never-leak checks

    def _keep(self, response: requests.Response, body: Any = None) -> requests.Response:
        self.responses.append(response)
        for sweep in secrets_sweep.ACTIVE:
            sweep.note_request(body, self.session.headers.get("Authorization"))
            sweep.note_response(response.text)
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self._keep(self.session.get(self.base + path, timeout=10, **kwargs))

    def put(self, path: str, body: Any) -> requests.Response:
        return self._keep(self.session.put(self.base + path, json=body, timeout=10), body)

    def post(self, path: str, body: Any = None) -> requests.Response:
        return self._keep(self.session.post(self.base + path, json=body, timeout=10), body)

    def delete(self, path: str) -> requests.Response:
        return self._keep(self.session.delete(self.base + path, timeout=10))


# ------------------------------------------------------------------------------------------- unique IDs


def new_slack_token() -> str:
    """A bot token no other test uses (so the sandbox's request log can be filtered by it)."""
    return f"xoxb-{uuid.uuid4().int % 10**12:012d}-{uuid.uuid4().hex}"


def new_member_id() -> str:
    return "U" + uuid.uuid4().hex[:10].upper()


def new_space() -> str:
    return "AAAA" + uuid.uuid4().hex[:8]


def user(company_id: str, name: str) -> str:
    return f"{name}@{company_id}.example"


# ------------------------------------------------------------------------------------------- tokens


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_claims(stack: LocalStack, company_id: str, /, **overrides: Any) -> dict[str, Any]:
    """The claims of a valid admin token of the stack's issuer; an override of None leaves that claim out."""
    now = int(time.time())
    claims = {
        "iss": stack.issuer.issuer,
        "aud": stack.issuer.audience,
        "sub": user(company_id, "admin"),
        "company_id": company_id,
        "role": "admin",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def signed_by_issuer(stack: LocalStack, claims: dict[str, Any]) -> str:
    """Any claims, signed with the stack issuer's own key (so only the claims can make it invalid)."""
    return jwt.encode(claims, stack.issuer._key, algorithm="RS256", headers={"kid": stack.issuer.kid})


def _signed_by_stranger(stack: LocalStack, company_id: str) -> str:
    """Right claims, the stack issuer's kid, but signed by a key the issuer never published."""
    stranger, _ = rsa_key_pair("token-stranger")
    return jwt.encode(token_claims(stack, company_id), stranger, algorithm="RS256", headers={"kid": stack.issuer.kid})


def _unsigned(stack: LocalStack, company_id: str) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": stack.issuer.kid}).encode())
    return f"{header}.{_b64(json.dumps(token_claims(stack, company_id)).encode())}."


def _hmac_with_public_key(stack: LocalStack, company_id: str) -> str:
    """The classic algorithm confusion: HS256 keyed with the issuer's public key."""
    public_pem = stack.issuer._key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": stack.issuer.kid}).encode())
    payload = _b64(json.dumps(token_claims(stack, company_id)).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _reissued_with_unknown_kid(stack: LocalStack, company_id: str) -> str:
    return jwt.encode(
        token_claims(stack, company_id), stack.issuer._key, algorithm="RS256", headers={"kid": "someone-elses-key"}
    )


# Authorization header values the gateway must refuse (None: no header at all), by case name.
BAD_AUTHORIZATION: dict[str, Callable[[LocalStack, str], str | None]] = {
    "missing": lambda stack, co: None,
    "empty bearer": lambda stack, co: "Bearer ",
    "not a bearer scheme": lambda stack, co: f"Basic {stack.token(co, user(co, 'admin'), 'admin')}",
    "garbage": lambda stack, co: "Bearer not.a.jwt",
    "expired": lambda stack, co: "Bearer " + stack.issuer.mint(co, user(co, "admin"), "admin", ttl=-3600),
    "wrong audience": lambda stack, co: "Bearer " + stack.token(co, user(co, "admin"), "admin", aud="another-app"),
    "wrong issuer": lambda stack, co: (
        "Bearer " + stack.token(co, user(co, "admin"), "admin", iss="https://evil.example/issuer")
    ),
    "no sub": lambda stack, co: "Bearer " + signed_by_issuer(stack, token_claims(stack, co, sub=None)),
    "no expiry": lambda stack, co: "Bearer " + signed_by_issuer(stack, token_claims(stack, co, exp=None)),
    "not valid yet": lambda stack, co: (
        "Bearer " + stack.token(co, user(co, "admin"), "admin", nbf=int(time.time()) + 3600)
    ),
    "signed by another key with the issuer's kid": lambda stack, co: "Bearer " + _signed_by_stranger(stack, co),
    "alg none": lambda stack, co: "Bearer " + _unsigned(stack, co),
    "HS256 keyed with the public key": lambda stack, co: "Bearer " + _hmac_with_public_key(stack, co),
    "unknown kid": lambda stack, co: "Bearer " + _reissued_with_unknown_kid(stack, co),
}


# ------------------------------------------------------------------------------------------- set-up


def ok(response: requests.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, f"{response.request.method} {response.url}: {response.text}"
    return response.json()


def enable_slack(admin: Api, sandbox: SandboxClient, members: Iterable[str]) -> str:
    """Register a sandbox workspace with these members and turn Slack on with its bot token."""
    token = new_slack_token()
    sandbox.add_slack_workspace(token, team="Acme", members=list(members))
    ok(admin.put("/admin/integrations/slack", {"enabled": True, "settings": {"bot_token": token}}))
    return token


@dataclass(frozen=True)
class Webhook:
    space: str
    key: str
    token: str
    url: str


def new_webhook(sandbox: SandboxClient) -> Webhook:
    space, key, token = new_space(), "AIza" + uuid.uuid4().hex, uuid.uuid4().hex
    return Webhook(space, key, token, sandbox.add_google_chat_space(space, key, token))


def enable_google_chat(admin: Api) -> None:
    ok(admin.put("/admin/integrations/google_chat", {"enabled": True}))


def route(admin: Api, items: dict[str, list[str]]) -> dict[str, Any]:
    return ok(admin.put("/admin/notification-settings", {"items": items}))


# ------------------------------------------------------------------------------------------- deliveries


def deliveries(admin: Api, event_id: str) -> list[dict[str, Any]]:
    """Every delivery record of the event (all pages)."""
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"event_id": event_id, "limit": 200, **({"next_token": token} if token else {})}
        page = ok(admin.get("/admin/deliveries", params=params))
        found.extend(page["deliveries"])
        token = page["next_token"]
        if not token:
            return found


def wait_for_deliveries(
    admin: Api, event_id: str, count: int, *, statuses: frozenset[str] = FINAL_STATUSES, timeout: float = 15.0
) -> dict[tuple[str, str], dict[str, Any]]:
    """Wait until the event has `count` records, all in `statuses`; returns them by (user_id, channel)."""

    def settled() -> dict[tuple[str, str], dict[str, Any]] | None:
        records = deliveries(admin, event_id)
        if len(records) == count and all(r["status"] in statuses for r in records):
            return {(r["user_id"], r["channel"]): r for r in records}
        return None

    return wait_for(settled, timeout=timeout, interval=0.2)


def slack_posts(sandbox: SandboxClient, token: str) -> list[dict[str, Any]]:
    """chat.postMessage calls the sandbox received with this bot token."""
    return [
        r
        for r in sandbox.requests("slack")
        if r["path"].endswith("/chat.postMessage") and r["headers"].get("Authorization") == f"Bearer {token}"
    ]


def chat_posts(sandbox: SandboxClient, webhook: Webhook) -> list[dict[str, Any]]:
    """Webhook calls the sandbox received for this space."""
    return [
        r for r in sandbox.requests("google_chat") if r["path"] == f"/google_chat/v1/spaces/{webhook.space}/messages"
    ]


def queue_idle(sqs: Any, queue_url: str) -> bool:
    """No message waiting, in flight or delayed on the queue."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return all(int(value) == 0 for value in attributes.values())


# ------------------------------------------------------------------------------------------- dead letters


class DeadLetterQueue:
    """WorkplaceEventsDLQ, shared by the whole session: find one's own messages by a marker in the body."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.url = queue_url

    def take(self, markers: Iterable[str], timeout: float = 10.0) -> dict[str, dict[str, Any]]:
        """Receive until a message containing each marker was seen; deletes and returns those (by marker)."""
        wanted = set(markers)
        found: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while wanted - set(found) and time.monotonic() < deadline:
            # A short visibility timeout: other tests' messages come back quickly for their owners.
            messages = self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                VisibilityTimeout=1,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            for message in messages:
                marker = next((m for m in wanted - set(found) if m in message["Body"]), None)
                if marker is None:
                    continue
                found[marker] = message
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        missing = wanted - set(found)
        assert not missing, f"no message on the DLQ within {timeout}s containing {sorted(missing)}"
        return found


def reason_of(message: dict[str, Any]) -> str:
    return message["MessageAttributes"]["reason"]["StringValue"]


# ------------------------------------------------------------------------------------------- log capture


class _Tee(io.TextIOBase):
    def __init__(self, *streams: Any) -> None:
        self._streams = streams

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()


@contextmanager
def captured_logs(level: int = logging.INFO) -> Iterator[io.StringIO]:
    """Everything the hub logs meanwhile, as written (see `tee_logs`); the root logger lowered to `level`."""
    buffer = io.StringIO()
    root = logging.getLogger()
    previous_level = root.level
    root.setLevel(min(level, previous_level) if previous_level else level)
    try:
        with tee_logs(buffer, level):
            yield buffer
    finally:
        root.setLevel(previous_level)


@contextmanager
def tee_logs(buffer: io.StringIO, level: int = logging.NOTSET) -> Iterator[None]:
    """Copy every log line into `buffer` meanwhile.

    Powertools' Logger writes JSON lines to the stdout stream it found when it was created (not the one
    capfd/capsys install later), so each plain StreamHandler is tee'd into the buffer; a handler on the
    root logger at `level` adds every other library's records, tracebacks included.
    """
    swapped: list[tuple[logging.StreamHandler, Any]] = []
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler and not isinstance(handler.stream, io.StringIO):
                swapped.append((handler, handler.setStream(_Tee(handler.stream, buffer))))
    root = logging.getLogger()
    catch_all = logging.StreamHandler(buffer)
    catch_all.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    catch_all.setLevel(level)
    root.addHandler(catch_all)
    try:
        yield
    finally:
        root.removeHandler(catch_all)
        for handler, stream in swapped:
            handler.setStream(stream)


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
