"""Shared set-up of the calendar pipeline's unit tests: a company with both calendar integrations on, and
absence events accepted into the registry the way the router accepts them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.unit.aws import HubStack
from tests.unit.builders import COMPANY, TARO, google_oauth_client_json, rsa_private_key_pem
from tests.unit.builders import absence as absence_document
from workplace_hub.catalog import Integration
from workplace_hub.storage.absences import Acceptance

ABSENCE_ID = "abs-5531"
GOOGLE = "google_calendar"
WORKS = "naver_works_calendar"
T1 = "2026-11-28T09:20:00+09:00"
T2 = "2026-11-28T09:30:00+09:00"
T3 = "2026-11-28T09:40:00+09:00"

WORKS_CALENDAR_SETTINGS = {
    "api_version": "2.0",
    "domain_id": "10000001",
    "admin_email": "admin@acme.example",
    "client_id": "clientIdABC123",
    "client_secret": "SECRETclientSecretXYZ",
    "service_account": "ab1cd.serviceaccount@acme.example",
    "private_key": rsa_private_key_pem(),
}
GOOGLE_CALENDAR_SETTINGS = {"oauth_client_json": google_oauth_client_json(), "company_domain": "acme.example"}


def configure_calendars(stack: HubStack) -> HubStack:
    """acme: NAVER WORKS Calendar (API 2.0 service account) and Google Calendar (employee consent) on."""
    stack.configure(COMPANY, Integration.NAVER_WORKS_CALENDAR, WORKS_CALENDAR_SETTINGS)
    stack.configure(COMPANY, Integration.GOOGLE_CALENDAR, GOOGLE_CALENDAR_SETTINGS)
    return stack


def accept_upsert_of(
    stack: HubStack, event_id: str, occurred_at: str, targets: list[str], **overrides: Any
) -> Acceptance:
    """Accept an upsert of Taro's absence, as the router does before it enqueues the job."""
    return stack.registry.accept(
        company_id=COMPANY,
        absence_id=ABSENCE_ID,
        user_id=TARO,
        event_id=event_id,
        event_type="absence.upserted",
        occurred_at=datetime.fromisoformat(occurred_at),
        cancelled=False,
        targets=list(targets),
        absence=absence_document(**overrides),
    )


def accept_cancel_of(stack: HubStack, event_id: str = "evt-c", occurred_at: str = T3) -> Acceptance:
    return stack.registry.accept(
        company_id=COMPANY,
        absence_id=ABSENCE_ID,
        user_id=TARO,
        event_id=event_id,
        event_type="absence.cancelled",
        occurred_at=datetime.fromisoformat(occurred_at),
        cancelled=True,
        targets=[],
        absence=None,
    )
