"""Fake of NAVER WORKS: the API 2.0 service-account token, bot messages and bot management, the API 1.0
server token and bot push, and User Account OAuth (authorization code) with the user's calendar list.

Contract: providers.md §4 (shared provider reference) and https://developers.worksmobile.com/jp/docs/auth-jwt,
…/bot-user-message-send, …/bot-send-text, …/bot-send-link, …/bot-create, …/bot-domain-register, …/bot-get,
…/rate-limits; API 1.0: https://developers.worksmobile.com/jp/document/1005008 (push) and 1005060 (errors);
user OAuth: …/auth-oauth (code single-use, 10 minutes; refresh token 90 days), …/calendar-personals-user-list,
…/calendar-default-user-get.
Mounted under /works: `auth/oauth2/v2.0/token`, `auth/oauth2/v2.0/authorize`, `auth/b/{apiId}/server/token`,
`api/v1.0/...`, `legacy/r/...`.

User OAuth: `GET authorize?client_id&redirect_uri&scope&response_type=code&state[&domain]` stands for the
login and consent pages: it answers 302 to redirect_uri with `code` and `state` (or `error=access_denied`)
for the user set through `oauth_users`. The token endpoint takes `grant_type=authorization_code` (code,
client_id, client_secret[, redirect_uri, domain]) and `refresh_token`; client_id/secret are the tenant's
2.0 app or one of its `oauth_apps`. User tokens carry the user and the granted scopes; the calendar list
(`GET api/v1.0/users/{userId}/calendar-personals`, `count` ≤ 50 and `cursor`) and the default calendar
(`GET api/v1.0/users/{userId}/calendar`) answer only a user token of that user (or `me`) with `calendar` or
`calendar.read`.

Calendar events (API 2.0, scope `calendar`; GET also `calendar.read`): `POST api/v1.0/users/{userId}/calendar/events`
(the default calendar) or `…/calendars/{calendarId}/events`, and `GET`/`PUT`/`DELETE …/events/{eventId}`. A
service-account token may write any member's default calendar in its domain (not `me`); a user token only
its own user's calendars (`me` or their ID): the default one and those set through `oauth_users`. Create
checks `eventComponents[0]` (summary ≤ 200, eventId 1-255 or assigned, `start`/`end` either
`{"date": "YYYY-MM-DD"}` with an EXCLUSIVE end, or `{"dateTime": local, "timeZone": IANA}`, end after start)
and answers 201 `{"eventComponents": [...], "organizerCalendarId"}`; an eventId that exists in the calendar
answers 409 `ALREADY_EXISTS` (the real behaviour is UNCONFIRMED: this is the hub's assumption). PUT answers
200, DELETE 204, an unknown eventId 404 `NOT_FOUND`. API 1.0 server API (server token + consumerKey):
`POST legacy/r/{apiId}/calendar/v1/{accountId}/calendars/{calendarId}/events` `{"ical"}` (calendarId
`defaultCalendarId` = the default calendar), `PUT`/`DELETE …/events/{icalUid}` (delete path UNCONFIRMED);
200 `{"result": "success", "code": 200, "returnValue": {"calendarId", "processType", "icalUid"}}`; a UID
that exists answers 409 `ALREADY_EXISTS`.

Control (`/_sandbox/naver_works/...`):
    POST tenants        {"domain_id", "users": [...], "bots": [{"bot_id", "name"}], "plan": "free"|"standard",
                         "token_ttl", 2.0: "client_id", "client_secret", "service_account", "public_key_pem",
                         1.0: "api_id", "server_list_id", "server_list_public_key_pem", "server_api_consumer_key",
                         user OAuth (optional): "oauth_apps": [{"client_id", "client_secret"}], "redirect_uris"}
    POST expire_tokens  {"domain_id"}: the tenant's current tokens answer 401 from now on
    GET|POST messages   {"domain_id"?} -> {"messages": [{"api", "domain_id", "bot_id", "user_id", "content"}]}
    POST oauth_users    {"domain_id", "user_id", "consent": "approve"|"deny", "calendars": [{"calendarId"?,
                         "calendarName", "isDefault"?, "isShowOnLNBList"?}]}: who logs in at `authorize` from
                         now on (until replaced) and what they answer; `calendars` replaces the user's calendars
                         (default: one "My calendar"); the first calendar is the default unless one says isDefault
    POST revoke_user    {"domain_id", "user_id"}: their refresh tokens answer invalid_grant, their access
                         tokens and unused codes stop working
    POST expire_codes   {"domain_id"?}: every unused authorization code (of the tenant) has expired
    GET|POST calendar_events {"domain_id"?, "user_id"?} (a JSON body, like messages) -> {"events": [{"domain_id",
                         "user_id", "calendar_id" ("default" or the calendarId), "api", "eventId", "summary",
                         "start", "end", "sendNotification", "ical"?}]}: the calendars' final contents
    POST legacy_quota   {"domain_id", "quota"?: int | null, "reset"?: true}: the tenant's API 1.0 daily push
                         quota (null: the documented one) and/or a new day's count (what 00:00 JST does)
`POST /_sandbox/limits` sets the same limits for both plans (defaults: 60/min free, 240/min standard).

API 1.0 push quota (providers.md §9.1): 20,000 pushes a day, plus 100 per member above 100 members, reset at
00:00 JST. Past it, a push answers 429 `{"code": "QUOTA_EXCEEDED", ...}` without rate-limit headers: LINE WORKS
answers the quota with 429 (its forum, 2020), but the body's code is an ASSUMPTION of the hub's.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from infra.sandbox.base import ControlError, FakeProvider, RateLimiter, Request, Response, json_response

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPES = frozenset({"bot", "bot.message", "bot.read", "calendar", "calendar.read", "user.read", "directory.read"})
PLANS = {"free": 60, "standard": 240}  # requests per minute per API per domain
LINK_MAX, TEXT_MAX = 1000, 2000
CODE_TTL = 600  # authorization code: 10 minutes, single use (auth-oauth)
REFRESH_TTL = 90 * 86400  # refresh token: 90 days
CALENDAR_NAME_MAX, CALENDAR_PAGE_MAX = 50, 50
CALENDAR_SCOPES = frozenset({"calendar", "calendar.read"})
EVENT_ID_MAX, SUMMARY_MAX = 255, 200
DEFAULT_CALENDAR = "default"  # the calendar key of a user's default calendar
LEGACY_DEFAULT_CALENDAR = "defaultCalendarId"  # API 1.0: this calendarId is the default calendar


LEGACY_DAILY_PUSHES = 20_000
LEGACY_PUSHES_PER_EXTRA_MEMBER = 100
JST = timezone(timedelta(hours=9))


def jst_day(now: float | None = None) -> str:
    """The JST date the API 1.0 push quota counts in (it resets at 00:00 GMT+9)."""
    return datetime.fromtimestamp(time.time() if now is None else now, JST).date().isoformat()


@dataclass
class Tenant:
    domain_id: str
    users: set[str]
    bots: dict[str, dict[str, Any]]  # bot_id -> {"name", "in_domain", "allow_domains", ...}
    plan: str = "standard"
    token_ttl: int = 86400
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    service_account: str | None = None
    public_key: Any = field(default=None, repr=False)
    api_id: str | None = None
    server_list_id: str | None = None
    server_list_public_key: Any = field(default=None, repr=False)
    consumer_key: str | None = field(default=None, repr=False)
    oauth_apps: dict[str, str] = field(default_factory=dict, repr=False)  # user OAuth client_id -> secret
    redirect_uris: list[str] | None = None  # None: any http(s) redirect_uri is registered
    login: dict[str, str] | None = None  # who logs in at `authorize`: {"user_id", "consent"}
    calendars: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # user_id -> calendars
    legacy_quota: int | None = None  # API 1.0 pushes a day; None: the documented quota for its members
    legacy_pushes: dict[str, int] = field(default_factory=dict)  # JST date -> API 1.0 pushes that day

    def legacy_daily_quota(self) -> int:
        if self.legacy_quota is not None:
            return self.legacy_quota
        return LEGACY_DAILY_PUSHES + LEGACY_PUSHES_PER_EXTRA_MEMBER * max(0, len(self.users) - 100)

    def app_secret(self, client_id: str) -> str | None:
        """The secret of one of the tenant's OAuth clients (the 2.0 app or an extra one), or None."""
        if self.client_id and client_id == self.client_id:
            return self.client_secret
        return self.oauth_apps.get(client_id)


@dataclass
class Token:
    domain_id: str
    api: str  # "2.0" or "1.0"
    scopes: frozenset[str]
    expires_at: float
    user_id: str | None = None  # a user-OAuth token: whose it is
    client_id: str | None = None


@dataclass
class Grant:
    """An authorization code or a refresh token: who granted what to which client, until when."""

    domain_id: str
    user_id: str | None
    client_id: str
    scopes: frozenset[str]
    expires_at: float
    redirect_uri: str | None = None


def _key(pem: Any, name: str) -> Any:
    try:
        return load_pem_public_key(str(pem).encode())
    except (ValueError, TypeError) as exc:
        raise ControlError(f"{name} must be a PEM public key") from exc


def _works_error(status: int, code: str, description: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, {"code": code, "description": description}, headers)


def _legacy_error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"code": code, "message": message, "domain": "message"})


def _oauth_error(status: int, error: str, description: str) -> Response:
    return json_response(status, {"error": error, "error_description": description})


def _text(value: Any, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit


def _photo_url(value: str) -> bool:
    """bot-create's photoUrl is HTTPS; the local stack's hub has no TLS, so the sandbox also takes its loopback
    http:// URL (a sandbox allowance, not NAVER WORKS's rule)."""
    host = urlsplit(value).hostname or ""
    return value.startswith("https://") or (value.startswith("http://") and host in ("127.0.0.1", "localhost"))


def _http_url(value: str) -> bool:
    return value.startswith(("http://", "https://")) and len(value) > len("https://")


def _scopes(value: str) -> frozenset[str]:
    return frozenset(s for s in value.replace(",", " ").split() if s)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _cursor_offset(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except ValueError:
        return None
    number = text.removeprefix("offset:")
    return int(number) if text.startswith("offset:") and number.isdigit() else None


def _calendars(entries: Any) -> list[dict[str, Any]]:
    """A user's calendars from the control API, in display order; exactly one is the default."""
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ControlError('calendars must be a non-empty list of {"calendarId"?, "calendarName"} objects')
    calendars, ids = [], set()
    for order, entry in enumerate(entries):
        calendar_id = entry.get("calendarId") or f"calendar-{uuid.uuid4()}"
        if not isinstance(calendar_id, str) or calendar_id in ids:
            raise ControlError(f"calendarId must be a unique string ({calendar_id!r})")
        if not _text(entry.get("calendarName"), CALENDAR_NAME_MAX):
            raise ControlError(f"calendarName must be 1-{CALENDAR_NAME_MAX} characters")
        ids.add(calendar_id)
        calendars.append(
            {
                "calendarId": calendar_id,
                "calendarName": entry["calendarName"],
                "isShowOnLNBList": bool(entry.get("isShowOnLNBList", True)),
                "displayOrder": order,
                "default": bool(entry.get("isDefault", False)),
            }
        )
    defaults = sum(c["default"] for c in calendars)
    if defaults > 1:
        raise ControlError("at most one calendar may have isDefault")
    if defaults == 0:
        calendars[0]["default"] = True
    return calendars


def _calendar_view(calendar: dict[str, Any]) -> dict[str, Any]:
    """A CalendarPersonal as calendar-personals lists it (no default flag in the documented shape)."""
    view = {k: calendar[k] for k in ("calendarId", "calendarName", "isShowOnLNBList", "displayOrder")}
    return {**view, "resourceLocation": 14101}


def content_error(content: Any) -> str | None:
    """Why a message `content` is invalid (text and link only), or None."""
    if not isinstance(content, dict):
        return "content is required"
    kind = content.get("type")
    if kind == "text":
        return None if _text(content.get("text"), TEXT_MAX) else f"text must be 1-{TEXT_MAX} characters"
    if kind == "link":
        for name in ("contentText", "linkText", "link"):
            if not _text(content.get(name), LINK_MAX):
                return f"{name} must be 1-{LINK_MAX} characters"
        return None if content["link"].startswith(("http://", "https://")) else "link must be an http(s) URL"
    return f"unsupported content type {kind!r}"


def _event_route(parts: list[str], method: str) -> tuple[str, dict[str, str]] | None:
    """Calendar event operations (2.0 `api/v1.0/users/...`, 1.0 `legacy/r/.../calendar/v1/...`), else None."""
    n, verbs = len(parts), {"GET": "get", "PUT": "update", "DELETE": "delete"}
    if n >= 6 and parts[:3] == ["api", "v1.0", "users"]:
        if parts[4:6] == ["calendar", "events"]:
            calendar, rest = "", parts[6:]
        elif n >= 7 and parts[4] == "calendars" and parts[6] == "events":
            calendar, rest = parts[5], parts[7:]
        else:
            return None
        params = {"user_id": parts[3], "calendar_id": calendar}
        if not rest and method == "POST":
            return "event_create", params
        if len(rest) == 1 and method in verbs:
            return f"event_{verbs[method]}", {**params, "event_id": rest[0]}
        return None
    if n >= 9 and parts[:2] == ["legacy", "r"] and parts[3:5] == ["calendar", "v1"]:
        if parts[6] != "calendars" or parts[8] != "events":
            return None
        params = {"api_id": parts[2], "user_id": parts[5], "calendar_id": parts[7]}
        if n == 9 and method == "POST":
            return "legacy_event_create", params
        if n == 10 and method in ("PUT", "DELETE"):
            return f"legacy_event_{verbs[method]}", {**params, "event_id": parts[9]}
    return None


def _zone(name: Any) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ValueError("timeZone (an IANA zone name) is required with a local dateTime")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timeZone {name!r}") from None


def _event_time(value: Any, name: str) -> date | datetime:
    """A 2.0 `start`/`end`: `{"date": "YYYY-MM-DD"}`, or `{"dateTime", "timeZone"}` (aware when returned)."""
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object")
    if "date" in value:
        text = value["date"]
        if not isinstance(text, str) or len(text) != 10:
            raise ValueError(f"{name}.date must be YYYY-MM-DD")
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{name}.date must be YYYY-MM-DD") from None
    text = value.get("dateTime")
    if not isinstance(text, str):
        raise ValueError(f"{name} needs date or dateTime")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}.dateTime must be YYYY-MM-DDThh:mm:ss") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=_zone(value.get("timeZone")))
    if "timeZone" in value:
        _zone(value["timeZone"])
    return moment


def _time_span_error(start: date | datetime, end: date | datetime) -> str | None:
    if isinstance(start, datetime) != isinstance(end, datetime):
        return "start and end must both be dates or both date-times"
    if end <= start:  # type: ignore[operator]
        return "end must be after start (all-day end dates are exclusive)"
    return None


def component_error(component: Any, event_id: str | None = None) -> str | None:
    """Why an Event of `eventComponents` is invalid, or None; `event_id`: the eventId it must have."""
    if not isinstance(component, dict):
        return "eventComponents[0] must be an object"
    eid = component.get("eventId")
    if eid is not None and not (isinstance(eid, str) and 1 <= len(eid) <= EVENT_ID_MAX):
        return f"eventId must be 1-{EVENT_ID_MAX} characters"
    if event_id is not None and eid not in (None, event_id):
        return "eventId differs from the path"
    summary = component.get("summary")
    if not isinstance(summary, str) or len(summary) > SUMMARY_MAX:
        return f"summary is required (at most {SUMMARY_MAX} characters)"
    try:
        start = _event_time(component.get("start"), "start")
        end = _event_time(component["end"], "end") if "end" in component else None
    except ValueError as exc:
        return str(exc)
    if end is None:
        return None
    return _time_span_error(start, end)


def _ical_unescape(text: str) -> str:
    out, chars = [], iter(text)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append("\n" if following in ("n", "N") else following)
        else:
            out.append(char)
    return "".join(out)


def _ical_time(params: dict[str, str], value: str) -> tuple[date | datetime, dict[str, str]]:
    """(comparable value, 2.0-style view) of a DTSTART/DTEND."""
    if params.get("VALUE") == "DATE":
        day = datetime.strptime(value, "%Y%m%d").date()
        return day, {"date": day.isoformat()}
    if value.endswith("Z"):
        moment = datetime.strptime(value[:-1], "%Y%m%dT%H%M%S").replace(tzinfo=ZoneInfo("UTC"))
        return moment, {"dateTime": moment.isoformat(), "timeZone": "UTC"}
    local = datetime.strptime(value, "%Y%m%dT%H%M%S")
    zone = params.get("TZID")
    if not zone:
        raise ValueError("floating times are not supported: give TZID, a UTC time or VALUE=DATE")
    return local.replace(tzinfo=_zone(zone)), {"dateTime": local.isoformat(), "timeZone": zone}


def parse_ical(text: Any) -> dict[str, Any]:
    """The one VEVENT of an API 1.0 `ical` body as {"uid", "summary", "start", "end"}; ValueError if invalid.

    Stricter than a real server may be, to catch the hub's mistakes: lines ≤ 75 octets (folded), SUMMARY
    with `,` and `;` escaped, exactly one VEVENT, DTEND after DTSTART."""
    if not isinstance(text, str) or not text:
        raise ValueError("ical is required")
    raw = text.replace("\r\n", "\n").split("\n")
    if any(len(line.encode("utf-8")) > 75 for line in raw):
        raise ValueError("content lines must be folded at 75 octets")
    lines: list[str] = []
    for line in raw:
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += line[1:]
        elif line:
            lines.append(line)
    if not lines or lines[0] != "BEGIN:VCALENDAR" or lines[-1] != "END:VCALENDAR":
        raise ValueError("ical must be one VCALENDAR")
    events: list[dict[str, tuple[dict[str, str], str]]] = []
    current: dict[str, tuple[dict[str, str], str]] | None = None
    for line in lines:
        if line == "BEGIN:VEVENT":
            current = {}
        elif line == "END:VEVENT" and current is not None:
            events.append(current)
            current = None
        elif current is not None:
            head, _, value = line.partition(":")
            name, *pairs = head.split(";")
            current[name.upper()] = (dict(p.split("=", 1) for p in pairs if "=" in p), value)
    if len(events) != 1:
        raise ValueError("ical must hold exactly one VEVENT")
    props = events[0]
    for name in ("UID", "DTSTART", "SUMMARY"):
        if not props.get(name, ({}, ""))[1]:
            raise ValueError(f"VEVENT needs {name}")
    summary_raw = props["SUMMARY"][1].replace("\\\\", "").replace("\\,", "").replace("\\;", "")
    if "," in summary_raw or ";" in summary_raw:
        raise ValueError("SUMMARY: ',' and ';' must be escaped")
    summary = _ical_unescape(props["SUMMARY"][1])
    if len(summary) > SUMMARY_MAX:
        raise ValueError(f"SUMMARY must be at most {SUMMARY_MAX} characters")
    try:
        start, start_view = _ical_time(*props["DTSTART"])
        end, end_view = _ical_time(*props["DTEND"]) if "DTEND" in props else (None, None)
    except ValueError as exc:
        raise ValueError(f"DTSTART/DTEND: {exc}") from None
    if end is not None:
        problem = _time_span_error(start, end)
        if problem:
            raise ValueError(problem)
    return {"uid": props["UID"][1], "summary": summary, "start": start_view, "end": end_view}


class NaverWorksFake(FakeProvider):
    """NAVER WORKS fake; tenants (keys, bots, users, plan) are registered through the control API."""

    name = "naver_works"
    prefix = "/works"
    match_keys = frozenset({"api", "domain_id", "bot_id", "user_id", "calendar_id", "event_id"})
    fault_kinds = frozenset({"rate_limited", "server_error", "invalid_auth", "not_found"})

    def __init__(self) -> None:
        super().__init__(RateLimiter(burst=PLANS["standard"], per_second=PLANS["standard"] / 60))
        self.free_limiter = RateLimiter(burst=PLANS["free"], per_second=PLANS["free"] / 60)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.tenants: dict[str, Tenant] = {}
            self.tokens: dict[str, Token] = {}
            self.messages: list[dict[str, Any]] = []
            self._bot_ids = itertools.count(3_000_001)
            self.codes: dict[str, Grant] = {}
            self.refresh_tokens: dict[str, Grant] = {}
            # (domain_id, user_id, calendar key) -> eventId -> stored event
            self.calendar_events: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
        self.limiter.reset()
        self.free_limiter.reset()

    def set_limits(self, limits: dict[str, Any]) -> dict[str, Any]:
        self.free_limiter.configure(limits)
        return self.limiter.configure(limits)

    # --- control API -------------------------------------------------------------------------------

    def control(self, action: str, method: str, data: dict[str, Any], base_url: str) -> dict[str, Any]:
        if method == "POST" and action == "tenants":
            return self._add_tenant(data)
        if method == "POST" and action == "legacy_quota":
            return self._legacy_quota(data)
        if method == "POST" and action == "expire_tokens":
            with self._lock:
                expired = [t for t in self.tokens.values() if t.domain_id == str(data.get("domain_id"))]
                for token in expired:
                    token.expires_at = 0.0
            return {"expired": len(expired)}
        if method in ("GET", "POST") and action == "messages":
            wanted = data.get("domain_id")
            with self._lock:
                return {"messages": [m for m in self.messages if wanted is None or m["domain_id"] == str(wanted)]}
        if method in ("GET", "POST") and action == "calendar_events":
            return self._list_calendar_events(data)
        if method == "POST" and action == "oauth_users":
            return self._set_login(data)
        if method == "POST" and action == "revoke_user":
            return self._revoke_user(data)
        if method == "POST" and action == "expire_codes":
            wanted = data.get("domain_id")
            with self._lock:
                codes = [c for c in self.codes.values() if wanted is None or c.domain_id == str(wanted)]
                for code in codes:
                    code.expires_at = 0.0
            return {"expired": len(codes)}
        return super().control(action, method, data, base_url)

    def _tenant_for_control(self, data: dict[str, Any]) -> Tenant:
        domain_id = str(data.get("domain_id") or "")
        with self._lock:
            tenant = self.tenants.get(domain_id)
        if tenant is None:
            raise ControlError(f"unknown domain_id {domain_id!r}: register the tenant first (POST tenants)")
        return tenant

    def _set_login(self, data: dict[str, Any]) -> dict[str, Any]:
        tenant = self._tenant_for_control(data)
        user_id, consent = data.get("user_id"), data.get("consent", "approve")
        if not isinstance(user_id, str) or not user_id:
            raise ControlError("user_id (a user ID or login e-mail) is required")
        if consent not in ("approve", "deny"):
            raise ControlError('consent must be "approve" or "deny"')
        calendars = _calendars(data["calendars"]) if data.get("calendars") is not None else None
        with self._lock:
            tenant.users.add(user_id)
            if calendars is not None:
                tenant.calendars[user_id] = calendars
            elif user_id not in tenant.calendars:
                tenant.calendars[user_id] = _calendars([{"calendarName": "My calendar"}])
            tenant.login = {"user_id": user_id, "consent": consent}
            listed = [{**_calendar_view(c), "isDefault": c["default"]} for c in tenant.calendars[user_id]]
        return {"domain_id": tenant.domain_id, "user_id": user_id, "consent": consent, "calendars": listed}

    def _revoke_user(self, data: dict[str, Any]) -> dict[str, Any]:
        tenant = self._tenant_for_control(data)
        user_id = str(data.get("user_id") or "")
        if not user_id:
            raise ControlError("user_id is required")
        mine = lambda g: g.domain_id == tenant.domain_id and g.user_id == user_id  # noqa: E731
        with self._lock:
            refresh = [value for value, grant in self.refresh_tokens.items() if mine(grant)]
            for value in refresh:
                del self.refresh_tokens[value]
            for value in [value for value, grant in self.codes.items() if mine(grant)]:
                del self.codes[value]
            access = [token for token in self.tokens.values() if mine(token)]
            for token in access:
                token.expires_at = 0.0
        return {"revoked_refresh_tokens": len(refresh), "expired_access_tokens": len(access)}

    def _add_tenant(self, data: dict[str, Any]) -> dict[str, Any]:
        domain_id = str(data.get("domain_id") or "")
        if not domain_id.isdigit():
            raise ControlError("domain_id (digits) is required")
        users, bots = data.get("users") or [], data.get("bots") or []
        if not all(isinstance(u, str) and u for u in users):
            raise ControlError("users must be user IDs or login e-mails")
        if not all(isinstance(b, dict) and b.get("bot_id") for b in bots):
            raise ControlError('bots must be objects with "bot_id" (and "name")')
        plan, ttl = data.get("plan", "standard"), data.get("token_ttl", 86400)
        if plan not in PLANS:
            raise ControlError(f"plan must be one of {sorted(PLANS)}")
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
            raise ControlError("token_ttl must be a positive integer (seconds)")
        tenant = Tenant(
            domain_id,
            set(users),
            {str(b["bot_id"]): {"name": str(b.get("name") or "Bot"), "in_domain": True} for b in bots},
            plan,
            ttl,
        )
        v2 = ("client_id", "client_secret", "service_account", "public_key_pem")
        v1 = ("api_id", "server_list_id", "server_list_public_key_pem", "server_api_consumer_key")
        for group in (v2, v1):
            given = [name for name in group if data.get(name)]
            if given and len(given) != len(group):
                raise ControlError(f"give all of {list(group)} or none")
        if not data.get("client_id") and not data.get("api_id"):
            raise ControlError("give the API 2.0 fields, the API 1.0 fields, or both")
        if data.get("client_id"):
            tenant.client_id, tenant.client_secret = str(data["client_id"]), str(data["client_secret"])
            tenant.service_account = str(data["service_account"])
            tenant.public_key = _key(data["public_key_pem"], "public_key_pem")
        if data.get("api_id"):
            tenant.api_id, tenant.server_list_id = str(data["api_id"]), str(data["server_list_id"])
            tenant.server_list_public_key = _key(data["server_list_public_key_pem"], "server_list_public_key_pem")
            tenant.consumer_key = str(data["server_api_consumer_key"])
        apps, uris = data.get("oauth_apps") or [], data.get("redirect_uris")
        if not all(isinstance(a, dict) and a.get("client_id") and a.get("client_secret") for a in apps):
            raise ControlError('oauth_apps must be objects with "client_id" and "client_secret"')
        tenant.oauth_apps = {str(a["client_id"]): str(a["client_secret"]) for a in apps}
        if uris is not None:
            if not (isinstance(uris, list) and all(isinstance(u, str) and _http_url(u) for u in uris)):
                raise ControlError("redirect_uris must be a list of http(s) URLs")
            tenant.redirect_uris = list(uris)
        with self._lock:
            self.tenants[domain_id] = tenant
        return {"domain_id": domain_id, "plan": plan, "bots": sorted(tenant.bots)}

    def _legacy_quota(self, data: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            tenant = self.tenants.get(str(data.get("domain_id") or ""))
            if tenant is None:
                raise ControlError("domain_id of a registered tenant is required")
            if "quota" in data:
                quota = data["quota"]
                if quota is not None and (isinstance(quota, bool) or not isinstance(quota, int) or quota < 0):
                    raise ControlError("quota must be a non-negative integer or null")
                tenant.legacy_quota = quota
            if data.get("reset"):
                tenant.legacy_pushes.clear()
            return {"quota": tenant.legacy_daily_quota(), "used": tenant.legacy_pushes.get(jst_day(), 0)}

    # --- routing -------------------------------------------------------------------------------------

    @staticmethod
    def _route(request: Request) -> tuple[str, dict[str, str]]:
        """The operation name and its path parameters (decoded)."""
        parts = [unquote(p) for p in request.path.removeprefix("/works/").split("/")]
        m, n = request.method, len(parts)
        if parts == ["auth", "oauth2", "v2.0", "token"] and m == "POST":
            return "token", {}
        if parts == ["auth", "oauth2", "v2.0", "authorize"] and m == "GET":
            return "authorize", {}
        if n == 5 and parts[:3] == ["api", "v1.0", "users"] and m == "GET":
            if parts[4] == "calendar-personals":
                return "calendar_personals", {"user_id": parts[3]}
            if parts[4] == "calendar":
                return "calendar_default", {"user_id": parts[3]}
        if n == 5 and parts[:2] == ["auth", "b"] and parts[3:] == ["server", "token"] and m == "POST":
            return "legacy_token", {"api_id": parts[2]}
        event = _event_route(parts, m)
        if event is not None:
            return event
        legacy = ["legacy", "r", parts[2] if n > 2 else "", "message", "v1", "bot"]
        if n == 9 and parts[:6] == legacy and parts[7:] == ["message", "push"] and m == "POST":
            return "legacy_push", {"api_id": parts[2], "bot_id": parts[6]}
        if parts[:3] != ["api", "v1.0", "bots"]:
            return "unknown", {}
        rest = parts[3:]
        if rest == [] and m == "POST":
            return "bot_create", {}
        if len(rest) == 1 and m == "GET":
            return "bot_get", {"bot_id": rest[0]}
        if len(rest) == 3 and rest[1] == "domains" and m == "POST":
            return "bot_domain", {"bot_id": rest[0], "domain_id": rest[2]}
        if len(rest) == 4 and rest[1] == "users" and rest[3] == "messages" and m == "POST":
            return "message", {"bot_id": rest[0], "user_id": rest[2]}
        return "unknown", {}

    def _bearer(self, request: Request) -> Token | None:
        auth = request.header("Authorization") or ""
        value = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        with self._lock:
            return self.tokens.get(value)

    def fault_attrs(self, request: Request) -> dict[str, str]:
        api, params = self._route(request)
        attrs = {"api": api, **{k: v for k, v in params.items() if k in self.match_keys}}
        token = self._bearer(request)
        if token is not None:
            attrs.setdefault("domain_id", token.domain_id)
        if api == "legacy_push":
            attrs["user_id"] = str(self._json(request).get("accountId") or "")
        return attrs

    def fault_response(self, kind: str, options: dict[str, Any]) -> Response:
        if kind == "rate_limited":
            reset = str(options["retry_after"] or 60)
            headers = {"rateLimit-limit": "240", "rateLimit-remaining": "0", "rateLimit-reset": reset}
            return _works_error(429, "TOO_MANY_REQUESTS", "API rate limit exceeded", headers)
        if kind == "server_error":
            code = "SERVICE_UNAVAILABLE" if options["status"] == 503 else "INTERNAL_SERVER_ERROR"
            return _works_error(options["status"], code, "Internal server error")
        if kind == "invalid_auth":
            return _works_error(401, "UNAUTHORIZED", "Authentication failed")
        return _works_error(404, "NOT_FOUND", "user not found")

    @staticmethod
    def _json(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.body.decode("utf-8")) if request.body else None
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    # --- API -----------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        api, params = self._route(request)
        if api == "token":
            return self._token(request)
        if api == "authorize":
            return self._authorize(request)
        if api == "legacy_token":
            return self._legacy_token(request, params["api_id"])
        if api == "unknown":
            return _works_error(404, "NOT_FOUND", f"no API {request.method} {request.path}")
        token = self._bearer(request)
        legacy = api.startswith("legacy_")
        if token is None or token.expires_at <= time.time() or token.api != ("1.0" if legacy else "2.0"):
            if legacy:
                return _legacy_error(401, "UNAUTHORIZED", "invalid or expired token")
            return _works_error(401, "UNAUTHORIZED", "Authentication failed")
        with self._lock:
            tenant = self.tenants[token.domain_id]
        needs = {
            "bot_create": {"bot"},
            "bot_domain": {"bot"},
            "bot_get": {"bot", "bot.read"},
            "calendar_personals": CALENDAR_SCOPES,
            "calendar_default": CALENDAR_SCOPES,
            "event_get": CALENDAR_SCOPES,
            "event_create": {"calendar"},
            "event_update": {"calendar"},
            "event_delete": {"calendar"},
        }
        if not legacy and not token.scopes & needs.get(api, {"bot", "bot.message"}):
            return _works_error(403, "FORBIDDEN", "the access token lacks the required scope")
        limiter = self.free_limiter if tenant.plan == "free" else self.limiter
        wait = limiter.take(f"{tenant.domain_id}/{api}")
        if wait:
            limit, reset = str(int(limiter.limits["burst"])), str(int(wait) + 1)
            headers = {"rateLimit-limit": limit, "rateLimit-remaining": "0", "rateLimit-reset": reset}
            return _works_error(429, "TOO_MANY_REQUESTS", "API rate limit exceeded", headers)
        if api.startswith("legacy_event_"):
            return self._legacy_event(api, request, tenant, params)
        if legacy:
            return self._legacy_push(request, tenant, params)
        if api.startswith("event_"):
            return self._event(api, request, tenant, token, params)
        if api.startswith("calendar_"):
            return self._calendar(api, request, tenant, token, params["user_id"])
        return getattr(self, f"_{api}")(request, tenant, params)

    def _token(self, request: Request) -> Response:
        if request.media_type != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        form = dict(parse_qsl(request.body.decode("utf-8", errors="replace"), keep_blank_values=True))
        grant_type = unquote(form.get("grant_type", ""))
        if grant_type in ("authorization_code", "refresh_token"):
            return self._user_token(form, grant_type)
        if grant_type != JWT_BEARER:  # the official sample double-encodes it
            return _oauth_error(400, "unsupported_grant_type", "grant_type must be jwt-bearer")
        with self._lock:
            tenant = next(
                (t for t in self.tenants.values() if t.client_id and t.client_id == form.get("client_id")), None
            )
        if tenant is None or form.get("client_secret") != tenant.client_secret:
            return _oauth_error(401, "invalid_client", "unknown client or wrong client_secret")
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                tenant.public_key,
                algorithms=["RS256"],
                options={"require": ["iss", "sub", "iat", "exp"]},
                leeway=5,
            )
        except jwt.PyJWTError as exc:
            return _oauth_error(400, "invalid_grant", f"invalid assertion: {exc}")
        if claims["iss"] != tenant.client_id or claims["sub"] != tenant.service_account:
            return _oauth_error(400, "invalid_grant", "iss must be the Client ID and sub the Service Account")
        if claims["exp"] - claims["iat"] > 3600:
            return _oauth_error(400, "invalid_grant", "exp must be at most 60 minutes after iat")
        scopes = frozenset(s for s in form.get("scope", "").replace(",", " ").split() if s)
        if not scopes or not scopes <= SCOPES:
            return _oauth_error(400, "invalid_scope", "unknown or missing scope")
        body = self._issue(tenant, "2.0", scopes)
        refresh = self._grant_refresh(Grant(tenant.domain_id, None, str(tenant.client_id), scopes, 0.0))
        body.update(refresh_token=refresh, scope=",".join(sorted(scopes)))
        return json_response(200, body)

    def _legacy_token(self, request: Request, api_id: str) -> Response:
        args = {**request.query, **dict(parse_qsl(request.body.decode("utf-8", errors="replace")))}
        with self._lock:
            tenant = next((t for t in self.tenants.values() if t.api_id and t.api_id == api_id), None)
        if tenant is None:
            return _oauth_error(400, "invalid_request", "unknown API ID")
        if args.get("grant_type") != JWT_BEARER:
            return _oauth_error(400, "unsupported_grant_type", "grant_type must be jwt-bearer")
        try:
            claims = jwt.decode(
                args.get("assertion", ""),
                tenant.server_list_public_key,
                algorithms=["RS256"],
                options={"require": ["iss", "iat", "exp"]},
                leeway=5,
            )
        except jwt.PyJWTError as exc:
            return _oauth_error(400, "invalid_grant", f"invalid assertion: {exc}")
        if claims["iss"] != tenant.server_list_id or claims["exp"] - claims["iat"] > 300:
            return _oauth_error(400, "invalid_grant", "iss must be the Server List ID and exp at most iat + 5 min")
        return json_response(200, self._issue(tenant, "1.0", frozenset()))

    def _issue(
        self,
        tenant: Tenant,
        api: str,
        scopes: frozenset[str],
        user_id: str | None = None,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        value = "kr1A" + secrets.token_urlsafe(24)
        token = Token(tenant.domain_id, api, scopes, time.time() + tenant.token_ttl, user_id, client_id)
        with self._lock:
            self.tokens[value] = token
        return {"access_token": value, "token_type": "Bearer", "expires_in": str(tenant.token_ttl)}

    def _grant_refresh(self, grant: Grant) -> str:
        value = "kr1R" + secrets.token_urlsafe(24)
        grant.expires_at = time.time() + REFRESH_TTL
        with self._lock:
            self.refresh_tokens[value] = grant
        return value

    # --- user OAuth ----------------------------------------------------------------------------------

    def _authorize(self, request: Request) -> Response:
        """The login and consent pages in one step: 302 back to the app with a code, or with an error."""
        query = request.query
        client_id, redirect_uri, state = query.get("client_id", ""), query.get("redirect_uri", ""), query.get("state")
        with self._lock:
            tenant = next((t for t in self.tenants.values() if client_id and t.app_secret(client_id)), None)
        if tenant is None:  # never redirect to an unverified redirect_uri
            return _oauth_error(400, "invalid_client", "unknown client_id")
        registered = tenant.redirect_uris
        if not _http_url(redirect_uri) or (registered is not None and redirect_uri not in registered):
            return _oauth_error(400, "invalid_request", "redirect_uri is not a registered Redirect URL")

        def back(**params: str) -> Response:
            if state is not None:
                params["state"] = state
            joiner = "&" if "?" in redirect_uri else "?"
            return Response(302, headers={"Location": redirect_uri + joiner + urlencode(params)})

        if query.get("response_type") != "code":
            return back(error="unsupported_response_type", error_description="response_type must be code")
        scopes = _scopes(query.get("scope", ""))
        if not scopes or not scopes <= SCOPES:
            return back(error="invalid_scope", error_description="unknown or missing scope")
        if query.get("domain") not in (None, tenant.domain_id):
            return back(error="invalid_request", error_description="domain is not the app's domain")
        with self._lock:
            login = dict(tenant.login) if tenant.login else None
        if login is None:
            return _oauth_error(
                400, "login_required", "nobody logs in: POST /_sandbox/naver_works/oauth_users first (sandbox)"
            )
        if login["consent"] == "deny":
            return back(error="access_denied", error_description="the user denied the request")
        code = "kr1C" + secrets.token_urlsafe(24)
        grant = Grant(tenant.domain_id, login["user_id"], client_id, scopes, time.time() + CODE_TTL, redirect_uri)
        with self._lock:
            self.codes[code] = grant
        return back(code=code)

    def _user_token(self, form: dict[str, str], grant_type: str) -> Response:
        client_id = form.get("client_id", "")
        with self._lock:
            tenant = next((t for t in self.tenants.values() if client_id and t.app_secret(client_id)), None)
        if tenant is None or form.get("client_secret") != tenant.app_secret(client_id):
            return _oauth_error(401, "invalid_client", "unknown client or wrong client_secret")
        if grant_type == "refresh_token":
            with self._lock:
                grant = self.refresh_tokens.get(form.get("refresh_token", ""))
            if grant is None or grant.client_id != client_id or grant.expires_at <= time.time():
                return _oauth_error(400, "invalid_grant", "the refresh token is invalid, expired or revoked")
            body = self._issue(tenant, "2.0", grant.scopes, grant.user_id, client_id)
            return json_response(200, {**body, "scope": ",".join(sorted(grant.scopes))})
        if form.get("domain") not in (None, tenant.domain_id):
            return _oauth_error(400, "invalid_request", "domain is not the app's domain")
        with self._lock:
            grant = self.codes.get(form.get("code", ""))
            if grant is not None and grant.client_id == client_id:
                del self.codes[form["code"]]  # single use, whatever follows
        if grant is None or grant.client_id != client_id:
            return _oauth_error(400, "invalid_grant", "the authorization code is invalid or was already used")
        if grant.expires_at <= time.time():
            return _oauth_error(400, "invalid_grant", "the authorization code has expired")
        if form.get("redirect_uri") not in (None, grant.redirect_uri):
            return _oauth_error(400, "invalid_grant", "redirect_uri differs from the authorization request")
        body = self._issue(tenant, "2.0", grant.scopes, grant.user_id, client_id)
        refresh = self._grant_refresh(Grant(tenant.domain_id, grant.user_id, client_id, grant.scopes, 0.0))
        return json_response(200, {**body, "refresh_token": refresh, "scope": ",".join(sorted(grant.scopes))})

    def _calendar(self, api: str, request: Request, tenant: Tenant, token: Token, user_id: str) -> Response:
        if token.user_id is None:
            return _works_error(403, "FORBIDDEN", "personal calendars need the user's own token (sandbox)")
        if user_id not in ("me", token.user_id):
            return _works_error(403, "FORBIDDEN", "the access token belongs to another user")
        with self._lock:
            calendars = list(tenant.calendars.get(token.user_id) or [])
        if not calendars:
            return _works_error(404, "NOT_FOUND", "calendar not found")
        if api == "calendar_default":
            default = next((c for c in calendars if c["default"]), calendars[0])
            return json_response(200, self._default_view(token.user_id, default))
        count, cursor = request.query.get("count", str(CALENDAR_PAGE_MAX)), request.query.get("cursor")
        if not count.isdigit() or not 1 <= int(count) <= CALENDAR_PAGE_MAX:
            return _works_error(400, "INVALID_PARAMETER", f"count must be 1-{CALENDAR_PAGE_MAX}")
        start = _cursor_offset(cursor) if cursor else 0
        if start is None:
            return _works_error(400, "INVALID_PARAMETER", "invalid cursor")
        end = start + int(count)
        next_cursor = _cursor(end) if end < len(calendars) else None
        page = [_calendar_view(c) for c in calendars[start:end]]
        return json_response(200, {"calendarPersonals": page, "responseMetaData": {"nextCursor": next_cursor}})

    @staticmethod
    def _default_view(user_id: str, calendar: dict[str, Any]) -> dict[str, Any]:
        return {
            "calendarId": calendar["calendarId"],
            "calendarName": calendar["calendarName"],
            "members": [{"id": user_id, "type": "USER", "role": "CALENDAR_EVENT_READ_WRITE"}],
            "description": "",
            "isPublic": False,
            "calendarEmail": f"{calendar['calendarId']}@groups.sandbox.example",
            "type": "INDIVIDUAL",
        }

    def _deliver(self, api: str, tenant: Tenant, bot_id: str, user_id: str, content: Any) -> None:
        entry = {"api": api, "domain_id": tenant.domain_id, "bot_id": bot_id, "user_id": user_id, "content": content}
        with self._lock:
            self.messages.append(entry)

    def _bot(self, tenant: Tenant, bot_id: str, require_domain: bool = True) -> dict[str, Any] | None:
        bot = tenant.bots.get(bot_id)
        return bot if bot is not None and (bot["in_domain"] or not require_domain) else None

    def _message(self, request: Request, tenant: Tenant, params: dict[str, str]) -> Response:
        if self._bot(tenant, params["bot_id"]) is None:
            return _works_error(404, "NOT_FOUND", "bot not found")
        if params["user_id"] not in tenant.users:
            return _works_error(404, "NOT_FOUND", "user not found")
        content = self._json(request).get("content")
        problem = content_error(content)
        if problem:
            return _works_error(400, "INVALID_PARAMETER", problem)
        self._deliver("2.0", tenant, params["bot_id"], params["user_id"], content)
        return Response(201)

    def _legacy_push(self, request: Request, tenant: Tenant, params: dict[str, str]) -> Response:
        if params["api_id"] != tenant.api_id or request.header("consumerKey") != tenant.consumer_key:
            return _legacy_error(401, "UNAUTHORIZED", "invalid API ID or consumerKey")
        if self._bot(tenant, params["bot_id"]) is None:
            return _legacy_error(400, "NONEXISTENT_BOT", "Bot not found")
        body = self._json(request)
        account = body.get("accountId")
        if account not in tenant.users:
            return _legacy_error(400, "BAD_REQUEST", f'Bad Request Parameters: Cannot find "{account}"')
        problem = content_error(body.get("content"))
        if problem:
            return _legacy_error(400, "BAD_REQUEST", problem)
        with self._lock:
            day = jst_day()
            if tenant.legacy_pushes.get(day, 0) >= tenant.legacy_daily_quota():
                return _legacy_error(429, "QUOTA_EXCEEDED", "daily message push quota exceeded")
            tenant.legacy_pushes[day] = tenant.legacy_pushes.get(day, 0) + 1
        self._deliver("1.0", tenant, params["bot_id"], account, body["content"])
        return Response(200)

    def _bot_create(self, request: Request, tenant: Tenant, params: dict[str, str]) -> Response:
        body = self._json(request)
        admins, allow = body.get("administrators"), body.get("allowDomains") or []
        problems = [
            not _text(body.get("botName"), 100) and "botName must be 1-100 characters",
            not _text(body.get("description"), 100) and "description must be 1-100 characters",
            not (_text(body.get("photoUrl"), 1000) and _photo_url(body["photoUrl"]))
            and "photoUrl must be an HTTPS URL",
            not (isinstance(admins, list) and 1 <= len(admins) <= 3 and all(a in tenant.users for a in admins))
            and "administrators must be 1-3 users of the tenant",
            not (isinstance(allow, list) and all(isinstance(d, int) for d in allow)) and "allowDomains: integers",
        ]
        problem = next((p for p in problems if p), None)
        if problem:
            return _works_error(400, "INVALID_PARAMETER", problem)
        bot_id = next(self._bot_ids)
        bot = {"name": body["botName"], "in_domain": False, "allow_domains": [str(d) for d in allow]}
        bot.update(description=body["description"], photo_url=body["photoUrl"], administrators=admins)
        with self._lock:
            tenant.bots[str(bot_id)] = bot
        return json_response(201, {"botId": bot_id, **self._bot_view(str(bot_id), bot)})

    def _bot_domain(self, request: Request, tenant: Tenant, params: dict[str, str]) -> Response:
        bot = self._bot(tenant, params["bot_id"], require_domain=False)
        if bot is None:
            return _works_error(404, "NOT_FOUND", "bot not found")
        allowed = bot.get("allow_domains") or [tenant.domain_id]
        if params["domain_id"] != tenant.domain_id or params["domain_id"] not in allowed:
            return _works_error(400, "INVALID_PARAMETER", "the domain is not in the bot's allowDomains")
        body = self._json(request)
        with self._lock:
            bot["in_domain"] = True
        visible, selected = bool(body.get("visible", False)), bool(body.get("allowToSelectedMember", False))
        return json_response(
            201, {"domainId": int(tenant.domain_id), "visible": visible, "allowToSelectedMember": selected}
        )

    def _bot_get(self, request: Request, tenant: Tenant, params: dict[str, str]) -> Response:
        bot = self._bot(tenant, params["bot_id"], require_domain=False)
        if bot is None:
            return _works_error(404, "NOT_FOUND", "bot not found")
        bot_id = params["bot_id"]
        return json_response(200, {"botId": int(bot_id) if bot_id.isdigit() else bot_id, **self._bot_view(bot_id, bot)})

    @staticmethod
    def _bot_view(bot_id: str, bot: dict[str, Any]) -> dict[str, Any]:
        return {
            "botName": bot["name"],
            "photoUrl": bot.get("photo_url", "https://static.worksmobile.net/bot.png"),
            "description": bot.get("description", bot["name"]),
            "administrators": bot.get("administrators", []),
            "allowDomains": [int(d) for d in bot.get("allow_domains", []) if d.isdigit()],
        }

    # --- calendar events -----------------------------------------------------------------------------

    @staticmethod
    def _calendar_key(tenant: Tenant, user_id: str, calendar_id: str | None) -> str | None:
        """ "default" for the user's default calendar (no id, `defaultCalendarId` or its calendarId), the
        calendarId for another of their calendars (set through `oauth_users`), None for an unknown one."""
        if not calendar_id or calendar_id == LEGACY_DEFAULT_CALENDAR:
            return DEFAULT_CALENDAR
        calendar = next((c for c in tenant.calendars.get(user_id) or [] if c["calendarId"] == calendar_id), None)
        if calendar is None:
            return None
        return DEFAULT_CALENDAR if calendar["default"] else calendar_id

    @staticmethod
    def _calendar_id(tenant: Tenant, user_id: str, key: str) -> str:
        if key != DEFAULT_CALENDAR:
            return key
        default = next((c for c in tenant.calendars.get(user_id) or [] if c["default"]), None)
        return default["calendarId"] if default else f"calendar-default-{user_id}"

    def _event(self, api: str, request: Request, tenant: Tenant, token: Token, params: dict[str, str]) -> Response:
        user, calendar_id = params["user_id"], params["calendar_id"] or None
        if token.user_id is None:  # the service account
            if user == "me":
                return _works_error(403, "FORBIDDEN", "a service account cannot use me")
            if user not in tenant.users:
                return _works_error(404, "NOT_FOUND", "user not found")
            owner = user
        elif user not in ("me", token.user_id):
            return _works_error(403, "FORBIDDEN", "the access token belongs to another user")
        else:
            owner = token.user_id
        with self._lock:
            key = self._calendar_key(tenant, owner, calendar_id)
        if key is None:
            return _works_error(404, "NOT_FOUND", "calendar not found")
        if token.user_id is None and key != DEFAULT_CALENDAR:
            return _works_error(403, "FORBIDDEN", "personal calendars need the user's own token (sandbox)")
        store_key, event_id = (tenant.domain_id, owner, key), params.get("event_id")
        organizer = self._calendar_id(tenant, owner, key)
        if api == "event_get" or api == "event_delete":
            with self._lock:
                events = self.calendar_events.get(store_key, {})
                found = events.pop(event_id, None) if api == "event_delete" else events.get(event_id or "")
            if found is None:
                return _works_error(404, "NOT_FOUND", "event not found")
            if api == "event_delete":
                return Response(204)
            return json_response(200, {"eventComponents": [found["component"]], "organizerCalendarId": organizer})
        body = self._json(request)
        components = body.get("eventComponents")
        if not isinstance(components, list) or not components:
            return _works_error(400, "INVALID_PARAMETER", "eventComponents is required")
        problem = component_error(components[0], event_id)
        if problem is None and len({c.get("eventId") for c in components if isinstance(c, dict)}) > 1:
            problem = "every element of eventComponents must have the same eventId"
        if problem is None and not isinstance(body.get("sendNotification", True), bool):
            problem = "sendNotification must be a boolean"
        if problem:
            return _works_error(400, "INVALID_PARAMETER", problem)
        component = {**components[0], "eventId": event_id or components[0].get("eventId") or f"event-{uuid.uuid4()}"}
        stored = {"component": component, "api": "2.0", "sendNotification": body.get("sendNotification", True)}
        with self._lock:
            events = self.calendar_events.setdefault(store_key, {})
            exists = component["eventId"] in events
            if exists == (api == "event_update"):
                events[component["eventId"]] = stored
        if api == "event_create" and exists:
            return _works_error(409, "ALREADY_EXISTS", "an event with this eventId already exists (sandbox assumption)")
        if api == "event_update" and not exists:
            return _works_error(404, "NOT_FOUND", "event not found")
        answer = {"eventComponents": [component], "organizerCalendarId": organizer}
        return json_response(201 if api == "event_create" else 200, answer)

    def _legacy_event(self, api: str, request: Request, tenant: Tenant, params: dict[str, str]) -> Response:
        def error(status: int, code: str, message: str) -> Response:
            return json_response(status, {"code": code, "message": message, "domain": "calendar"})

        if params["api_id"] != tenant.api_id or request.header("consumerKey") != tenant.consumer_key:
            return error(401, "UNAUTHORIZED", "invalid API ID or consumerKey")
        account = params["user_id"]
        if account not in tenant.users:
            return error(404, "NOT_FOUND", "Resource not found")
        with self._lock:
            key = self._calendar_key(tenant, account, params["calendar_id"])
        if key is None:
            return error(404, "NOT_FOUND", "calendar not found")
        store_key, uid = (tenant.domain_id, account, key), params.get("event_id")
        calendar_id = self._calendar_id(tenant, account, key)
        if api == "legacy_event_delete":
            with self._lock:
                found = self.calendar_events.get(store_key, {}).pop(uid or "", None)
            if found is None:
                return error(404, "NOT_FOUND", "event not found")
            return json_response(200, {"result": "success", "code": 200})
        ical = self._json(request).get("ical")
        try:
            event = parse_ical(ical)
        except ValueError as exc:
            return error(400, "BAD_REQUEST", str(exc))
        if uid is not None and event["uid"] != uid:
            return error(400, "BAD_REQUEST", "the VEVENT UID differs from the path")
        component = {k: event[k] for k in ("summary", "start", "end") if event[k] is not None}
        stored = {"component": {"eventId": event["uid"], **component}, "api": "1.0", "ical": ical}
        updating = api == "legacy_event_update"
        with self._lock:
            events = self.calendar_events.setdefault(store_key, {})
            exists = event["uid"] in events
            if exists == updating:
                events[event["uid"]] = stored
        if exists and not updating:
            return error(409, "ALREADY_EXISTS", "an event with this UID already exists (sandbox assumption)")
        if updating and not exists:
            return error(404, "NOT_FOUND", "event not found")
        value = {"calendarId": calendar_id, "processType": "UPDATE" if updating else "CREATE", "icalUid": event["uid"]}
        return json_response(200, {"result": "success", "code": 200, "returnValue": value})

    def _list_calendar_events(self, data: dict[str, Any]) -> dict[str, Any]:
        domain_id, user_id = data.get("domain_id"), data.get("user_id")
        listed = []
        with self._lock:
            for (domain, user, key), events in self.calendar_events.items():
                if (domain_id is not None and domain != str(domain_id)) or (user_id is not None and user != user_id):
                    continue
                for stored in events.values():
                    entry = {"domain_id": domain, "user_id": user, "calendar_id": key, "api": stored["api"]}
                    entry.update(stored["component"])
                    entry["sendNotification"] = stored.get("sendNotification")
                    if "ical" in stored:
                        entry["ical"] = stored["ical"]
                    listed.append(entry)
        return {"events": listed}
