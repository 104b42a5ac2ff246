"""NAVER WORKS fake, user OAuth: the consent redirect, single-use codes, refresh and revocation, the calendar
list with the right and the wrong user's token; then `NaverWorksUserOAuthClient` end to end over 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from infra.keys import rsa_key_pair
from infra.sandbox import Sandbox, SandboxClient, SandboxError
from infra.sandbox.naver_works import NaverWorksFake
from infra.sandbox.server import SANDBOX_PATHS
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import NeedsRelinkError, PermanentProviderError, RetryableProviderError
from workplace_hub.naver_works.user_oauth import NaverWorksUserOAuthClient

DOMAIN = "10000001"
CLIENT_ID, CLIENT_SECRET = "CLIENTid01", "SECRETclient"
SERVICE_ACCOUNT = "abcde.serviceaccount@acme.example"
USER_CLIENT_ID, USER_CLIENT_SECRET = "USERclient02", "SECRETuserClient"
TARO, HANAKO = "taro@acme.example", "hanako@acme.example"
REDIRECT = "https://hub.example/oauth/naver_works/callback"
CALENDARS = [
    {"calendarId": "cal-taro-default", "calendarName": "Taro"},
    {"calendarId": "cal-taro-team", "calendarName": "Team"},
    {"calendarId": "cal-taro-old", "calendarName": "Old", "isShowOnLNBList": False},
]


def key_pair() -> tuple[str, str]:
    """(private PEM, public PEM) of the tenant's service-account key, once per test session."""
    return rsa_key_pair("naver_works_user_oauth")


def public_key_pem() -> str:
    return key_pair()[1]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0, providers=[NaverWorksFake]) as sb:
        yield sb


def tenant() -> dict[str, Any]:
    return {
        "domain_id": DOMAIN,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "service_account": SERVICE_ACCOUNT,
        "public_key_pem": public_key_pem(),
        "users": [TARO, HANAKO],
        "oauth_apps": [{"client_id": USER_CLIENT_ID, "client_secret": USER_CLIENT_SECRET}],
        "redirect_uris": [REDIRECT],
    }


@pytest.fixture
def works(sandbox: Sandbox, control: SandboxClient) -> str:
    """A tenant with a user OAuth app; Taro logs in next and approves. Returns the sandbox URL."""
    control.control("naver_works", "tenants", tenant())
    login(control, TARO, calendars=CALENDARS)
    return sandbox.url


def login(control: SandboxClient, user: str, consent: str = "approve", **extra: Any) -> dict[str, Any]:
    return control.control(
        "naver_works", "oauth_users", {"domain_id": DOMAIN, "user_id": user, "consent": consent, **extra}
    )


def authorize(http: requests.Session, url: str, **overrides: str) -> requests.Response:
    params = {
        "client_id": USER_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": "calendar",
        "response_type": "code",
        "state": "st-1",
        "domain": DOMAIN,
    }
    params.update(overrides)
    params = {k: v for k, v in params.items() if v is not None}
    return http.get(f"{url}/works/auth/oauth2/v2.0/authorize", params=params, allow_redirects=False, timeout=5)


def callback(resp: requests.Response) -> dict[str, str]:
    """The query the fake redirected back with (302 to the registered redirect URL)."""
    assert resp.status_code == 302, resp.text
    location = urlsplit(resp.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def code_for(http: requests.Session, url: str, **overrides: str) -> str:
    return callback(authorize(http, url, **overrides))["code"]


def token(http: requests.Session, url: str, **form: str) -> requests.Response:
    base = {"client_id": USER_CLIENT_ID, "client_secret": USER_CLIENT_SECRET}
    return http.post(f"{url}/works/auth/oauth2/v2.0/token", data={**base, **form}, timeout=5)


def exchange(http: requests.Session, url: str, code: str, **extra: str) -> requests.Response:
    return token(http, url, code=code, grant_type="authorization_code", **extra)


def user_tokens(http: requests.Session, url: str, **overrides: str) -> dict[str, Any]:
    resp = exchange(http, url, code_for(http, url, **overrides))
    assert resp.status_code == 200, resp.text
    return resp.json()


def calendars(
    http: requests.Session, url: str, access_token: str, user: str = TARO, **params: str
) -> requests.Response:
    user_path = requests.utils.quote(user, safe="")
    return http.get(
        f"{url}/works/api/v1.0/users/{user_path}/calendar-personals",
        params=params,
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=5,
    )


def error_of(resp: requests.Response) -> tuple[int, str]:
    body = resp.json()
    return resp.status_code, body.get("error") or body.get("code")


# ---------------------------------------------------------------- control API


@pytest.mark.parametrize(
    ("action", "payload", "message"),
    [
        ("oauth_users", {"domain_id": "999", "user_id": TARO}, "unknown domain_id"),
        ("oauth_users", {"domain_id": DOMAIN}, "user_id"),
        ("oauth_users", {"domain_id": DOMAIN, "user_id": TARO, "consent": "maybe"}, "consent"),
        ("oauth_users", {"domain_id": DOMAIN, "user_id": TARO, "calendars": []}, "calendars"),
        ("oauth_users", {"domain_id": DOMAIN, "user_id": TARO, "calendars": [{"calendarName": ""}]}, "calendarName"),
        ("oauth_users", {"domain_id": DOMAIN, "user_id": TARO,
                         "calendars": [{"calendarId": "a", "calendarName": "A"}] * 2}, "unique"),
        ("oauth_users", {"domain_id": DOMAIN, "user_id": TARO, "calendars": [
            {"calendarName": "A", "isDefault": True}, {"calendarName": "B", "isDefault": True}]}, "isDefault"),
        ("revoke_user", {"domain_id": DOMAIN}, "user_id"),
        ("revoke_user", {"domain_id": "999", "user_id": TARO}, "unknown domain_id"),
        ("tenants", {"oauth_apps": [{"client_id": "x"}]}, "oauth_apps"),
        ("tenants", {"redirect_uris": ["ftp://hub.example/cb"]}, "redirect_uris"),
        ("tenants", {"redirect_uris": REDIRECT}, "redirect_uris"),
    ],
)  # fmt: skip
def test_control_validation(works: str, control: SandboxClient, action: str, payload: dict, message: str) -> None:
    if action == "tenants":
        payload = {**tenant(), **payload}
    with pytest.raises(SandboxError, match=message):
        control.control("naver_works", action, payload)


def test_oauth_users_answers_the_calendars_with_the_default(works: str, control: SandboxClient) -> None:
    answer = login(control, HANAKO)

    assert answer["user_id"] == HANAKO and answer["consent"] == "approve"
    (only,) = answer["calendars"]
    assert only["calendarName"] == "My calendar" and only["isDefault"] is True and only["calendarId"]


# ---------------------------------------------------------------- authorize


def test_approval_redirects_with_a_code_and_the_state(works: str, http: requests.Session) -> None:
    query = callback(authorize(http, works, state="a b/ü"))

    assert set(query) == {"code", "state"} and query["state"] == "a b/ü" and query["code"]


def test_denial_redirects_with_access_denied(works: str, http: requests.Session, control: SandboxClient) -> None:
    login(control, TARO, consent="deny")

    query = callback(authorize(http, works))

    assert query["error"] == "access_denied" and query["state"] == "st-1" and "code" not in query


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "drive"}, "invalid_scope"),
        ({"domain": "20000002"}, "invalid_request"),
    ],
)
def test_bad_requests_redirect_with_an_error(works: str, http: requests.Session, overrides: dict, error: str) -> None:
    query = callback(authorize(http, works, **overrides))

    assert query["error"] == error and query["state"] == "st-1"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"client_id": "nobody"}, "invalid_client"),
        ({"redirect_uri": "https://evil.example/cb"}, "invalid_request"),
        ({"redirect_uri": None}, "invalid_request"),
    ],
)
def test_unverifiable_clients_and_redirects_are_not_redirected_to(
    works: str, http: requests.Session, overrides: dict, error: str
) -> None:
    resp = authorize(http, works, **overrides)

    assert error_of(resp) == (400, error) and "Location" not in resp.headers


def test_the_service_account_apps_client_id_works_too(works: str, http: requests.Session) -> None:
    code = code_for(http, works, client_id=CLIENT_ID)

    resp = token(
        http, works, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code, grant_type="authorization_code"
    )

    assert resp.status_code == 200


def test_without_a_user_to_log_in_the_fake_says_so(sandbox: Sandbox, control: SandboxClient, http: requests.Session):
    control.control(
        "naver_works",
        "tenants",
        {"domain_id": DOMAIN, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
         "service_account": "a.serviceaccount@acme.example", "public_key_pem": public_key_pem()},
    )  # fmt: skip

    resp = authorize(http, sandbox.url, client_id=CLIENT_ID, redirect_uri="http://localhost:3000/cb")

    assert error_of(resp) == (400, "login_required") and "oauth_users" in resp.json()["error_description"]


# ---------------------------------------------------------------- code and refresh grants


def test_code_exchange_issues_user_tokens_with_a_string_expires_in(works: str, http: requests.Session) -> None:
    resp = exchange(http, works, code_for(http, works), redirect_uri=REDIRECT, domain=DOMAIN)

    body = resp.json()
    assert resp.status_code == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == "86400" and body["scope"] == "calendar"
    assert body["access_token"].startswith("kr1A") and body["refresh_token"].startswith("kr1R")


def test_a_code_works_once(works: str, http: requests.Session) -> None:
    code = code_for(http, works)
    assert exchange(http, works, code).status_code == 200

    assert error_of(exchange(http, works, code)) == (400, "invalid_grant")


def test_expired_codes_are_refused(works: str, http: requests.Session, control: SandboxClient) -> None:
    code = code_for(http, works)

    assert control.control("naver_works", "expire_codes", {"domain_id": DOMAIN}) == {"expired": 1}

    assert error_of(exchange(http, works, code)) == (400, "invalid_grant")


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"client_secret": "wrong"}, (401, "invalid_client")),
        ({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, (400, "invalid_grant")),  # another client's code
        ({"redirect_uri": "https://hub.example/other"}, (400, "invalid_grant")),
        ({"domain": "20000002"}, (400, "invalid_request")),
        ({"code": "kr1Cforged"}, (400, "invalid_grant")),
    ],
)
def test_code_exchange_refusals(works: str, http: requests.Session, form: dict, expected: tuple) -> None:
    resp = token(http, works, **{"code": code_for(http, works), "grant_type": "authorization_code", **form})

    assert error_of(resp) == expected


def test_refresh_issues_a_new_access_token_without_a_new_refresh_token(works: str, http: requests.Session) -> None:
    first = user_tokens(http, works)

    resp = token(http, works, refresh_token=first["refresh_token"], grant_type="refresh_token")

    body = resp.json()
    assert resp.status_code == 200 and "refresh_token" not in body
    assert body["access_token"] != first["access_token"] and body["expires_in"] == "86400"
    assert calendars(http, works, body["access_token"]).status_code == 200  # still Taro's token


@pytest.mark.parametrize(
    "form",
    [
        {"refresh_token": "kr1Rforged"},
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},  # issued to another client
    ],
)
def test_refresh_refusals(works: str, http: requests.Session, form: dict) -> None:
    refresh = user_tokens(http, works)["refresh_token"]

    resp = token(http, works, **{"refresh_token": refresh, "grant_type": "refresh_token", **form})

    assert error_of(resp) == (400, "invalid_grant")


def test_revoking_a_user_kills_their_refresh_and_access_tokens(
    works: str, http: requests.Session, control: SandboxClient
) -> None:
    taro = user_tokens(http, works)
    pending = code_for(http, works)
    login(control, HANAKO)
    hanako = user_tokens(http, works)

    answer = control.control("naver_works", "revoke_user", {"domain_id": DOMAIN, "user_id": TARO})

    assert answer == {"revoked_refresh_tokens": 1, "expired_access_tokens": 1}
    assert error_of(token(http, works, refresh_token=taro["refresh_token"], grant_type="refresh_token")) == (
        400,
        "invalid_grant",
    )
    assert error_of(calendars(http, works, taro["access_token"])) == (401, "UNAUTHORIZED")
    assert error_of(exchange(http, works, pending)) == (400, "invalid_grant")
    # Hanako is untouched.
    assert calendars(http, works, hanako["access_token"], user=HANAKO).status_code == 200
    assert token(http, works, refresh_token=hanako["refresh_token"], grant_type="refresh_token").status_code == 200


def test_service_account_refresh_tokens_refresh_without_a_user(works: str, http: requests.Session) -> None:
    now = int(time.time())
    claims = {"iss": CLIENT_ID, "sub": SERVICE_ACCOUNT, "iat": now, "exp": now + 600}
    service = token(
        http,
        works,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        assertion=jwt.encode(claims, key_pair()[0], algorithm="RS256"),
        grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer",
        scope="calendar",
    ).json()

    resp = token(
        http,
        works,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=service["refresh_token"],
        grant_type="refresh_token",
    )

    assert resp.status_code == 200 and resp.json()["scope"] == "calendar"
    # A service-account token is nobody's personal token: the calendar list wants the user's own.
    assert error_of(calendars(http, works, resp.json()["access_token"])) == (403, "FORBIDDEN")


# ---------------------------------------------------------------- calendar list


def test_the_calendar_list_has_the_documented_shape(works: str, http: requests.Session) -> None:
    access = user_tokens(http, works)["access_token"]

    resp = calendars(http, works, access)

    body = resp.json()
    assert resp.status_code == 200 and body["responseMetaData"] == {"nextCursor": None}
    assert body["calendarPersonals"] == [
        {"calendarId": "cal-taro-default", "calendarName": "Taro", "isShowOnLNBList": True, "displayOrder": 0,
         "resourceLocation": 14101},
        {"calendarId": "cal-taro-team", "calendarName": "Team", "isShowOnLNBList": True, "displayOrder": 1,
         "resourceLocation": 14101},
        {"calendarId": "cal-taro-old", "calendarName": "Old", "isShowOnLNBList": False, "displayOrder": 2,
         "resourceLocation": 14101},
    ]  # fmt: skip
    assert calendars(http, works, access, user="me").json() == body


def test_the_calendar_list_pages_with_count_and_cursor(works: str, http: requests.Session) -> None:
    access = user_tokens(http, works)["access_token"]

    first = calendars(http, works, access, count="2").json()
    second = calendars(http, works, access, count="2", cursor=first["responseMetaData"]["nextCursor"]).json()

    assert [c["calendarId"] for c in first["calendarPersonals"]] == ["cal-taro-default", "cal-taro-team"]
    assert [c["calendarId"] for c in second["calendarPersonals"]] == ["cal-taro-old"]
    assert second["responseMetaData"]["nextCursor"] is None


@pytest.mark.parametrize("params", [{"count": "0"}, {"count": "51"}, {"count": "x"}, {"cursor": "bm9wZQ=="}])
def test_bad_paging_parameters(works: str, http: requests.Session, params: dict) -> None:
    access = user_tokens(http, works)["access_token"]

    assert error_of(calendars(http, works, access, **params)) == (400, "INVALID_PARAMETER")


def test_the_default_calendar(works: str, http: requests.Session) -> None:
    access = user_tokens(http, works)["access_token"]

    resp = http.get(
        f"{works}/works/api/v1.0/users/taro%40acme.example/calendar",
        headers={"Authorization": f"Bearer {access}"},
        timeout=5,
    )

    assert resp.status_code == 200
    assert resp.json()["calendarId"] == "cal-taro-default" and resp.json()["type"] == "INDIVIDUAL"


def test_another_users_token_is_forbidden(works: str, http: requests.Session, control: SandboxClient) -> None:
    login(control, HANAKO)
    hanako = user_tokens(http, works)["access_token"]

    assert error_of(calendars(http, works, hanako, user=TARO)) == (403, "FORBIDDEN")


@pytest.mark.parametrize("scope", ["user.read", "bot"])
def test_a_token_without_a_calendar_scope_is_forbidden(works: str, http: requests.Session, scope: str) -> None:
    access = user_tokens(http, works, scope=scope)["access_token"]

    assert error_of(calendars(http, works, access)) == (403, "FORBIDDEN")


def test_calendar_read_scope_is_enough(works: str, http: requests.Session) -> None:
    access = user_tokens(http, works, scope="calendar.read")["access_token"]

    assert calendars(http, works, access).status_code == 200


def test_a_wrong_client_secret_and_a_forged_token(works: str, http: requests.Session) -> None:
    refresh = user_tokens(http, works)["refresh_token"]

    wrong = token(http, works, refresh_token=refresh, grant_type="refresh_token", client_secret="no")

    assert error_of(wrong) == (401, "invalid_client")
    assert error_of(calendars(http, works, "kr1Aforged")) == (401, "UNAUTHORIZED")


# ---------------------------------------------------------------- the client end to end


def endpoints(url: str) -> ProviderEndpoints:
    return ProviderEndpoints(**{name: url + path for name, path in SANDBOX_PATHS.items()})


def settings(**overrides: Any) -> dict[str, Any]:
    values = {
        "api_version": "2.0",
        "domain_id": DOMAIN,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "user_oauth_client_id": USER_CLIENT_ID,
        "user_oauth_client_secret": USER_CLIENT_SECRET,
    }
    values.update(overrides)
    return values


@pytest.fixture
def oauth(works: str, http: requests.Session) -> NaverWorksUserOAuthClient:
    return NaverWorksUserOAuthClient(http, endpoints(works), timeout=(2.0, 5.0))


def browser_login(http: requests.Session, url: str) -> dict[str, str]:
    """What the employee's browser brings back to the hub's callback."""
    return callback(http.get(url, allow_redirects=False, timeout=5))


def test_client_links_lists_refreshes_and_notices_revocation(
    oauth: NaverWorksUserOAuthClient, http: requests.Session, control: SandboxClient
) -> None:
    query = browser_login(http, oauth.authorize_url(settings(), state="st-42", redirect_uri=REDIRECT))
    assert query["state"] == "st-42"

    tokens = oauth.exchange(settings(), code=query["code"], redirect_uri=REDIRECT)

    assert tokens.scope == "calendar" and tokens.refresh_token and tokens.access_token
    listed = oauth.personal_calendars(tokens.access_token, TARO)
    assert [(c["calendar_id"], c["name"], c["is_default"], c["visible"]) for c in listed] == [
        ("cal-taro-default", "Taro", True, True),
        ("cal-taro-team", "Team", False, True),
        ("cal-taro-old", "Old", False, False),
    ]
    assert oauth.default_calendar(tokens.access_token, "me")["calendar_id"] == "cal-taro-default"

    renewed = oauth.refresh(settings(), tokens.refresh_token)
    assert renewed.access_token != tokens.access_token and renewed.refresh_token == tokens.refresh_token
    assert renewed.expires_at >= tokens.expires_at

    control.control("naver_works", "revoke_user", {"domain_id": DOMAIN, "user_id": TARO})
    with pytest.raises(NeedsRelinkError) as relink:
        oauth.refresh(settings(), tokens.refresh_token)
    assert relink.value.code == "invalid_grant"
    with pytest.raises(NeedsRelinkError) as dead:
        oauth.personal_calendars(renewed.access_token, TARO)
    assert dead.value.code == "token_invalid"


def test_client_pages_through_many_calendars(
    oauth: NaverWorksUserOAuthClient, http: requests.Session, control: SandboxClient
) -> None:
    many = [{"calendarId": f"cal-{i:03d}", "calendarName": f"C{i}"} for i in range(120)]
    login(control, TARO, calendars=many)
    query = browser_login(http, oauth.authorize_url(settings(), state="s", redirect_uri=REDIRECT))
    access = oauth.exchange(settings(), code=query["code"], redirect_uri=REDIRECT).access_token
    control.clear_requests()

    listed = oauth.personal_calendars(access, TARO)

    assert [c["calendar_id"] for c in listed] == [f"cal-{i:03d}" for i in range(120)]
    assert [c["is_default"] for c in listed].count(True) == 1 and listed[0]["is_default"]
    assert len(control.requests("naver_works")) == 4  # three pages of 50, then the default calendar


def test_client_reused_code_and_denial(
    oauth: NaverWorksUserOAuthClient, http: requests.Session, control: SandboxClient
) -> None:
    code = browser_login(http, oauth.authorize_url(settings(), state="s", redirect_uri=REDIRECT))["code"]
    oauth.exchange(settings(), code=code, redirect_uri=REDIRECT)
    with pytest.raises(NeedsRelinkError):
        oauth.exchange(settings(), code=code, redirect_uri=REDIRECT)

    login(control, TARO, consent="deny")
    assert browser_login(http, oauth.authorize_url(settings(), state="s", redirect_uri=REDIRECT))["error"] == (
        "access_denied"
    )


def test_client_with_the_wrong_users_token_and_provider_faults(
    oauth: NaverWorksUserOAuthClient, http: requests.Session, control: SandboxClient
) -> None:
    code = browser_login(http, oauth.authorize_url(settings(), state="s", redirect_uri=REDIRECT))["code"]
    access = oauth.exchange(settings(), code=code, redirect_uri=REDIRECT).access_token

    with pytest.raises(PermanentProviderError) as forbidden:
        oauth.personal_calendars(access, HANAKO)
    assert forbidden.value.code == "FORBIDDEN" and not isinstance(forbidden.value, NeedsRelinkError)

    control.add_fault("naver_works", "rate_limited", times=1, match={"user_id": TARO}, retry_after=9)
    with pytest.raises(RetryableProviderError) as limited:
        oauth.personal_calendars(access, TARO)
    assert limited.value.code == "TOO_MANY_REQUESTS" and limited.value.retry_after == 9.0

    control.add_fault("naver_works", "server_error", times=1, match={"api": "token"}, status=503)
    with pytest.raises(RetryableProviderError):
        oauth.refresh(settings(), "kr1Rwhatever")
