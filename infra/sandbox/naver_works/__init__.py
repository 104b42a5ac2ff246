"""The NAVER WORKS fake, one module per part of its API, with `NaverWorksFake` assembled in `fake.py`.

Modules: `tenants` (what a tenant registers), `state` (what the fake remembers, shared helpers), `routing`
(path -> operation), `auth` (2.0 service-account and 1.0 server tokens), `user_oauth` (authorize, user
tokens, calendar list), `bots` (messages and bot management), `legacy` (API 1.0 push and its daily quota),
`events` and `ical` (event validation), `calendar` (2.0 events and 1.0 iCal events), `fake` (dispatch).

Fake of NAVER WORKS: the API 2.0 service-account token, bot messages and bot management, the API 1.0
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

from infra.sandbox.naver_works.auth import JWT_BEARER
from infra.sandbox.naver_works.bots import LINK_MAX, TEXT_MAX, content_error
from infra.sandbox.naver_works.calendar import DEFAULT_CALENDAR, LEGACY_DEFAULT_CALENDAR
from infra.sandbox.naver_works.events import EVENT_ID_MAX, SUMMARY_MAX, component_error
from infra.sandbox.naver_works.fake import NaverWorksFake
from infra.sandbox.naver_works.ical import parse_ical
from infra.sandbox.naver_works.routing import CALENDAR_SCOPES
from infra.sandbox.naver_works.state import REFRESH_TTL
from infra.sandbox.naver_works.tenants import (
    JST,
    LEGACY_DAILY_PUSHES,
    LEGACY_PUSHES_PER_EXTRA_MEMBER,
    PLANS,
    SCOPES,
    Grant,
    Tenant,
    Token,
    jst_day,
)
from infra.sandbox.naver_works.user_oauth import CALENDAR_NAME_MAX, CALENDAR_PAGE_MAX, CODE_TTL

__all__ = [
    "CALENDAR_NAME_MAX",
    "CALENDAR_PAGE_MAX",
    "CALENDAR_SCOPES",
    "CODE_TTL",
    "DEFAULT_CALENDAR",
    "EVENT_ID_MAX",
    "JST",
    "JWT_BEARER",
    "LEGACY_DAILY_PUSHES",
    "LEGACY_DEFAULT_CALENDAR",
    "LEGACY_PUSHES_PER_EXTRA_MEMBER",
    "LINK_MAX",
    "PLANS",
    "REFRESH_TTL",
    "SCOPES",
    "SUMMARY_MAX",
    "TEXT_MAX",
    "Grant",
    "NaverWorksFake",
    "Tenant",
    "Token",
    "component_error",
    "content_error",
    "jst_day",
    "parse_ical",
]
