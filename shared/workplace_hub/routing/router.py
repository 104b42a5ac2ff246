"""The router: one WORKPLACE event in, delivery records and per-provider send jobs out."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from workplace_hub.catalog import CalendarRef
from workplace_hub.errors import InvalidEventError
from workplace_hub.events import AbsenceCancelledEvent, AbsenceUpsertedEvent, NotificationEvent, parse_event
from workplace_hub.jobs import CalendarJob, SendJob, recipient_chunks, recipients_per_job
from workplace_hub.observability import logger, metrics, per_record_log_keys
from workplace_hub.queues import DeadLetters, JobQueue, SqsAttempt, failure_reason, message_identity
from workplace_hub.routing.plan import known_addresses, plan_deliveries
from workplace_hub.storage.absences import AbsenceRegistry, Acceptance
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus, NewDelivery, final_records
from workplace_hub.storage.links import LinksRepository
from workplace_hub.storage.settings import CachedSettings, SettingsRepository


class EventRouter:
    """Validates events, decides per recipient × channel, records and enqueues. Idempotent per event."""

    def __init__(
        self,
        *,
        settings_cache: CachedSettings,
        settings_repo: SettingsRepository,
        links: LinksRepository,
        deliveries: DeliveriesRepository,
        send_queues: dict[str, JobQueue],
        dead_letters: DeadLetters,
        max_receive_count: int,
        guard: Any = None,
        idempotency_config: Any = None,
        registry: AbsenceRegistry | None = None,
        calendar_queue: JobQueue | None = None,
    ) -> None:
        self._settings_cache = settings_cache
        self._settings_repo = settings_repo
        self._links = links
        self._deliveries = deliveries
        self._send_queues = send_queues
        self._dead_letters = dead_letters
        self._max_receive_count = max_receive_count
        # `guard` wraps route_notification (powertools idempotency) so that two copies of one event
        # are never routed at the same time; the delivery records make routing idempotent after that.
        self._route = guard(self.route_notification) if guard else self.route_notification
        self._idempotency_config = idempotency_config
        self._registry = registry
        self._calendar_queue = calendar_queue if registry is not None else None

    def start_invocation(self, context: Any) -> None:
        """Let the idempotency guard expire an in-progress claim when this invocation would time out."""
        if self._idempotency_config is not None:
            self._idempotency_config.register_lambda_context(context)

    @per_record_log_keys
    def handle_record(self, record: SQSRecord) -> None:
        """SQS record handler: a bad event is dead-lettered with its reason and never fails the batch."""
        try:
            event = parse_event(record.body)
        except InvalidEventError as exc:
            logger.warning("event rejected", extra={"reason": exc.reason, "message_id": record.message_id})
            metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=1)
            company_id, event_id = message_identity(record.body)
            self._dead_letters.send(
                record.body, f"invalid event: {exc.reason}", company_id=company_id, event_id=event_id
            )
            return
        logger.append_keys(company_id=event.company_id, event_id=event.event_id, event_type=event.type)
        if not isinstance(event, NotificationEvent) and self._calendar_queue is None:
            # No calendar worker deployed: keep the event, with why, for a redrive once there is one.
            self._dead_letters.send(
                record.body,
                f"{event.type}: calendar registration is not deployed",
                company_id=event.company_id,
                event_id=event.event_id,
                item=event.type,
                replayable=True,
            )
            return
        received = SqsAttempt.of(record, None, self._max_receive_count)
        try:
            if isinstance(event, NotificationEvent):
                self._route(event=event)
            else:
                self.route_absence(event)
        except Exception as exc:
            if not received.last_attempt:
                raise  # SQS brings the event back
            # SQS would move it to the DLQ without a word: keep it there with why, for the admin to replay.
            logger.exception("routing failed on the last attempt; dead-lettered")
            self._dead_letters.send(
                record.body,
                failure_reason("routing failed", exc),
                company_id=event.company_id,
                event_id=event.event_id,
                item=event.item if isinstance(event, NotificationEvent) else event.type,
                replayable=True,
            )

    def route_notification(self, event: NotificationEvent) -> dict[str, int]:
        """Write one delivery record per recipient × channel and enqueue the sendable ones."""
        company = self._settings_cache.get(event.company_id)
        if event.product == "collabo" and not company.is_collabo:
            self._settings_repo.save_product(event.company_id, "collabo")
            self._settings_cache.invalidate(event.company_id)
            company = self._settings_cache.get(event.company_id)
        routed = company.routing.get(event.item)
        links = self._links.get_many(event.company_id, [r.user_id for r in event.recipients]) if routed else {}
        plan = plan_deliveries(event, company, links, set(self._send_queues))
        existing = self._deliveries.statuses_for_event(event.company_id, event.event_id)
        fresh = [p for p in plan if (p.user_id, p.channel) not in existing]
        self._deliveries.add_many(
            [
                NewDelivery(
                    DeliveryKey(event.company_id, event.event_id, p.user_id, p.channel),
                    event.item,
                    p.status,
                    p.reason,
                    p.error_code,
                )
                for p in fresh
            ]
        )
        # Records still `queued` from an earlier, interrupted attempt are enqueued again; the workers'
        # claim makes sure each is sent at most once.
        to_send: dict[str, set[str]] = defaultdict(set)
        for p in fresh:
            if p.status == DeliveryStatus.QUEUED:
                to_send[p.channel].add(p.user_id)
        for (user_id, channel), status in existing.items():
            if status == DeliveryStatus.QUEUED.value and channel in self._send_queues:
                to_send[channel].add(user_id)
        enqueued = 0
        for channel, user_ids in to_send.items():
            recipients = [r for r in event.recipients if r.user_id in user_ids]
            addresses = known_addresses(channel, recipients, links)
            jobs = [
                SendJob(
                    company_id=event.company_id,
                    event_id=event.event_id,
                    item=event.item,
                    channel=channel,
                    message=event.message,
                    recipients=chunk,
                    addresses=chunk_addresses,
                ).model_dump(mode="json", exclude_none=True)
                for chunk, chunk_addresses in recipient_chunks(recipients, recipients_per_job(channel), addresses)
            ]
            self._send_queues[channel].send_all(jobs)
            enqueued += len(recipients)
        skipped = sum(1 for p in fresh if p.status == DeliveryStatus.SKIPPED)
        failed = sum(1 for p in fresh if p.status == DeliveryStatus.FAILED)
        metrics.add_metric(name="DeliveriesQueued", unit=MetricUnit.Count, value=enqueued)
        metrics.add_metric(name="DeliveriesSkipped", unit=MetricUnit.Count, value=skipped)
        if failed:
            metrics.add_metric(name="DeliveriesFailed", unit=MetricUnit.Count, value=failed)
        logger.info(
            "event routed",
            extra={"queued": enqueued, "skipped": skipped, "failed": failed, "already_recorded": len(existing)},
        )
        return {"queued": enqueued, "skipped": skipped}

    def route_absence(self, event: AbsenceUpsertedEvent | AbsenceCancelledEvent) -> Acceptance:
        """Record the absence's new state unless a newer one is there, and have the calendar worker apply it."""
        assert self._registry is not None and self._calendar_queue is not None
        upsert = isinstance(event, AbsenceUpsertedEvent)
        channels = absence_channels(event.absence) if isinstance(event, AbsenceUpsertedEvent) else []
        acceptance = self._registry.accept(
            company_id=event.company_id,
            absence_id=event.absence.absence_id,
            user_id=event.absence.user_id,
            event_id=event.event_id,
            event_type=event.type,
            occurred_at=event.occurred_at,
            cancelled=not upsert,
            targets=channels,
            absence=event.absence.model_dump(mode="json") if upsert else None,
        )
        if acceptance == Acceptance.ACCEPTED:
            job = CalendarJob(
                company_id=event.company_id,
                absence_id=event.absence.absence_id,
                user_id=event.absence.user_id,
                event_id=event.event_id,
                event_type=event.type,
                channels=channels,
            )
            self._calendar_queue.send_all([job.model_dump(mode="json")])
        else:
            # An older upsert (or one of a cancelled absence): recorded as skipped, never applied.
            reason = "absence_cancelled" if acceptance == Acceptance.CANCELLED else "superseded"
            existing = final_records(self._deliveries.statuses_for_event(event.company_id, event.event_id))
            self._deliveries.add_many(
                [
                    NewDelivery(
                        DeliveryKey(event.company_id, event.event_id, event.absence.user_id, channel),
                        event.type,
                        DeliveryStatus.SKIPPED,
                        reason,
                    )
                    for channel in channels
                    if (event.absence.user_id, channel) not in existing
                ]
            )
        logger.info("absence routed", extra={"absence_id": event.absence.absence_id, "acceptance": acceptance.value})
        return acceptance


def absence_channels(absence: Any) -> list[str]:
    """The calendars an upsert names, once each (`google` is always the primary calendar)."""
    channels: list[str] = []
    for target in absence.calendars:
        calendar_id = target.calendar_id if target.provider == "naver_works" else None
        channel = CalendarRef(target.provider, calendar_id).channel
        if channel not in channels:
            channels.append(channel)
    return channels
