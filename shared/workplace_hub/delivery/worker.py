"""A delivery worker: takes send jobs off one provider's queue and sends each message at most once."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from workplace_hub.catalog import Integration
from workplace_hub.clock import utc_now_iso
from workplace_hub.crypto import Keyring
from workplace_hub.errors import (
    HubError,
    IntegrationCredentialsError,
    NeedsRelinkError,
    OutcomeUnknownError,
    ProviderError,
    RetryableProviderError,
)
from workplace_hub.events import Recipient
from workplace_hub.integration_settings.effective import effective, resolve_credentials
from workplace_hub.jobs import SendJob
from workplace_hub.observability import logger, metrics, per_record_log_keys
from workplace_hub.providers.messenger import Destination, Notification, Sender, SendReceipt
from workplace_hub.queues import DeadLetters, JobQueue, SqsAttempt, error_name, parse_job
from workplace_hub.routing.plan import ADDRESS_SOURCES, LOOKUP_MISSED
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.delivery_claims import Claim, ClaimOutcome
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus, Outcome, Replay
from workplace_hub.storage.link_health import NEEDS_RELINK, state_attribute
from workplace_hub.storage.links import EmployeeLinks, LinksRepository
from workplace_hub.storage.rate_limits import SharedRateLimiter
from workplace_hub.storage.settings import CachedSettings, SettingsRepository


def replay_of(job: SendJob, user_id: str) -> Replay:
    """The job again, for one recipient: what replaying their failed delivery puts on the channel's queue."""
    recipients = [r for r in job.recipients if r.user_id == user_id]
    # No address: the sender reads the employee's link again, which they may have fixed since.
    single = job.model_copy(update={"recipients": recipients, "addresses": {}})
    return Replay(job.channel, single.model_dump_json(exclude_none=True))


# A wait for the shared rate limit this short happens in place; a longer one postpones the rest of the job.
# Kept short: while a container sleeps for one company's limit, other companies' jobs wait behind it.
INLINE_WAIT_SECONDS = 0.25
PACE_ATTEMPTS = 5


def _count(name: str, channel: str) -> None:
    """One more of `name`, by channel (the dashboard's per-channel figures); a sender sends on one channel only,
    so every metric of its invocation shares the dimension."""
    metrics.add_dimension(name="channel", value=channel)
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


class JobPostponedError(HubError):
    """Some deliveries of this job hit a transient error; SQS redelivers the job after a delay."""


def call_chunks(job: SendJob, max_batch: int) -> list[list[Recipient]]:
    """The job's recipients as the provider calls will take them: per locale, `max_batch` at a time."""
    by_locale: dict[str, list[Recipient]] = defaultdict(list)
    for recipient in job.recipients:
        by_locale[recipient.locale].append(recipient)
    return [users[i : i + max_batch] for users in by_locale.values() for i in range(0, len(users), max_batch)]


# Postponements every remaining recipient of the job is recorded with (claimed, not called), so that the log
# says why they wait: NAVER WORKS's daily push quota holds them for hours.
RECORDED_POSTPONEMENTS = frozenset({"daily_quota_reached"})
RATE_LIMITED_LOCALLY = "rate_limited_locally"


def proposed_retry_keys(job: SendJob, keys: dict[str, DeliveryKey], max_batch: int) -> dict[DeliveryKey, str]:
    """Fresh retry keys for this attempt, one per call it may make (per locale, `max_batch` recipients at a
    time). A claim stores one only where the record has none; a key is never reused for another set of
    recipients (LINE would answer a different set "already accepted" and it would be recorded sent, unsent)."""
    proposed: dict[DeliveryKey, str] = {}
    for chunk in call_chunks(job, max_batch):
        key = str(uuid.uuid4())
        proposed.update({keys[recipient.user_id]: key for recipient in chunk})
    return proposed


def retry_delay(retry_after: float | None, receive_count: int) -> float:
    """How long a job waits before its next attempt.

    The provider's Retry-After on the first failure; from the second on, at least the growing backoff too,
    so that a provider that keeps answering "in 5 s" for a long outage or 429 storm does not use up the
    queue's maxReceiveCount in under a minute (8 attempts then span more than a quarter of an hour).
    """
    if retry_after is None:
        return backoff_seconds(receive_count)
    if receive_count <= 1:
        return retry_after
    return max(retry_after, backoff_seconds(receive_count - 1))


def backoff_seconds(receive_count: int) -> float:
    """Delay before the next attempt when the provider did not say: 15 s, 30 s, 60 s, ... up to 15 min."""
    return float(min(900, 15 * 2 ** max(0, receive_count - 1)))


@dataclass
class _Attempt:
    retry_after: float | None = None
    retry_needed: bool = False  # the provider said "later": the job's remaining calls wait too
    retry_reason: str | None = None  # why, where the provider said more than "later" (daily_quota_reached)
    unclaimed: bool = False  # a claim could not be tried (a storage error): the job must come back for it
    credentials_error: str | None = None


class DeliveryWorker:
    """Sends the jobs of one channel; records sent / failed / retrying on each delivery record."""

    def __init__(
        self,
        *,
        sender: Sender,
        settings: CachedSettings,
        settings_repository: SettingsRepository,
        links: LinksRepository,
        deliveries: DeliveriesRepository,
        keyring: Keyring,
        queue: JobQueue,
        dead_letters: DeadLetters,
        max_receive_count: int,
        lease_seconds: float,
        platform_credentials: Callable[[], dict[str, Any]] = dict,
        call_budget_seconds: float = 15.0,
        limiter: SharedRateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_accepted: Callable[[SendJob, list[tuple[DeliveryKey, SendReceipt]]], None] | None = None,
    ) -> None:
        self._sender = sender
        self._settings = settings
        self._settings_repository = settings_repository
        self._links = links
        self._deliveries = deliveries
        self._keyring = keyring
        self._queue = queue
        self._dead_letters = dead_letters
        self._max_receive_count = max_receive_count
        self._lease_seconds = lease_seconds
        self._platform_credentials = platform_credentials
        self._pending: list[Outcome] = []
        self._job: SendJob | None = None
        self._claims: dict[DeliveryKey, Claim] = {}  # this attempt's claims ...
        self._called: set[DeliveryKey] = set()  # ... and those the provider was called for
        self._fresh_keys: dict[DeliveryKey, str] = {}  # retry keys this attempt proposed
        # The longest one provider call may take (connect + read timeouts, and some margin).
        self._call_budget_seconds = call_budget_seconds
        self._limiter = limiter
        self._sleep = sleep
        # Called with the deliveries the provider accepted, once they are recorded `sent` (AlimTalk: schedules
        # the lookup of their delivery results).
        self._on_accepted = on_accepted
        self._accepted: list[tuple[DeliveryKey, SendReceipt]] = []

    @per_record_log_keys
    def handle_record(self, record: SQSRecord, lambda_context: Any = None) -> None:
        """SQS record handler: raises JobPostponedError to have the job retried after a delay."""
        job = parse_job(SendJob, record, "send job", self._dead_letters)
        if job is None:
            return
        if job.channel != self._sender.channel:
            self._dead_letters.send(
                record.body,
                f"send job for {job.channel} on the {self._sender.channel} queue",
                company_id=job.company_id,
                event_id=job.event_id,
                item=job.item,
            )
            return
        logger.append_keys(company_id=job.company_id, event_id=job.event_id, channel=job.channel)
        received = SqsAttempt.of(record, lambda_context, self._max_receive_count)
        try:
            attempt = self.deliver(job, last_attempt=received.last_attempt, time_left=received.time_left)
        except Exception as exc:
            if not received.last_attempt:
                raise  # SQS brings the job back
            # SQS would move it to the DLQ without a word: keep it there with why, for the admin to replay.
            logger.exception("send job failed on its last attempt; dead-lettered")
            self._dead_letter_unsettled(record.body, job, f"sending failed on the last attempt: {error_name(exc)}")
            return
        if attempt.unclaimed and received.last_attempt:
            # A claim throttled, or held by another attempt that may have died: the records are not settled yet.
            self._dead_letter_unsettled(
                record.body, job, "deliveries still unsettled after the last attempt (a claim was throttled or held)"
            )
            return
        if attempt.retry_needed or attempt.unclaimed:
            delay = retry_delay(attempt.retry_after, received.receive_count)
            self._queue.postpone(record.receipt_handle, delay)
            raise JobPostponedError(f"retrying in {delay:.0f}s")

    def _dead_letter_unsettled(self, body: str, job: SendJob, reason: str) -> None:
        """A replay sends the job again: its settled deliveries are skipped by their claims, the rest sent."""
        _count("JobsDeadLettered", job.channel)
        self._dead_letters.send(
            body, reason, company_id=job.company_id, event_id=job.event_id, item=job.item, replayable=True
        )

    def deliver(self, job: SendJob, *, last_attempt: bool, time_left: Callable[[], float] | None = None) -> _Attempt:
        """Deliver the job and record every outcome, even when something unexpected stops it halfway."""
        self._pending, self._accepted = [], []
        self._job = job
        self._claims, self._called, self._fresh_keys = {}, set(), {}
        try:
            return self._deliver(job, last_attempt=last_attempt, time_left=time_left)
        except Exception:
            # Stopped before calling the provider for some claimed deliveries (a throttled write, say): give
            # those back for the job's next attempt, rather than leave them `sending` to be written off later.
            recorded = {outcome.key for outcome in self._pending}
            for key in sorted(self._claims.keys() - self._called - recorded, key=lambda k: k.user_id):
                self._record(key, DeliveryStatus.RETRYING, reason="interrupted")
            raise
        finally:
            outcomes, self._pending = self._pending, []
            self._deliveries.finish_many(outcomes)
            accepted, self._accepted = self._accepted, []
            if accepted and self._on_accepted is not None:
                self._follow_up(job, accepted)

    def _follow_up(self, job: SendJob, accepted: list[tuple[DeliveryKey, SendReceipt]]) -> None:
        try:
            self._on_accepted(job, accepted)  # type: ignore[misc]
        except Exception:
            # The messages went out and are recorded `sent`; only the later news of them is missing. Raising
            # would not bring it back (a redelivered job finds them final and sends nothing).
            logger.exception("accepted deliveries not followed up", extra={"count": len(accepted)})

    def _deliver(self, job: SendJob, *, last_attempt: bool, time_left: Callable[[], float] | None = None) -> _Attempt:
        """Claim each recipient, send to the claimed ones (in batches per locale), record each outcome.

        Once the provider says "later" (429, 5xx, timeout), or the invocation has no time left for another
        call, the job's remaining recipients are not tried now: they wait for the job's next attempt.
        """
        attempt = _Attempt()
        company = self._settings.get(job.company_id)
        integration = Integration(job.channel)
        enabled = effective(company, integration).enabled
        credentials = (
            resolve_credentials(company, integration, self._keyring, self._platform_credentials) if enabled else {}
        )
        unknown = [r.user_id for r in job.recipients if r.user_id not in job.addresses]
        links = self._links.get_many(job.company_id, unknown) if unknown else {}
        keys = {r.user_id: DeliveryKey(job.company_id, job.event_id, r.user_id, job.channel) for r in job.recipients}
        idempotent = self._sender.idempotent_retries
        self._fresh_keys = proposed_retry_keys(job, keys, self._sender.max_batch) if idempotent else {}
        # One call's worth of recipients at a time, each claimed just before its call: a job stopped halfway (a
        # 429, no time left, a dead container) leaves the rest unclaimed, as they were, for its next attempt.
        for recipients in call_chunks(job, self._sender.max_batch):
            postponed = self._postponement(attempt, time_left)
            if postponed is not None and not last_attempt and postponed.reason not in RECORDED_POSTPONEMENTS:
                attempt.unclaimed = True
                if postponed.retry_after is not None:
                    attempt.retry_after = max(attempt.retry_after or 0.0, postponed.retry_after)
                break
            # (On the last attempt they are claimed all the same, and recorded failed: retries_exhausted.)
            chunk = {r.user_id: keys[r.user_id] for r in recipients}
            claims = self._deliveries.claim_many(
                list(chunk.values()), self._lease_seconds, reclaim_expired=idempotent, retry_keys=self._fresh_keys
            )
            self._claims.update((key, claim) for key, claim in claims.items() if claim.outcome == ClaimOutcome.CLAIMED)
            ready = self._ready(job, recipients, claims, enabled, links, credentials, attempt)
            self._send(job, ready, credentials, last_attempt, attempt, time_left, postponed)
        if attempt.credentials_error is not None:
            self._settings_repository.save_status(
                job.company_id,
                integration,
                {
                    "state": "error",
                    "code": attempt.credentials_error,
                    "checked_at": utc_now_iso(),
                    "detail": "the provider refused the credentials while sending",
                },
            )
            self._settings.invalidate(job.company_id)
        return attempt

    def _ready(
        self,
        job: SendJob,
        recipients: list[Recipient],
        claims: dict[DeliveryKey, Claim],
        enabled: bool,
        links: dict[str, EmployeeLinks],
        credentials: dict[str, Any],
        attempt: _Attempt,
    ) -> list[tuple[DeliveryKey, Destination, str]]:
        """The claimed recipients to call now, with their addresses; every other one recorded or left for later."""
        unclaimable = (ClaimOutcome.UNAVAILABLE, ClaimOutcome.IN_FLIGHT)
        incomplete = any(claim.outcome in unclaimable for claim in claims.values())
        ready: list[tuple[DeliveryKey, Destination, str]] = []
        for recipient in recipients:
            key = DeliveryKey(job.company_id, job.event_id, recipient.user_id, job.channel)
            outcome = claims[key].outcome
            if outcome == ClaimOutcome.LEASE_EXPIRED:
                # An earlier attempt died mid-send: it may have been delivered. At most once: do not resend.
                self._record(key, DeliveryStatus.FAILED, reason="outcome_unknown", expected=DeliveryStatus.SENDING)
                continue
            if outcome == ClaimOutcome.UNAVAILABLE:
                attempt.unclaimed = True  # left as it was, for the job's next attempt
                continue
            if outcome == ClaimOutcome.IN_FLIGHT:
                # Another attempt holds it. Come back once its lease is over: if that attempt died (its own message
                # may be this one), nobody else would ever settle the record.
                attempt.unclaimed = True
                held = claims[key].record or {}
                lease_left = float(held.get("lease_until", 0)) - time.time() + 1
                attempt.retry_after = max(attempt.retry_after or 0.0, lease_left)
                continue
            if outcome != ClaimOutcome.CLAIMED:
                continue
            if not enabled:
                self._record(key, DeliveryStatus.SKIPPED, reason="channel_disabled")
                continue
            address, missing_reason = job.addresses.get(recipient.user_id), ""
            if address is None:
                address, missing_reason = self._address(job.company_id, recipient, links.get(recipient.user_id))
            if address is None:
                address = self._discover(job.company_id, recipient.user_id, credentials)
            if address is None:
                self._record(key, DeliveryStatus.SKIPPED, reason=missing_reason)
                continue
            earlier_key = self._claims[key].retry_key not in (None, self._fresh_keys.get(key))
            if earlier_key and incomplete:
                # Its earlier call's other recipients may be among those not claimed now: that call is repeated
                # only as a whole (see proposed_retry_keys), so it waits for the job's next attempt.
                self._record(key, DeliveryStatus.RETRYING, reason="earlier_call_incomplete")
                continue
            ready.append(
                (key, Destination(recipient.user_id, address, recipient.name, recipient.phone), recipient.locale)
            )
        return ready

    def _send(
        self,
        job: SendJob,
        ready: list[tuple[DeliveryKey, Destination, str]],
        credentials: dict[str, Any],
        last_attempt: bool,
        attempt: _Attempt,
        time_left: Callable[[], float] | None,
        postponed: ProviderError | None,
    ) -> None:
        """Call the provider for one chunk's claimed recipients and record each outcome: one call per stored retry
        key where the provider deduplicates (a retry repeats the very request an earlier attempt may have had
        accepted), else one call (one per recipient for providers without a batch endpoint)."""
        calls: dict[tuple[str, str | None], list[tuple[DeliveryKey, Destination, str]]] = defaultdict(list)
        for entry in ready:
            calls[(entry[2], self._claims[entry[0]].retry_key)].append(entry)
        for (locale, retry_key), batch in calls.items():
            notification = Notification(
                event_id=job.event_id,
                item=job.item,
                title=job.message.title,
                body=job.message.body,
                url=job.message.url,
                locale=locale,
                company_id=job.company_id,
            )
            destinations = [destination for _, destination, _ in batch]
            # (The time left was looked at before the claims; a second call of this chunk only follows a first.)
            later = postponed or self._postponement(attempt, None) or self._pace(credentials, destinations, time_left)
            if later is not None:
                outcomes: dict[str, SendReceipt | ProviderError] = {d.user_id: later for d in destinations}
            else:
                self._called.update(key for key, _, _ in batch)
                outcomes = self._sender.send_batch(
                    notification, destinations, credentials, idempotency_key=retry_key or ""
                )
            for key, destination, _ in batch:
                self._record_outcome(key, outcomes[destination.user_id], last_attempt, attempt)

    def _postponement(self, attempt: _Attempt, time_left: Callable[[], float] | None) -> ProviderError | None:
        """Why the next call should not be made in this invocation, as a retryable error; else None."""
        if attempt.retry_needed:
            return RetryableProviderError(
                self._sender.channel, "postponed", retry_after=attempt.retry_after, reason=attempt.retry_reason
            )
        if time_left is not None and time_left() < self._call_budget_seconds:
            return RetryableProviderError(self._sender.channel, "out_of_time", retry_after=0)
        return None

    def _pace(
        self, credentials: dict[str, Any], destinations: list[Destination], time_left: Callable[[], float] | None
    ) -> ProviderError | None:
        """Wait for the provider's shared rate limit (briefly, in place), or say when to try again."""
        limit = self._sender.rate_limit(credentials, destinations) if self._limiter is not None else None
        if limit is None or self._limiter is None:
            return None
        wait = 0.0
        for _ in range(PACE_ATTEMPTS):
            wait = self._limiter.acquire(limit)
            if wait <= 0:
                return None
            out_of_time = time_left is not None and time_left() - wait < self._call_budget_seconds
            if wait > INLINE_WAIT_SECONDS or out_of_time:
                break
            self._sleep(wait)
        # Recorded as the hub's own wait (`retrying: rate_limited_locally`), the job's remaining calls too: the
        # provider was never asked, so it is not `provider_unavailable`.
        return RetryableProviderError(
            self._sender.channel, RATE_LIMITED_LOCALLY, retry_after=wait, reason=RATE_LIMITED_LOCALLY
        )

    def _record_outcome(
        self, key: DeliveryKey, outcome: SendReceipt | ProviderError, last_attempt: bool, attempt: _Attempt
    ) -> None:
        if isinstance(outcome, SendReceipt):
            self._record(key, DeliveryStatus.SENT, provider_message_id=outcome.provider_message_id)
            self._accepted.append((key, outcome))
        elif isinstance(outcome, OutcomeUnknownError) and not self._sender.idempotent_retries:
            # The provider may have posted it: at most once means not trying again.
            self._record(key, DeliveryStatus.FAILED, reason="outcome_unknown", error_code=outcome.code)
        elif isinstance(outcome, RetryableProviderError):
            if last_attempt:
                self._record(key, DeliveryStatus.FAILED, reason="retries_exhausted", error_code=outcome.code)
                return
            self._record(
                key, DeliveryStatus.RETRYING, reason=outcome.reason or "provider_unavailable", error_code=outcome.code
            )
            attempt.retry_needed = True
            attempt.retry_reason = attempt.retry_reason or outcome.reason
            if outcome.retry_after is not None:
                attempt.retry_after = max(attempt.retry_after or 0.0, outcome.retry_after)
        elif isinstance(outcome, IntegrationCredentialsError):
            self._record(key, DeliveryStatus.FAILED, reason="integration_credentials_rejected", error_code=outcome.code)
            attempt.credentials_error = outcome.code
        elif isinstance(outcome, NeedsRelinkError):
            self._record(key, DeliveryStatus.FAILED, reason="needs_relink", error_code=outcome.code)
            # The employee sees it in GET /me/links, the admin in GET /admin/links; later sends are skipped.
            problem = {"state": NEEDS_RELINK, "reason": outcome.code, "since": utc_now_iso()}
            self._links.update(key.company_id, key.user_id, {state_attribute(key.channel): problem}, [])
        else:
            self._record(
                key, DeliveryStatus.FAILED, reason=outcome.reason or "provider_rejected", error_code=outcome.code
            )

    def _address(self, company_id: str, recipient: Recipient, links: EmployeeLinks | None) -> tuple[str | None, str]:
        """The recipient's address on this channel, or None and the reason it is missing."""
        source = ADDRESS_SOURCES[self._sender.channel]
        return source.address(company_id, recipient, links, self._keyring), source.missing_reason

    def _discover(self, company_id: str, user_id: str, credentials: dict[str, Any]) -> str | None:
        """Ask the provider for an unlinked employee's address (Slack: by e-mail) and keep it as their link."""
        source = ADDRESS_SOURCES[self._sender.channel]
        if not source.discoverable_by_email or not source.link_field:
            return None
        try:
            address = self._sender.find_address(credentials, user_id)
        except ProviderError as exc:
            logger.info("address lookup failed", extra={"user_id": user_id, "code": exc.code})
            return None
        if address:
            self._links.update(company_id, user_id, {source.link_field: address}, [LOOKUP_MISSED])
        else:
            self._links.update(company_id, user_id, {LOOKUP_MISSED: int(time.time())}, [])
        return address

    def _record(
        self, key: DeliveryKey, status: DeliveryStatus, expected: DeliveryStatus | None = None, **details: str | None
    ) -> None:
        # Written together when the job's turn ends (see deliver): over the claimed record, or (a write-off of
        # an earlier attempt's claim) only while the record still has the `expected` status.
        replay = None
        if status == DeliveryStatus.FAILED and details.get("reason") != "outcome_unknown":
            # An admin may try it again later (POST /admin/failures/replay). Not when it may have been sent.
            replay = replay_of(self._job, key.user_id) if self._job is not None else None
        claim = self._claims.get(key)
        record = claim.record if claim else None
        if record and key not in self._called and record.get("retry_key") == self._fresh_keys.get(key):
            # This attempt's key never went out for it: a later attempt gives it a key of its own.
            record = {name: value for name, value in record.items() if name != "retry_key"}
        self._pending.append(Outcome(key, status, **details, replay=replay, claimed=record, expected=expected))
        _count(f"Deliveries{status.value.capitalize()}", key.channel)
        if status != DeliveryStatus.SENT:
            logger.info("delivery not sent", extra={"user_id": key.user_id, "status": status.value, **details})
