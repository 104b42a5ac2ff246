"""The catalog's names: one rule from a calendar provider to its integration, one source of the linking paths."""

from __future__ import annotations

from workplace_hub.api.linking import linking_openapi_schema
from workplace_hub.catalog import (
    CALENDARS,
    OAUTH_PROVIDERS,
    CalendarRef,
    Integration,
    calendar_integration,
    calendar_provider,
    oauth_authorize_path,
    oauth_redirect_uri,
)


def test_every_calendar_integration_is_its_provider_plus_the_suffix_both_ways() -> None:
    for integration in CALENDARS:
        assert calendar_integration(calendar_provider(integration)) is integration
        assert CalendarRef(calendar_provider(integration)).integration is integration
    assert OAUTH_PROVIDERS == {
        "line": Integration.LINE,
        "google": Integration.GOOGLE_CALENDAR,
        "naver_works": Integration.NAVER_WORKS_CALENDAR,
    }
    assert CalendarRef.from_channel("naver_works_calendar:abc") == CalendarRef("naver_works", "abc")


def test_the_linking_routes_are_the_catalogs_paths() -> None:
    # GIVEN the linking function's documented routes
    paths = set(linking_openapi_schema()["paths"])

    # THEN the authorize path the calendar options point to is one of them, and the redirect URI is the callback's
    assert oauth_authorize_path("google").replace("google", "{provider}") in paths
    assert oauth_redirect_uri("https://hub.example/", "google") == "https://hub.example/oauth/google/callback"
