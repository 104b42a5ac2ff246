"""Fake of Google Calendar API v3 events: insert, get, list, update, patch and delete with bearer tokens.

Contract: providers.md §6.1, §6.2, §6.5 and https://developers.google.com/workspace/calendar/api/v3/reference/events,
https://developers.google.com/workspace/calendar/api/guides/errors.
Mounted under `/google/calendar/v3` (the hub's GOOGLE_CALENDAR_BASE is `{sandbox}/google/calendar/v3`):

    POST   /google/calendar/v3/calendars/{calendarId}/events              insert (client `id` optional)
    GET    /google/calendar/v3/calendars/{calendarId}/events              list (`showDeleted=true` for cancelled)
    GET    /google/calendar/v3/calendars/{calendarId}/events/{eventId}    get (cancelled events too)
    PUT    /google/calendar/v3/calendars/{calendarId}/events/{eventId}    update (full replace)
    PATCH  /google/calendar/v3/calendars/{calendarId}/events/{eventId}    patch (merge)
    DELETE /google/calendar/v3/calendars/{calendarId}/events/{eventId}    delete -> 204 (410 when already deleted)

State: one set of calendars per user (the e-mail the bearer token belongs to). `primary` and the user's own
e-mail are the same calendar; any other id without "@" (or ending in `calendar.google.com`) is a secondary
calendar of that user, created on first use; another person's e-mail answers 404. Deleting soft-deletes
(`status: cancelled`): the id stays taken, so inserting it again answers 409 duplicate, and an update with
`"status": "confirmed"` revives it (an update without `status` keeps the current one).

Validation (400, Google's envelope): `id` of 5-1024 base32hex characters; `start` and `end` present, both
`date` or both `dateTime`; a `dateTime` without offset needs `timeZone`; `timeZone` an IANA name; all-day end
(exclusive) after start, timed end not before start (`timeRangeEmpty`); known `transparency`, `visibility`,
`status`, `eventType`, `sendUpdates`. Sandbox rules (UNCONFIRMED for Google): an `outOfOffice` event must be
timed and in the primary calendar, and an event's type never changes.

Auth: `Authorization: Bearer ...` with a token registered through the control API, or (after `attach`) a live
access token issued by the Google OAuth fake. Unknown or expired -> 401 authError; no calendar scope -> 403
insufficientPermissions. Per-user rate limit (default 10/s, burst 100; Google's real quota is per project
console, UNCONFIRMED) -> 403 usageLimits rateLimitExceeded; change it with `POST /_sandbox/limits`.

Control (`/_sandbox/google_calendar/...`):
    POST tokens          {"access_token", "email", "scopes"?: [...], "expires_in"?: seconds} -> {"access_token",
                         "email", "expires_at"}; default scope calendar.events, default lifetime 3599 s
    POST expire_tokens   {"email"?}: registered tokens (of one user, or all) expire -> {"expired"}
    GET|POST events      {"email", "calendar_id"?: "primary"} -> {"email", "calendar_id", "events": [...]}
    GET  events/{email}  the same for the user's primary calendar (the server passes no query string to control
                         routes, so the e-mail goes in the path or the body)
    Every event is listed, cancelled ones included, in creation order.
Faults: server_error (503/5xx backendError), rate_limited (403 usageLimits rateLimitExceeded, `retry_after` adds
a Retry-After header), invalid_auth (401 authError), timeout; match on operation
(insert|list|get|update|patch|delete), calendar_id, event_id, email.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from infra.sandbox.base import (
    ControlError,
    FakeProvider,
    RateLimiter,
    Request,
    Response,
    json_response,
    retry_after_seconds,
)

PREFIX = "/google/calendar/v3"
EVENTS_PATH = re.compile(r"^/google/calendar/v3/calendars/([^/]+)/events(?:/([^/]+))?$")
CONTENT_TYPE = "application/json; charset=UTF-8"
SCOPE_BASE = "https://www.googleapis.com/auth/"
WRITE_SCOPES = frozenset(
    SCOPE_BASE + s for s in ("calendar", "calendar.events", "calendar.events.owned", "calendar.app.created")
)
READ_SCOPES = WRITE_SCOPES | {SCOPE_BASE + "calendar.readonly", SCOPE_BASE + "calendar.events.readonly"}
DEFAULT_SCOPES = (SCOPE_BASE + "calendar.events",)
TOKEN_TTL = 3599
EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")
SEND_UPDATES = frozenset({"all", "externalOnly", "none"})
ENUMS = {
    "transparency": frozenset({"opaque", "transparent"}),
    "visibility": frozenset({"default", "public", "private", "confidential"}),
    "status": frozenset({"confirmed", "tentative", "cancelled"}),
    "eventType": frozenset(
        {"default", "outOfOffice", "focusTime", "workingLocation", "birthday", "fromGmail", "fileAttachment"}
    ),
}
# Fields a client may write; the rest of a request body (kind, etag, created, ...) is ignored, as Google does.
WRITABLE = frozenset(
    {
        "summary",
        "description",
        "location",
        "colorId",
        "start",
        "end",
        "status",
        "transparency",
        "visibility",
        "extendedProperties",
        "attendees",
        "reminders",
        "eventType",
        "outOfOfficeProperties",
        "focusTimeProperties",
        "workingLocationProperties",
        "recurrence",
        "guestsCanInviteOthers",
        "guestsCanModify",
        "guestsCanSeeOtherGuests",
        "anyoneCanAddSelf",
        "source",
    }
)
SERVER_ERRORS = {500: "Backend Error", 502: "Bad Gateway", 503: "Backend Error", 504: "Deadline Exceeded"}


class OAuthTokens(Protocol):
    """What the Calendar fake needs of the Google OAuth fake (`GoogleOAuthFake.token_info`)."""

    def token_info(self, access_token: str) -> dict[str, Any] | None: ...


@dataclass
class Token:
    email: str
    scopes: frozenset[str]
    expires_at: float


@dataclass
class Caller:
    """The user a request acts for."""

    email: str
    scopes: frozenset[str] = field(default_factory=frozenset)


def calendar_error(
    status: int,
    reason: str,
    message: str,
    *,
    domain: str = "global",
    location_type: str | None = None,
    location: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Google's Calendar error envelope (providers.md §6.2)."""
    entry: dict[str, Any] = {"domain": domain, "reason": reason, "message": message}
    if location_type:
        entry.update(locationType=location_type, location=location)
    payload = {"error": {"errors": [entry], "code": status, "message": message}}
    return json_response(status, payload, headers, content_type=CONTENT_TYPE)


def _invalid(message: str) -> Response:
    return calendar_error(400, "invalid", message)


def _required(message: str) -> Response:
    return calendar_error(400, "required", message)


def _not_found() -> Response:
    return calendar_error(404, "notFound", "Not Found")


def _auth_error() -> Response:
    return calendar_error(401, "authError", "Invalid Credentials", location_type="header", location="Authorization")


def _rate_limited(retry_after: float | None = None) -> Response:
    headers = {"Retry-After": retry_after_seconds(retry_after)} if retry_after is not None else None
    return calendar_error(403, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits", headers=headers)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _moment(value: dict[str, Any], which: str) -> tuple[str, date | datetime] | Response:
    """("date", date) or ("dateTime", aware datetime) of one EventDateTime, or the 400 answer."""
    if not isinstance(value, dict):
        return _invalid(f"Invalid {which} time.")
    zone_name = value.get("timeZone")
    zone = None
    if zone_name is not None:
        try:
            zone = ZoneInfo(str(zone_name))
        except (ZoneInfoNotFoundError, ValueError):
            return _invalid(f"Invalid time zone definition for {which} time.")
    has_date, has_time = value.get("date") is not None, value.get("dateTime") is not None
    if has_date == has_time:
        return _invalid(f"Invalid {which} time.") if has_date else _required(f"Missing {which} time.")
    if has_date:
        text = value["date"]
        try:
            if not isinstance(text, str) or not DATE.match(text):
                raise ValueError
            return "date", date.fromisoformat(text)
        except ValueError:
            return _invalid(f"Invalid {which} time.")
    text = value["dateTime"]
    try:
        if not isinstance(text, str) or not DATE_TIME.match(text):
            raise ValueError
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return _invalid(f"Invalid {which} time.")
    if moment.tzinfo is None:
        if zone is None:
            return _invalid(f"Missing time zone definition for {which} time.")
        moment = moment.replace(tzinfo=zone)
    return "dateTime", moment


def _validate(event: dict[str, Any], *, primary: bool) -> Response | None:
    """Why `event` (the stored resource to be) is invalid, as the 400 answer; None when valid."""
    if event.get("start") is None:
        return _required("Missing start time.")
    if event.get("end") is None:
        return _required("Missing end time.")
    start = _moment(event["start"], "start")
    if isinstance(start, Response):
        return start
    end = _moment(event["end"], "end")
    if isinstance(end, Response):
        return end
    if start[0] != end[0]:
        return _invalid("Start and end times must either both be date or both be dateTime.")
    all_day = start[0] == "date"
    # All-day end dates are exclusive, so they must be after the start; timed events may last 0 seconds.
    if (end[1] <= start[1]) if all_day else (end[1] < start[1]):  # type: ignore[operator]
        return calendar_error(400, "timeRangeEmpty", "The specified time range is empty.", domain="calendar")
    for name, allowed in ENUMS.items():
        if name in event and event[name] not in allowed:
            return _invalid(f"Invalid value for: {name}")
    if event.get("summary") is not None and not isinstance(event["summary"], str):
        return _invalid("Invalid value for: summary")
    extended = event.get("extendedProperties")
    if extended is not None and not (
        isinstance(extended, dict)
        and all(k in ("private", "shared") and isinstance(v, dict) for k, v in extended.items())
    ):
        return _invalid("Invalid value for: extendedProperties")
    if event.get("eventType") == "outOfOffice":
        if all_day:
            return _invalid("An out of office event cannot be an all-day event. (sandbox rule)")
        if not primary:
            return _invalid("Out of office events can only be created on the primary calendar. (sandbox rule)")
    return None


class GoogleCalendarFake(FakeProvider):
    """Google Calendar events fake; bearer tokens come from the control API or an attached OAuth fake."""

    name = "google_calendar"
    prefix = PREFIX
    match_keys = frozenset({"operation", "calendar_id", "event_id", "email"})
    fault_kinds = frozenset({"rate_limited", "server_error", "invalid_auth"})

    def __init__(self) -> None:
        super().__init__(RateLimiter(burst=100, per_second=10.0))
        self._oauth: OAuthTokens | None = None
        self._etags = itertools.count(1)
        self.reset()

    def attach(self, oauth: OAuthTokens) -> None:
        """Also accept access tokens issued by the Google OAuth fake (its `token_info`). Survives reset()."""
        self._oauth = oauth

    def reset(self) -> None:
        with self._lock:
            self.tokens: dict[str, Token] = {}
            # (owner e-mail, calendar id; "primary" for the user's own) -> event id -> event resource
            self.calendars: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.limiter.reset()

    # --- control API -------------------------------------------------------------------------------

    def control(self, action: str, method: str, data: dict[str, Any], base_url: str) -> dict[str, Any]:
        if method == "POST" and action == "tokens":
            return self._add_token(data)
        if method == "POST" and action == "expire_tokens":
            wanted = data.get("email")
            with self._lock:
                expired = [t for t in self.tokens.values() if wanted is None or t.email == str(wanted).lower()]
                for token in expired:
                    token.expires_at = 0.0
            return {"expired": len(expired)}
        if method in ("GET", "POST") and (action == "events" or action.startswith("events/")):
            email = unquote(action.removeprefix("events/")) if action != "events" else data.get("email")
            if not isinstance(email, str) or not email:
                raise ControlError('email is required (GET events/{email} or a JSON body {"email"})')
            calendar_id = data.get("calendar_id", "primary")
            if not isinstance(calendar_id, str) or not calendar_id:
                raise ControlError("calendar_id must be a non-empty string")
            email = email.lower()
            key = (email, "primary" if calendar_id.lower() in ("primary", email) else calendar_id)
            with self._lock:
                events = [json.loads(json.dumps(e)) for e in self.calendars.get(key, {}).values()]
            return {"email": email, "calendar_id": calendar_id, "events": events}
        return super().control(action, method, data, base_url)

    def _add_token(self, data: dict[str, Any]) -> dict[str, Any]:
        access_token, email = data.get("access_token"), data.get("email")
        if not (isinstance(access_token, str) and access_token and isinstance(email, str) and "@" in email):
            raise ControlError("access_token (non-empty) and email (an e-mail address) are required")
        scopes = data.get("scopes", list(DEFAULT_SCOPES))
        if not isinstance(scopes, list) or not all(isinstance(s, str) and s for s in scopes):
            raise ControlError("scopes must be a list of non-empty strings")
        expires_in = data.get("expires_in", TOKEN_TTL)
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
            raise ControlError("expires_in must be a number of seconds")
        token = Token(email.lower(), frozenset(scopes), time.time() + expires_in)
        with self._lock:
            self.tokens[access_token] = token
        return {"access_token": access_token, "email": token.email, "expires_at": token.expires_at}

    # --- faults ------------------------------------------------------------------------------------

    @staticmethod
    def _route(request: Request) -> tuple[str, str, str | None] | None:
        """(operation, calendar id, event id) of an API path, or None."""
        match = EVENTS_PATH.match(request.path)
        if match is None:
            return None
        calendar_id, event = unquote(match.group(1)), match.group(2)
        event = unquote(event) if event is not None else None
        if event is None:
            operation = {"POST": "insert", "GET": "list"}.get(request.method)
        else:
            operation = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(request.method)
        return (operation, calendar_id, event) if operation else None

    def fault_attrs(self, request: Request) -> dict[str, str]:
        attrs: dict[str, str] = {}
        route = self._route(request)
        if route:
            attrs.update(operation=route[0], calendar_id=route[1])
            if route[2] is not None:
                attrs["event_id"] = route[2]
        caller = self._caller(request)
        if isinstance(caller, Caller):
            attrs["email"] = caller.email
        return attrs

    def fault_response(self, kind: str, options: dict[str, Any]) -> Response:
        if kind == "rate_limited":
            return _rate_limited(options.get("retry_after"))
        if kind == "server_error":
            status = options["status"]
            return calendar_error(status, "backendError", SERVER_ERRORS.get(status, "Backend Error"))
        return _auth_error()  # invalid_auth

    # --- API ---------------------------------------------------------------------------------------

    def _caller(self, request: Request) -> Caller | Response:
        auth = request.header("Authorization") or ""
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            return calendar_error(401, "required", "Login Required", location_type="header", location="Authorization")
        value = auth[7:].strip()
        with self._lock:
            token = self.tokens.get(value)
        if token is not None:
            return Caller(token.email, token.scopes) if token.expires_at > time.time() else _auth_error()
        info = self._oauth.token_info(value) if self._oauth is not None else None
        if info is None:
            return _auth_error()
        return Caller(str(info["email"]).lower(), frozenset(info.get("scopes") or ()))

    def handle(self, request: Request) -> Response:
        route = self._route(request)
        if route is None:
            return _not_found()
        operation, calendar_id, event = route
        caller = self._caller(request)
        if isinstance(caller, Response):
            return caller
        needed = READ_SCOPES if operation in ("get", "list") else WRITE_SCOPES
        if not caller.scopes & needed:
            return calendar_error(403, "insufficientPermissions", "Insufficient Permission")
        if self.limiter.take(caller.email):
            return _rate_limited()
        send_updates = request.query.get("sendUpdates")
        if send_updates is not None and send_updates not in SEND_UPDATES:
            return _invalid("Invalid value for: sendUpdates")
        if (
            "@" in calendar_id
            and calendar_id.lower() != caller.email
            and not calendar_id.endswith("calendar.google.com")
        ):
            return _not_found()  # somebody else's calendar
        key = (caller.email, "primary" if calendar_id.lower() in ("primary", caller.email) else calendar_id)
        if operation == "list":
            return self._list(key, request.query.get("showDeleted") == "true")
        if operation in ("get", "delete"):
            return self._get(key, str(event)) if operation == "get" else self._delete(key, str(event))
        body = self._body(request)
        if isinstance(body, Response):
            return body
        if operation == "insert":
            return self._insert(key, body)
        return self._replace(key, str(event), body, merge=operation == "patch")

    @staticmethod
    def _body(request: Request) -> dict[str, Any] | Response:
        try:
            body = json.loads(request.body.decode("utf-8")) if request.body else None
        except (ValueError, UnicodeDecodeError):
            return calendar_error(400, "parseError", "Parse Error")
        if not isinstance(body, dict):
            return calendar_error(400, "parseError", "Parse Error")
        return body

    def _etag(self) -> str:
        return f'"{int(time.time() * 1000)}{next(self._etags):06d}"'

    def _list(self, key: tuple[str, str], show_deleted: bool) -> Response:
        with self._lock:
            items = [
                json.loads(json.dumps(e))
                for e in self.calendars.get(key, {}).values()
                if show_deleted or e["status"] != "cancelled"
            ]
        payload = {
            "kind": "calendar#events",
            "etag": self._etag(),
            "summary": key[0] if key[1] == "primary" else key[1],
            "updated": _now(),
            "timeZone": "UTC",
            "accessRole": "owner",
            "defaultReminders": [],
            "items": items,
        }
        return json_response(200, payload, content_type=CONTENT_TYPE)

    def _get(self, key: tuple[str, str], event: str) -> Response:
        with self._lock:
            stored = self.calendars.get(key, {}).get(event)
            resource = json.loads(json.dumps(stored)) if stored else None
        return _not_found() if resource is None else json_response(200, resource, content_type=CONTENT_TYPE)

    def _delete(self, key: tuple[str, str], event: str) -> Response:
        with self._lock:
            stored = self.calendars.get(key, {}).get(event)
            if stored is None:
                return _not_found()
            if stored["status"] == "cancelled":
                return calendar_error(410, "deleted", "Resource has been deleted")
            stored.update(status="cancelled", updated=_now(), etag=self._etag())
        return Response(204)

    def _insert(self, key: tuple[str, str], body: dict[str, Any]) -> Response:
        event = body.get("id")
        if event is not None and not (isinstance(event, str) and EVENT_ID.match(event)):
            return _invalid("Invalid resource id value.")
        fields = {k: v for k, v in body.items() if k in WRITABLE}
        error = _validate(fields, primary=key[1] == "primary")
        if error:
            return error
        event = event or uuid.uuid4().hex
        now = _now()
        owner = {"email": key[0], "self": True}
        eid = base64.urlsafe_b64encode(f"{event} {key[0]}".encode()).decode().rstrip("=")
        resource: dict[str, Any] = {
            "kind": "calendar#event",
            "etag": self._etag(),
            "id": event,
            "status": "confirmed",
            "htmlLink": f"https://www.google.com/calendar/event?eid={eid}",
            "created": now,
            "updated": now,
            "creator": owner,
            "organizer": dict(owner),
            "iCalUID": f"{event}@google.com",
            "sequence": 0,
            "reminders": {"useDefault": True},
            "eventType": "default",
            **fields,
        }
        with self._lock:
            calendar = self.calendars.setdefault(key, {})
            if event in calendar:  # taken, also by a deleted event
                return calendar_error(409, "duplicate", "The requested identifier already exists.")
            calendar[event] = resource
            answer = json.loads(json.dumps(resource))
        return json_response(200, answer, content_type=CONTENT_TYPE)

    def _replace(self, key: tuple[str, str], event: str, body: dict[str, Any], *, merge: bool) -> Response:
        if body.get("id") not in (None, event):
            return _invalid("The event id in the body does not match the URL.")
        with self._lock:
            stored = self.calendars.get(key, {}).get(event)
            current = json.loads(json.dumps(stored)) if stored else None
        if current is None:
            return _not_found()
        fields = {k: v for k, v in body.items() if k in WRITABLE}
        if merge:
            fields = {**{k: v for k, v in current.items() if k in WRITABLE}, **fields}
        fields.setdefault("status", current["status"])  # a deleted event comes back only when asked to
        fields.setdefault("eventType", current["eventType"])
        if fields["eventType"] != current["eventType"]:
            return _invalid("The event type cannot be changed. (sandbox rule)")
        error = _validate(fields, primary=key[1] == "primary")
        if error:
            return error
        server = {k: current[k] for k in ("kind", "id", "htmlLink", "created", "creator", "organizer", "iCalUID")}
        resource = {
            **server,
            "etag": self._etag(),
            "updated": _now(),
            "sequence": current["sequence"] + 1,
            "reminders": {"useDefault": True},
            **fields,
        }
        with self._lock:
            calendar = self.calendars.setdefault(key, {})
            if event not in calendar:  # deleted for good by a concurrent reset
                return _not_found()
            calendar[event] = resource
            answer = json.loads(json.dumps(resource))
        return json_response(200, answer, content_type=CONTENT_TYPE)
