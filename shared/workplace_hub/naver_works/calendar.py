"""NAVER WORKS calendar: the client that writes an absence's event to an employee's calendar (API 2.0 and 1.0).

The bodies it sends are built in `calendar_events.py` (API 2.0) and `ical.py` (API 1.0).

Contract: providers.md §4.5 (API 2.0 calendar), §4.6 (rate limits), §4.7 (API 1.0) and
https://developers.worksmobile.com/jp/docs/calendar-default-event-user-create, …/calendar-event-user-create,
…/calendar-event-user-update-put (eventId 1-255 characters, summary ≤ 200, `sendNotification` default true);
API 1.0 server API "予定作成" https://developers.worksmobile.com/jp/document/100702703 (`calendarId`
`defaultCalendarId` = the member's default calendar; answer `{"result","code","returnValue":{"icalUid",…}}`).

Idempotency comes from a client-set, deterministic event id (`event_id`): `upsert` creates the event with
that id and, when the id already exists, replaces it with PUT. Like the senders, the client never retries
by itself: it raises a `ProviderError` subclass and leaves retries (and token re-issue) to the caller.

Assumptions (UNCONFIRMED, verify against a real tenant; the sandbox fake behaves this way):
- Creating an event whose eventId exists answers 409, or 400 with a code or description that says
  "duplicate"/"already exists" (`is_duplicate`); the fake answers 409 `ALREADY_EXISTS`.
- Create answers 201 (200 accepted too), update 200 (204 accepted), delete 204 (200 accepted) [C-3p].
- API 1.0: a duplicate UID behaves as above; an event is deleted with `DELETE …/events/{icalUid}` (the
  path of "modify"); a 2xx body with `result` other than "success" is a failure.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
)
from workplace_hub.http import provider_request
from workplace_hub.naver_works.bot import rate_limit_wait

PROVIDER = "naver_works_calendar"
DETAIL_MAX = 200
# API 1.0: this calendarId addresses the member's default calendar (document 100702703).
LEGACY_DEFAULT_CALENDAR = "defaultCalendarId"
JSON = "application/json"
LEGACY_JSON = "application/json; charset=UTF-8"
DUPLICATE_HINTS = ("duplicat", "already exist", "already_exist", "conflict")
REASON_NOT_FOUND = "naver_works_calendar_not_found"
REASON_FORBIDDEN = "naver_works_calendar_forbidden"


# --- responses ---------------------------------------------------------------------------------------


def _body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _code_and_detail(response: requests.Response) -> tuple[str, str]:
    """(code, description): 2.0 sends {"code","description"}, 1.0 {"code","message"} (code may be a number)."""
    body = _body(response)
    code = body.get("code")
    code = "" if code is None or isinstance(code, int) else str(code)
    return code, str(body.get("description") or body.get("message") or body.get("errorMessage") or "")[:DETAIL_MAX]


def is_duplicate(response: requests.Response) -> bool:
    """Whether a create was refused because the eventId / UID exists (409, or a 400 saying so: UNCONFIRMED)."""
    if response.status_code == 409:
        return True
    if response.status_code != 400:
        return False
    code, detail = _code_and_detail(response)
    text = f"{code} {detail}".lower()
    return any(hint in text for hint in DUPLICATE_HINTS)


def calendar_error(response: requests.Response, *, user_token: bool) -> ProviderError:
    """The error for a failed calendar call.

    401 (or 403 `UNAUTHORIZED`): the employee's token → NeedsRelinkError("token_invalid"); the service
    account's / server token → IntegrationCredentialsError. 429 and 5xx are retryable (Retry-After, else
    `rateLimit-reset`); 403 and 404 are permanent with a calendar reason; anything else (400…) permanent.
    """
    status = response.status_code
    code, detail = _code_and_detail(response)
    code = code or f"http_{status}"
    if status == 429 or status >= 500:
        return RetryableProviderError(
            PROVIDER, code, status_code=status, detail=detail, retry_after=rate_limit_wait(response)
        )
    if status == 401 or (status == 403 and code == "UNAUTHORIZED"):
        if user_token:
            return NeedsRelinkError(
                PROVIDER, "token_invalid", status_code=status, detail="the access token was refused"
            )
        return IntegrationCredentialsError(PROVIDER, code, status_code=status, detail=detail or "token refused")
    if status == 403:
        return PermanentProviderError(
            PROVIDER, code, status_code=status, detail=detail or "forbidden", reason=REASON_FORBIDDEN
        )
    if status == 404:
        return PermanentProviderError(
            PROVIDER, code, status_code=status, detail=detail or "not found", reason=REASON_NOT_FOUND
        )
    return PermanentProviderError(PROVIDER, code, status_code=status, detail=detail)


def _created_id(response: requests.Response, fallback: str) -> str:
    components = _body(response).get("eventComponents")
    first = components[0] if isinstance(components, list) and components else None
    found = first.get("eventId") if isinstance(first, dict) else None
    return found if isinstance(found, str) and found else fallback


def _legacy_result(response: requests.Response) -> dict[str, Any]:
    """A 2xx API 1.0 answer: its body, unless it says `result` other than "success" (then the error)."""
    body = _body(response)
    result = body.get("result")
    if result is not None and str(result).lower() != "success":
        code, detail = _code_and_detail(response)
        raise PermanentProviderError(
            PROVIDER, code or str(result), status_code=response.status_code, detail=detail or "result is not success"
        )
    return body


def _legacy_uid(body: dict[str, Any], fallback: str) -> str:
    value = body.get("returnValue")
    uid = value.get("icalUid") if isinstance(value, dict) else None
    return uid if isinstance(uid, str) and uid else fallback


def _q(value: str) -> str:
    return quote(str(value), safe="")  # e-mail user IDs and event ids: "@", "+", "/" encoded too


class NaverWorksCalendarClient:
    """Creates, replaces and deletes absence events with a token the caller obtained.

    API 2.0: the service account's token (scope `calendar`) for any member's default calendar, or the
    employee's own User Account OAuth token for their calendars (`user_token=True` says which, for the
    401 mapping). API 1.0: the server token plus the Server API Consumer Key.
    """

    def __init__(
        self, session: requests.Session, endpoints: ProviderEndpoints, timeout: tuple[float, float] = (3.05, 10.0)
    ) -> None:
        self._session = session
        self._endpoints = endpoints
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_base={self._endpoints.WORKS_API_BASE!r})"

    # --- API 2.0 -----------------------------------------------------------------------------------

    def events_url(self, user_id: str, calendar_id: str | None) -> str:
        """`/users/{userId}/calendar/events` (default calendar) or `/users/{userId}/calendars/{id}/events`."""
        base = f"{self._endpoints.WORKS_API_BASE.rstrip('/')}/users/{_q(user_id)}"
        return f"{base}/calendar/events" if calendar_id is None else f"{base}/calendars/{_q(calendar_id)}/events"

    def upsert(
        self,
        token: str,
        user_id: str,
        calendar_id: str | None,
        event_id: str,
        body: dict[str, Any],
        *,
        user_token: bool,
    ) -> str:
        """Create the event with `event_id`; if that id exists, replace it (PUT). Returns the eventId.

        `calendar_id` None is the user's default calendar. Every component of `body` gets `event_id`.
        """
        components = body.get("eventComponents")
        if not isinstance(components, list) or not components or not all(isinstance(c, dict) for c in components):
            raise ValueError("body needs eventComponents (a non-empty list of objects)")
        body = {**body, "eventComponents": [{**c, "eventId": event_id} for c in components]}
        headers = {"Authorization": f"Bearer {token}", "Content-Type": JSON}
        collection = self.events_url(user_id, calendar_id)
        item = f"{collection}/{_q(event_id)}"
        response = self._request("POST", collection, headers, body)
        for attempt in range(2):
            if response.status_code in (200, 201):
                return _created_id(response, event_id)
            if not is_duplicate(response):
                raise calendar_error(response, user_token=user_token)
            response = self._request("PUT", item, headers, body)
            if response.status_code in (200, 201, 204):
                return event_id
            if response.status_code != 404 or attempt:
                raise calendar_error(response, user_token=user_token)
            # Deleted between the two calls: create it again (once).
            response = self._request("POST", collection, headers, body)
        raise calendar_error(response, user_token=user_token)  # pragma: no cover - the loop always returns

    def delete(self, token: str, user_id: str, calendar_id: str | None, event_id: str, *, user_token: bool) -> bool:
        """Delete the event without notifying anyone: True when deleted, False when it was already gone (404)."""
        url = f"{self.events_url(user_id, calendar_id)}/{_q(event_id)}?sendNotification=false"
        response = self._request("DELETE", url, {"Authorization": f"Bearer {token}"})
        if response.status_code in (200, 202, 204):
            return True
        if response.status_code == 404:
            return False
        raise calendar_error(response, user_token=user_token)

    # --- API 1.0 (legacy server API) -----------------------------------------------------------------

    def legacy_events_url(self, api_id: str, account_id: str, calendar_id: str | None) -> str:
        """`{legacy}/r/{API_ID}/calendar/v1/{accountId}/calendars/{calendarId}/events`; calendar_id None:
        `defaultCalendarId` (the member's default calendar)."""
        base = self._endpoints.WORKS_LEGACY_API_BASE.rstrip("/")
        calendar = calendar_id or LEGACY_DEFAULT_CALENDAR
        return f"{base}/r/{_q(api_id)}/calendar/v1/{_q(account_id)}/calendars/{_q(calendar)}/events"

    @staticmethod
    def _legacy_headers(server_token: str, consumer_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {server_token}", "consumerKey": consumer_key, "Content-Type": LEGACY_JSON}

    def upsert_legacy(
        self,
        server_token: str,
        consumer_key: str,
        api_id: str,
        account_id: str,
        calendar_id: str | None,
        uid: str,
        ical: str,
    ) -> str:
        """API 1.0: create the VEVENT `uid` (in `ical`); if the UID exists, modify it (PUT …/events/{uid}).
        Returns the icalUid."""
        headers = self._legacy_headers(server_token, consumer_key)
        collection = self.legacy_events_url(api_id, account_id, calendar_id)
        response = self._request("POST", collection, headers, {"ical": ical})
        if response.status_code in (200, 201):
            return _legacy_uid(_legacy_result(response), uid)
        if not is_duplicate(response):
            raise calendar_error(response, user_token=False)
        response = self._request("PUT", f"{collection}/{_q(uid)}", headers, {"ical": ical})
        if response.status_code in (200, 201, 204):
            return _legacy_uid(_legacy_result(response), uid)
        raise calendar_error(response, user_token=False)

    def delete_legacy(
        self, server_token: str, consumer_key: str, api_id: str, account_id: str, calendar_id: str | None, uid: str
    ) -> bool:
        """API 1.0: delete the event (path UNCONFIRMED, see the module doc). False when already gone (404)."""
        url = f"{self.legacy_events_url(api_id, account_id, calendar_id)}/{_q(uid)}"
        response = self._request("DELETE", url, self._legacy_headers(server_token, consumer_key))
        if response.status_code in (200, 202, 204):
            _legacy_result(response)
            return True
        if response.status_code == 404:
            return False
        raise calendar_error(response, user_token=False)

    def _request(
        self, method: str, url: str, headers: dict[str, str], body: dict[str, Any] | None = None
    ) -> requests.Response:
        return provider_request(
            self._session, method, url, provider=PROVIDER, timeout=self._timeout, headers=headers, json=body
        )
