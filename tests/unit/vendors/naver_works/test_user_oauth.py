"""NAVER WORKS user OAuth client: authorize URL, code exchange and refresh (requests, expires_in as a string,
error mapping), the calendar list (pagination, default calendar, normalisation) and no secret leaks.
No network: a FakeSession answers every call.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.unit.builders import http_response
from tests.unit.fakes import FakeSession
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    OutcomeUnknownError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
)
from workplace_hub.naver_works.user_oauth import (
    PROVIDER,
    NaverWorksUserOAuthClient,
    build_authorize_url,
    normalize_calendar,
)
from workplace_hub.providers.oauth import TokenSet

NOW = 1_800_000_000.0
CLIENT_SECRET = "SECRETclientSECRET0001"
USER_CLIENT_SECRET = "SECRETuserOAUTHsecret02"
CODE = "kr1CSECRETauthCODE0001"
ACCESS = "kr1ASECRETaccessTOKEN01"
REFRESH = "kr1RSECRETrefreshTOKEN1"
REDIRECT = "https://hub.example/oauth/naver_works/callback"
USER = "taro.yamada+hub@acme.example"
USER_PATH = "taro.yamada%2Bhub%40acme.example"
ENDPOINTS = ProviderEndpoints()
TOKEN_URL = "https://auth.worksmobile.com/oauth2/v2.0/token"
API = "https://www.worksapis.com/v1.0"
SECRETS = (CLIENT_SECRET, USER_CLIENT_SECRET, CODE, ACCESS, REFRESH)


def settings(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "api_version": "2.0",
        "domain_id": "10000001",
        "admin_email": "admin@acme.example",
        "client_id": "CLIENTid01",
        "client_secret": CLIENT_SECRET,
        "service_account": "abcde.serviceaccount@acme.example",
        "private_key": "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n",
    }
    values.update(overrides)
    return values


def client(
    *outcomes: requests.Response | BaseException, now: float = NOW
) -> tuple[NaverWorksUserOAuthClient, FakeSession]:
    session = FakeSession(list(outcomes))
    return NaverWorksUserOAuthClient(session, ENDPOINTS, clock=lambda: now), session  # type: ignore[arg-type]


def token_ok(**overrides: Any) -> requests.Response:
    body = {
        "access_token": ACCESS,
        "refresh_token": REFRESH,
        "scope": "calendar",
        "token_type": "Bearer",
        "expires_in": "86400",
    }
    body.update(overrides)
    return http_response(200, {k: v for k, v in body.items() if v is not None})


def oauth_error(status: int, error: str, description: str = "") -> requests.Response:
    return http_response(status, {"error": error, "error_description": description})


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret[:8]}… leaked into {text!r}"


# ---------------------------------------------------------------- authorize URL


def test_authorize_url_has_the_documented_parameters_and_the_domain() -> None:
    oauth, session = client()

    url = oauth.authorize_url(settings(), state="st.ate/1", redirect_uri=REDIRECT)

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://auth.worksmobile.com/oauth2/v2.0/authorize"
    assert parse_qs(parts.query) == {
        "client_id": ["CLIENTid01"],
        "redirect_uri": [REDIRECT],
        "scope": ["calendar"],
        "response_type": ["code"],
        "state": ["st.ate/1"],
        "domain": ["10000001"],
    }
    assert "code_challenge" not in url and CLIENT_SECRET not in url  # no PKCE in the NAVER WORKS docs
    assert "redirect_uri=https%3A%2F%2Fhub.example%2Foauth" in url  # fully URL-encoded
    assert session.requests == []  # pure


def test_authorize_url_prefers_the_dedicated_user_oauth_client_and_omits_an_empty_domain() -> None:
    url = build_authorize_url(
        "http://127.0.0.1:9/works/auth/oauth2/v2.0/",
        settings(user_oauth_client_id="USERclient02", domain_id=""),
        state="s",
        redirect_uri=REDIRECT,
    )

    query = parse_qs(urlsplit(url).query)
    assert url.startswith("http://127.0.0.1:9/works/auth/oauth2/v2.0/authorize?")
    assert query["client_id"] == ["USERclient02"] and "domain" not in query


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"client_id": None}, "missing_credentials"),
        ({"api_version": "1.0"}, "unsupported_api_version"),
    ],
)
def test_authorize_url_needs_api_2_0_and_a_client_id(overrides: dict[str, Any], code: str) -> None:
    oauth, _ = client()

    with pytest.raises(IntegrationCredentialsError) as caught:
        oauth.authorize_url(settings(**overrides), state="s", redirect_uri=REDIRECT)

    assert caught.value.code == code and caught.value.provider == PROVIDER


# ---------------------------------------------------------------- exchange and refresh


def test_exchange_posts_the_code_grant_form_and_reads_expires_in_as_a_string() -> None:
    oauth, session = client(token_ok())

    tokens = oauth.exchange(settings(), code=CODE, redirect_uri=REDIRECT)

    assert tokens == TokenSet(ACCESS, REFRESH, NOW + 86400, scope="calendar")
    (call,) = session.requests
    assert (call.method, call.url) == ("POST", TOKEN_URL)
    assert call.headers == {"Content-Type": "application/x-www-form-urlencoded"}
    assert call.json is None and call.timeout == (3.05, 10.0)
    assert call.data == {
        "code": CODE,
        "grant_type": "authorization_code",
        "client_id": "CLIENTid01",
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT,
        "domain": "10000001",
    }


def test_exchange_uses_the_user_oauth_client_when_configured() -> None:
    oauth, session = client(token_ok())

    oauth.exchange(
        settings(user_oauth_client_id="USERclient02", user_oauth_client_secret=USER_CLIENT_SECRET),
        code=CODE,
        redirect_uri=REDIRECT,
    )

    form = session.requests[0].data
    assert (form["client_id"], form["client_secret"]) == ("USERclient02", USER_CLIENT_SECRET)


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [("3600", 3600.0), (86400, 86400.0), (None, 3600.0), ("soon", 3600.0), ("0", 3600.0)],
)
def test_expires_in_string_number_or_missing(expires_in: Any, lifetime: float) -> None:
    oauth, _ = client(token_ok(expires_in=expires_in))

    assert oauth.exchange(settings(), code=CODE, redirect_uri=REDIRECT).expires_at == NOW + lifetime


def test_refresh_posts_the_refresh_grant_and_keeps_the_refresh_token_when_none_is_returned() -> None:
    oauth, session = client(token_ok(access_token="kr1Anew", refresh_token=None, expires_in="3600"))

    tokens = oauth.refresh(settings(), REFRESH)

    assert tokens == TokenSet("kr1Anew", REFRESH, NOW + 3600, scope="calendar")
    assert session.requests[0].url == TOKEN_URL
    assert session.requests[0].data == {
        "refresh_token": REFRESH,
        "grant_type": "refresh_token",
        "client_id": "CLIENTid01",
        "client_secret": CLIENT_SECRET,
    }


def test_refresh_takes_a_rotated_refresh_token() -> None:
    oauth, _ = client(token_ok(refresh_token="kr1Rrotated", scope="calendar,user.read"))

    tokens = oauth.refresh(settings(), REFRESH)

    assert tokens.refresh_token == "kr1Rrotated" and tokens.scope == "calendar,user.read"


@pytest.mark.parametrize(
    ("response", "error_type", "code"),
    [
        (oauth_error(400, "invalid_grant", "expired"), NeedsRelinkError, "invalid_grant"),
        (oauth_error(401, "", ""), NeedsRelinkError, "invalid_grant"),
        (http_response(401, text="Unauthorized"), NeedsRelinkError, "invalid_grant"),
        (oauth_error(401, "invalid_client", "wrong secret"), IntegrationCredentialsError, "invalid_client"),
        (oauth_error(400, "unauthorized_client"), IntegrationCredentialsError, "unauthorized_client"),
        (oauth_error(400, "invalid_request", "bad"), PermanentProviderError, "invalid_request"),
        (http_response(403, text="<html>forbidden</html>"), PermanentProviderError, "http_403"),
        (http_response(429, {"code": "TOO_MANY_REQUESTS"}), RetryableProviderError, "TOO_MANY_REQUESTS"),
        (http_response(500, text="oops"), RetryableProviderError, "http_500"),
        (http_response(503, {"error": "temporarily_unavailable"}), RetryableProviderError, "temporarily_unavailable"),
        (http_response(200, {"token_type": "Bearer"}), RetryableProviderError, "invalid_token_response"),
        (http_response(200, text="not json"), RetryableProviderError, "invalid_token_response"),
        (requests.ConnectTimeout("slow"), RetryableProviderError, "timeout"),
        (requests.ReadTimeout("slow"), OutcomeUnknownError, "timeout"),  # still retryable: a subclass
        (requests.ConnectionError("refused"), RetryableProviderError, "connection_error"),
    ],
)
@pytest.mark.parametrize("operation", ["exchange", "refresh"])
def test_token_errors_are_mapped(operation: str, response: Any, error_type: type, code: str) -> None:
    oauth, _ = client(response)

    with pytest.raises(ProviderError) as caught:
        if operation == "exchange":
            oauth.exchange(settings(), code=CODE, redirect_uri=REDIRECT)
        else:
            oauth.refresh(settings(), REFRESH)

    assert type(caught.value) is error_type and caught.value.code == code and caught.value.provider == PROVIDER
    assert_no_secrets(str(caught.value), repr(caught.value), caught.value.detail)


def test_retry_after_is_kept_on_a_rate_limited_token_call() -> None:
    oauth, _ = client(http_response(429, {"error": "too_many"}, headers={"Retry-After": "7"}))

    with pytest.raises(RetryableProviderError) as caught:
        oauth.refresh(settings(), REFRESH)

    assert caught.value.retry_after == 7.0


def test_a_description_that_echoes_a_secret_is_scrubbed() -> None:
    oauth, _ = client(oauth_error(400, "invalid_grant", f"code {CODE} is unknown for secret {CLIENT_SECRET}"))

    with pytest.raises(NeedsRelinkError) as caught:
        oauth.exchange(settings(), code=CODE, redirect_uri=REDIRECT)

    assert "is unknown" in caught.value.detail
    assert_no_secrets(str(caught.value), caught.value.detail)


def test_missing_secret_is_the_admins_to_fix_and_nothing_is_sent() -> None:
    oauth, session = client()

    with pytest.raises(IntegrationCredentialsError) as caught:
        oauth.refresh(settings(client_secret=""), REFRESH)

    assert caught.value.code == "missing_credentials" and "client_secret" in caught.value.detail
    assert session.requests == []


def test_no_secrets_in_reprs() -> None:
    tokens = TokenSet(ACCESS, REFRESH, NOW, scope="calendar")
    oauth, _ = client()

    assert_no_secrets(repr(tokens), str(tokens), repr(oauth))
    assert "expires_at=1800000000.0" in repr(tokens) and "calendar" in repr(tokens)


# ---------------------------------------------------------------- calendars


def personals(*entries: dict[str, Any], cursor: str | None = None) -> requests.Response:
    return http_response(200, {"calendarPersonals": list(entries), "responseMetaData": {"nextCursor": cursor}})


def personal(calendar_id: str, name: str, order: int = 0, shown: bool = True) -> dict[str, Any]:
    return {
        "calendarId": calendar_id,
        "calendarName": name,
        "isShowOnLNBList": shown,
        "displayOrder": order,
        "resourceLocation": 14101,
    }


def default(calendar_id: str = "cal-default", name: str = "My calendar") -> requests.Response:
    body = {"calendarId": calendar_id, "calendarName": name, "members": [], "isPublic": False, "type": "INDIVIDUAL"}
    return http_response(200, body)


def test_personal_calendars_lists_every_page_and_marks_the_default() -> None:
    oauth, session = client(
        personals(personal("cal-default", "My calendar", 0), personal("cal-team", "Team", 1), cursor="Jl+I/b=="),
        personals(personal("cal-hidden", "Old", 2, shown=False)),
        default(),
    )

    calendars = oauth.personal_calendars(ACCESS, USER)

    assert calendars == [
        {"calendar_id": "cal-default", "name": "My calendar", "is_default": True, "visible": True, "display_order": 0},
        {"calendar_id": "cal-team", "name": "Team", "is_default": False, "visible": True, "display_order": 1},
        {"calendar_id": "cal-hidden", "name": "Old", "is_default": False, "visible": False, "display_order": 2},
    ]
    first, second, third = session.requests
    assert first.method == "GET" and first.url == f"{API}/users/{USER_PATH}/calendar-personals?count=50"
    assert second.url == f"{API}/users/{USER_PATH}/calendar-personals?count=50&cursor=Jl%2BI%2Fb%3D%3D"
    assert third.url == f"{API}/users/{USER_PATH}/calendar"
    assert all(r.headers == {"Authorization": f"Bearer {ACCESS}"} and r.timeout for r in session.requests)


def test_a_default_calendar_missing_from_the_list_is_put_first() -> None:
    oauth, _ = client(personals(personal("cal-team", "Team", 1)), default("cal-default", "Mine"))

    calendars = oauth.personal_calendars(ACCESS, "me")

    assert [(c["calendar_id"], c["is_default"]) for c in calendars] == [("cal-default", True), ("cal-team", False)]


def test_without_mark_default_only_the_list_is_read() -> None:
    oauth, session = client(personals(personal("cal-a", "A")))

    calendars = oauth.personal_calendars(ACCESS, USER, mark_default=False)

    assert calendars[0]["is_default"] is False and len(session.requests) == 1


def test_a_repeated_cursor_ends_the_listing_and_duplicates_are_dropped() -> None:
    page = personals(personal("cal-a", "A"), cursor="same")
    oauth, session = client(page, page, default("cal-a"))

    calendars = oauth.personal_calendars(ACCESS, USER)

    assert [c["calendar_id"] for c in calendars] == ["cal-a"]
    assert len(session.requests) == 3  # two pages (the second repeats the cursor), then the default


def test_default_calendar() -> None:
    oauth, session = client(default("cal-1", "基本"))

    assert oauth.default_calendar(ACCESS, USER) == {"calendar_id": "cal-1", "name": "基本"}
    assert session.requests[0].url == f"{API}/users/{USER_PATH}/calendar"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"calendarId": "c1"}, {"calendar_id": "c1", "name": "", "is_default": False, "visible": True,
                                "display_order": None}),
        ({"calendarId": ""}, None),
        ({"calendarName": "no id"}, None),
        ({"calendarId": "c2", "calendarName": "X", "displayOrder": True}, {"calendar_id": "c2", "name": "X",
         "is_default": False, "visible": True, "display_order": None}),
    ],
)  # fmt: skip
def test_normalize_calendar_tolerates_missing_fields(entry: dict[str, Any], expected: Any) -> None:
    assert normalize_calendar(entry) == expected


def test_entries_without_a_calendar_id_are_skipped() -> None:
    oauth, _ = client(personals({"calendarName": "broken"}, "junk", personal("cal-a", "A")), default("cal-a"))  # type: ignore[arg-type]

    assert [c["calendar_id"] for c in oauth.personal_calendars(ACCESS, USER)] == ["cal-a"]


@pytest.mark.parametrize(
    ("response", "error_type", "code"),
    [
        (http_response(401, {"code": "UNAUTHORIZED", "description": "Authentication failed"}), NeedsRelinkError,
         "token_invalid"),
        (http_response(403, {"code": "UNAUTHORIZED", "description": "x"}), NeedsRelinkError, "token_invalid"),
        (http_response(403, {"code": "FORBIDDEN", "description": "another user"}), PermanentProviderError,
         "FORBIDDEN"),
        (http_response(404, {"code": "NOT_FOUND", "description": "user not found"}), PermanentProviderError,
         "NOT_FOUND"),
        (http_response(429, {"code": "TOO_MANY_REQUESTS"}, headers={"rateLimit-reset": "30"}),
         RetryableProviderError, "TOO_MANY_REQUESTS"),
        (http_response(502, text="bad gateway"), RetryableProviderError, "http_502"),
        (http_response(200, text="not json"), RetryableProviderError, "invalid_response"),
        (requests.ReadTimeout("slow"), OutcomeUnknownError, "timeout"),  # still retryable: a subclass
    ],
)  # fmt: skip
def test_calendar_errors_are_mapped(response: Any, error_type: type, code: str) -> None:
    oauth, _ = client(response)

    with pytest.raises(ProviderError) as caught:
        oauth.personal_calendars(ACCESS, USER)

    assert type(caught.value) is error_type and caught.value.code == code and caught.value.provider == PROVIDER
    assert_no_secrets(str(caught.value), repr(caught.value))


def test_a_rate_limited_listing_says_when_to_retry() -> None:
    oauth, _ = client(http_response(429, {"code": "TOO_MANY_REQUESTS"}, headers={"rateLimit-reset": "30"}))

    with pytest.raises(RetryableProviderError) as caught:
        oauth.personal_calendars(ACCESS, USER)

    assert caught.value.retry_after == 30.0


def test_a_default_calendar_without_an_id_is_an_unclear_answer() -> None:
    oauth, _ = client(personals(personal("cal-a", "A")), http_response(200, {"calendarName": "?"}))

    with pytest.raises(RetryableProviderError) as caught:
        oauth.personal_calendars(ACCESS, USER)

    assert caught.value.code == "invalid_response"
