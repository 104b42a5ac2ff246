"""One writer per calendar provider: puts an absence's event in one calendar, or takes it out.

A writer knows which links and settings its calendar needs (`unusable`), which deterministic event id an
absence gets there (`event_id`), and how to get a token and retry once when the API refuses it (401):
- Google: the employee's consent token (refreshed on 401; a refused refresh marks the link needs_relink),
  or a domain-wide-delegation token for their Google Workspace ID (re-issued on 401);
- NAVER WORKS: the service account's token (API 2.0, scope `calendar`) or the server token (API 1.0) for
  the default calendar; the employee's own authorization for a personal calendar (API 2.0 only).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from workplace_hub.absence_times import DEFAULT_LOCALE, localized_title
from workplace_hub.calendars.readiness import delegated, google_unusable, naver_works_unusable
from workplace_hub.catalog import CalendarRef
from workplace_hub.credentials.user_grants import UserGrants
from workplace_hub.errors import IntegrationCredentialsError, NeedsRelinkError
from workplace_hub.events import Absence
from workplace_hub.google import calendar as google_calendar
from workplace_hub.naver_works import calendar_events as naver_works_events
from workplace_hub.naver_works.auth import WorksTokenProvider, is_legacy
from workplace_hub.naver_works.calendar import NaverWorksCalendarClient
from workplace_hub.naver_works.ical import build_ical
from workplace_hub.storage.links import EmployeeLinks

if TYPE_CHECKING:
    from workplace_hub.google.delegation import DelegatedCalendarAuth

T = TypeVar("T")
CALENDAR_SCOPE = "calendar"

# Google event settings (integration google_calendar): how the absence shows to colleagues.
SHOW_AS = {"busy": "opaque", "free": "transparent"}
DEFAULT_SHOW_AS, DEFAULT_VISIBILITY = "busy", "default"


@dataclass(frozen=True)
class WriteContext:
    """Who and what one write is for; `credentials` are the integration's opened settings (never logged)."""

    company_id: str
    user_id: str
    absence_id: str
    links: EmployeeLinks
    credentials: dict[str, Any]


class CalendarWriter(Protocol):
    provider: str

    def unusable(self, ref: CalendarRef, links: EmployeeLinks, credentials: dict[str, Any]) -> str | None:
        """Why this employee's calendar cannot be written now (a delivery `skipped` reason), or None."""

    def event_id(self, context: WriteContext, ref: CalendarRef, absence: Absence) -> str:
        """The event id the absence gets in this calendar (deterministic: the same inputs, the same id)."""

    def upsert(self, context: WriteContext, ref: CalendarRef, absence: Absence, event_id: str) -> None: ...

    def delete(self, context: WriteContext, ref: CalendarRef, event_id: str) -> None: ...


def google_event_options(credentials: dict[str, Any]) -> dict[str, Any]:
    """build_event options from the company's google_calendar settings (defaults: busy, default visibility)."""
    return {
        "transparency": SHOW_AS[credentials.get("event_show_as") or DEFAULT_SHOW_AS],
        "visibility": credentials.get("event_visibility") or DEFAULT_VISIBILITY,
        "out_of_office": credentials.get("out_of_office_events") == "on",
    }


class GoogleCalendarWriter:
    """The employee's primary calendar of their registered Google Workspace ID."""

    provider = "google"

    def __init__(
        self, client: google_calendar.GoogleCalendarClient, delegated: DelegatedCalendarAuth, grants: UserGrants
    ) -> None:
        self._client = client
        self._delegation = delegated
        self._grants = grants

    def unusable(self, ref: CalendarRef, links: EmployeeLinks, credentials: dict[str, Any]) -> str | None:
        return google_unusable(links, credentials)

    def event_id(self, context: WriteContext, ref: CalendarRef, absence: Absence) -> str:
        # An out-of-office event is another event (Google never changes an event's type): it gets another
        # id, so a change of the company setting (or of a timed absence to an all-day one) replaces the event.
        out_of_office = self._body(context, absence)["eventType"] == "outOfOffice"
        calendar_key = "primary#out_of_office" if out_of_office else "primary"
        return google_calendar.event_id(context.company_id, context.absence_id, calendar_key)

    def upsert(self, context: WriteContext, ref: CalendarRef, absence: Absence, event_id: str) -> None:
        body = self._body(context, absence)
        self._authorized(context, lambda token: self._client.upsert(token, "primary", event_id, body))

    def delete(self, context: WriteContext, ref: CalendarRef, event_id: str) -> None:
        self._authorized(context, lambda token: self._client.delete(token, "primary", event_id))

    @staticmethod
    def _body(context: WriteContext, absence: Absence) -> dict[str, Any]:
        return google_calendar.build_event(absence, locale=DEFAULT_LOCALE, **google_event_options(context.credentials))

    def _authorized(self, context: WriteContext, call: Callable[[str], T]) -> T:
        """Run `call` with a token; on 401 get a fresh token and try once more."""
        credentials = context.credentials
        if delegated(credentials):
            info = json.loads(credentials["service_account_json"])
            subject = str(context.links.get("google_workspace_id"))
            token = self._delegation.token_for(info, subject)
            try:
                return call(token)
            except NeedsRelinkError:
                self._delegation.invalidate(info, subject, token)
            try:
                return call(self._delegation.token_for(info, subject))
            except NeedsRelinkError as exc:
                # A fresh delegated token refused: the company's delegation, not the employee, is wrong.
                raise IntegrationCredentialsError(
                    google_calendar.PROVIDER, "delegated_token_refused", status_code=exc.status_code
                ) from None
        return as_employee(self._grants, context, "google", call)


class NaverWorksCalendarWriter:
    """The employee's default NAVER WORKS calendar (service account / server token) or a personal one (their
    own authorization)."""

    provider = "naver_works"

    def __init__(self, client: NaverWorksCalendarClient, tokens: WorksTokenProvider, grants: UserGrants) -> None:
        self._client = client
        self._tokens = tokens
        self._grants = grants

    def unusable(self, ref: CalendarRef, links: EmployeeLinks, credentials: dict[str, Any]) -> str | None:
        return naver_works_unusable(ref, links, credentials)

    def event_id(self, context: WriteContext, ref: CalendarRef, absence: Absence) -> str:
        return naver_works_events.event_id(context.company_id, context.absence_id, ref.calendar_id or "default")

    def upsert(self, context: WriteContext, ref: CalendarRef, absence: Absence, event_id: str) -> None:
        title = localized_title(absence, DEFAULT_LOCALE)
        credentials = context.credentials
        if ref.calendar_id is None and is_legacy(credentials):
            ical = build_ical(absence, event_id, title)
            self._as_company(
                context,
                lambda token: self._client.upsert_legacy(token, *self._legacy_target(context), None, event_id, ical),
            )
            return
        body = naver_works_events.build_event(absence, title=title, event_id=event_id)
        if ref.calendar_id is None:
            self._as_company(
                context,
                lambda token: self._client.upsert(token, context.user_id, None, event_id, body, user_token=False),
            )
        else:
            as_employee(
                self._grants,
                context,
                "naver_works",
                lambda token: self._client.upsert(
                    token, context.user_id, ref.calendar_id, event_id, body, user_token=True
                ),
            )

    def delete(self, context: WriteContext, ref: CalendarRef, event_id: str) -> None:
        credentials = context.credentials
        if ref.calendar_id is None and is_legacy(credentials):
            self._as_company(
                context,
                lambda token: self._client.delete_legacy(token, *self._legacy_target(context), None, event_id),
            )
        elif ref.calendar_id is None:
            self._as_company(
                context,
                lambda token: self._client.delete(token, context.user_id, None, event_id, user_token=False),
            )
        else:
            as_employee(
                self._grants,
                context,
                "naver_works",
                lambda token: self._client.delete(token, context.user_id, ref.calendar_id, event_id, user_token=True),
            )

    @staticmethod
    def _legacy_target(context: WriteContext) -> tuple[str, str, str]:
        """(consumer key, API ID, account) of an API 1.0 server call."""
        credentials = context.credentials
        return str(credentials["server_api_consumer_key"]), str(credentials["api_id"]), context.user_id

    def _as_company(self, context: WriteContext, call: Callable[[str], T]) -> T:
        """With the service-account / server token; a refused token is issued again once."""
        credentials = context.credentials
        token = self._tokens.token(credentials, CALENDAR_SCOPE)
        try:
            return call(token)
        except IntegrationCredentialsError as exc:
            if exc.status_code != 401:
                raise
            self._tokens.invalidate(credentials, CALENDAR_SCOPE, token)
        return call(self._tokens.token(credentials, CALENDAR_SCOPE))


def as_employee(grants: UserGrants, context: WriteContext, provider: str, call: Callable[[str], T]) -> T:
    """Run `call` with the employee's access token; on 401 refresh it once and try again. Refused again, the
    link needs the employee: it is marked needs_relink. (A refused refresh raises NeedsRelinkError from
    access_token, the link already marked.)"""
    grant = (context.company_id, context.user_id, provider, context.credentials)
    token = grants.access_token(*grant)
    try:
        return call(token)
    except NeedsRelinkError:
        token = grants.access_token(*grant, force_refresh=True)
    try:
        return call(token)
    except NeedsRelinkError as exc:
        grants.mark_needs_relink(context.company_id, context.user_id, provider, exc.code)
        raise
