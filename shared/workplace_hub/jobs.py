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
