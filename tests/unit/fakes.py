"""Hand-written fakes with their behaviour in plain attributes (`fake.sent`, `fake.fail_with`)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from workplace_hub.calendars.writers import WriteContext
from workplace_hub.catalog import CalendarRef
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import ProviderError
from workplace_hub.events import Absence
from workplace_hub.providers.messenger import Destination, Notification, PreparedCall, Sender, SendReceipt
from workplace_hub.storage.links import EmployeeLinks


@dataclass
class SentMessage:
    """One call a FakeSender received."""

    notification: Notification
    destination: Destination
    credentials: dict[str, Any]


class FakeSender(Sender):
    """Stands in for a provider Sender in worker tests (no HTTP; the base class's send_batch is kept).

    `attempts` lists every send call, `sent` only the ones that succeeded, `idempotency_keys` the key of
    each send_batch call. Set `fail_with` to an exception to make every call raise it (until reset to
    None). `max_batch` and `idempotent_retries` can be set per instance like a provider's class values.
    """

    api_docs = "https://example.invalid/fake-sender"

    def __init__(
        self,
        channel: str = "slack",
        provider_message_id: str | None = "1700000000.000100",
        *,
        max_batch: int = 1,
        idempotent_retries: bool = False,
    ) -> None:
        super().__init__(session=None, endpoints=ProviderEndpoints())  # type: ignore[arg-type]
        self.channel = channel  # type: ignore[misc]
        self.max_batch = max_batch  # type: ignore[misc]
        self.idempotent_retries = idempotent_retries  # type: ignore[misc]
        self.receipt = SendReceipt(provider_message_id=provider_message_id)
        self.fail_with: Exception | None = None
        self.attempts: list[SentMessage] = []
        self.sent: list[SentMessage] = []
        self.idempotency_keys: list[str] = []

    def send(self, notification: Notification, destination: Destination, credentials: dict[str, Any]) -> SendReceipt:
        call = SentMessage(notification, destination, dict(credentials))
        self.attempts.append(call)
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(call)
        return self.receipt

    def send_batch(
        self,
        notification: Notification,
        destinations: list[Destination],
        credentials: dict[str, Any],
        *,
        idempotency_key: str,
    ) -> dict[str, SendReceipt | ProviderError]:
        self.idempotency_keys.append(idempotency_key)
        return super().send_batch(notification, destinations, credentials, idempotency_key=idempotency_key)

    def build_request(
        self, notification: Notification, destination: Destination, credentials: dict[str, Any]
    ) -> PreparedCall:
        raise AssertionError("FakeSender never builds HTTP requests")

    def parse_response(self, response: requests.Response) -> SendReceipt:
        raise AssertionError("FakeSender never parses HTTP responses")

    def verify(self, credentials: dict[str, Any]) -> str:
        return "fake credentials accepted"


@dataclass
class RecordedRequest:
    """One request a FakeSession received."""

    method: str
    url: str
    headers: dict[str, str] | None
    json: Any
    timeout: Any
    data: Any = None


@dataclass
class FakeSession:
    """A `requests.Session` look-alike: answers with queued responses (or raises queued exceptions)."""

    outcomes: list[requests.Response | BaseException] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        json: Any = None,
        timeout: Any = None,
        data: Any = None,
        **_: Any,
    ) -> requests.Response:
        self.requests.append(RecordedRequest(method, url, headers, json, timeout, data))
        if not self.outcomes:
            raise AssertionError(f"FakeSession got an unexpected {method} request")
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class MemoryDataKeyStore:
    """crypto.DataKeyStore in a dict; `puts` counts the encrypted data keys written."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}
        self.puts = 0

    def get_encrypted_data_key(self, company_id: str) -> bytes | None:
        return self.keys.get(company_id)

    def put_encrypted_data_key_if_absent(self, company_id: str, encrypted_key: bytes) -> bool:
        if company_id in self.keys:
            return False
        self.keys[company_id] = encrypted_key
        self.puts += 1
        return True


class FakeKms:
    """A KMS stand-in for tests that need a working Keyring but not KMS itself (test_crypto uses moto).

    The "encrypted" data key is the key in hex next to its encryption context; decrypt checks the context.
    """

    def __init__(self) -> None:
        self.calls = 0

    def generate_data_key(self, *, KeyId: str, KeySpec: str, EncryptionContext: dict[str, str]) -> dict[str, bytes]:
        self.calls += 1
        key = os.urandom(32)
        blob = json.dumps({"key_id": KeyId, "context": EncryptionContext, "key": key.hex()}).encode()
        return {"Plaintext": key, "CiphertextBlob": blob}

    def decrypt(self, *, CiphertextBlob: bytes, EncryptionContext: dict[str, str]) -> dict[str, bytes]:
        self.calls += 1
        document = json.loads(CiphertextBlob)
        if document["context"] != EncryptionContext:
            raise ValueError("encryption context mismatch")
        return {"Plaintext": bytes.fromhex(document["key"])}


@dataclass
class CalendarCall:
    """One upsert or delete a FakeCalendarWriter received (whether it succeeded or raised)."""

    action: str  # "upsert" or "delete"
    channel: str
    event_id: str
    context: WriteContext
    absence: Absence | None = None


class FakeCalendarWriter:
    """Stands in for a calendars.writers.CalendarWriter (no HTTP): the provider's calendars in a dict.

    `events` maps (channel, event id) → the absence it shows; `calls` lists every upsert/delete in order.
    `unusable_reason` is what `unusable` answers. `fail_next(error, times)` makes the next `times` calls raise
    `error` (the call is recorded, the calendar unchanged). `on_call`, when set, runs at the start of every
    upsert/delete (to look at the registry mid-call, or to let a newer event arrive). The event id is
    deterministic, `<provider>-<absence_id>-<calendar_id or default>` plus `event_id_suffix` (set it to give
    the absence another event, as Google does when an event turns into an out-of-office one).
    """

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.events: dict[tuple[str, str], Absence] = {}
        self.calls: list[CalendarCall] = []
        self.unusable_reason: str | None = None
        self.event_id_suffix = ""
        self.on_call: Callable[[CalendarCall], None] | None = None
        self._failures: list[Exception] = []

    def fail_next(self, error: Exception, times: int = 1) -> None:
        self._failures.extend([error] * times)

    def unusable(self, ref: CalendarRef, links: EmployeeLinks, credentials: dict[str, Any]) -> str | None:
        return self.unusable_reason

    def event_id(self, context: WriteContext, ref: CalendarRef, absence: Absence) -> str:
        return f"{self.provider}-{context.absence_id}-{ref.calendar_id or 'default'}{self.event_id_suffix}"

    def upsert(self, context: WriteContext, ref: CalendarRef, absence: Absence, event_id: str) -> None:
        self._call(CalendarCall("upsert", ref.channel, event_id, context, absence))
        self.events[(ref.channel, event_id)] = absence

    def delete(self, context: WriteContext, ref: CalendarRef, event_id: str) -> None:
        self._call(CalendarCall("delete", ref.channel, event_id, context))
        self.events.pop((ref.channel, event_id), None)

    def _call(self, call: CalendarCall) -> None:
        self.calls.append(call)
        if self.on_call is not None:
            self.on_call(call)
        if self._failures:
            raise self._failures.pop(0)

    def actions(self) -> list[tuple[str, str, str]]:
        """(action, channel, event id) of every call, in order."""
        return [(call.action, call.channel, call.event_id) for call in self.calls]
