"""Reconciling one absence: make every calendar hold exactly the event its latest state says.

For each calendar the state wants: skip with a reason when the integration is off or the employee lacks the
link; otherwise record the event id in the registry, then create-or-update the event (a deterministic id:
a repeat is an update). For each calendar registered before but no longer wanted (or every one, once the
absence is cancelled): delete the event, then forget it. A calendar that already holds this state is not
called again, so redeliveries and retries cost no provider calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from workplace_hub.calendars.writers import CalendarWriter, WriteContext
from workplace_hub.catalog import CalendarRef, Integration
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    ProviderError,
    RetryableProviderError,
)
from workplace_hub.events import Absence
from workplace_hub.integration_settings.credentials import CompanyCredentials
from workplace_hub.observability import logger, metrics
from workplace_hub.storage.absences import AbsenceRegistry, AbsenceState, Registration
from workplace_hub.storage.delivery_records import DeliveryStatus
from workplace_hub.storage.links import LinksRepository

REGISTERED, REMOVED = "registered", "removed"


@dataclass(frozen=True)
class CalendarOutcome:
    """What became of one calendar of the absence (a delivery record of the state's event)."""

    channel: str
    status: DeliveryStatus
    action: str
    reason: str | None = None
    error_code: str | None = None


@dataclass
class SyncResult:
    outcomes: list[CalendarOutcome] = field(default_factory=list)
    retry_needed: bool = False
    retry_after: float | None = None
    calls: int = 0


class AbsenceCalendarSync:
    """Applies an absence's state to its calendars through one writer per provider."""

    def __init__(
        self,
        *,
        writers: dict[str, CalendarWriter],
        registry: AbsenceRegistry,
        credentials: CompanyCredentials,
        links: LinksRepository,
        call_budget_seconds: float = 15.0,
    ) -> None:
        self._writers = writers
        self._registry = registry
        self._credentials = credentials
        self._links = links
        self._call_budget_seconds = call_budget_seconds

    def sync(
        self, state: AbsenceState, *, last_attempt: bool, time_left: Callable[[], float] | None = None
    ) -> SyncResult:
        result = SyncResult()
        company = self._credentials.company(state.company_id)
        links = self._links.get(state.company_id, state.user_id)
        absence = Absence.model_validate(state.absence) if state.absence and not state.cancelled else None
        credentials: dict[Integration, dict[str, Any] | None] = {}
        blocked: set[str] = set()  # providers that said "later" in this run: not called again now

        def context_for(ref: CalendarRef) -> WriteContext | str:
            """The write context, or why this calendar cannot be written."""
            integration = ref.integration
            if integration not in credentials:
                credentials[integration] = self._credentials.of(company, integration)
            opened = credentials[integration]
            if opened is None:
                return "calendar_disabled"
            reason = self._writers[ref.provider].unusable(ref, links, opened)
            if reason:
                return reason
            return WriteContext(state.company_id, state.user_id, state.absence_id, links, opened)

        def attempt(ref: CalendarRef, action: str, call: Callable[[], None]) -> bool:
            """Run one provider call (or postpone it); records the outcome when it does not succeed."""
            if ref.provider in blocked or (time_left is not None and time_left() < self._call_budget_seconds):
                self._retry(result, ref, action, RetryableProviderError(ref.provider, "postponed"), last_attempt)
                return False
            result.calls += 1
            try:
                call()
            except ProviderError as exc:
                if isinstance(exc, RetryableProviderError):
                    blocked.add(ref.provider)
                    self._retry(result, ref, action, exc, last_attempt)
                else:
                    self._failed(result, state, ref, action, exc)
                return False
            return True

        wanted = {CalendarRef.from_channel(channel) for channel in state.desired}
        for ref in sorted(wanted, key=lambda r: r.channel):
            context = context_for(ref)
            if isinstance(context, str):
                result.outcomes.append(CalendarOutcome(ref.channel, DeliveryStatus.SKIPPED, REGISTERED, context))
                continue
            assert absence is not None  # an active state always has its absence
            writer = self._writers[ref.provider]
            event_id = writer.event_id(context, ref, absence)
            registered = state.registrations.get(ref.channel)
            if registered == Registration(event_id, applied=True, state=state.event_id):
                result.outcomes.append(CalendarOutcome(ref.channel, DeliveryStatus.SENT, REGISTERED))
                continue
            if registered and registered.event_id != event_id:
                # The event must change type (Google out-of-office): remove the old one first.
                old = registered.event_id
                if not attempt(ref, REGISTERED, lambda w=writer, c=context, r=ref, e=old: w.delete(c, r, e)):
                    continue
                self._registry.removed(state.company_id, state.absence_id, ref.channel)
            self._registry.intend(state.company_id, state.absence_id, ref.channel, event_id)
            if attempt(ref, REGISTERED, lambda w=writer, c=context, r=ref, e=event_id: w.upsert(c, r, absence, e)):
                self._registry.applied(state.company_id, state.absence_id, ref.channel, event_id, state.event_id)
                result.outcomes.append(CalendarOutcome(ref.channel, DeliveryStatus.SENT, REGISTERED))
                metrics.add_metric(name="CalendarEventsWritten", unit=MetricUnit.Count, value=1)

        wanted_channels = {ref.channel for ref in wanted}
        for channel, registered in sorted(state.registrations.items()):
            if channel in wanted_channels:
                continue
            ref = CalendarRef.from_channel(channel)
            context = context_for(ref)
            if isinstance(context, str):
                # Kept in the registry: a later event (or a redrive) removes it once the calendar works again.
                result.outcomes.append(CalendarOutcome(channel, DeliveryStatus.SKIPPED, REMOVED, context))
                continue
            writer = self._writers[ref.provider]
            event_id = registered.event_id
            if attempt(ref, REMOVED, lambda w=writer, c=context, r=ref, e=event_id: w.delete(c, r, e)):
                self._registry.removed(state.company_id, state.absence_id, channel)
                result.outcomes.append(CalendarOutcome(channel, DeliveryStatus.SENT, REMOVED))
                metrics.add_metric(name="CalendarEventsRemoved", unit=MetricUnit.Count, value=1)
        return result

    @staticmethod
    def _retry(
        result: SyncResult, ref: CalendarRef, action: str, exc: RetryableProviderError, last_attempt: bool
    ) -> None:
        if last_attempt:
            outcome = CalendarOutcome(ref.channel, DeliveryStatus.FAILED, action, "retries_exhausted", exc.code)
        else:
            outcome = CalendarOutcome(ref.channel, DeliveryStatus.RETRYING, action, "provider_unavailable", exc.code)
            result.retry_needed = True
            if exc.retry_after is not None:
                result.retry_after = max(result.retry_after or 0.0, exc.retry_after)
        result.outcomes.append(outcome)

    def _failed(
        self, result: SyncResult, state: AbsenceState, ref: CalendarRef, action: str, exc: ProviderError
    ) -> None:
        if isinstance(exc, NeedsRelinkError):
            reason = "needs_relink"
        elif isinstance(exc, IntegrationCredentialsError):
            reason = "integration_credentials_rejected"
            self._credentials.record_error(
                state.company_id,
                ref.integration,
                exc.code,
                "the provider refused the credentials while registering an absence",
            )
        else:
            reason = exc.reason or "provider_rejected"
        logger.info("calendar write failed", extra={"channel": ref.channel, "reason": reason, "code": exc.code})
        result.outcomes.append(CalendarOutcome(ref.channel, DeliveryStatus.FAILED, action, reason, exc.code))
