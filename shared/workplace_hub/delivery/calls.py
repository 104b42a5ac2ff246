"""How a send job's recipients become provider calls: chunks per locale, retry keys per call, and the job again
for one recipient (what an admin's replay sends)."""

from __future__ import annotations

import uuid
from collections import defaultdict

from workplace_hub.events import Recipient
from workplace_hub.jobs import SendJob
from workplace_hub.storage.delivery_records import DeliveryKey, Replay


def replay_of(job: SendJob, user_id: str) -> Replay:
    """The job again, for one recipient: what replaying their failed delivery puts on the channel's queue."""
    recipients = [r for r in job.recipients if r.user_id == user_id]
    # No address: the sender reads the employee's link again, which they may have fixed since.
    single = job.model_copy(update={"recipients": recipients, "addresses": {}})
    return Replay(job.channel, single.model_dump_json(exclude_none=True))


def call_chunks(job: SendJob, max_batch: int) -> list[list[Recipient]]:
    """The job's recipients as the provider calls will take them: per locale, `max_batch` at a time."""
    by_locale: dict[str, list[Recipient]] = defaultdict(list)
    for recipient in job.recipients:
        by_locale[recipient.locale].append(recipient)
    return [users[i : i + max_batch] for users in by_locale.values() for i in range(0, len(users), max_batch)]


def proposed_retry_keys(job: SendJob, keys: dict[str, DeliveryKey], max_batch: int) -> dict[DeliveryKey, str]:
    """Fresh retry keys for this attempt, one per call it may make (per locale, `max_batch` recipients at a
    time). A claim stores one only where the record has none; a key is never reused for another set of
    recipients (LINE would answer a different set "already accepted" and it would be recorded sent, unsent)."""
    proposed: dict[DeliveryKey, str] = {}
    for chunk in call_chunks(job, max_batch):
        key = str(uuid.uuid4())
        proposed.update({keys[recipient.user_id]: key for recipient in chunk})
    return proposed
