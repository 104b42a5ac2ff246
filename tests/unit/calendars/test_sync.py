"""AbsenceCalendarSync on moto (registry, settings, links, KMS) with in-memory calendar writers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.absences import (
    ABSENCE_ID,
    GOOGLE,
    GOOGLE_CALENDAR_SETTINGS,
    T1,
    T2,
    T3,
    WORKS,
    WORKS_CALENDAR_SETTINGS,
    accept_cancel_of,
    accept_upsert_of,
)
from tests.unit.aws import HubStack
from tests.unit.builders import COMPANY, TARO
from tests.unit.fakes import CalendarCall, FakeCalendarWriter
from workplace_hub.calendars.sync import REGISTERED, REMOVED, AbsenceCalendarSync, SyncResult
from workplace_hub.catalog import Integration
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
)
from workplace_hub.integration_settings.credentials import CompanyCredentials
from workplace_hub.storage.absences import AbsenceState, Registration
from workplace_hub.storage.delivery_records import DeliveryStatus
from workplace_hub.storage.settings import CachedSettings

WORKS_PERSONAL = "naver_works_calendar:c-77f0"
# The calendars of the contract's example absence (builders.absence), as the router names them.
ALL_CALENDARS = [WORKS, WORKS_PERSONAL, GOOGLE]
Summary = dict[str, tuple[str, str, str | None, str | None]]


def make_sync(
    stack: HubStack,
    writers: dict[str, FakeCalendarWriter],
    *,
    platform_credentials: Callable[[], dict[str, Any]] = dict,
    settings: CachedSettings | None = None,
) -> AbsenceCalendarSync:
    """The sync as wiring.build_calendar_worker assembles it, with fake writers (settings not cached unless
    `settings` is given)."""
    return AbsenceCalendarSync(
        writers=writers,  # type: ignore[arg-type]
        registry=stack.registry,
        credentials=CompanyCredentials(
            settings_repo=stack.settings_repository,
            keyring=stack.keyring,
            platform_credentials=platform_credentials,
            links=stack.links,
            settings_cache=settings or CachedSettings(stack.settings_repository, 0.0),
        ),
        links=stack.links,
        call_budget_seconds=15.0,
    )


def accept_upsert(
    stack: HubStack, event_id: str = "evt-1", occurred_at: str = T1, targets: list[str] | None = None, **overrides: Any
) -> AbsenceState:
    """Accept an upsert of Taro's absence (as the router does) and return the state the worker would read."""
    accept_upsert_of(stack, event_id, occurred_at, ALL_CALENDARS if targets is None else targets, **overrides)
    return current(stack)


def accept_cancel(stack: HubStack, event_id: str = "evt-c", occurred_at: str = T3) -> AbsenceState:
    accept_cancel_of(stack, event_id, occurred_at)
    return current(stack)


def current(stack: HubStack) -> AbsenceState:
    state = stack.registry.get(COMPANY, ABSENCE_ID)
    assert state is not None
    return state


def summary(result: SyncResult) -> Summary:
    """channel → (status, action, reason, error_code) of every outcome."""
    summarized = {o.channel: (o.status.value, o.action, o.reason, o.error_code) for o in result.outcomes}
    assert len(summarized) == len(result.outcomes), "one outcome per calendar"
    return summarized


def sent(action: str) -> tuple[str, str, None, None]:
    return (DeliveryStatus.SENT.value, action, None, None)


@pytest.fixture
def sync(calendars: HubStack, google: FakeCalendarWriter, works: FakeCalendarWriter) -> AbsenceCalendarSync:
    return make_sync(calendars, {"google": google, "naver_works": works})


GOOGLE_ID = f"google-{ABSENCE_ID}-default"
WORKS_ID = f"naver_works-{ABSENCE_ID}-default"
WORKS_PERSONAL_ID = f"naver_works-{ABSENCE_ID}-c-77f0"


# ---------------------------------------------------------------- writing and removing


def test_sync_upsert_creates_the_event_in_every_target_calendar(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter, works: FakeCalendarWriter
) -> None:
    # GIVEN a new absence for three calendars (NAVER WORKS default and personal, Google)
    state = accept_upsert(calendars, title="年次休暇")

    # WHEN it is synced
    result = sync.sync(state, last_attempt=False)

    # THEN each calendar got the event once, under its deterministic id, with the company's opened credentials
    assert google.actions() == [("upsert", GOOGLE, GOOGLE_ID)]
    assert works.actions() == [("upsert", WORKS, WORKS_ID), ("upsert", WORKS_PERSONAL, WORKS_PERSONAL_ID)]
    assert google.events[(GOOGLE, GOOGLE_ID)].title == "年次休暇"
    assert google.calls[0].context.credentials["company_domain"] == "acme.example"
    opened_client = google.calls[0].context.credentials["oauth_client_json"]
    assert json.loads(opened_client) == json.loads(GOOGLE_CALENDAR_SETTINGS["oauth_client_json"])
    assert works.calls[0].context.credentials["private_key"] == WORKS_CALENDAR_SETTINGS["private_key"]
    assert (google.calls[0].context.user_id, google.calls[0].context.absence_id) == (TARO, ABSENCE_ID)
    # ... each outcome is sent/registered, and the registry knows every event holds the state
    assert summary(result) == {channel: sent(REGISTERED) for channel in ALL_CALENDARS}
    assert (result.retry_needed, result.retry_after, result.calls) == (False, None, 3)
    assert current(calendars).registrations == {
        GOOGLE: Registration(GOOGLE_ID, True, state.event_id),
        WORKS: Registration(WORKS_ID, True, state.event_id),
        WORKS_PERSONAL: Registration(WORKS_PERSONAL_ID, True, state.event_id),
    }


def test_sync_redelivery_of_an_applied_state_makes_no_call(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter, works: FakeCalendarWriter
) -> None:
    # GIVEN an absence already synced to all its calendars
    sync.sync(accept_upsert(calendars), last_attempt=False)
    google.calls.clear()
    works.calls.clear()

    # WHEN the same state is synced again (a redelivered job, or a retry)
    result = sync.sync(current(calendars), last_attempt=False)

    # THEN no provider is called, and every calendar is still reported sent
    assert google.calls == [] and works.calls == []
    assert result.calls == 0
    assert summary(result) == {channel: sent(REGISTERED) for channel in ALL_CALENDARS}


def test_sync_newer_state_updates_the_event_under_the_same_id(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter
) -> None:
    # GIVEN an absence synced to Google
    sync.sync(accept_upsert(calendars, targets=[GOOGLE], title="old"), last_attempt=False)

    # WHEN a later upsert changes its title
    state = accept_upsert(calendars, "evt-2", T2, targets=[GOOGLE], title="new")
    result = sync.sync(state, last_attempt=False)

    # THEN the same event is updated (no second event), and its registration moves to the new state
    assert google.actions() == [("upsert", GOOGLE, GOOGLE_ID), ("upsert", GOOGLE, GOOGLE_ID)]
    assert list(google.events) == [(GOOGLE, GOOGLE_ID)]
    assert google.events[(GOOGLE, GOOGLE_ID)].title == "new"
    assert summary(result) == {GOOGLE: sent(REGISTERED)}
    assert current(calendars).registrations[GOOGLE] == Registration(GOOGLE_ID, True, "evt-2")


def test_sync_a_state_of_the_same_instant_with_a_larger_event_id_is_written_too(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter
) -> None:
    # GIVEN an absence synced to Google
    sync.sync(accept_upsert(calendars, "evt-1", T1, targets=[GOOGLE], title="first"), last_attempt=False)

    # WHEN another upsert of the very same instant (it wins by its larger event_id) changes the title
    state = accept_upsert(calendars, "evt-9", T1, targets=[GOOGLE], title="second")
    assert state.event_id == "evt-9" and state.version == current(calendars).version
    sync.sync(state, last_attempt=False)

    # THEN the calendar is updated to it (the state, not only the instant, says what the calendar holds)
    assert google.events[(GOOGLE, GOOGLE_ID)].title == "second"
    assert current(calendars).registrations[GOOGLE] == Registration(GOOGLE_ID, True, "evt-9")


def test_sync_calendar_no_longer_wanted_is_deleted_and_forgotten(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter, works: FakeCalendarWriter
) -> None:
    # GIVEN an absence synced to Google and the NAVER WORKS default calendar
    sync.sync(accept_upsert(calendars, targets=[GOOGLE, WORKS]), last_attempt=False)

    # WHEN a later upsert names the NAVER WORKS calendar only
    state = accept_upsert(calendars, "evt-2", T2, targets=[WORKS])
    result = sync.sync(state, last_attempt=False)

    # THEN the Google event is deleted and its registration forgotten; NAVER WORKS is updated
    assert google.actions()[1:] == [("delete", GOOGLE, GOOGLE_ID)]
    assert google.events == {}
    assert summary(result) == {WORKS: sent(REGISTERED), GOOGLE: sent(REMOVED)}
    assert set(current(calendars).registrations) == {WORKS}
    assert list(works.events) == [(WORKS, WORKS_ID)]


def test_sync_cancel_deletes_every_registration(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter, works: FakeCalendarWriter
) -> None:
    # GIVEN an absence synced to all three calendars
    sync.sync(accept_upsert(calendars), last_attempt=False)

    # WHEN it is cancelled
    result = sync.sync(accept_cancel(calendars), last_attempt=False)

    # THEN every event is deleted, nothing is registered any more and every calendar is reported removed
    assert ("delete", GOOGLE, GOOGLE_ID) in google.actions()
    assert works.actions()[2:] == [("delete", WORKS, WORKS_ID), ("delete", WORKS_PERSONAL, WORKS_PERSONAL_ID)]
    assert google.events == {} and works.events == {}
    assert current(calendars).registrations == {}
    assert summary(result) == {channel: sent(REMOVED) for channel in ALL_CALENDARS}


def test_sync_cancel_of_a_never_registered_absence_makes_no_call(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter, works: FakeCalendarWriter
) -> None:
    # GIVEN an absence cancelled before it reached any calendar
    state = accept_cancel(calendars)

    # WHEN it is synced
    result = sync.sync(state, last_attempt=False)

    # THEN there is nothing to do
    assert google.calls == [] and works.calls == []
    assert result.outcomes == [] and not result.retry_needed


def test_sync_changed_event_id_deletes_the_old_event_before_writing_the_new_one(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter
) -> None:
    # GIVEN an absence synced to Google as a normal event
    sync.sync(accept_upsert(calendars, targets=[GOOGLE]), last_attempt=False)

    # WHEN Google must now hold it as another event (an out-of-office one: another id)
    google.event_id_suffix = "-ooo"
    result = sync.sync(accept_upsert(calendars, "evt-2", T2, targets=[GOOGLE]), last_attempt=False)

    # THEN the old event is deleted first, then the new one written; the registry names the new one only
    new_id = GOOGLE_ID + "-ooo"
    assert google.actions()[1:] == [("delete", GOOGLE, GOOGLE_ID), ("upsert", GOOGLE, new_id)]
    assert list(google.events) == [(GOOGLE, new_id)]
    assert current(calendars).registrations == {GOOGLE: Registration(new_id, True, "evt-2")}
    assert summary(result) == {GOOGLE: sent(REGISTERED)}


def test_sync_changed_event_id_keeps_the_old_registration_when_its_delete_must_wait(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter
) -> None:
    # GIVEN an absence synced to Google, whose event id now changes, and Google is unavailable
    sync.sync(accept_upsert(calendars, targets=[GOOGLE]), last_attempt=False)
    google.event_id_suffix = "-ooo"
    google.fail_next(RetryableProviderError("google", "http_503", status_code=503))

    # WHEN the new state is synced
    result = sync.sync(accept_upsert(calendars, "evt-2", T2, targets=[GOOGLE]), last_attempt=False)

    # THEN the new event is not written, and the registry still names the old one (so it is not orphaned)
    assert google.actions()[1:] == [("delete", GOOGLE, GOOGLE_ID)]
    assert current(calendars).registrations[GOOGLE].event_id == GOOGLE_ID
    assert summary(result) == {GOOGLE: ("retrying", REGISTERED, "provider_unavailable", "http_503")}
    assert result.retry_needed


# ---------------------------------------------------------------- write-ahead registrations


def test_sync_registers_the_event_before_the_provider_call(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter
) -> None:
    # GIVEN a fake Google that looks at the registry while it is being called
    seen: list[Registration | None] = []

    def look(call: CalendarCall) -> None:
        seen.append(current(calendars).registrations.get(call.channel))

    google.on_call = look

    # WHEN a new absence is synced to Google
    sync.sync(accept_upsert(calendars, targets=[GOOGLE]), last_attempt=False)

    # THEN during the call the registry already named the event, not yet applied
    assert seen == [Registration(GOOGLE_ID, False, "")]


def test_sync_crash_after_the_provider_call_leaves_the_event_registered_for_removal(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter
) -> None:
    # GIVEN Google creates the event, then the function dies (timeout) before the registry is updated
    def created_then_killed(call: CalendarCall) -> None:
        assert call.absence is not None
        google.events[(call.channel, call.event_id)] = call.absence
        raise TimeoutError("the function timed out right after Google answered")

    google.on_call = created_then_killed
    with pytest.raises(TimeoutError):
        sync.sync(accept_upsert(calendars, targets=[GOOGLE]), last_attempt=False)
    assert list(google.events) == [(GOOGLE, GOOGLE_ID)]
    assert current(calendars).registrations == {GOOGLE: Registration(GOOGLE_ID, False, "")}
    google.on_call = None

    # WHEN the absence is cancelled later
    result = sync.sync(accept_cancel(calendars), last_attempt=False)

    # THEN the orphan event is found through the registry and deleted
    assert google.actions()[-1] == ("delete", GOOGLE, GOOGLE_ID)
    assert google.events == {}
    assert current(calendars).registrations == {}
    assert summary(result) == {GOOGLE: sent(REMOVED)}


# ---------------------------------------------------------------- calendars that cannot be written


def test_sync_integration_not_configured_skipped_calendar_disabled(
    stack: HubStack, google: FakeCalendarWriter, works: FakeCalendarWriter
) -> None:
    # GIVEN acme with NAVER WORKS Calendar on but Google Calendar never set up
    stack.configure(COMPANY, Integration.NAVER_WORKS_CALENDAR, WORKS_CALENDAR_SETTINGS)
    sync = make_sync(stack, {"google": google, "naver_works": works})

    # WHEN an absence for Google and NAVER WORKS is synced
    result = sync.sync(accept_upsert(stack, targets=[GOOGLE, WORKS]), last_attempt=False)

    # THEN Google is skipped without a call or a registration; NAVER WORKS is written
    assert google.calls == []
    assert summary(result) == {
        GOOGLE: ("skipped", REGISTERED, "calendar_disabled", None),
        WORKS: sent(REGISTERED),
    }
    assert set(current(stack).registrations) == {WORKS}


def test_sync_integration_turned_off_skipped_and_registration_kept_on_removal(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter, works: FakeCalendarWriter
) -> None:
    # GIVEN an absence synced to Google and NAVER WORKS, then the admin turns Google Calendar off
    sync.sync(accept_upsert(calendars, targets=[GOOGLE, WORKS]), last_attempt=False)
    calendars.configure(COMPANY, Integration.GOOGLE_CALENDAR, GOOGLE_CALENDAR_SETTINGS, enabled=False)

    # WHEN the absence is cancelled
    result = sync.sync(accept_cancel(calendars), last_attempt=False)

    # THEN Google is not called and its registration is kept (a later event removes it); NAVER WORKS is removed
    assert [call.action for call in google.calls] == ["upsert"]
    assert summary(result) == {
        GOOGLE: ("skipped", REMOVED, "calendar_disabled", None),
        WORKS: sent(REMOVED),
    }
    assert current(calendars).registrations == {GOOGLE: Registration(GOOGLE_ID, True, "evt-1")}
    assert (GOOGLE, GOOGLE_ID) in google.events


def test_sync_writer_unusable_reason_skips_the_calendar(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter
) -> None:
    # GIVEN Taro never authorized Google Calendar
    google.unusable_reason = "google_calendar_not_authorized"

    # WHEN his absence is synced to Google and NAVER WORKS
    result = sync.sync(accept_upsert(calendars, targets=[GOOGLE, WORKS]), last_attempt=False)

    # THEN Google is skipped with the writer's reason, without a call
    assert google.calls == []
    assert summary(result)[GOOGLE] == ("skipped", REGISTERED, "google_calendar_not_authorized", None)
    assert summary(result)[WORKS] == sent(REGISTERED)
    assert GOOGLE not in current(calendars).registrations


def test_sync_collabo_company_writes_naver_works_with_platform_credentials(
    stack: HubStack, works: FakeCalendarWriter, google: FakeCalendarWriter
) -> None:
    # GIVEN a Collabo company that never set up NAVER WORKS Calendar (it runs on the platform's credentials)
    stack.settings_repository.save_product(COMPANY, "collabo")
    platform = {"naver_works_calendar": {"client_id": "platformClient", "private_key": "platform-key"}}
    sync = make_sync(stack, {"google": google, "naver_works": works}, platform_credentials=lambda: platform)

    # WHEN an absence for its default calendar is synced
    result = sync.sync(accept_upsert(stack, targets=[WORKS]), last_attempt=False)

    # THEN the writer got the platform's credentials
    assert summary(result) == {WORKS: sent(REGISTERED)}
    assert works.calls[0].context.credentials == platform["naver_works_calendar"]


# ---------------------------------------------------------------- provider errors


def test_sync_retryable_error_records_retrying_and_blocks_the_provider_for_the_run(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter, works: FakeCalendarWriter
) -> None:
    # GIVEN NAVER WORKS answers 429 with Retry-After: 30
    works.fail_next(RetryableProviderError("naver_works", "http_429", status_code=429, retry_after=30))

    # WHEN an absence for both NAVER WORKS calendars and Google is synced
    result = sync.sync(accept_upsert(calendars), last_attempt=False)

    # THEN NAVER WORKS was called once only: the default calendar is retrying, the personal one postponed
    assert works.actions() == [("upsert", WORKS, WORKS_ID)]
    assert summary(result) == {
        GOOGLE: sent(REGISTERED),
        WORKS: ("retrying", REGISTERED, "provider_unavailable", "http_429"),
        WORKS_PERSONAL: ("retrying", REGISTERED, "provider_unavailable", "postponed"),
    }
    # ... Google was still written, and the job must come back after the provider's delay
    assert list(google.events) == [(GOOGLE, GOOGLE_ID)]
    assert (result.retry_needed, result.retry_after, result.calls) == (True, 30, 2)
    assert current(calendars).registrations[GOOGLE].applied
    assert current(calendars).registrations[WORKS] == Registration(WORKS_ID, False, "")


def test_sync_retryable_error_without_retry_after_leaves_the_delay_to_the_worker(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter
) -> None:
    # GIVEN Google times out (no Retry-After)
    google.fail_next(RetryableProviderError("google", "timeout"))

    # WHEN the absence is synced
    result = sync.sync(accept_upsert(calendars, targets=[GOOGLE]), last_attempt=False)

    # THEN a retry is needed with no provider delay
    assert (result.retry_needed, result.retry_after) == (True, None)
    assert summary(result) == {GOOGLE: ("retrying", REGISTERED, "provider_unavailable", "timeout")}


def test_sync_retryable_error_on_the_last_attempt_fails_retries_exhausted(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter
) -> None:
    # GIVEN Google keeps answering 503
    google.fail_next(RetryableProviderError("google", "http_503", status_code=503, retry_after=60))

    # WHEN the absence is synced on the job's last attempt
    result = sync.sync(accept_upsert(calendars, targets=[GOOGLE, WORKS]), last_attempt=True)

    # THEN Google's calendar failed for good and no retry is asked for
    assert summary(result) == {
        GOOGLE: ("failed", REGISTERED, "retries_exhausted", "http_503"),
        WORKS: sent(REGISTERED),
    }
    assert (result.retry_needed, result.retry_after) == (False, None)


def test_sync_retryable_error_while_removing_records_retrying_removed_and_keeps_registration(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter
) -> None:
    # GIVEN an absence synced to Google, and Google unavailable when it is cancelled
    sync.sync(accept_upsert(calendars, targets=[GOOGLE]), last_attempt=False)
    google.fail_next(RetryableProviderError("google", "http_503", status_code=503, retry_after=12))

    # WHEN the cancellation is synced
    result = sync.sync(accept_cancel(calendars), last_attempt=False)

    # THEN the removal is retried later and the registration stays until the event is gone
    assert summary(result) == {GOOGLE: ("retrying", REMOVED, "provider_unavailable", "http_503")}
    assert (result.retry_needed, result.retry_after) == (True, 12)
    assert set(current(calendars).registrations) == {GOOGLE}


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            PermanentProviderError("google", "notFound", status_code=404, reason="calendar_not_found"),
            "calendar_not_found",
        ),
        (PermanentProviderError("google", "badRequest", status_code=400), "provider_rejected"),
        (NeedsRelinkError("google", "invalid_grant", status_code=401), "needs_relink"),
    ],
)
def test_sync_permanent_error_fails_the_calendar_with_its_reason(
    calendars: HubStack,
    sync: AbsenceCalendarSync,
    google: FakeCalendarWriter,
    works: FakeCalendarWriter,
    error: ProviderError,
    reason: str,
) -> None:
    # GIVEN Google refuses the event for good
    google.fail_next(error)

    # WHEN the absence is synced
    result = sync.sync(accept_upsert(calendars, targets=[GOOGLE, WORKS]), last_attempt=False)

    # THEN Google's calendar failed with the reason and the provider's code; no retry; NAVER WORKS written
    assert summary(result) == {GOOGLE: ("failed", REGISTERED, reason, error.code), WORKS: sent(REGISTERED)}
    assert not result.retry_needed
    assert not current(calendars).registrations[GOOGLE].applied
    assert works.events


def test_sync_credentials_rejected_fails_and_marks_the_integration_in_error(
    calendars: HubStack, google: FakeCalendarWriter, works: FakeCalendarWriter
) -> None:
    # GIVEN Google refuses the company's delegated credentials; the worker caches settings for 5 minutes
    settings = CachedSettings(calendars.settings_repository, 300.0)
    sync = make_sync(calendars, {"google": google, "naver_works": works}, settings=settings)
    google.fail_next(IntegrationCredentialsError("google", "delegated_token_refused", status_code=401))

    # WHEN the absence is synced
    result = sync.sync(accept_upsert(calendars, targets=[GOOGLE]), last_attempt=False)

    # THEN the calendar failed as integration_credentials_rejected ...
    assert summary(result) == {
        GOOGLE: ("failed", REGISTERED, "integration_credentials_rejected", "delegated_token_refused")
    }
    # ... the admin sees the Google Calendar integration in error, with the provider's code
    status = calendars.settings_repository.load(COMPANY).integrations[Integration.GOOGLE_CALENDAR].status
    assert status is not None
    assert (status["state"], status["code"]) == ("error", "delegated_token_refused")
    assert status["checked_at"]
    # ... and the worker's cached settings were dropped, so its next read sees that status too
    assert settings.get(COMPANY).integrations[Integration.GOOGLE_CALENDAR].status == status


# ---------------------------------------------------------------- time budget


@pytest.mark.parametrize(
    ("last_attempt", "status", "reason"),
    [(False, "retrying", "provider_unavailable"), (True, "failed", "retries_exhausted")],
)
def test_sync_out_of_time_postpones_every_call(
    calendars: HubStack,
    sync: AbsenceCalendarSync,
    google: FakeCalendarWriter,
    works: FakeCalendarWriter,
    last_attempt: bool,
    status: str,
    reason: str,
) -> None:
    # GIVEN an invocation with 5 s left, less than one call's budget (15 s)
    # WHEN an absence is synced
    result = sync.sync(accept_upsert(calendars), last_attempt=last_attempt, time_left=lambda: 5.0)

    # THEN no provider is called and every calendar waits for the next attempt (or fails on the last one)
    assert google.calls == [] and works.calls == []
    assert result.calls == 0
    assert summary(result) == {channel: (status, REGISTERED, reason, "postponed") for channel in ALL_CALENDARS}
    assert result.retry_needed is not last_attempt
    assert not any(registration.applied for registration in current(calendars).registrations.values())


def test_sync_enough_time_left_calls_the_providers(
    calendars: HubStack, sync: AbsenceCalendarSync, google: FakeCalendarWriter
) -> None:
    # GIVEN an invocation with exactly one call's budget left
    # WHEN an absence is synced
    result = sync.sync(accept_upsert(calendars, targets=[GOOGLE]), last_attempt=False, time_left=lambda: 15.0)

    # THEN the call is made
    assert summary(result) == {GOOGLE: sent(REGISTERED)}
    assert len(google.calls) == 1
