"""How a send job's recipients become provider calls: chunks per locale, retry keys per call, and the job again
for one recipient (what an admin's replay sends)."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Executor, wait
from dataclasses import dataclass
from typing import Any

from workplace_hub.errors import ProviderError
from workplace_hub.events import Recipient
from workplace_hub.jobs import SendJob
from workplace_hub.observability import logger
from workplace_hub.providers.messenger import Destination, Notification, Sender, SendReceipt
from workplace_hub.storage.addresses import ADDRESS_SOURCES, LOOKUP_MISSED
from workplace_hub.storage.delivery_records import DeliveryKey, Replay
from workplace_hub.storage.links import LinksRepository

Ready = tuple[DeliveryKey, Destination, str]  # a claimed recipient to call now: key, address, locale
Outcomes = dict[str, SendReceipt | ProviderError]  # a call's outcome per recipient (user_id)


@dataclass(frozen=True)
class Call:
    """One provider call: its recipients (claimed, with addresses), their locale and the stored retry key."""

    locale: str
    retry_key: str | None
    batch: list[Ready]

    @property
    def destinations(self) -> list[Destination]:
        return [destination for _, destination, _ in self.batch]


def call_provider(sender: Sender, job: SendJob, call: Call, credentials: dict[str, Any]) -> Outcomes:
    """Make one call: the job's message, in the call's locale, to the call's recipients."""
    notification = Notification(
        event_id=job.event_id,
        item=job.item,
        title=job.message.title,
        body=job.message.body,
        url=job.message.url,
        locale=call.locale,
        company_id=job.company_id,
    )
    return sender.send_batch(notification, call.destinations, credentials, idempotency_key=call.retry_key or "")


def side_by_side(pool: Executor, work: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[Any]:
    """Each function's result (or the Exception it raised), in order, run on the pool: all of them run to the
    end, whatever one of them raises. Anything else a function raises (the process is going away: a signal, a
    simulated crash) is raised once all are done, and the other results are dropped, as a crash would."""
    futures = [pool.submit(function, *arguments) for function, arguments in work]
    wait(futures)
    results: list[Any] = []
    for future in futures:
        error = future.exception()
        if error is not None and not isinstance(error, Exception):
            raise error
        results.append(error if error is not None else future.result())
    return results


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


def discover_address(
    sender: Sender, links: LinksRepository, company_id: str, user_id: str, credentials: dict[str, Any]
) -> str | None:
    """Ask the provider for an unlinked employee's address (Slack: by e-mail) and keep it as their link."""
    source = ADDRESS_SOURCES[sender.channel]
    if not source.discoverable_by_email or not source.link_field:
        return None
    try:
        address = sender.find_address(credentials, user_id)
    except ProviderError as exc:
        logger.info("address lookup failed", extra={"user_id": user_id, "code": exc.code})
        return None
    if address:
        links.update(company_id, user_id, {source.link_field: address}, [LOOKUP_MISSED])
    else:
        links.update(company_id, user_id, {LOOKUP_MISSED: int(time.time())}, [])
    return address
