"""LINE Login fake: consent redirects, the token endpoint's checks (single-use code, PKCE, redirect_uri, expiry,
client), refresh, friendship and profile, faults, signed webhooks, and the real LineLoginClient end to end.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from infra.sandbox import Sandbox, SandboxClient, SandboxError
from infra.sandbox.base import RateLimiter
from infra.sandbox.line import LineFake
from infra.sandbox.line_login import LineLoginFake, signed_webhook, webhook_event
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    RetryableProviderError,
)
from workplace_hub.line.login import LineLoginClient
from workplace_hub.line.webhook_events import verify_webhook_signature
from workplace_hub.providers.oauth import IdTokenError, TokenSet

CHANNEL_ID = "1234567890"
SECRET = "0123456789abcdef0123456789abcdef"
OTHER_ID = "2234567890"
OTHER_SECRET = "fedcba9876543210fedcba9876543210"
TARO = "U4af4980629abcdef0123456789abcdef"
REDIRECT = "https://hub.example.com/oauth/line/callback"
STATE = "st4te.Sig-_x"
NONCE = "n-0S6_WzA2Mj"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # S256 of VERIFIER (RFC 7636 appendix B)
SETTINGS = {"login_channel_id": CHANNEL_ID, "login_channel_secret": SECRET}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(providers=[LineLoginFake]) as sb:
        yield sb


@pytest.fixture
def line(sandbox: Sandbox, control: SandboxClient) -> SandboxClient:
    """Two Login channels; Taro logs in next to the first, approves and adds the Official Account."""
    control.control("line_login", "channels", {"channel_id": CHANNEL_ID, "channel_secret": SECRET})
    control.control("line_login", "channels", {"channel_id": OTHER_ID, "channel_secret": OTHER_SECRET})
    control.control("line_login", "users", {"channel_id": CHANNEL_ID, "user_id": TARO, "name": "Taro", "friend": True})
    return control


def authorize_params(**overrides: Any) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": CHANNEL_ID,
        "redirect_uri": REDIRECT,
        "state": STATE,
        "scope": "profile openid",
        "nonce": NONCE,
        "bot_prompt": "aggressive",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        **overrides,
    }
    return {k: v for k, v in params.items() if v is not None}


def authorize(sandbox: Sandbox, http: requests.Session, **overrides: Any) -> requests.Response:
    url = f"{sandbox.url}/line/access/oauth2/v2.1/authorize"
    return http.get(url, params=authorize_params(**overrides), allow_redirects=False, timeout=5)


def callback(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def code(sandbox: Sandbox, http: requests.Session, **overrides: Any) -> str:
    return callback(authorize(sandbox, http, **overrides))["code"]


def token(sandbox: Sandbox, http: requests.Session, **form: str) -> requests.Response:
    body = {
        "grant_type": "authorization_code",
        "redirect_uri": REDIRECT,
        "client_id": CHANNEL_ID,
        "client_secret": SECRET,
        "code_verifier": VERIFIER,
        **form,
    }
    return http.post(f"{sandbox.url}/line/api/oauth2/v2.1/token", data=body, timeout=5)


def user_api(sandbox: Sandbox, http: requests.Session, path: str, access_token: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {access_token}"}
    return http.get(f"{sandbox.url}/line/api/{path}", headers=headers, timeout=5)


def login_client(sandbox: Sandbox, **kwargs: Any) -> LineLoginClient:
    endpoints = ProviderEndpoints(
        LINE_API_BASE=f"{sandbox.url}/line/api", LINE_ACCESS_BASE=f"{sandbox.url}/line/access"
    )
    return LineLoginClient(requests.Session(), endpoints, **kwargs)


def invalid_grant(response: requests.Response, description: str) -> None:
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": description}


# --- authorize ------------------------------------------------------------------------------------------------


def test_approve_redirects_with_a_code_the_state_and_the_friendship_change(sandbox, line, http):
    params = callback(authorize(sandbox, http))
    assert set(params) == {"code", "state", "friendship_status_changed"}
    assert (params["state"], params["friendship_status_changed"]) == (STATE, "true")
    assert len(params["code"]) >= 16


def test_already_a_friend_is_no_friendship_change(sandbox, line, http):
    line.control("line_login", "users", {"channel_id": CHANNEL_ID, "user_id": TARO, "friend": True, "was_friend": True})
    assert callback(authorize(sandbox, http))["friendship_status_changed"] == "false"


def test_without_bot_prompt_the_callback_has_no_friendship_parameter(sandbox, line, http):
    assert "friendship_status_changed" not in callback(authorize(sandbox, http, bot_prompt=None))


def test_redirect_uri_keeps_its_own_query(sandbox, line, http):
    response = authorize(sandbox, http, redirect_uri=REDIRECT + "?company=c1")
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["company"] == ["c1"] and query["state"] == [STATE]


def test_deny_redirects_with_access_denied(sandbox, line, http):
    line.control("line_login", "users", {"channel_id": CHANNEL_ID, "user_id": TARO, "consent": "deny"})
    params = callback(authorize(sandbox, http))
    assert params == {
        "error": "ACCESS_DENIED",
        "error_description": "The resource owner denied the request.",
        "state": STATE,
    }


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"client_id": "9999999999"}, "INVALID_REQUEST"),
        ({"client_id": None}, "INVALID_REQUEST"),
        ({"redirect_uri": "javascript:alert(1)"}, "INVALID_REQUEST"),
        ({"response_type": "token"}, "UNSUPPORTED_RESPONSE_TYPE"),
        ({"state": None}, "INVALID_REQUEST"),
        ({"scope": "email"}, "INVALID_SCOPE"),
        ({"scope": "profile chat_message.write"}, "INVALID_SCOPE"),
        ({"code_challenge_method": "plain"}, "INVALID_REQUEST"),
        ({"code_challenge_method": None}, "INVALID_REQUEST"),
        ({"code_challenge": "short"}, "INVALID_REQUEST"),
        ({"bot_prompt": "always"}, "INVALID_REQUEST"),
    ],
)
def test_invalid_authorize_request_is_an_error_page(sandbox, line, http, overrides, error):
    response = authorize(sandbox, http, **overrides)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert error in response.text
    assert "Location" not in response.headers


def test_redirect_uri_must_be_a_registered_callback_when_the_channel_lists_them(sandbox, line, http):
    line.control(
        "line_login", "channels", {"channel_id": CHANNEL_ID, "channel_secret": SECRET, "callback_urls": [REDIRECT]}
    )
    line.control("line_login", "users", {"channel_id": CHANNEL_ID, "user_id": TARO})
    assert authorize(sandbox, http, redirect_uri="https://evil.example.com/cb").status_code == 400
    assert authorize(sandbox, http, redirect_uri=REDIRECT + "?extra=1").status_code == 302


def test_without_a_user_to_log_in_the_page_says_how_to_set_one(sandbox, control, http):
    control.control("line_login", "channels", {"channel_id": CHANNEL_ID, "channel_secret": SECRET})
    response = authorize(sandbox, http)
    assert response.status_code == 400 and "/_sandbox/line_login/users" in response.text


def test_logins_records_each_consent(sandbox, line, http):
    authorize(sandbox, http)
    (login,) = line.control("line_login", "logins", method="GET")["logins"]
    assert {k: login[k] for k in ("channel_id", "user_id", "consent", "friend", "friendship_status_changed")} == {
        "channel_id": CHANNEL_ID,
        "user_id": TARO,
        "consent": "approve",
        "friend": True,
        "friendship_status_changed": True,
    }


# --- token endpoint ---------------------------------------------------------------------------------------------


def test_token_answers_the_tokens_and_an_hs256_id_token(sandbox, line, http):
    response = token(sandbox, http, code=code(sandbox, http))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "id_token", "refresh_token", "scope", "token_type"}
    assert (body["expires_in"], body["scope"], body["token_type"]) == (2592000, "profile openid", "Bearer")
    assert jwt.get_unverified_header(body["id_token"])["alg"] == "HS256"
    claims = jwt.decode(
        body["id_token"], SECRET, algorithms=["HS256"], audience=CHANNEL_ID, issuer="https://access.line.me"
    )
    assert (claims["sub"], claims["nonce"], claims["name"]) == (TARO, NONCE, "Taro")
    assert claims["exp"] - claims["iat"] == 3600


def test_code_is_single_use_and_a_replay_revokes_its_tokens(sandbox, line, http):
    the_code = code(sandbox, http)
    first = token(sandbox, http, code=the_code).json()
    invalid_grant(token(sandbox, http, code=the_code), "authorization code has already been used")
    assert user_api(sandbox, http, "friendship/v1/status", first["access_token"]).status_code == 401


def test_pkce_verifier_mismatch_is_invalid_grant(sandbox, line, http):
    other_verifier = secrets.token_urlsafe(48)
    invalid_grant(token(sandbox, http, code=code(sandbox, http), code_verifier=other_verifier), "invalid code_verifier")


def test_missing_pkce_verifier_is_invalid_grant(sandbox, line, http):
    invalid_grant(token(sandbox, http, code=code(sandbox, http), code_verifier=""), "invalid code_verifier")


def test_redirect_uri_mismatch_is_invalid_grant(sandbox, line, http):
    response = token(sandbox, http, code=code(sandbox, http), redirect_uri=REDIRECT + "/other")
    invalid_grant(response, "redirect_uri does not match")


def test_expired_code_is_invalid_grant(sandbox, line, http):
    the_code = code(sandbox, http)
    assert line.control("line_login", "expire_codes") == {"expired": 1}
    invalid_grant(token(sandbox, http, code=the_code), "authorization code expired")


def test_unknown_code_is_invalid_grant(sandbox, line, http):
    invalid_grant(token(sandbox, http, code="no-such-code"), "invalid authorization code")


def test_code_issued_for_another_channel_is_invalid_grant(sandbox, line, http):
    response = token(sandbox, http, code=code(sandbox, http), client_id=OTHER_ID, client_secret=OTHER_SECRET)
    invalid_grant(response, "invalid authorization code")


@pytest.mark.parametrize(("client_id", "client_secret"), [(CHANNEL_ID, OTHER_SECRET), ("9999999999", SECRET)])
def test_wrong_client_is_invalid_client(sandbox, line, http, client_id, client_secret):
    response = token(sandbox, http, code=code(sandbox, http), client_id=client_id, client_secret=client_secret)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_token_wants_a_form(sandbox, line, http):
    response = http.post(f"{sandbox.url}/line/api/oauth2/v2.1/token", json={"grant_type": "authorization_code"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_token_refuses_other_grant_types(sandbox, line, http):
    response = token(sandbox, http, grant_type="client_credentials")
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def test_refresh_rotates_the_refresh_token_and_gives_no_id_token(sandbox, line, http):
    first = token(sandbox, http, code=code(sandbox, http)).json()
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    second = token(sandbox, http, **form)
    assert second.status_code == 200
    assert "id_token" not in second.json() and second.json()["refresh_token"] != first["refresh_token"]
    invalid_grant(token(sandbox, http, **form), "invalid refresh token")


# --- friendship and profile -------------------------------------------------------------------------------------


def test_friendship_and_profile_with_the_users_access_token(sandbox, line, http):
    access_token = token(sandbox, http, code=code(sandbox, http)).json()["access_token"]
    assert user_api(sandbox, http, "friendship/v1/status", access_token).json() == {"friendFlag": True}
    assert user_api(sandbox, http, "v2/profile", access_token).json() == {"userId": TARO, "displayName": "Taro"}


def test_declining_the_friend_prompt_leaves_friend_flag_false(sandbox, line, http):
    line.control("line_login", "users", {"channel_id": CHANNEL_ID, "user_id": TARO, "friend": False})
    params = callback(authorize(sandbox, http))
    access_token = token(sandbox, http, code=params["code"]).json()["access_token"]
    assert params["friendship_status_changed"] == "false"
    assert user_api(sandbox, http, "friendship/v1/status", access_token).json() == {"friendFlag": False}


def test_user_api_without_a_valid_token_is_401(sandbox, line, http):
    assert user_api(sandbox, http, "friendship/v1/status", "not-a-token").status_code == 401
    assert http.get(f"{sandbox.url}/line/api/v2/profile", timeout=5).status_code == 401


def test_revoke_makes_tokens_fail(sandbox, line, http):
    body = token(sandbox, http, code=code(sandbox, http)).json()
    assert line.control("line_login", "revoke", {"channel_id": CHANNEL_ID, "user_id": TARO}) == {"revoked": 2}
    assert user_api(sandbox, http, "v2/profile", body["access_token"]).status_code == 401
    invalid_grant(
        token(sandbox, http, grant_type="refresh_token", refresh_token=body["refresh_token"]), "invalid refresh token"
    )


def test_unknown_path_is_404(sandbox, line, http):
    assert http.get(f"{sandbox.url}/line/api/oauth2/v2.1/userinfo", timeout=5).status_code == 404


# --- control validation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("channels", {"channel_id": "12345", "channel_secret": SECRET}),
        ("channels", {"channel_id": CHANNEL_ID}),
        ("channels", {"channel_id": CHANNEL_ID, "channel_secret": SECRET, "callback_urls": ["ftp://x"]}),
        ("users", {"channel_id": CHANNEL_ID, "user_id": "taro"}),
        ("users", {"channel_id": "9999999999", "user_id": TARO}),
        ("users", {"channel_id": CHANNEL_ID, "user_id": TARO, "consent": "maybe"}),
        ("users", {"channel_id": CHANNEL_ID, "user_id": TARO, "friend": "yes"}),
        ("nonsense", {}),
    ],
)
def test_control_refuses_bad_calls(line, action, payload):
    with pytest.raises(SandboxError):
        line.control("line_login", action, payload)


def test_rate_limits_are_not_modelled(line):
    with pytest.raises(SandboxError, match="not modelled"):
        line.set_limits("line_login", burst=1)


# --- faults -----------------------------------------------------------------------------------------------------


def test_server_error_fault_on_the_token_endpoint(sandbox, line, http):
    line.add_fault("line_login", "server_error", times=1, match={"endpoint": "token"}, status=502)
    the_code = code(sandbox, http)  # the authorize page is not affected
    response = token(sandbox, http, code=the_code)
    assert response.status_code == 502 and response.json()["error"] == "server_error"
    assert token(sandbox, http, code=the_code).status_code == 200  # the failed call did not spend the code


def test_client_maps_token_faults_to_retryable(sandbox, line, http):
    the_code = code(sandbox, http)
    line.add_fault("line_login", "server_error", times=1, match={"endpoint": "token"})
    with pytest.raises(RetryableProviderError) as raised:
        login_client(sandbox).exchange(SETTINGS, code=the_code, redirect_uri=REDIRECT, code_verifier=VERIFIER)
    assert raised.value.status_code == 503
    line.add_fault("line_login", "timeout", times=1, match={"endpoint": "token"}, delay=2.0)
    with pytest.raises(RetryableProviderError) as raised:
        login_client(sandbox, timeout=(1.0, 0.2)).exchange(
            SETTINGS, code=the_code, redirect_uri=REDIRECT, code_verifier=VERIFIER
        )
    assert raised.value.code == "timeout"


# --- the real client end to end ---------------------------------------------------------------------------------


def test_client_links_an_employee_end_to_end(sandbox, line, http):
    # GIVEN the hub's client pointed at the sandbox
    client = login_client(sandbox)
    # WHEN the employee's browser follows the authorize URL and LINE calls back
    url = client.authorize_url(SETTINGS, state=STATE, nonce=NONCE, code_challenge=CHALLENGE, redirect_uri=REDIRECT)
    params = callback(http.get(url, allow_redirects=False, timeout=5))
    assert params["state"] == STATE
    tokens = client.exchange(SETTINGS, code=params["code"], redirect_uri=REDIRECT, code_verifier=VERIFIER)
    claims = client.verify_id_token(SETTINGS, tokens.id_token or "", nonce=NONCE)
    # THEN the LINE userId is known and the Official Account can reach it
    assert (claims["sub"], claims["name"]) == (TARO, "Taro")
    assert client.friendship(tokens) is True
    assert client.profile(tokens) == {"userId": TARO, "displayName": "Taro"}
    assert tokens.scope == "profile openid" and tokens.refresh_token
    # AND a refresh gives a working access token
    refreshed = client.refresh(SETTINGS, tokens.refresh_token)
    assert client.friendship(refreshed) is True


def test_client_refuses_the_id_token_of_another_login(sandbox, line, http):
    client = login_client(sandbox)
    tokens = client.exchange(SETTINGS, code=code(sandbox, http), redirect_uri=REDIRECT, code_verifier=VERIFIER)
    with pytest.raises(IdTokenError) as raised:
        client.verify_id_token(SETTINGS, tokens.id_token or "", nonce="the-nonce-of-another-login")
    assert raised.value.code == "id_token_nonce"
    other = {"login_channel_id": OTHER_ID, "login_channel_secret": OTHER_SECRET}
    with pytest.raises(IdTokenError):
        client.verify_id_token(other, tokens.id_token or "", nonce=NONCE)


def test_client_errors_against_the_fake(sandbox, line, http):
    client = login_client(sandbox)
    the_code = code(sandbox, http)
    wrong_secret = {"login_channel_id": CHANNEL_ID, "login_channel_secret": OTHER_SECRET}
    with pytest.raises(IntegrationCredentialsError):  # refused before the code is looked at
        client.exchange(wrong_secret, code=the_code, redirect_uri=REDIRECT, code_verifier=VERIFIER)
    tokens = client.exchange(SETTINGS, code=the_code, redirect_uri=REDIRECT, code_verifier=VERIFIER)
    with pytest.raises(PermanentProviderError) as raised:
        client.exchange(SETTINGS, code=the_code, redirect_uri=REDIRECT, code_verifier=VERIFIER)
    assert type(raised.value) is PermanentProviderError and raised.value.code == "invalid_grant"
    with pytest.raises(PermanentProviderError) as raised:  # the replay revoked the first tokens
        client.friendship(tokens)
    assert raised.value.code == "access_token_rejected"
    with pytest.raises(NeedsRelinkError):
        client.refresh(SETTINGS, tokens.refresh_token or "")


def test_client_never_sends_the_secret_anywhere_but_the_token_form(sandbox, line, http):
    client = login_client(sandbox)
    url = client.authorize_url(SETTINGS, state=STATE, nonce=NONCE, code_challenge=CHALLENGE, redirect_uri=REDIRECT)
    the_code = callback(http.get(url, allow_redirects=False, timeout=5))["code"]
    tokens = client.exchange(SETTINGS, code=the_code, redirect_uri=REDIRECT, code_verifier=VERIFIER)
    client.friendship(tokens)
    log = line.requests("line_login")
    assert [entry["path"].rsplit("/", 1)[-1] for entry in log] == ["authorize", "token", "status"]
    assert SECRET not in json.dumps([log[0], log[2]])
    assert log[1]["body"]["client_secret"] == SECRET


# --- webhooks ---------------------------------------------------------------------------------------------------


def test_signed_webhook_builds_follow_and_unfollow_events_the_hub_can_verify():
    body, headers = signed_webhook(
        SECRET, [{"type": "follow", "userId": TARO}, {"type": "unfollow", "userId": TARO}], destination="U" + "b" * 32
    )
    payload = json.loads(body)
    follow, unfollow = payload["events"]
    assert payload["destination"] == "U" + "b" * 32
    assert follow["source"] == {"type": "user", "userId": TARO} and follow["follow"] == {"isUnblocked": False}
    assert len(follow["replyToken"]) == 32 and len(follow["webhookEventId"]) == 26
    assert (follow["mode"], follow["deliveryContext"]) == ("active", {"isRedelivery": False})
    assert unfollow["type"] == "unfollow" and "replyToken" not in unfollow and "follow" not in unfollow
    assert headers["Content-Type"].startswith("application/json")
    assert verify_webhook_signature(SECRET, body, headers["X-Line-Signature"])
    assert not verify_webhook_signature(OTHER_SECRET, body, headers["X-Line-Signature"])
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert headers["X-Line-Signature"] == expected


def test_signed_webhook_keeps_given_fields_and_allows_the_empty_connectivity_check():
    event = webhook_event({"type": "follow", "userId": TARO, "isUnblocked": True, "timestamp": 1700000000000})
    assert event["follow"] == {"isUnblocked": True} and event["timestamp"] == 1700000000000
    body, headers = signed_webhook(SECRET, [])
    assert json.loads(body)["events"] == []
    assert verify_webhook_signature(SECRET, body, headers["X-Line-Signature"])


# --- routing next to the Messaging API fake ---------------------------------------------------------------------

LOGIN_PATHS = [
    "/line/access/oauth2/v2.1/authorize",
    "/line/api/oauth2/v2.1/token",
    "/line/api/oauth2/v2.1/verify",
    "/line/api/friendship/v1/status",
    "/line/api/v2/profile",
]
MESSAGING_PATHS = ["/line/api/v2/bot/message/push", "/line/api/v2/bot/message/multicast", "/line/api/v2/bot/info"]


def routed(path: str) -> str | None:
    """The routing the server needs: the first fake that serves the path, LineLoginFake listed before LineFake."""
    for fake in (LineLoginFake(), LineFake()):
        serves = getattr(fake, "serves", None)  # FakeProvider.serves, once the server routes by it
        if serves(path) if serves else path.startswith(fake.prefix + "/"):
            return fake.name
    return None


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_login_paths_are_line_logins(path: str):
    assert routed(path) == "line_login"


@pytest.mark.parametrize("path", MESSAGING_PATHS)
def test_messaging_api_paths_stay_with_the_line_fake(path: str):
    assert routed(path) == "line"
    assert not LineLoginFake().serves(path)


def test_fake_builds_without_arguments_as_the_server_does():
    fake = LineLoginFake()
    assert (fake.name, fake.prefix) == ("line_login", "/line")
    assert isinstance(fake.limiter, RateLimiter)


def test_token_set_from_the_fake_hides_its_secrets(sandbox, line, http):
    tokens: TokenSet = login_client(sandbox).exchange(
        SETTINGS, code=code(sandbox, http), redirect_uri=REDIRECT, code_verifier=VERIFIER
    )
    assert tokens.access_token not in repr(tokens) and (tokens.refresh_token or "") not in repr(tokens)
