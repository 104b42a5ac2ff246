"""Messages between the hub's stages: the send job a router puts on a provider's queue."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from workplace_hub.events import MessageContent, Recipient


class SendJob(BaseModel):
    """Send one notification to some recipients on one channel. Carries no secrets."""

    # Unknown fields are ignored: during a deployment an older sender may read a newer router's job.
    model_config = ConfigDict(extra="ignore", frozen=True)

    company_id: str
    event_id: str
    item: str
    channel: str
    message: MessageContent
    recipients: list[Recipient] = Field(min_length=1, max_length=1000)
    # user_id → the recipient's address where it is no secret (Slack member ID, LINE userId), as the
    # router read it: the sender then needs no links read of its own.
    addresses: dict[str, str] = Field(default_factory=dict)


# Recipients per send job. Providers with a batch call get a full call's worth (LINE multicast: 500,
# SENS AlimTalk: 100); the others get a few, sent one call each, so that one job costs one links read
# and one SQS message for several notifications while a slow provider still fits in one invocation.
_RECIPIENTS_PER_JOB = {"line": 500, "kakao": 100}
DEFAULT_RECIPIENTS_PER_JOB = 10


def recipients_per_job(channel: str) -> int:
    return _RECIPIENTS_PER_JOB.get(channel, DEFAULT_RECIPIENTS_PER_JOB)


# A job is one SQS message (256 KB by default). Its recipients may take this much of it; the message content
# (at most about 9 KB of UTF-8) and the JSON around it fit in the rest. 500 recipients of the contract's longest
# user IDs and names would be 1.4 MB: such a call's worth goes out as several jobs.
JOB_RECIPIENTS_BYTES = 192 * 1024


def recipient_chunks(
    recipients: list[Recipient], per_job: int, addresses: dict[str, str]
) -> list[tuple[list[Recipient], dict[str, str]]]:
    """The recipients in jobs of at most `per_job`, each job's recipients and addresses within JOB_RECIPIENTS_BYTES."""
    chunks: list[tuple[list[Recipient], dict[str, str]]] = []
    current: list[Recipient] = []
    used = 0
    for recipient in recipients:
        address = addresses.get(recipient.user_id)
        size = _json_bytes(recipient, address)
        if current and (len(current) == per_job or used + size > JOB_RECIPIENTS_BYTES):
            chunks.append((current, _addresses_of(current, addresses)))
            current, used = [], 0
        current.append(recipient)
        used += size
    if current:
        chunks.append((current, _addresses_of(current, addresses)))
    return chunks


def _json_bytes(recipient: Recipient, address: str | None) -> int:
    """What the recipient adds to a job's JSON: its entry, and its address keyed by its user ID."""
    size = len(recipient.model_dump_json(exclude_none=True).encode()) + 1
    if address is not None:
        size += len(recipient.user_id.encode()) + len(address.encode()) + 6
    return size


def _addresses_of(recipients: list[Recipient], addresses: dict[str, str]) -> dict[str, str]:
    return {r.user_id: addresses[r.user_id] for r in recipients if r.user_id in addresses}


class CalendarJob(BaseModel):
    """Bring one absence's calendars in line with its latest state. Carries no secrets and no absence:
    the worker reads the latest state from the registry, so an old job can never write an old state."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    company_id: str
    absence_id: str
    user_id: str
    event_id: str
    event_type: str
    # The calendars the event named (an upsert's targets), for its delivery records if it is superseded.
    channels: list[str] = Field(default_factory=list)
