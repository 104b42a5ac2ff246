"""The calendar function's wiring: NAVER WORKS (2.0 / 1.0 / personal) and Google (consent / delegation) writers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workplace_hub.config import CalendarSettings, load_settings
from workplace_hub.queues import DeadLetters, JobQueue
from workplace_hub.storage.absences import AbsenceRegistry
from workplace_hub.wiring.common import (
    aws_client,
    call_budget_seconds,
    company_credentials,
    http_session,
    http_timeout,
    storage,
)

if TYPE_CHECKING:
    from workplace_hub.calendars.worker import CalendarWorker
    from workplace_hub.calendars.writers import CalendarWriter


def build_calendar_worker(config: CalendarSettings | None = None) -> CalendarWorker:
    """The calendar worker, with one writer per calendar provider."""
    from workplace_hub.calendars.sync import AbsenceCalendarSync
    from workplace_hub.calendars.worker import CalendarWorker
    from workplace_hub.calendars.writers import GoogleCalendarWriter, NaverWorksCalendarWriter
    from workplace_hub.credentials.user_grants import UserGrants
    from workplace_hub.google.calendar import GoogleCalendarClient
    from workplace_hub.google.delegation import DelegatedCalendarAuth
    from workplace_hub.google.oauth import GoogleOAuthClient
    from workplace_hub.naver_works.auth import WorksTokenProvider
    from workplace_hub.naver_works.calendar import NaverWorksCalendarClient
    from workplace_hub.naver_works.user_oauth import NaverWorksUserOAuthClient

    config = config or load_settings(CalendarSettings)
    stored = storage(config)
    sqs = aws_client("sqs")
    session = http_session()
    timeout = http_timeout(config)
    registry = AbsenceRegistry(aws_client("dynamodb").Table(config.ABSENCES_TABLE_NAME))
    grants = UserGrants(
        links=stored.links,
        keyring=stored.keyring,
        google=GoogleOAuthClient(session, config, timeout, certs_url=config.GOOGLE_CERTS_URL),
        naver_works=NaverWorksUserOAuthClient(session, config, timeout),
    )
    writers: dict[str, CalendarWriter] = {
        "google": GoogleCalendarWriter(
            GoogleCalendarClient(session, config, timeout),
            DelegatedCalendarAuth(config, session=session, timeout=timeout),
            grants,
        ),
        "naver_works": NaverWorksCalendarWriter(
            NaverWorksCalendarClient(session, config, timeout), WorksTokenProvider(session, config, timeout), grants
        ),
    }
    sync = AbsenceCalendarSync(
        writers=writers,
        registry=registry,
        credentials=company_credentials(config, stored, cached=True),
        links=stored.links,
        call_budget_seconds=call_budget_seconds(config),
    )
    return CalendarWorker(
        registry=registry,
        sync=sync,
        deliveries=stored.deliveries,
        queue=JobQueue(sqs, config.CALENDAR_QUEUE_URL),
        dead_letters=DeadLetters(
            sqs, config.CALENDAR_DLQ_URL, "register_calendars", log=stored.deliveries, replay_queue="calendar"
        ),
        max_receive_count=config.MAX_RECEIVE_COUNT,
        lease_seconds=config.ABSENCE_LEASE_SECONDS,
    )
