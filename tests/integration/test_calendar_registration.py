"""Absence calendar registration through the local stack: WORKPLACE absence events in, the sandbox's NAVER
WORKS and Google calendars hold exactly the events the latest state of each absence says.

Each test sets up its own company (google_calendar in user-consent mode and/or naver_works_calendar with a
sandbox tenant), sends absence events to WorkplaceEventsQueue, and reads back the calendars' final contents
through the sandbox control API and the delivery log through GET /admin/deliveries.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from tests.integration.calendars import (
    absence_cancelled,
    absence_upserted,
    calendar_records,
    google_events,
    link_google_calendar,
    wait_for_calendar_records,
    wait_until_calendars_idle,
    works_events,
)
from tests.integration.helpers import Api, wait_for
from tests.integration.linking import (
    enable_google_calendar,
    enable_works_calendar,
    google_token_answers,
    my_links,
    new_works_calendar_tenant,
    register_workspace_id,
    table,
)
from workplace_hub.config import CalendarSettings

pytestmark = pytest.mark.integration

# CalendarSettings.HTTP_READ_TIMEOUT: the calendar function's default (template.yaml does not override it).
READ_TIMEOUT = CalendarSettings.model_fields["HTTP_READ_TIMEOUT"].default
GOOGLE = {"provider": "google"}
WORKS = {"provider": "naver_works"}


def new_absence_id() -> str:
    return f"abs-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def google_email(stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient) -> str:
    return link_google_calendar(stack, admin, member, sandbox, f"{company_id}.example")


@pytest.fixture
def works_tenant(stack: LocalStack, admin: Api, member: Api, sandbox: SandboxClient) -> Any:
    tenant = new_works_calendar_tenant(stack, sandbox, [member.user_id])
    enable_works_calendar(admin, tenant)
    return tenant


def test_an_upsert_creates_the_event_in_every_chosen_calendar(
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Any,
    google_email: str,
    works_tenant: Any,
) -> None:
    # GIVEN taro linked Google (consent) and the company writes NAVER WORKS default calendars
    absence_id = new_absence_id()
    event = absence_upserted(company_id, member.user_id, absence_id, [GOOGLE, WORKS], end="2026-12-02")

    # WHEN WORKPLACE sends his two-day vacation for both calendars
    send_event(event)

    # THEN both deliveries are recorded as registered
    found = wait_for_calendar_records(admin, event["event_id"], 2)
    assert {c: (r["status"], r.get("action")) for c, r in found.items()} == {
        "google_calendar": ("sent", "registered"),
        "naver_works_calendar": ("sent", "registered"),
    }
    # AND Google holds one all-day event with an exclusive end date, busy, titled from the absence
    (google,) = google_events(sandbox, google_email)
    assert google["start"] == {"date": "2026-12-01"} and google["end"] == {"date": "2026-12-03"}
    assert google["summary"] == "年次休暇" and google["transparency"] == "opaque"
    assert "attendees" not in google
    # AND NAVER WORKS holds one event in the default calendar, created without notifications
    (works,) = works_events(sandbox, works_tenant.domain_id, member.user_id)
    assert works["calendar_id"] == "default" and works["summary"] == "年次休暇"
    assert works["start"] == {"date": "2026-12-01"} and works["end"] == {"date": "2026-12-03"}
    assert works["sendNotification"] is False


def test_a_second_upsert_updates_the_same_events_and_a_dropped_calendar_loses_its_event(
    stack: LocalStack,
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Any,
    google_email: str,
    works_tenant: Any,
) -> None:
    absence_id = new_absence_id()
    first = absence_upserted(company_id, member.user_id, absence_id, [GOOGLE, WORKS])
    send_event(first)
    wait_for_calendar_records(admin, first["event_id"], 2)

    # WHEN the absence moves and is now only for NAVER WORKS
    second = absence_upserted(
        company_id,
        member.user_id,
        absence_id,
        [WORKS],
        occurred_at="2026-11-28T09:30:00+09:00",
        start="2026-12-24",
        end="2026-12-25",
        title="",
    )
    send_event(second)

    # THEN the NAVER WORKS event is updated in place and the Google one removed
    found = wait_for_calendar_records(admin, second["event_id"], 2)
    assert {c: (r["status"], r.get("action")) for c, r in found.items()} == {
        "google_calendar": ("sent", "removed"),
        "naver_works_calendar": ("sent", "registered"),
    }
    assert google_events(sandbox, google_email) == []
    (works,) = works_events(sandbox, works_tenant.domain_id, member.user_id)
    assert works["start"] == {"date": "2026-12-24"} and works["end"] == {"date": "2026-12-26"}
    # AND an empty title becomes the kind's name
    assert works["summary"] == "休暇"


def test_a_cancel_removes_every_event_and_an_older_upsert_never_brings_it_back(
    stack: LocalStack,
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Any,
    google_email: str,
    works_tenant: Any,
) -> None:
    absence_id = new_absence_id()
    created = absence_upserted(company_id, member.user_id, absence_id, [GOOGLE, WORKS])
    send_event(created)
    wait_for_calendar_records(admin, created["event_id"], 2)

    # WHEN it is cancelled
    cancel = absence_cancelled(company_id, member.user_id, absence_id)
    send_event(cancel)
    removed = wait_for_calendar_records(admin, cancel["event_id"], 2)

    # THEN both events are gone
    assert {r["action"] for r in removed.values()} == {"removed"}
    assert google_events(sandbox, google_email) == []
    assert works_events(sandbox, works_tenant.domain_id, member.user_id) == []

    # WHEN an upsert arrives late, even one that says it happened after the cancel
    late = absence_upserted(
        company_id, member.user_id, absence_id, [GOOGLE, WORKS], occurred_at="2026-11-28T11:00:00+09:00"
    )
    send_event(late)

    # THEN it is recorded as skipped and nothing is registered again
    skipped = wait_for_calendar_records(admin, late["event_id"], 2)
    assert {(r["status"], r["reason"]) for r in skipped.values()} == {("skipped", "absence_cancelled")}
    wait_until_calendars_idle(stack)
    assert google_events(sandbox, google_email) == []
    assert works_events(sandbox, works_tenant.domain_id, member.user_id) == []
    assert calendar_records(admin, cancel["event_id"]).keys() == {"google_calendar", "naver_works_calendar"}


# ------------------------------------------------------------------------------------------- exactly once


def google_calls(sandbox: SandboxClient, email: str) -> list[dict[str, Any]]:
    """Calendar API calls for the user's primary calendar, in arrival order: (method, status)."""
    prefix = "/google/calendar/v3/calendars/"
    return [
        r
        for r in sandbox.requests("google_calendar")
        if r["path"].startswith(prefix) and r["path"].split("/")[5] in ("primary", email)
    ]


def test_a_redelivered_event_writes_nothing_again(
    stack: LocalStack,
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Any,
    google_email: str,
    works_tenant: Any,
) -> None:
    # GIVEN an absence registered in both calendars
    event = absence_upserted(company_id, member.user_id, new_absence_id(), [GOOGLE, WORKS])
    send_event(event)
    wait_for_calendar_records(admin, event["event_id"], 2)
    wait_until_calendars_idle(stack)
    calls_before = len(sandbox.requests("google_calendar")) + len(sandbox.requests("naver_works"))

    # WHEN WORKPLACE sends the very same event twice more
    send_event(event)
    send_event(event)
    wait_until_calendars_idle(stack)

    # THEN each calendar still holds one event, and no provider was called again
    assert len(google_events(sandbox, google_email)) == 1
    assert len(works_events(sandbox, works_tenant.domain_id, member.user_id)) == 1
    assert len(sandbox.requests("google_calendar")) + len(sandbox.requests("naver_works")) == calls_before
    assert {r["status"] for r in calendar_records(admin, event["event_id"]).values()} == {"sent"}


def test_an_older_upsert_arriving_late_is_recorded_as_superseded_and_changes_nothing(
    stack: LocalStack,
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Any,
    google_email: str,
) -> None:
    absence_id = new_absence_id()
    # 02:00Z is later than 10:00 in Tokyo (01:00Z), although its text sorts first: instants are compared.
    newer = absence_upserted(
        company_id, member.user_id, absence_id, [GOOGLE], occurred_at="2026-11-28T02:00:00+00:00", start="2026-12-10"
    )
    newer["absence"]["end"] = "2026-12-10"
    older = absence_upserted(
        company_id, member.user_id, absence_id, [GOOGLE], occurred_at="2026-11-28T10:00:00+09:00", start="2026-12-20"
    )
    older["absence"]["end"] = "2026-12-20"

    # WHEN the newer state arrives first and the older one after it
    send_event(newer)
    wait_for_calendar_records(admin, newer["event_id"], 1)
    send_event(older)

    # THEN the older one is skipped as superseded, and the calendar keeps the newer dates
    skipped = wait_for_calendar_records(admin, older["event_id"], 1)
    assert (skipped["google_calendar"]["status"], skipped["google_calendar"]["reason"]) == ("skipped", "superseded")
    wait_until_calendars_idle(stack)
    (event,) = google_events(sandbox, google_email)
    assert event["start"] == {"date": "2026-12-10"}


def test_a_lost_mapping_never_makes_a_second_event(
    stack: LocalStack,
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Any,
    google_email: str,
    works_tenant: Any,
) -> None:
    # GIVEN an absence registered in both calendars, whose registry entry is then lost
    absence_id = new_absence_id()
    first = absence_upserted(company_id, member.user_id, absence_id, [GOOGLE, WORKS])
    send_event(first)
    wait_for_calendar_records(admin, first["event_id"], 2)
    table(stack, "AbsencesTable").delete_item(Key={"pk": f"{company_id}#{absence_id}"})

    # WHEN a change of the absence arrives
    second = absence_upserted(
        company_id,
        member.user_id,
        absence_id,
        [GOOGLE, WORKS],
        occurred_at="2026-11-28T09:40:00+09:00",
        start="2026-12-03",
        end="2026-12-04",
    )
    send_event(second)
    found = wait_for_calendar_records(admin, second["event_id"], 2)

    # THEN both providers said "already exists" to the create, and the hub updated the event instead
    assert {r["status"] for r in found.values()} == {"sent"}
    inserts = [r for r in google_calls(sandbox, google_email) if r["method"] == "POST"]
    assert [r["status"] for r in inserts] == [200, 409]
    creates = [r for r in sandbox.requests("naver_works") if r["method"] == "POST" and "/events" in r["path"]]
    assert [r["status"] for r in creates] == [201, 409]
    # AND each calendar holds one event, with the new dates
    (google,) = google_events(sandbox, google_email)
    assert google["start"] == {"date": "2026-12-03"} and google["end"] == {"date": "2026-12-05"}
    (works,) = works_events(sandbox, works_tenant.domain_id, member.user_id)
    assert works["start"] == {"date": "2026-12-03"} and works["end"] == {"date": "2026-12-05"}


def test_a_create_that_timed_out_after_google_stored_it_is_retried_into_one_event(
    stack: LocalStack,
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Any,
    google_email: str,
) -> None:
    # GIVEN Google stores the first insert but answers only after the hub stopped waiting
    sandbox.add_fault("google_calendar", "timeout", times=1, match={"operation": "insert"}, delay=READ_TIMEOUT + 1.5)
    event = absence_upserted(company_id, member.user_id, new_absence_id(), [GOOGLE])

    # WHEN the absence is sent
    send_event(event)

    # THEN the delivery is retried (the insert answers 409: it exists) and ends registered
    found = wait_for_calendar_records(admin, event["event_id"], 1, timeout=60)
    assert (found["google_calendar"]["status"], found["google_calendar"]["action"]) == ("sent", "registered")
    # AND the calendar holds exactly one event
    assert len(google_events(sandbox, google_email)) == 1
    inserts = [r for r in google_calls(sandbox, google_email) if r["method"] == "POST"]
    assert [r["status"] for r in inserts][-1] == 409


# ------------------------------------------------------------------------------------------- who can be written


def test_employees_without_the_needed_link_are_skipped_with_the_reason(
    stack: LocalStack,
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Any,
    works_tenant: Any,
) -> None:
    # GIVEN google_calendar on but taro has no Google Workspace ID registered, and he never authorized his
    # personal NAVER WORKS calendars
    enable_google_calendar(stack, admin, sandbox, f"{company_id}.example")
    event = absence_upserted(
        company_id, member.user_id, new_absence_id(), [GOOGLE, WORKS, {**WORKS, "calendar_id": "cal-team"}]
    )

    # WHEN his absence is sent for all three calendars
    send_event(event)

    # THEN the default NAVER WORKS calendar (the company's service account) gets it, the others say why not
    found = wait_for_calendar_records(admin, event["event_id"], 3)
    assert {c: (r["status"], r.get("reason")) for c, r in found.items()} == {
        "google_calendar": ("skipped", "google_workspace_id_missing"),
        "naver_works_calendar": ("sent", None),
        "naver_works_calendar:cal-team": ("skipped", "naver_works_calendar_not_authorized"),
    }
    assert [e["calendar_id"] for e in works_events(sandbox, works_tenant.domain_id, member.user_id)] == ["default"]

    # WHEN his Workspace ID is registered but he has not consented yet
    register_workspace_id(admin, member.user_id, f"taro@{company_id}.example")
    again = absence_upserted(
        company_id, member.user_id, event["absence"]["absence_id"], [GOOGLE], occurred_at="2026-11-28T09:21:00+09:00"
    )
    send_event(again)

    # THEN Google is skipped for the missing consent (and the dropped NAVER WORKS event is removed)
    found = wait_for_calendar_records(admin, again["event_id"], 2)
    assert found["google_calendar"]["reason"] == "google_calendar_not_authorized"
    assert found["naver_works_calendar"]["action"] == "removed"


def test_a_calendar_integration_that_is_off_is_skipped(
    company_id: str, admin: Api, member: Api, send_event: Any
) -> None:
    # GIVEN a company with no calendar integration on
    event = absence_upserted(company_id, member.user_id, new_absence_id(), [GOOGLE, WORKS])

    # WHEN an absence for both calendars arrives
    send_event(event)

    # THEN both are recorded as skipped: calendar_disabled
    found = wait_for_calendar_records(admin, event["event_id"], 2)
    assert {(r["status"], r["reason"]) for r in found.values()} == {("skipped", "calendar_disabled")}


def test_a_cancel_of_an_absence_never_registered_is_no_error(
    stack: LocalStack, company_id: str, admin: Api, member: Api, send_event: Any
) -> None:
    # WHEN WORKPLACE cancels an absence the hub never saw
    absence_id = new_absence_id()
    cancel = absence_cancelled(company_id, member.user_id, absence_id)
    send_event(cancel)
    wait_until_calendars_idle(stack)

    # THEN there was nothing to remove, and the cancellation is kept so that a late upsert cannot register it
    assert calendar_records(admin, cancel["event_id"]) == {}
    key = {"pk": f"{company_id}#{absence_id}"}
    kept = wait_for(lambda: table(stack, "AbsencesTable").get_item(Key=key).get("Item"))
    assert (kept["state"], kept["event_id"], kept["registrations"]) == ("cancelled", cancel["event_id"], {})


# ------------------------------------------------------------------------------------------- failures


def test_rate_limits_and_outages_are_retried_until_registered(
    stack: LocalStack,
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Any,
    google_email: str,
    works_tenant: Any,
) -> None:
    # GIVEN Google answers 403 rateLimitExceeded once and NAVER WORKS 429 (reset in 1 s) then 503
    sandbox.add_fault("google_calendar", "rate_limited", times=1, match={"email": google_email}, retry_after=1)
    sandbox.add_fault(
        "naver_works", "rate_limited", times=1, match={"api": "event_create", "user_id": member.user_id}, retry_after=1
    )
    sandbox.add_fault("naver_works", "server_error", times=1, match={"api": "event_create", "user_id": member.user_id})
    event = absence_upserted(company_id, member.user_id, new_absence_id(), [GOOGLE, WORKS])

    # WHEN the absence is sent
    send_event(event)

    # THEN both end registered after retries, one event each
    found = wait_for_calendar_records(admin, event["event_id"], 2, timeout=60)
    assert {c: r["status"] for c, r in found.items()} == {"google_calendar": "sent", "naver_works_calendar": "sent"}
    assert len(google_events(sandbox, google_email)) == 1
    assert len(works_events(sandbox, works_tenant.domain_id, member.user_id)) == 1
    creates = [r for r in sandbox.requests("naver_works") if r["method"] == "POST" and "/events" in r["path"]]
    assert [r["status"] for r in creates] == [429, 503, 201]


def test_a_refused_token_is_refreshed_once_and_a_revoked_grant_needs_relinking(
    stack: LocalStack,
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Any,
    google_email: str,
) -> None:
    # GIVEN Google refuses taro's access token once (401) although it has not expired
    sandbox.add_fault("google_calendar", "invalid_auth", times=1, match={"email": google_email})
    absence_id = new_absence_id()
    first = absence_upserted(company_id, member.user_id, absence_id, [GOOGLE])

    # WHEN his absence is sent
    send_event(first)

    # THEN the hub refreshed the token and registered the event in the same attempt
    found = wait_for_calendar_records(admin, first["event_id"], 1)
    assert found["google_calendar"]["status"] == "sent"
    assert len(google_token_answers(sandbox, "refresh_token")) == 1
    assert len(google_events(sandbox, google_email)) == 1

    # WHEN taro revokes the hub's access in his Google account, and his token stops working
    sandbox.control("google_oauth", "revoke_user", {"email": google_email})
    cancel = absence_cancelled(company_id, member.user_id, absence_id)
    send_event(cancel)

    # THEN the removal fails as needs_relink, and his link says so
    failed = wait_for_calendar_records(admin, cancel["event_id"], 1)
    assert (failed["google_calendar"]["status"], failed["google_calendar"]["reason"]) == ("failed", "needs_relink")
    state = my_links(member)["google_calendar"]
    assert (state["state"], state["reason"]) == ("needs_relink", "invalid_grant")

    # WHEN another absence comes before he links again
    later = absence_upserted(company_id, member.user_id, new_absence_id(), [GOOGLE])
    send_event(later)

    # THEN it is skipped without calling Google
    skipped = wait_for_calendar_records(admin, later["event_id"], 1)
    assert skipped["google_calendar"]["reason"] == "google_calendar_needs_relink"
