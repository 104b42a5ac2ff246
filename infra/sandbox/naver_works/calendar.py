"""NAVER WORKS calendar events: API 2.0 (`eventComponents`) and API 1.0 (iCal), and the `calendar_events` listing."""

from __future__ import annotations

import uuid
from typing import Any

from infra.sandbox.base import Request, Response, json_response
from infra.sandbox.naver_works.events import component_error
from infra.sandbox.naver_works.ical import parse_ical
from infra.sandbox.naver_works.state import NaverWorksState, works_error
from infra.sandbox.naver_works.tenants import Tenant, Token

DEFAULT_CALENDAR = "default"  # the calendar key of a user's default calendar
LEGACY_DEFAULT_CALENDAR = "defaultCalendarId"  # API 1.0: this calendarId is the default calendar


class CalendarApi(NaverWorksState):
    """`api/v1.0/users/{userId}/calendar[s/{calendarId}]/events[/{eventId}]` and `legacy/r/.../calendar/v1/...`."""

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
                return works_error(403, "FORBIDDEN", "a service account cannot use me")
            if user not in tenant.users:
                return works_error(404, "NOT_FOUND", "user not found")
            owner = user
        elif user not in ("me", token.user_id):
            return works_error(403, "FORBIDDEN", "the access token belongs to another user")
        else:
            owner = token.user_id
        with self._lock:
            key = self._calendar_key(tenant, owner, calendar_id)
        if key is None:
            return works_error(404, "NOT_FOUND", "calendar not found")
        if token.user_id is None and key != DEFAULT_CALENDAR:
            return works_error(403, "FORBIDDEN", "personal calendars need the user's own token (sandbox)")
        store_key, event_id = (tenant.domain_id, owner, key), params.get("event_id")
        organizer = self._calendar_id(tenant, owner, key)
        if api == "event_get" or api == "event_delete":
            with self._lock:
                events = self.calendar_events.get(store_key, {})
                found = events.pop(event_id, None) if api == "event_delete" else events.get(event_id or "")
            if found is None:
                return works_error(404, "NOT_FOUND", "event not found")
            if api == "event_delete":
                return Response(204)
            return json_response(200, {"eventComponents": [found["component"]], "organizerCalendarId": organizer})
        body = self._json(request)
        components = body.get("eventComponents")
        if not isinstance(components, list) or not components:
            return works_error(400, "INVALID_PARAMETER", "eventComponents is required")
        problem = component_error(components[0], event_id)
        if problem is None and len({c.get("eventId") for c in components if isinstance(c, dict)}) > 1:
            problem = "every element of eventComponents must have the same eventId"
        if problem is None and not isinstance(body.get("sendNotification", True), bool):
            problem = "sendNotification must be a boolean"
        if problem:
            return works_error(400, "INVALID_PARAMETER", problem)
        component = {**components[0], "eventId": event_id or components[0].get("eventId") or f"event-{uuid.uuid4()}"}
        stored = {"component": component, "api": "2.0", "sendNotification": body.get("sendNotification", True)}
        with self._lock:
            events = self.calendar_events.setdefault(store_key, {})
            exists = component["eventId"] in events
            if exists == (api == "event_update"):
                events[component["eventId"]] = stored
        if api == "event_create" and exists:
            return works_error(409, "ALREADY_EXISTS", "an event with this eventId already exists (sandbox assumption)")
        if api == "event_update" and not exists:
            return works_error(404, "NOT_FOUND", "event not found")
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
