"""Calendar writers: which event id an absence gets, which token each call uses, and one retry after a 401."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.unit.builders import absence as absence_document
from workplace_hub.calendars.readiness import unusable
from workplace_hub.calendars.writers import GoogleCalendarWriter, NaverWorksCalendarWriter, WriteContext
from workplace_hub.catalog import CalendarRef
from workplace_hub.errors import IntegrationCredentialsError, NeedsRelinkError
from workplace_hub.events import Absence
from workplace_hub.google import calendar as google_calendar
from workplace_hub.naver_works.calendar_events import event_id as naver_works_event_id
from workplace_hub.storage.links import EmployeeLinks

COMPANY, USER, ABSENCE = "acme", "taro@acme.example", "abs-5531"
WORKSPACE_ID = "taro@acme-corp.example"
SERVICE_ACCOUNT = {"client_email": "hub@p.iam.gserviceaccount.com", "private_key": "KEY"}


def refused(provider: str = "google_calendar") -> NeedsRelinkError:
    return NeedsRelinkError(provider, "invalid_credentials", status_code=401)


@dataclass
class StubGrants:
    """UserGrants: "stored" until a refresh is forced, then "refreshed"; `refresh_fails` makes the refresh fail."""

    refresh_fails: bool = False
    asked: list[bool] = field(default_factory=list)
    marked: list[tuple[str, str]] = field(default_factory=list)

    def access_token(self, company_id: str, user_id: str, provider: str, credentials: Any, *, force_refresh=False):
        self.asked.append(force_refresh)
        if force_refresh and self.refresh_fails:
            self.marked.append((provider, "invalid_grant"))  # what UserGrants does on a refused refresh
            raise NeedsRelinkError(provider, "invalid_grant")
        return "refreshed" if force_refresh else "stored"

    def mark_needs_relink(self, company_id: str, user_id: str, provider: str, reason: str) -> None:
        self.marked.append((provider, reason))


@dataclass
class StubTokens:
    """DelegatedCalendarAuth / WorksTokenProvider: a new token after each invalidation."""

    issued: int = 0
    invalidated: list[str] = field(default_factory=list)

    def _next(self) -> str:
        return f"token-{self.issued + len(self.invalidated)}"

    def token_for(self, info: Any, subject: str) -> str:
        return self._next()

    def token(self, credentials: Any, scope: str) -> str:
        assert scope == "calendar"
        return self._next()

    def invalidate(self, *args: Any) -> None:
        self.invalidated.append(args[-1])


@dataclass
class StubCalendarApi:
    """A calendar client that refuses the tokens in `refuse` (401) and records every accepted call."""

    refuse: set[str] = field(default_factory=set)
    error: type[Exception] = NeedsRelinkError
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def _call(self, name: str, token: str, *rest: Any, user_token: bool | None = None) -> str:
        if token in self.refuse:
            if self.error is IntegrationCredentialsError:
                raise IntegrationCredentialsError("naver_works_calendar", "UNAUTHORIZED", status_code=401)
            raise refused()
        self.calls.append((name, token, *[str(r) for r in rest if not isinstance(r, dict)]))
        return "ok"

    def upsert(self, token: str, *rest: Any, user_token: bool | None = None) -> str:
        return self._call("upsert", token, *rest, user_token=user_token)

    def delete(self, token: str, *rest: Any, user_token: bool | None = None) -> str:
        return self._call("delete", token, *rest, user_token=user_token)

    def upsert_legacy(self, token: str, *rest: Any) -> str:
        return self._call("upsert_legacy", token, *rest)

    def delete_legacy(self, token: str, *rest: Any) -> str:
        return self._call("delete_legacy", token, *rest)


def context(credentials: dict[str, Any], **links: Any) -> WriteContext:
    return WriteContext(COMPANY, USER, ABSENCE, EmployeeLinks(USER, links), credentials)


TIMED = absence_document(all_day=False, start="2026-12-07T09:00:00+09:00", end="2026-12-07T18:00:00+09:00")
CONSENT = {"auth_mode": "user_consent"}
DELEGATION = {"auth_mode": "domain_wide_delegation", "service_account_json": json.dumps(SERVICE_ACCOUNT)}
WORKS_2_0 = {"api_version": "2.0"}
WORKS_1_0 = {"api_version": "1.0", "api_id": "jp1api", "server_api_consumer_key": "consumer"}


# ------------------------------------------------------------------------------------------- Google


def test_google_event_ids_are_deterministic_and_out_of_office_events_get_their_own() -> None:
    writer = GoogleCalendarWriter(StubCalendarApi(), StubTokens(), StubGrants())  # type: ignore[arg-type]
    timed = Absence.model_validate(TIMED)
    all_day = Absence.model_validate(absence_document())
    ooo = {**CONSENT, "out_of_office_events": "on"}
    plain = writer.event_id(context(CONSENT), CalendarRef("google"), timed)

    # THEN the same inputs give the same id, the one the client's event_id gives for the primary calendar
    assert plain == writer.event_id(context(CONSENT), CalendarRef("google"), timed)
    assert plain == google_calendar.event_id(COMPANY, ABSENCE, "primary")
    # AND a timed absence written as out-of-office has another id; an all-day one cannot be one, so keeps it
    assert writer.event_id(context(ooo), CalendarRef("google"), timed) != plain
    assert writer.event_id(context(ooo), CalendarRef("google"), all_day) == plain


def test_google_company_settings_shape_the_event() -> None:
    api = StubCalendarApi()
    sent: list[dict[str, Any]] = []
    api.upsert = lambda token, calendar, event, body: sent.append(body)  # type: ignore[method-assign]
    writer = GoogleCalendarWriter(api, StubTokens(), StubGrants())  # type: ignore[arg-type]
    credentials = {**CONSENT, "event_show_as": "free", "event_visibility": "private", "out_of_office_events": "on"}

    writer.upsert(context(credentials), CalendarRef("google"), Absence.model_validate(TIMED), "e" * 32)

    (body,) = sent
    assert (body["transparency"], body["visibility"], body["eventType"]) == ("transparent", "private", "outOfOffice")
    assert "attendees" not in body


def test_google_consent_token_refused_is_refreshed_once_and_the_call_repeated() -> None:
    # GIVEN Google refuses the stored token
    api, grants = StubCalendarApi(refuse={"stored"}), StubGrants()
    writer = GoogleCalendarWriter(api, StubTokens(), grants)  # type: ignore[arg-type]

    # WHEN the event is written
    writer.upsert(context(CONSENT), CalendarRef("google"), Absence.model_validate(TIMED), "e" * 32)

    # THEN the token was refreshed once and the call made with the new one
    assert grants.asked == [False, True]
    assert [call[:2] for call in api.calls] == [("upsert", "refreshed")]
    assert grants.marked == []


def test_google_consent_refused_after_a_refresh_marks_the_link_needs_relink() -> None:
    api, grants = StubCalendarApi(refuse={"stored", "refreshed"}), StubGrants()
    writer = GoogleCalendarWriter(api, StubTokens(), grants)  # type: ignore[arg-type]

    with pytest.raises(NeedsRelinkError):
        writer.delete(context(CONSENT), CalendarRef("google"), "e" * 32)

    assert grants.asked == [False, True]
    assert grants.marked == [("google", "invalid_credentials")]


def test_google_consent_refresh_refused_raises_without_a_second_call() -> None:
    api, grants = StubCalendarApi(refuse={"stored"}), StubGrants(refresh_fails=True)
    writer = GoogleCalendarWriter(api, StubTokens(), grants)  # type: ignore[arg-type]

    with pytest.raises(NeedsRelinkError) as raised:
        writer.delete(context(CONSENT), CalendarRef("google"), "e" * 32)

    assert raised.value.code == "invalid_grant"
    assert api.calls == [] and grants.marked == [("google", "invalid_grant")]


def test_google_delegation_acts_as_the_workspace_id_and_reissues_a_refused_token_once() -> None:
    # GIVEN delegation, and Google refusing the first delegated token
    api, tokens = StubCalendarApi(refuse={"token-0"}), StubTokens()
    writer = GoogleCalendarWriter(api, tokens, StubGrants())  # type: ignore[arg-type]
    subjects: list[str] = []
    original = tokens.token_for
    tokens.token_for = lambda info, subject: subjects.append(subject) or original(info, subject)  # type: ignore

    writer.upsert(
        context(DELEGATION, google_workspace_id=WORKSPACE_ID),
        CalendarRef("google"),
        Absence.model_validate(TIMED),
        "e" * 32,
    )

    # THEN the refused token was forgotten and a new one, for the Workspace ID, made the call
    assert tokens.invalidated == ["token-0"]
    assert subjects == [WORKSPACE_ID, WORKSPACE_ID]
    assert [call[:2] for call in api.calls] == [("upsert", "token-1")]


def test_google_delegation_refused_twice_is_the_companys_credentials_problem() -> None:
    api = StubCalendarApi(refuse={"token-0", "token-1"})
    writer = GoogleCalendarWriter(api, StubTokens(), StubGrants())  # type: ignore[arg-type]

    with pytest.raises(IntegrationCredentialsError):
        writer.delete(context(DELEGATION, google_workspace_id=WORKSPACE_ID), CalendarRef("google"), "e" * 32)


# ------------------------------------------------------------------------------------------- NAVER WORKS


def test_works_default_calendar_uses_the_service_token_and_reissues_it_once_on_401() -> None:
    api, tokens = StubCalendarApi(refuse={"token-0"}, error=IntegrationCredentialsError), StubTokens()
    writer = NaverWorksCalendarWriter(api, tokens, StubGrants())  # type: ignore[arg-type]
    absence = Absence.model_validate(absence_document())
    event = writer.event_id(context(WORKS_2_0), CalendarRef("naver_works"), absence)

    writer.upsert(context(WORKS_2_0), CalendarRef("naver_works"), absence, event)

    assert event == naver_works_event_id(COMPANY, ABSENCE, "default")
    assert tokens.invalidated == ["token-0"]
    assert api.calls == [("upsert", "token-1", USER, "None", event)]


def test_works_personal_calendar_uses_the_employees_token_and_its_own_event_id() -> None:
    api, grants = StubCalendarApi(), StubGrants()
    writer = NaverWorksCalendarWriter(api, StubTokens(), grants)  # type: ignore[arg-type]
    absence = Absence.model_validate(absence_document())
    ref = CalendarRef("naver_works", "c-77f0")
    event = writer.event_id(context(WORKS_2_0), ref, absence)

    writer.upsert(context(WORKS_2_0), ref, absence, event)
    writer.delete(context(WORKS_2_0), ref, event)

    assert (
        event
        == naver_works_event_id(COMPANY, ABSENCE, "c-77f0")
        != writer.event_id(context(WORKS_2_0), CalendarRef("naver_works"), absence)
    )
    assert api.calls == [("upsert", "stored", USER, "c-77f0", event), ("delete", "stored", USER, "c-77f0", event)]


def test_works_api_1_0_writes_icalendar_with_the_server_token_and_consumer_key() -> None:
    api = StubCalendarApi()
    writer = NaverWorksCalendarWriter(api, StubTokens(), StubGrants())  # type: ignore[arg-type]
    absence = Absence.model_validate(absence_document())

    writer.upsert(context(WORKS_1_0), CalendarRef("naver_works"), absence, "wp-1")
    writer.delete(context(WORKS_1_0), CalendarRef("naver_works"), "wp-1")

    (create, delete) = api.calls
    assert create[:6] == ("upsert_legacy", "token-0", "consumer", "jp1api", USER, "None")
    assert create[6] == "wp-1" and create[7].startswith("BEGIN:VCALENDAR\r\n") and "UID:wp-1\r\n" in create[7]
    assert delete == ("delete_legacy", "token-0", "consumer", "jp1api", USER, "None", "wp-1")


@pytest.mark.parametrize(
    ("ref", "credentials", "links", "reason"),
    [
        (CalendarRef("google"), CONSENT, {}, "google_workspace_id_missing"),
        (CalendarRef("google"), DELEGATION, {}, "google_workspace_id_missing"),
        (CalendarRef("google"), CONSENT, {"google_workspace_id": WORKSPACE_ID}, "google_calendar_not_authorized"),
        (CalendarRef("google"), DELEGATION, {"google_workspace_id": WORKSPACE_ID}, None),
        (
            CalendarRef("google"),
            CONSENT,
            {
                "google_workspace_id": WORKSPACE_ID,
                "google_calendar_tokens": "sealed",
                "google_calendar_link_state": {"state": "needs_relink", "reason": "invalid_grant"},
            },
            "google_calendar_needs_relink",
        ),
        (CalendarRef("google"), CONSENT, {"google_workspace_id": WORKSPACE_ID, "google_calendar_tokens": "s"}, None),
        (CalendarRef("naver_works"), WORKS_2_0, {}, None),
        (CalendarRef("naver_works"), WORKS_1_0, {}, None),
        (CalendarRef("naver_works", "c-1"), WORKS_2_0, {}, "naver_works_calendar_not_authorized"),
        (CalendarRef("naver_works", "c-1"), WORKS_1_0, {}, "naver_works_personal_calendar_needs_api_2_0"),
        (CalendarRef("naver_works", "c-1"), WORKS_2_0, {"naver_works_calendar_tokens": "sealed"}, None),
    ],
)
def test_who_can_be_written(
    ref: CalendarRef, credentials: dict[str, Any], links: dict[str, Any], reason: str | None
) -> None:
    assert unusable(ref, EmployeeLinks(USER, links), credentials) == reason


@pytest.mark.parametrize("channel", ["google_calendar", "naver_works_calendar", "naver_works_calendar:c:77/f0"])
def test_calendar_refs_round_trip_through_their_channel_name(channel: str) -> None:
    assert CalendarRef.from_channel(channel).channel == channel
