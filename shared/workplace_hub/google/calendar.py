"""Google Calendar API v3: registering an absence as an event in an employee's calendar.

Contract: providers.md §6.1 (events insert/update/delete), §6.2 (errors), §6.5 (replay pairs) and
https://developers.google.com/workspace/calendar/api/v3/reference/events.

Idempotency comes from a deterministic client-side event `id` (`event_id`): `upsert` inserts with that id
and, when Google answers 409 duplicate (already created, or created and then deleted: deleted events keep
their id), replaces the event with `update`, setting `status: confirmed` so a deleted event comes back.
Requests are built by pure functions (`build_insert`, `build_update`, `build_delete`) and errors mapped by
another (`error_for_response`); `GoogleCalendarClient` only joins them with an injected session. Like the
senders, it never retries by itself: it raises a `ProviderError` subclass and leaves retries to SQS.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import quote

import requests

from workplace_hub.absence_times import DEFAULT_LOCALE, google_times, localized_title
from workplace_hub.catalog import Integration
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import NeedsRelinkError, PermanentProviderError, ProviderError, RetryableProviderError
from workplace_hub.events import Absence
from workplace_hub.http import provider_request
from workplace_hub.providers.messenger import PreparedCall, parse_retry_after

PROVIDER = Integration.GOOGLE_CALENDAR.value  # errors name the integration
# Google's `id` rule: base32hex characters (lowercase a-v and 0-9), 5 to 1024 of them.
EVENT_ID_PATTERN = re.compile(r"^[a-v0-9]{5,1024}$")
# Fixed forever: changing it would orphan every event registered before.
EVENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:workplace-hub:google-calendar:absence")
ABSENCE_ID_PROPERTY = "workplaceAbsenceId"
TRANSPARENCIES = frozenset({"opaque", "transparent"})
VISIBILITIES = frozenset({"default", "public", "private", "confidential"})
# 403 reasons that mean "slow down" (domain usageLimits), not "not allowed" (providers.md §6.2).
USAGE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"})
# The employee's attendees (none) get no e-mail about the hub's changes.
SEND_UPDATES = "none"


def event_id(company_id: str, absence_id: str, calendar_key: str) -> str:
    """The Google event id of one absence in one calendar: the same inputs always give the same id.

    A UUID5's 32 hex digits are valid base32hex (providers.md §6.1). The inputs are joined as a JSON list
    so no choice of values can collide with another (`"a:b", "c"` vs `"a", "b:c"`).
    """
    name = json.dumps([company_id, absence_id, calendar_key], ensure_ascii=False)
    return uuid.uuid5(EVENT_ID_NAMESPACE, name).hex


def build_event(
    absence: Absence,
    *,
    transparency: str = "opaque",
    visibility: str = "default",
    out_of_office: bool = False,
    locale: str = DEFAULT_LOCALE,
) -> dict[str, Any]:
    """Pure: the Event resource for `absence` (without `id`: `upsert` adds it).

    No attendees, so nobody is invited or notified. `extendedProperties.private` carries the WORKPLACE
    absence id, visible only to the hub's OAuth client, so an event can be traced back to its absence.

    `out_of_office=True` makes an `outOfOffice` event (Calendar declines nothing: `declineNone`) only when
    the event is timed. Google allows out-of-office events only as timed events in a primary calendar
    (providers.md §6.1, UNCONFIRMED there; the Calendar UI has no all-day out-of-office either), so an
    all-day absence falls back to a default event instead of being refused. Note that Google never
    changes an event's type after creation: switching `out_of_office` for an existing event fails.
    """
    if transparency not in TRANSPARENCIES:
        raise ValueError(f"transparency must be one of {sorted(TRANSPARENCIES)}")
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {sorted(VISIBILITIES)}")
    start, end = google_times(absence)
    body: dict[str, Any] = {
        "summary": localized_title(absence, locale),
        "start": start,
        "end": end,
        "transparency": transparency,
        "visibility": visibility,
        "eventType": "default",
        "extendedProperties": {"private": {ABSENCE_ID_PROPERTY: absence.absence_id}},
    }
    if out_of_office and "dateTime" in start:
        body["eventType"] = "outOfOffice"
        body["outOfOfficeProperties"] = {"autoDeclineMode": "declineNone"}
    return body


def _check_event_id(value: str) -> None:
    if not EVENT_ID_PATTERN.match(value):
        raise ValueError("event ids are 5-1024 base32hex characters (a-v, 0-9)")


def events_url(base: str, calendar_id: str, event: str | None = None) -> str:
    """`{base}/calendars/{calendarId}/events[/{eventId}]` with the ids percent-encoded."""
    if not calendar_id:
        raise ValueError("calendar_id is required")
    url = f"{base.rstrip('/')}/calendars/{quote(calendar_id, safe='@')}/events"
    return url if event is None else f"{url}/{quote(event, safe='')}"


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def build_insert(base: str, token: str, calendar_id: str, event: str, body: dict[str, Any]) -> PreparedCall:
    """Pure: `events.insert` with the client-chosen `id`."""
    _check_event_id(event)
    return PreparedCall(
        "POST",
        f"{events_url(base, calendar_id)}?sendUpdates={SEND_UPDATES}",
        _headers(token),
        {**body, "id": event},
    )


def build_update(base: str, token: str, calendar_id: str, event: str, body: dict[str, Any]) -> PreparedCall:
    """Pure: `events.update` (full replace) with `status: confirmed`, which also revives a deleted event."""
    _check_event_id(event)
    return PreparedCall(
        "PUT",
        f"{events_url(base, calendar_id, event)}?sendUpdates={SEND_UPDATES}",
        _headers(token),
        {**body, "id": event, "status": "confirmed"},
    )


def build_delete(base: str, token: str, calendar_id: str, event: str) -> PreparedCall:
    """Pure: `events.delete`."""
    _check_event_id(event)
    return PreparedCall("DELETE", f"{events_url(base, calendar_id, event)}?sendUpdates={SEND_UPDATES}", _headers(token))


def api_error(response: requests.Response) -> tuple[str, str, str]:
    """(reason, domain, message) of Google's error envelope; empty strings where it has none."""
    try:
        body = response.json()
    except ValueError:
        return "", "", ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", "", ""
    errors = error.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    message = str(first.get("message") or error.get("message") or "")[:200]
    return str(first.get("reason") or ""), str(first.get("domain") or ""), message


def error_for_response(response: requests.Response) -> ProviderError:
    """The ProviderError for a failed Calendar call (providers.md §6.2, §7).

    401 → NeedsRelinkError("invalid_credentials"): the caller refreshes the access token once, and asks
    the employee to link again only if the refresh fails too. 403 usageLimits reasons, 429 and 5xx →
    retryable. Any other 403 (permissions), 400 (bad request) and other statuses → permanent.
    """
    status = response.status_code
    reason, domain, message = api_error(response)
    code = reason or f"http_{status}"
    if status == 401:
        return NeedsRelinkError(PROVIDER, "invalid_credentials", status_code=status, detail=message)
    usage_limit = status == 403 and (reason in USAGE_LIMIT_REASONS or domain == "usageLimits")
    if status == 429 or status >= 500 or usage_limit:
        return RetryableProviderError(
            PROVIDER,
            code,
            status_code=status,
            detail=message,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    return PermanentProviderError(PROVIDER, code, status_code=status, detail=message)


class GoogleCalendarClient:
    """Upserts and deletes one event in one calendar with an employee's (or delegated) access token."""

    def __init__(
        self,
        session: requests.Session,
        endpoints: ProviderEndpoints,
        timeout: tuple[float, float] = (3.05, 10.0),
    ) -> None:
        self._session = session
        self._endpoints = endpoints
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}(calendar_base={self._base!r})"

    @property
    def _base(self) -> str:
        return self._endpoints.GOOGLE_CALENDAR_BASE

    def upsert(self, token: str, calendar_id: str, event: str, body: dict[str, Any]) -> str:
        """Create the event with id `event`, or replace it (reviving it if deleted); returns the event id.

        A timed-out insert is safe to repeat: the second try answers 409 and becomes an update.
        """
        response = self._execute(build_insert(self._base, token, calendar_id, event, body))
        if response.status_code in (200, 201):
            return _returned_id(response, event)
        reason, _, _ = api_error(response)
        if response.status_code != 409 or reason not in ("duplicate", ""):
            raise error_for_response(response)
        response = self._execute(build_update(self._base, token, calendar_id, event, body))
        if response.status_code == 200:
            return _returned_id(response, event)
        if response.status_code == 404:
            # 409 said the id exists, so a 404 now is Google's short-lived inconsistency (§6.2): retry.
            _, _, message = api_error(response)
            raise RetryableProviderError(PROVIDER, "notFound", status_code=404, detail=message or "Not Found")
        raise error_for_response(response)

    def delete(self, token: str, calendar_id: str, event: str) -> None:
        """Delete the event; an event that is already deleted (410) or unknown (404) counts as gone."""
        response = self._execute(build_delete(self._base, token, calendar_id, event))
        if response.status_code in (200, 204, 404, 410):
            return
        raise error_for_response(response)

    def _execute(self, call: PreparedCall) -> requests.Response:
        return provider_request(
            self._session,
            call.method,
            call.url,
            provider=PROVIDER,
            timeout=self._timeout,
            headers=call.headers,
            json=call.json,
        )


def _returned_id(response: requests.Response, event: str) -> str:
    try:
        body = response.json()
    except ValueError:
        return event
    returned = body.get("id") if isinstance(body, dict) else None
    return returned if isinstance(returned, str) and returned else event
