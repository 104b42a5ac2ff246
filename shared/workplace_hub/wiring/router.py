"""The router function's wiring: events in, delivery records, send jobs and calendar jobs out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3

from workplace_hub.config import RouterSettings, load_settings
from workplace_hub.queues import DeadLetters, JobQueue
from workplace_hub.storage.absences import AbsenceRegistry
from workplace_hub.wiring.common import AWS_CONFIG, aws_client, settings_cache, tables

if TYPE_CHECKING:
    from workplace_hub.routing.router import EventRouter


def build_router(config: RouterSettings | None = None) -> EventRouter:
    """The router: no provider, no keyring (it opens no secret)."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    from workplace_hub.routing.router import EventRouter

    config = config or load_settings(RouterSettings)
    settings_repo, links, deliveries = tables(config)
    sqs = aws_client("sqs")
    persistence = DynamoDBPersistenceLayer(
        # A plain client: the resource's own client re-serializes attribute values.
        table_name=config.IDEMPOTENCY_TABLE_NAME,
        boto3_client=boto3.client("dynamodb", config=AWS_CONFIG),
    )
    idempotency = IdempotencyConfig(event_key_jmespath="[company_id, event_id]", expires_after_seconds=6 * 3600)

    def guard(function: Any) -> Any:
        return idempotent_function(data_keyword_argument="event", persistence_store=persistence, config=idempotency)(
            function
        )

    calendars_on = config.ABSENCES_TABLE_NAME and config.CALENDAR_QUEUE_URL
    return EventRouter(
        settings_cache=settings_cache(settings_repo, config),
        settings_repo=settings_repo,
        links=links,
        deliveries=deliveries,
        send_queues={channel: JobQueue(sqs, url) for channel, url in config.send_queue_urls().items()},
        dead_letters=DeadLetters(sqs, config.EVENTS_DLQ_URL, "router", log=deliveries, replay_queue="events"),
        max_receive_count=config.MAX_RECEIVE_COUNT,
        guard=guard,
        idempotency_config=idempotency,
        registry=AbsenceRegistry(aws_client("dynamodb").Table(config.ABSENCES_TABLE_NAME)) if calendars_on else None,
        calendar_queue=JobQueue(sqs, config.CALENDAR_QUEUE_URL) if calendars_on else None,
    )
