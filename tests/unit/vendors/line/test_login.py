"""LINE Login client: authorize URL, token exchange and refresh, every ID-token check, friendship, webhook
signatures and secrets kept out of reprs and errors (providers.md §3.5, §3.6, §8.2, §8.4; no network).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
import requests

from tests.unit.builders import http_response
from tests.unit.fakes import FakeSession
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
)
from workplace_hub.line.login import ID_TOKEN_LEEWAY, LineLoginClient
from workplace_hub.line.webhook_events import verify_webhook_signature, webhook_signature
from workplace_hub.providers.oauth import IdTokenError, TokenSet

NOW = 1_700_000_000.0
CHANNEL_ID = "1234567890"
SECRET = "0123456789abcdef0123456789abcdef"  # real channel secrets are 32 hex
SETTINGS = {
    "login_channel_id": CHANNEL_ID,
    "login_channel_secret": SECRET,
    "channel_access_token": "messaging-channel-access-token",
    "channel_secret": "fedcba9876543210fedcba9876543210",
    "friend_link_url": "https://lin.ee/abcdefg",
}
USER = "U4af4980629abcdef0123456789abcdef"
NONCE = "n-0S6_WzA2Mj"
STATE = "s7Hq2Jx0aZ.sig-Ab_c"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CODE = "abcd1234EFGHijkl5678"
REDIRECT = "https://hub.example.com/oauth/line/callback"
ACCESS = "bNl4YEFPI/hjFWhTqexp4MuEw5YPs7qhr6dJDXKwNPuLka4l4Fk"
REFRESH = "Aa1FdeggRhTnPNNpxr8p"
API = "https://api.line.me"
ACCESS_BASE = "https://access.line.me"
# providers.md §8.4 (secret "channel_secret", exp 2000000000, iat 1700000000)
VECTOR_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2FjY2Vzcy5saW5lLm1lIiwic3ViIjoiVTEyMzQ1Njc4OTBhYmNk"
    "ZWYxMjM0NTY3ODkwYWJjZGVmIiwiYXVkIjoiMTIzNDU2Nzg5MCIsImV4cCI6MjAwMDAwMDAwMCwiaWF0IjoxNzAwMDAwMDAwLCJub25jZSI6Im4t"
    "MFM2X1d6QTJNaiIsImFtciI6WyJwd2QiXSwibmFtZSI6IlRhcm8ifQ.Ldf9tMuhyvgpf9atAEhYirPnWO4EE9EmQt0fQiSfd1E"
)


def client(session: FakeSession | None = None, now: float = NOW) -> LineLoginClient:
    endpoints = ProviderEndpoints(LINE_API_BASE=API, LINE_ACCESS_BASE=ACCESS_BASE)
    return LineLoginClient(session or FakeSession(), endpoints, clock=lambda: now)  # type: ignore[arg-type]


def token_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "access_token": ACCESS,
        "expires_in": 2592000,
        "id_token": id_token(),
        "refresh_token": REFRESH,
        "scope": "profile openid",
        "token_type": "Bearer",
    }
    return {k: v for k, v in {**body, **overrides}.items() if v is not None}


def id_token(secret: str = SECRET, algorithm: str = "HS256", drop: tuple[str, ...] = (), **overrides: Any) -> str:
    claims = {
        "iss": "https://access.line.me",
        "sub": USER,
        "aud": CHANNEL_ID,
        "exp": int(NOW) + 3600,
        "iat": int(NOW),
        "nonce": NONCE,
        "amr": ["pwd"],
        "name": "Taro",
        "picture": "https://profile.line-scdn.net/0h1234",
        **overrides,
    }
    return jwt.encode({k: v for k, v in claims.items() if k not in drop}, secret, algorithm=algorithm)


def exchange(session: FakeSession) -> TokenSet:
    return client(session).exchange(SETTINGS, code=CODE, redirect_uri=REDIRECT, code_verifier=VERIFIER)


def exchange_error(*outcomes: requests.Response | BaseException) -> ProviderError:
    with pytest.raises(ProviderError) as raised:
        exchange(FakeSession(list(outcomes)))
    assert raised.value.provider == "line"
    return raised.value


def id_token_error(token: str, nonce: str = NONCE, now: float = NOW) -> str:
    with pytest.raises(IdTokenError) as raised:
        client(now=now).verify_id_token(SETTINGS, token, nonce=nonce)
    assert not token or token not in str(raised.value)
    return raised.value.code


# --- authorize URL -------------------------------------------------------------------------------------------


def test_authorize_url_has_every_parameter_line_login_needs():
    # WHEN
    url = client().authorize_url(
        SETTINGS, state=STATE, nonce=NONCE, code_challenge=CHALLENGE, redirect_uri=REDIRECT + "?company=c1"
    )
    # THEN
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://access.line.me/oauth2/v2.1/authorize"
    assert parse_qsl(parts.query) == [
        ("response_type", "code"),
        ("client_id", CHANNEL_ID),
        ("redirect_uri", REDIRECT + "?company=c1"),
        ("state", STATE),
        ("scope", "profile openid"),
        ("nonce", NONCE),
        ("bot_prompt", "aggressive"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    assert "scope=profile%20openid" in parts.query  # %20, not +
    assert f"state={STATE}&" in parts.query  # state is passed as it is
    assert "redirect_uri=https%3A%2F%2Fhub.example.com%2Foauth%2Fline%2Fcallback%3Fcompany%3Dc1" in parts.query
    assert SECRET not in url


def test_authorize_url_uses_the_configured_access_base():
    endpoints = ProviderEndpoints(LINE_ACCESS_BASE="http://127.0.0.1:4010/line/access/")
    sandbox = LineLoginClient(FakeSession(), endpoints)  # type: ignore[arg-type]
    url = sandbox.authorize_url(SETTINGS, state=STATE, nonce=NONCE, code_challenge=CHALLENGE, redirect_uri=REDIRECT)
    assert url.startswith("http://127.0.0.1:4010/line/access/oauth2/v2.1/authorize?response_type=code&")


def test_authorize_url_without_login_channel_id_is_the_admins_to_fix():
    with pytest.raises(IntegrationCredentialsError) as raised:
        client().authorize_url({}, state=STATE, nonce=NONCE, code_challenge=CHALLENGE, redirect_uri=REDIRECT)
    assert raised.value.code == "missing_credentials"
    assert "login_channel_id" in raised.value.detail


@pytest.mark.parametrize("missing", ["state", "nonce", "code_challenge"])
def test_authorize_url_refuses_an_empty_state_nonce_or_challenge(missing: str):
    values = {"state": STATE, "nonce": NONCE, "code_challenge": CHALLENGE, missing: ""}
    with pytest.raises(ValueError, match=missing):
        client().authorize_url(SETTINGS, redirect_uri=REDIRECT, **values)


def test_authorize_url_refuses_a_non_http_redirect_uri():
    with pytest.raises(ValueError, match="redirect_uri"):
        client().authorize_url(
            SETTINGS, state=STATE, nonce=NONCE, code_challenge=CHALLENGE, redirect_uri="javascript:alert(1)"
        )


# --- token exchange ------------------------------------------------------------------------------------------


def test_exchange_posts_the_form_and_returns_the_tokens():
    # GIVEN
    body = token_body()
    session = FakeSession([http_response(200, body)])
    # WHEN
    tokens = exchange(session)
    # THEN
    (call,) = session.requests
    assert (call.method, call.url) == ("POST", "https://api.line.me/oauth2/v2.1/token")
    assert call.headers == {"Content-Type": "application/x-www-form-urlencoded"}
    assert call.data == {
        "grant_type": "authorization_code",
        "code": CODE,
        "redirect_uri": REDIRECT,
        "client_id": CHANNEL_ID,
        "client_secret": SECRET,
        "code_verifier": VERIFIER,
    }
    assert call.json is None
    assert call.timeout == (3.05, 10.0)
    assert tokens == TokenSet(
        access_token=ACCESS,
        refresh_token=REFRESH,
        expires_at=NOW + 2592000,
        id_token=body["id_token"],
        scope="profile openid",
    )


def test_exchange_of_an_expired_or_used_code_is_permanent_invalid_grant():
    error = exchange_error(
        http_response(400, {"error": "invalid_grant", "error_description": "authorization code expired"})
    )
    assert type(error) is PermanentProviderError  # not NeedsRelinkError: the employee just starts again
    assert (error.code, error.status_code, error.detail) == ("invalid_grant", 400, "authorization code expired")


def test_exchange_refused_client_is_the_admins_to_fix():
    error = exchange_error(http_response(401, {"error": "invalid_client", "error_description": "invalid client"}))
    assert isinstance(error, IntegrationCredentialsError)
    assert (error.code, error.status_code) == ("invalid_client", 401)


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, {"error": "invalid_request", "error_description": "code_verifier is required"}, "invalid_request"),
        (400, {"error": "unsupported_grant_type"}, "unsupported_grant_type"),
        (403, None, "http_403"),
        (400, "not json", "http_400"),
    ],
)
def test_exchange_other_4xx_is_permanent(status: int, body: Any, code: str):
    response = http_response(status, text=body) if isinstance(body, str) else http_response(status, body)
    error = exchange_error(response)
    assert type(error) is PermanentProviderError
    assert (error.code, error.status_code) == (code, status)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_exchange_5xx_is_retryable(status: int):
    error = exchange_error(http_response(status, {"error": "server_error", "error_description": "Internal"}))
    assert isinstance(error, RetryableProviderError)
    assert error.status_code == status


def test_exchange_429_is_retryable_with_retry_after():
    error = exchange_error(http_response(429, {"error": "too_many_requests"}, headers={"Retry-After": "7"}))
    assert isinstance(error, RetryableProviderError)
    assert error.retry_after == 7.0


@pytest.mark.parametrize(
    ("exc", "code"),
    [(requests.ReadTimeout("read timed out"), "timeout"), (requests.ConnectionError("refused"), "connection_error")],
)
def test_exchange_network_failure_is_retryable(exc: Exception, code: str):
    error = exchange_error(exc)
    assert isinstance(error, RetryableProviderError)
    assert error.code == code
    assert error.__cause__ is None and error.__suppress_context__  # the exception may quote the URL


def test_exchange_200_without_access_token_is_permanent():
    error = exchange_error(http_response(200, {"token_type": "Bearer"}))
    assert type(error) is PermanentProviderError
    assert error.code == "invalid_token_response"


def test_exchange_without_expires_in_assumes_30_days_and_without_id_token_says_so():
    tokens = exchange(FakeSession([http_response(200, token_body(expires_in=None, id_token=None))]))
    assert tokens.expires_at == NOW + 2592000
    assert tokens.id_token is None


def test_exchange_without_the_login_channel_secret_makes_no_call():
    session = FakeSession()
    with pytest.raises(IntegrationCredentialsError) as raised:
        client(session).exchange(
            {"login_channel_id": CHANNEL_ID}, code=CODE, redirect_uri=REDIRECT, code_verifier=VERIFIER
        )
    assert raised.value.detail == "missing: login_channel_secret"
    assert session.requests == []


# --- refresh -------------------------------------------------------------------------------------------------


def test_refresh_posts_the_refresh_grant():
    session = FakeSession([http_response(200, token_body(id_token=None, refresh_token="new-refresh"))])
    tokens = client(session).refresh(SETTINGS, REFRESH)
    (call,) = session.requests
    assert call.data == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
        "client_id": CHANNEL_ID,
        "client_secret": SECRET,
    }
    assert (tokens.refresh_token, tokens.id_token, tokens.expires_at) == ("new-refresh", None, NOW + 2592000)


def test_refresh_answer_without_refresh_token_keeps_the_old_one():
    session = FakeSession([http_response(200, token_body(id_token=None, refresh_token=None))])
    assert client(session).refresh(SETTINGS, REFRESH).refresh_token == REFRESH


def test_refresh_refused_means_the_employee_must_link_again():
    session = FakeSession([http_response(400, {"error": "invalid_grant", "error_description": "invalid refresh"})])
    with pytest.raises(NeedsRelinkError) as raised:
        client(session).refresh(SETTINGS, REFRESH)
    assert raised.value.code == "invalid_grant"


def test_refresh_5xx_is_retryable_not_a_relink():
    session = FakeSession([http_response(503, {"error": "server_error"})])
    with pytest.raises(RetryableProviderError):
        client(session).refresh(SETTINGS, REFRESH)


# --- ID token ------------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the vector's secret is 14 bytes
def test_verify_id_token_accepts_the_reference_vector():
    settings = {"login_channel_id": "1234567890", "login_channel_secret": "channel_secret"}
    claims = client(now=1_700_000_000).verify_id_token(settings, VECTOR_TOKEN, nonce="n-0S6_WzA2Mj")
    assert claims == {
        "iss": "https://access.line.me",
        "sub": "U1234567890abcdef1234567890abcdef",
        "aud": "1234567890",
        "exp": 2000000000,
        "iat": 1700000000,
        "nonce": "n-0S6_WzA2Mj",
        "amr": ["pwd"],
        "name": "Taro",
    }


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_verify_id_token_reference_vector_with_another_secret_is_invalid():
    settings = {"login_channel_id": "1234567890", "login_channel_secret": "another_secret"}
    with pytest.raises(IdTokenError) as raised:
        client(now=1_700_000_000).verify_id_token(settings, VECTOR_TOKEN, nonce="n-0S6_WzA2Mj")
    assert raised.value.code == "id_token_invalid"


def test_verify_id_token_returns_the_claims():
    claims = client().verify_id_token(SETTINGS, id_token(), nonce=NONCE)
    assert (claims["sub"], claims["name"], claims["picture"]) == (USER, "Taro", "https://profile.line-scdn.net/0h1234")


def test_verify_id_token_signed_with_another_secret_is_invalid():
    assert id_token_error(id_token(secret="ffffffffffffffffffffffffffffffff")) == "id_token_invalid"


def test_verify_id_token_with_a_tampered_payload_is_invalid():
    header, _, signature = id_token().split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"sub": "U" + "0" * 32}).encode()).rstrip(b"=").decode()
    assert id_token_error(f"{header}.{forged}.{signature}") == "id_token_invalid"


def test_verify_id_token_refuses_alg_none():
    unsigned = jwt.encode(jwt.decode(id_token(), options={"verify_signature": False}), None, algorithm="none")
    assert id_token_error(unsigned) == "id_token_invalid"


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512 wants 64 bytes
def test_verify_id_token_refuses_other_hmac_algorithms():
    assert id_token_error(id_token(algorithm="HS512")) == "id_token_invalid"


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30"])
def test_verify_id_token_refuses_malformed_tokens(token: str):
    assert id_token_error(token) == "id_token_invalid"


def test_verify_id_token_from_another_issuer():
    assert id_token_error(id_token(iss="https://evil.example.com")) == "id_token_issuer"


def test_verify_id_token_for_another_channel():
    assert id_token_error(id_token(aud="9999999999")) == "id_token_audience"


def test_verify_id_token_expired_beyond_the_leeway():
    assert id_token_error(id_token(exp=int(NOW) - ID_TOKEN_LEEWAY - 1)) == "id_token_expired"


def test_verify_id_token_just_expired_within_the_leeway_passes():
    assert client().verify_id_token(SETTINGS, id_token(exp=int(NOW) - 5), nonce=NONCE)["sub"] == USER


def test_verify_id_token_expiry_uses_the_injected_clock():
    token = id_token()
    assert id_token_error(token, now=NOW + 3600 + ID_TOKEN_LEEWAY + 1) == "id_token_expired"


def test_verify_id_token_issued_in_the_future_is_invalid():
    assert id_token_error(id_token(iat=int(NOW) + 600, exp=int(NOW) + 4200)) == "id_token_invalid"


@pytest.mark.parametrize("expected", ["another-nonce", NONCE + "x", ""])
def test_verify_id_token_with_another_nonce(expected: str):
    assert id_token_error(id_token(), nonce=expected) == "id_token_nonce"


def test_verify_id_token_without_nonce_claim():
    assert id_token_error(id_token(drop=("nonce",))) == "id_token_nonce"


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "iat"])
def test_verify_id_token_missing_a_required_claim_is_refused(claim: str):
    assert id_token_error(id_token(drop=(claim,))) == "id_token_invalid"


def test_verify_id_token_whose_sub_is_not_a_line_user_id_is_invalid():
    assert id_token_error(id_token(sub="someone@example.com")) == "id_token_invalid"


def test_verify_id_token_with_a_non_numeric_exp_is_invalid():
    assert id_token_error(id_token(exp="tomorrow")) == "id_token_invalid"


# --- friendship and profile ----------------------------------------------------------------------------------


def tokens() -> TokenSet:
    return TokenSet(ACCESS, REFRESH, NOW + 100, None, "profile openid")


@pytest.mark.parametrize("flag", [True, False])
def test_friendship_reads_friend_flag_with_the_users_token(flag: bool):
    session = FakeSession([http_response(200, {"friendFlag": flag})])
    assert client(session).friendship(tokens()) is flag
    (call,) = session.requests
    assert (call.method, call.url) == ("GET", "https://api.line.me/friendship/v1/status")
    assert call.headers == {"Authorization": f"Bearer {ACCESS}"}


def test_friendship_with_a_rejected_token_is_permanent():
    session = FakeSession([http_response(401, {"message": "invalid token"})])
    with pytest.raises(PermanentProviderError) as raised:
        client(session).friendship(tokens())
    assert (raised.value.code, raised.value.status_code) == ("access_token_rejected", 401)


def test_friendship_5xx_is_retryable():
    with pytest.raises(RetryableProviderError):
        client(FakeSession([http_response(500, {"message": "Internal"})])).friendship(tokens())


def test_friendship_without_friend_flag_is_permanent():
    with pytest.raises(PermanentProviderError) as raised:
        client(FakeSession([http_response(200, {"friend": "yes"})])).friendship(tokens())
    assert raised.value.code == "invalid_response"


def test_profile_returns_the_users_line_profile():
    body = {"userId": USER, "displayName": "Taro", "pictureUrl": "https://profile.line-scdn.net/0h1234"}
    session = FakeSession([http_response(200, body)])
    assert client(session).profile(tokens()) == body
    assert session.requests[0].url == "https://api.line.me/v2/profile"


# --- webhook signature ---------------------------------------------------------------------------------------


def test_webhook_signature_matches_the_sdk_vector():
    assert webhook_signature("channel_secret", b"bodybodybodybody") == "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k="


def test_verify_webhook_signature_accepts_the_sdk_vector():
    assert verify_webhook_signature(
        "channel_secret", b"bodybodybodybody", "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k="
    )


@pytest.mark.parametrize(
    ("secret", "body", "signature"),
    [
        ("channel_secret", b"bodybodybodybodX", "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k="),
        ("other_secret", b"bodybodybodybody", "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k="),
        ("channel_secret", b"bodybodybodybody", "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k"),
        ("channel_secret", b"bodybodybodybody", ""),
        ("channel_secret", b"bodybodybodybody", None),
        ("channel_secret", b"bodybodybodybody", "署名"),
        ("", b"bodybodybodybody", "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k="),
    ],
)
def test_verify_webhook_signature_refuses_anything_else(secret: str, body: bytes, signature: str | None):
    assert verify_webhook_signature(secret, body, signature) is False


def test_webhook_signature_is_over_the_raw_utf8_body():
    body = '{"destination":"U0123456789abcdef0123456789abcdef","events":[{"text":"休暇"}]}'.encode()
    signature = webhook_signature(SECRET, body)
    assert signature == base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert verify_webhook_signature(SECRET, body, signature)


# --- no secrets in reprs or errors ---------------------------------------------------------------------------


def test_token_set_repr_shows_no_token():
    tokens = TokenSet(ACCESS, REFRESH, NOW, id_token(), "profile openid")
    text = repr(tokens) + str(tokens)
    assert "profile openid" in text
    for secret in (ACCESS, REFRESH, tokens.id_token):
        assert secret not in text


def test_token_set_is_frozen():
    with pytest.raises(AttributeError):
        tokens().access_token = "x"  # type: ignore[misc]


@pytest.mark.parametrize("status", [400, 401, 500])
def test_token_errors_never_echo_the_code_verifier_or_secret(status: int):
    # GIVEN a provider that quotes what it was sent in its description
    description = f"bad request: code={CODE} code_verifier={VERIFIER} client_secret={SECRET}"
    error = exchange_error(http_response(status, {"error": "invalid_grant", "error_description": description}))
    # THEN
    text = f"{error} {error.detail!r} {error!r}"
    for secret in (CODE, VERIFIER, SECRET):
        assert secret not in text
    assert "code=***" in error.detail


def test_refresh_errors_never_echo_the_refresh_token():
    body = {"error": "invalid_grant", "error_description": f"refresh_token {REFRESH} is revoked"}
    with pytest.raises(NeedsRelinkError) as raised:
        client(FakeSession([http_response(400, body)])).refresh(SETTINGS, REFRESH)
    assert REFRESH not in str(raised.value) and REFRESH not in raised.value.detail


def test_network_errors_never_echo_the_url_or_form():
    error = exchange_error(requests.ConnectionError(f"https://api.line.me/oauth2/v2.1/token?code={CODE}"))
    assert CODE not in str(error) and "api.line.me" not in str(error)
