"""The absence registry: per company and absence, the latest state WORKPLACE sent and where it is registered.

One item per `<company>#<absence_id>`:
- `version` (occurred_at in epoch microseconds) and `event_id` of the event that set the state, `state`
  (`active` or `cancelled`), `targets` (the calendars the absence should be in) and `absence` (its JSON);
- `registrations`: calendar → `{"event_id", "applied", "state"}`, the mapping absence × calendar →
  external event, and which state (the `event_id` of the WORKPLACE event) the calendar holds. It is
  written BEFORE the provider call (`applied: false`), so a crash after the call still leaves a record of
  the event to update or remove; the event id itself is deterministic, so a repeated call never creates a
  second event.
- `lease_owner` / `lease_until`: one worker at a time reconciles an absence.

Ordering (contract "Delivery guarantees"): a later `occurred_at` wins (ties: the larger event_id), an older
upsert never overwrites a newer state, and a cancellation is final: nothing brings a cancelled absence back.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from workplace_hub.clock import utc_now_iso
from workplace_hub.storage.keys import PARTITION_KEY_BYTES, fit

ACTIVE, CANCELLED = "active", "cancelled"
# Tombstones of cancelled absences (and states) are kept this long, so that a very late, older upsert
# still finds the cancellation.
RETENTION_SECONDS = 400 * 24 * 3600


class Acceptance(StrEnum):
    ACCEPTED = "accepted"  # this event is now the absence's state
    SUPERSEDED = "superseded"  # a newer event set the state already
    CANCELLED = "cancelled"  # the absence is cancelled for good


def version_of(moment: datetime) -> int:
    """occurred_at as an integer that orders instants (offsets differ between events)."""
    return int(moment.timestamp() * 1_000_000)


@dataclass(frozen=True)
class Registration:
    event_id: str  # the external event
    applied: bool
    # The WORKPLACE event whose state the calendar holds ("" before it was applied). Not the version: two
    # events can share an occurred_at instant, and the later event_id of them must still be written.
    state: str


@dataclass(frozen=True)
class AbsenceState:
    company_id: str
    absence_id: str
    user_id: str
    state: str
    version: int
    event_id: str
    event_type: str
    targets: list[str]
    absence: dict[str, Any] | None
    registrations: dict[str, Registration] = field(default_factory=dict)

    @property
    def cancelled(self) -> bool:
        return self.state == CANCELLED

    @property
    def desired(self) -> list[str]:
        """The calendars the absence should be in now."""
        return [] if self.cancelled else list(self.targets)


def _key(company_id: str, absence_id: str) -> dict[str, str]:
    return {"pk": fit(f"{company_id}#{absence_id}", PARTITION_KEY_BYTES)}


def _state(item: dict[str, Any]) -> AbsenceState:
    registrations = {
        calendar: Registration(str(entry["event_id"]), bool(entry.get("applied")), str(entry.get("state", "")))
        for calendar, entry in (item.get("registrations") or {}).items()
    }
    absence = item.get("absence")
    return AbsenceState(
        company_id=item["company_id"],
        absence_id=item["absence_id"],
        user_id=item["user_id"],
        state=item["state"],
        version=int(item["version"]),
        event_id=item["event_id"],
        event_type=item.get("event_type", ""),
        targets=list(item.get("targets") or []),
        absence=json.loads(absence) if absence else None,
        registrations=registrations,
    )


class AbsenceRegistry:
    """Reads and writes the absences table; the table resource is injected."""

    def __init__(self, table: Any, clock: Any = time.time) -> None:
        self._table = table
        self._clock = clock

    def accept(
        self,
        *,
        company_id: str,
        absence_id: str,
        user_id: str,
        event_id: str,
        event_type: str,
        occurred_at: datetime,
        cancelled: bool,
        targets: list[str],
        absence: dict[str, Any] | None,
    ) -> Acceptance:
        """Make this event the absence's state unless a newer one (or a cancellation) is there already.

        The same event again is accepted again (a redelivery must be able to finish an interrupted run).
        """
        values: dict[str, Any] = {
            ":v": version_of(occurred_at),
            ":e": event_id,
            ":t": event_type,
            ":u": user_id,
            ":c": company_id,
            ":a": absence_id,
            ":s": CANCELLED if cancelled else ACTIVE,
            ":cancelled": CANCELLED,
            ":targets": targets,
            ":empty": {},
            ":now": utc_now_iso(),
            ":exp": int(self._clock()) + RETENTION_SECONDS,
        }
        sets = [
            "company_id = :c",
            "absence_id = :a",
            "user_id = :u",
            "#state = :s",
            "version = :v",
            "event_id = :e",
            "event_type = :t",
            "targets = :targets",
            "registrations = if_not_exists(registrations, :empty)",
            "updated_at = :now",
            "expires_at = :exp",
        ]
        if absence is not None:
            sets.append("absence = :absence")
            values[":absence"] = json.dumps(absence, ensure_ascii=False, separators=(",", ":"))
        if cancelled:
            # A cancellation wins over every upsert, whatever its occurred_at.
            condition = "attribute_not_exists(pk) OR #state <> :cancelled OR event_id = :e"
        else:
            condition = (
                "attribute_not_exists(pk) OR event_id = :e OR "
                "(#state <> :cancelled AND (version < :v OR (version = :v AND event_id < :e)))"
            )
        try:
            self._table.update_item(
                Key=_key(company_id, absence_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            current = self.get(company_id, absence_id)
            return Acceptance.CANCELLED if current is not None and current.cancelled else Acceptance.SUPERSEDED
        return Acceptance.ACCEPTED

    def get(self, company_id: str, absence_id: str) -> AbsenceState | None:
        item = self._table.get_item(Key=_key(company_id, absence_id), ConsistentRead=True).get("Item")
        return _state(item) if item else None

    def acquire(self, company_id: str, absence_id: str, owner: str, lease_seconds: float) -> AbsenceState | None:
        """Take the absence's lease (free, expired, or ours already) and return its state; None when another
        worker holds it. The lease outlives the function timeout, so a crashed worker's lease expires."""
        now = self._clock()
        try:
            item = self._table.update_item(
                Key=_key(company_id, absence_id),
                UpdateExpression="SET lease_owner = :me, lease_until = :until",
                ConditionExpression=(
                    "attribute_exists(pk) AND "
                    "(attribute_not_exists(lease_owner) OR lease_owner = :me OR lease_until < :now)"
                ),
                ExpressionAttributeValues={":me": owner, ":until": int(now + lease_seconds), ":now": int(now)},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return None
        return _state(item)

    def release(self, company_id: str, absence_id: str, owner: str, event_id: str) -> bool:
        """Give the lease back if the state is still the one reconciled (`event_id`). False: a newer event
        arrived meanwhile (the lease is kept; reconcile again)."""
        try:
            self._table.update_item(
                Key=_key(company_id, absence_id),
                UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :me AND event_id = :e",
                ExpressionAttributeValues={":me": owner, ":e": event_id},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def abandon(self, company_id: str, absence_id: str, owner: str) -> None:
        """Give the lease back whatever the state (the run stops early: a retry or an error)."""
        try:
            self._table.update_item(
                Key=_key(company_id, absence_id),
                UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :me",
                ExpressionAttributeValues={":me": owner},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def intend(self, company_id: str, absence_id: str, calendar: str, event_id: str) -> None:
        """Record the external event before creating it (see the module doc). Keeps `applied` if set."""
        self._table.update_item(
            Key=_key(company_id, absence_id),
            UpdateExpression="SET registrations.#cal = if_not_exists(registrations.#cal, :entry)",
            ExpressionAttributeNames={"#cal": calendar},
            ExpressionAttributeValues={":entry": {"event_id": event_id, "applied": False, "state": ""}},
        )

    def applied(self, company_id: str, absence_id: str, calendar: str, event_id: str, state: str) -> None:
        """The calendar holds the event as the state set by WORKPLACE event `state` says."""
        self._table.update_item(
            Key=_key(company_id, absence_id),
            UpdateExpression="SET registrations.#cal = :entry",
            ExpressionAttributeNames={"#cal": calendar},
            ExpressionAttributeValues={":entry": {"event_id": event_id, "applied": True, "state": state}},
        )

    def removed(self, company_id: str, absence_id: str, calendar: str) -> None:
        """The calendar no longer holds the event."""
        self._table.update_item(
            Key=_key(company_id, absence_id),
            UpdateExpression="REMOVE registrations.#cal",
            ExpressionAttributeNames={"#cal": calendar},
        )
