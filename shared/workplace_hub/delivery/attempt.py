"""One attempt at one send job: claim each recipient just before its call, call the provider, record each
outcome. A `JobAttempt` is created per job and holds that job's state; nothing outlives the job."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from workplace_hub.catalog import Integration
from workplace_hub.crypto import Keyring
from workplace_hub.delivery.calls import (
    Call,
    Outcomes,
    Ready,
    call_chunks,
    call_provider,
    discover_address,
    proposed_retry_keys,
    replay_of,
    side_by_side,
)
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    OutcomeUnknownError,
    ProviderError,
    RetryableProviderError,
)
from workplace_hub.events import Recipient
from workplace_hub.integration_settings.credentials import CompanyCredentials
from workplace_hub.jobs import SendJob
from workplace_hub.observability import logger, metrics
from workplace_hub.providers.messenger import Destination, Sender, SendReceipt
from workplace_hub.storage.addresses import ADDRESS_SOURCES
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.delivery_claims import Claim, ClaimOutcome
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus, Outcome
from workplace_hub.storage.links import EmployeeLinks, LinksRepository
from workplace_hub.storage.rate_limits import SharedRateLimiter

# A wait for the shared rate limit this short happens in place; a longer one postpones the rest of the job.
# Kept short: while a container sleeps for one company's limit, other companies' jobs wait behind it.
INLINE_WAIT_SECONDS = 0.25
PACE_ATTEMPTS = 5

# Postponements every remaining recipient of the job is recorded with (claimed, not called), so that the log
# says why they wait: NAVER WORKS's daily push quota holds them for hours.
RECORDED_POSTPONEMENTS = frozenset({"daily_quota_reached"})
RATE_LIMITED_LOCALLY = "rate_limited_locally"


def count(name: str, channel: str) -> None:
    """One more of `name`, by channel (the dashboard's per-channel figures); a sender sends on one channel only,
    so every metric of its invocation shares the dimension."""
    metrics.add_dimension(name="channel", value=channel)
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


@dataclass(frozen=True)
class SendingParts:
    """What every job of one sender uses, built once per container."""

    sender: Sender
    credentials: CompanyCredentials
    links: LinksRepository
    deliveries: DeliveriesRepository
    keyring: Keyring  # opens sealed addresses (a Google Chat webhook URL)
    lease_seconds: float
    call_budget_seconds: float  # the longest one provider call may take (both timeouts, and some margin)
    limiter: SharedRateLimiter | None
    sleep: Callable[[float], None]
    concurrency: int = 1  # calls in flight at once (SEND_CONCURRENCY); 1: one after another
    pool: Executor | None = None  # the threads that make them, when concurrency > 1


class JobAttempt:
    """One job's attempt and everything it holds: its claims, the calls made, the outcomes to write."""

    def __init__(
        self, parts: SendingParts, job: SendJob, *, last_attempt: bool, time_left: Callable[[], float] | None
    ) -> None:
        self._parts = parts
        self._sender = parts.sender
        self.job = job
        self.last_attempt = last_attempt
        self._time_left = time_left
        self.retry_after: float | None = None
        self.retry_needed = False  # the provider said "later": the job's remaining calls wait too
        self.retry_reason: str | None = None  # why, where the provider said more than "later" (daily quota)
        self.unclaimed = False  # a claim could not be tried (a storage error): the job must come back for it
        self.credentials_error: str | None = None
        self.accepted: list[tuple[DeliveryKey, SendReceipt]] = []  # sent, recorded once the outcomes are written
        self._pending: list[Outcome] = []
        self._claims: dict[DeliveryKey, Claim] = {}  # this attempt's claims ...
        self._called: set[DeliveryKey] = set()  # ... and those the provider was called for
        self._fresh_keys: dict[DeliveryKey, str] = {}  # retry keys this attempt proposed
        self._written: set[DeliveryKey] = set()  # outcomes written already (a window's, when windows run side by side)

    def run(self, on_recorded: Callable[[list[tuple[DeliveryKey, SendReceipt]]], None] | None = None) -> None:
        """Deliver the job and record every outcome, even when something unexpected stops it halfway; then
        `on_recorded` with the deliveries the provider accepted (once they are recorded `sent`)."""
        try:
            self._deliver()
        except Exception:
            # Stopped before calling the provider for some claimed deliveries (a throttled write, say): give
            # those back for the job's next attempt, rather than leave them `sending` to be written off later.
            recorded = {outcome.key for outcome in self._pending} | self._written
            for key in sorted(self._claims.keys() - self._called - recorded, key=lambda k: k.user_id):
                self._record(key, DeliveryStatus.RETRYING, reason="interrupted")
            raise
        finally:
            self._write_outcomes()
            if self.accepted and on_recorded is not None:
                on_recorded(self.accepted)

    def _write_outcomes(self) -> None:
        outcomes, self._pending = self._pending, []
        self._written.update(outcome.key for outcome in outcomes)
        self._parts.deliveries.finish_many(outcomes)

    def _deliver(self) -> None:
        """Claim each recipient, send to the claimed ones (in batches per locale), record each outcome.

        Once the provider says "later" (429, 5xx, timeout), or the invocation has no time left for another
        call, the job's remaining recipients are not tried now: they wait for the job's next attempt.
        """
        job, parts = self.job, self._parts
        company = parts.credentials.company(job.company_id)
        integration = Integration(job.channel)
        enabled = parts.credentials.enabled(company, integration)
        credentials = parts.credentials.resolve(company, integration) if enabled else {}
        unknown = [r.user_id for r in job.recipients if r.user_id not in job.addresses]
        links = parts.links.get_many(job.company_id, unknown) if unknown else {}
        keys = {r.user_id: DeliveryKey(job.company_id, job.event_id, r.user_id, job.channel) for r in job.recipients}
        idempotent = self._sender.idempotent_retries
        self._fresh_keys = proposed_retry_keys(job, keys, self._sender.max_batch) if idempotent else {}
        # A window of calls at a time (SEND_CONCURRENCY of them), their recipients claimed together just before
        # the window goes out: a job stopped halfway (a crash, no time left) leaves the recipients of the windows
        # it did not get to unclaimed, for its next attempt.
        chunks = call_chunks(job, self._sender.max_batch)
        for start in range(0, len(chunks), parts.concurrency):
            window = chunks[start : start + parts.concurrency]
            postponed = self._postponement(self._time_left)
            if postponed is not None and not self.last_attempt and postponed.reason not in RECORDED_POSTPONEMENTS:
                self.unclaimed = True
                if postponed.retry_after is not None:
                    self.retry_after = max(self.retry_after or 0.0, postponed.retry_after)
                break
            # (On the last attempt they are claimed all the same, and recorded failed: retries_exhausted.)
            claims = parts.deliveries.claim_window(
                [keys[r.user_id] for chunk in window for r in chunk],
                parts.lease_seconds,
                reclaim_expired=idempotent,
                retry_keys=self._fresh_keys,
            )
            self._claims.update((key, claim) for key, claim in claims.items() if claim.outcome == ClaimOutcome.CLAIMED)
            calls: list[Call] = []
            for chunk in window:
                chunk_claims = {keys[r.user_id]: claims[keys[r.user_id]] for r in chunk}
                calls.extend(self._calls(self._ready(chunk, chunk_claims, enabled, links, credentials)))
            self._send(calls, credentials, postponed)
            if parts.concurrency > 1:
                # Each window's outcomes once it is done: a crash in a later window leaves only that window's calls
                # unknown. (One after another, as before: once per job.)
                self._write_outcomes()
        if self.credentials_error is not None:
            detail = "the provider refused the credentials while sending"
            parts.credentials.record_error(job.company_id, integration, self.credentials_error, detail)

    def _ready(
        self,
        recipients: list[Recipient],
        claims: dict[DeliveryKey, Claim],
        enabled: bool,
        links: dict[str, EmployeeLinks],
        credentials: dict[str, Any],
    ) -> list[Ready]:
        """The claimed recipients to call now, with their addresses; every other one recorded or left for later."""
        job = self.job
        unclaimable = (ClaimOutcome.UNAVAILABLE, ClaimOutcome.IN_FLIGHT)
        incomplete = any(claim.outcome in unclaimable for claim in claims.values())
        ready: list[Ready] = []
        for recipient in recipients:
            key = DeliveryKey(job.company_id, job.event_id, recipient.user_id, job.channel)
            outcome = claims[key].outcome
            if outcome == ClaimOutcome.LEASE_EXPIRED:
                # An earlier attempt died mid-send: it may have been delivered. At most once: do not resend.
                self._record(key, DeliveryStatus.FAILED, reason="outcome_unknown", expected=DeliveryStatus.SENDING)
                continue
            if outcome == ClaimOutcome.UNAVAILABLE:
                self.unclaimed = True  # left as it was, for the job's next attempt
                continue
            if outcome == ClaimOutcome.IN_FLIGHT:
                # Another attempt holds it. Come back once its lease is over: if that attempt died (its own message
                # may be this one), nobody else would ever settle the record.
                self.unclaimed = True
                held = claims[key].record or {}
                lease_left = float(held.get("lease_until", 0)) - time.time() + 1
                self.retry_after = max(self.retry_after or 0.0, lease_left)
                continue
            if outcome != ClaimOutcome.CLAIMED:
                continue
            if not enabled:
                self._record(key, DeliveryStatus.SKIPPED, reason="channel_disabled")
                continue
            address, missing_reason = job.addresses.get(recipient.user_id), ""
            if address is None:
                source = ADDRESS_SOURCES[self._sender.channel]
                address = source.address(job.company_id, recipient, links.get(recipient.user_id), self._parts.keyring)
                missing_reason = source.missing_reason
            if address is None:
                address = discover_address(
                    self._sender, self._parts.links, job.company_id, recipient.user_id, credentials
                )
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

    def _calls(self, ready: list[Ready]) -> list[Call]:
        """One chunk's claimed recipients as calls: one per stored retry key where the provider deduplicates (a
        retry repeats the very request an earlier attempt may have had accepted), else one call (one per
        recipient for providers without a batch endpoint)."""
        calls: dict[tuple[str, str | None], list[Ready]] = defaultdict(list)
        for entry in ready:
            calls[(entry[2], self._claims[entry[0]].retry_key)].append(entry)
        return [Call(locale, retry_key, batch) for (locale, retry_key), batch in calls.items()]

    def _send(self, calls: list[Call], credentials: dict[str, Any], postponed: ProviderError | None) -> None:
        """Make a window's calls, `concurrency` at a time, each once it has its rate-limit token; record each
        outcome. Once a provider said "later", the calls not made yet are not made (recorded retrying)."""
        waiting = list(calls)
        paced = 0
        while waiting:
            # (The time left was looked at before the claims; these calls only follow earlier ones of the window.)
            later = postponed or self._postponement(None)
            if later is not None:
                for call in waiting:
                    self._record_all(call, later)
                return
            turn, waiting = waiting[: self._parts.concurrency], waiting[self._parts.concurrency :]
            going, short, wait = self._pace(credentials, turn)
            self._call_all(going, credentials)
            if not short:
                continue
            paced = 0 if going else paced + 1
            time_left = self._time_left
            out_of_time = time_left is not None and time_left() - wait < self._parts.call_budget_seconds
            if wait > INLINE_WAIT_SECONDS or out_of_time or paced >= PACE_ATTEMPTS:
                # Recorded as the hub's own wait (`retrying: rate_limited_locally`), the job's remaining calls
                # too: the provider was never asked, so it is not `provider_unavailable`.
                limited = RetryableProviderError(
                    self._sender.channel, RATE_LIMITED_LOCALLY, retry_after=wait, reason=RATE_LIMITED_LOCALLY
                )
                for call in short:
                    self._record_all(call, limited)
                continue
            if not going:
                self._parts.sleep(wait)
            waiting = short + waiting

    def _pace(self, credentials: dict[str, Any], calls: list[Call]) -> tuple[list[Call], list[Call], float]:
        """The calls that have their shared rate-limit token (taken for all of them in one write), those that do
        not, and how long until the first of those will."""
        limiter = self._parts.limiter
        if limiter is None:
            return calls, [], 0.0
        limits = [self._sender.rate_limit(credentials, call.destinations) for call in calls]
        paced = [(call, limit) for call, limit in zip(calls, limits, strict=True) if limit is not None]
        if not paced:
            return calls, [], 0.0
        waits = dict(zip((id(call) for call, _ in paced), limiter.acquire_many([lim for _, lim in paced]), strict=True))
        going = [call for call in calls if waits.get(id(call), 0.0) <= 0]
        short = [call for call in calls if waits.get(id(call), 0.0) > 0]
        return going, short, min((waits[id(call)] for call in short), default=0.0)

    def _call_all(self, calls: list[Call], credentials: dict[str, Any]) -> None:
        """Call the provider for each (side by side on the pool), then record every outcome in the calls' order."""
        pool = self._parts.pool
        if pool is None or len(calls) <= 1:
            for call in calls:
                self._called.update(key for key, _, _ in call.batch)
                self._record_all(call, call_provider(self._sender, self.job, call, credentials))
            return
        for call in calls:
            self._called.update(key for key, _, _ in call.batch)
        results = side_by_side(pool, [(call_provider, (self._sender, self.job, call, credentials)) for call in calls])
        for call, result in zip(calls, results, strict=True):
            if not isinstance(result, Exception):
                self._record_all(call, result)
        first = next((result for result in results if isinstance(result, Exception)), None)
        if first is not None:
            raise first  # the calls that failed this way stay `sending`: their outcome is unknown

    def _record_all(self, call: Call, outcomes: Outcomes | ProviderError) -> None:
        for key, destination, _ in call.batch:
            self._record_outcome(
                key, outcomes if isinstance(outcomes, ProviderError) else outcomes[destination.user_id]
            )

    def _postponement(self, time_left: Callable[[], float] | None) -> ProviderError | None:
        """Why the next call should not be made in this invocation, as a retryable error; else None."""
        if self.retry_needed:
            return RetryableProviderError(
                self._sender.channel, "postponed", retry_after=self.retry_after, reason=self.retry_reason
            )
        if time_left is not None and time_left() < self._parts.call_budget_seconds:
            return RetryableProviderError(self._sender.channel, "out_of_time", retry_after=0)
        return None

    def _record_outcome(self, key: DeliveryKey, outcome: SendReceipt | ProviderError) -> None:
        if isinstance(outcome, SendReceipt):
            self._record(key, DeliveryStatus.SENT, provider_message_id=outcome.provider_message_id)
            self.accepted.append((key, outcome))
        elif isinstance(outcome, OutcomeUnknownError) and not self._sender.idempotent_retries:
            # The provider may have posted it: at most once means not trying again.
            self._record(key, DeliveryStatus.FAILED, reason="outcome_unknown", error_code=outcome.code)
        elif isinstance(outcome, RetryableProviderError):
            if self.last_attempt:
                self._record(key, DeliveryStatus.FAILED, reason="retries_exhausted", error_code=outcome.code)
                return
            self._record(
                key, DeliveryStatus.RETRYING, reason=outcome.reason or "provider_unavailable", error_code=outcome.code
            )
            self.retry_needed = True
            self.retry_reason = self.retry_reason or outcome.reason
            if outcome.retry_after is not None:
                self.retry_after = max(self.retry_after or 0.0, outcome.retry_after)
        elif isinstance(outcome, IntegrationCredentialsError):
            self._record(key, DeliveryStatus.FAILED, reason="integration_credentials_rejected", error_code=outcome.code)
            self.credentials_error = outcome.code
        elif isinstance(outcome, NeedsRelinkError):
            self._record(key, DeliveryStatus.FAILED, reason="needs_relink", error_code=outcome.code)
            # The employee sees it in GET /me/links, the admin in GET /admin/links; later sends are skipped.
            self._parts.credentials.mark_needs_relink(key.company_id, key.user_id, key.channel, outcome.code)
        else:
            self._record(
                key, DeliveryStatus.FAILED, reason=outcome.reason or "provider_rejected", error_code=outcome.code
            )

    def _record(
        self, key: DeliveryKey, status: DeliveryStatus, expected: DeliveryStatus | None = None, **details: str | None
    ) -> None:
        # Written together when the job's turn ends (see run): over the claimed record, or (a write-off of
        # an earlier attempt's claim) only while the record still has the `expected` status.
        replay = None
        if status == DeliveryStatus.FAILED and details.get("reason") != "outcome_unknown":
            # An admin may try it again later (POST /admin/failures/replay). Not when it may have been sent.
            replay = replay_of(self.job, key.user_id)
        claim = self._claims.get(key)
        record = claim.record if claim else None
        if record and key not in self._called and record.get("retry_key") == self._fresh_keys.get(key):
            # This attempt's key never went out for it: a later attempt gives it a key of its own.
            record = {name: value for name, value in record.items() if name != "retry_key"}
        self._pending.append(Outcome(key, status, **details, replay=replay, claimed=record, expected=expected))
        count(f"Deliveries{status.value.capitalize()}", key.channel)
        if status != DeliveryStatus.SENT:
            logger.info("delivery not sent", extra={"user_id": key.user_id, "status": status.value, **details})
