"""Google OAuth client and domain-wide delegation (providers.md §6.3-§6.4): the authorization URL, token
requests and their error mapping, every ID-token check, google-auth's service-account grant through a
scripted session, and the service-account key file check. No network.
"""

from __future__ import annotations

import gc
import json
from functools import cache
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import _exponential_backoff

from tests.unit.builders import ec_private_key_pem, http_response, rsa_private_key_pem
from tests.unit.fakes import FakeSession
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    RetryableProviderError,
)
from workplace_hub.google.delegation import DelegatedCalendarAuth, validate_service_account_json
from workplace_hub.google.oauth import CALENDAR_EVENTS_SCOPE, GOOGLE_CERTS_URL, GoogleOAuthClient
from workplace_hub.providers.oauth import IdTokenError, TokenSet

NOW = 1_800_000_000.0
CLIENT_ID = "1234567890-abc.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-SECRETclientSECRET"
REDIRECT = "https://hub.example/oauth/google/callback"
ACCESS = "ya29.SECRETaccessTOKEN"
REFRESH = "1//0eSECRETrefreshTOKEN"
TARO = "taro.yamada@acme.example"
DOMAIN = "acme.example"
NONCE = "n-0S6_WzA2Mj"
SA_EMAIL = "hub-calendar@acme-hub.iam.gserviceaccount.com"
ENDPOINTS = ProviderEndpoints(
    GOOGLE_ACCOUNTS_BASE="http://sandbox.test/google/accounts", GOOGLE_OAUTH2_BASE="http://sandbox.test/google/oauth2"
)
CERTS = "http://sandbox.test/google/oauth2/certs"
TOKEN_URL = "http://sandbox.test/google/oauth2/token"
SECRETS = (CLIENT_SECRET, ACCESS, REFRESH, "SECRETcode")
GARBAGE_PEM = "-----BEGIN PRIVATE KEY-----\nSECRETgarbage\n-----END PRIVATE KEY-----\n"


def web_client(**overrides: Any) -> dict[str, Any]:
    """The parsed "web" object of an OAuth client file (hosts as Google's download has them)."""
    web = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://evil.example/token",
        "redirect_uris": [REDIRECT],
    }
    web.update(overrides)
    return web


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_client(session: FakeSession, clock: Clock | None = None, **kwargs: Any) -> GoogleOAuthClient:
    return GoogleOAuthClient(session, ENDPOINTS, clock=clock or Clock(), certs_url=CERTS, **kwargs)  # type: ignore[arg-type]


def form_of(session: FakeSession, index: int = -1) -> dict[str, str]:
    return dict(session.requests[index].data)


def assert_no_secrets(exc: BaseException) -> None:
    text = str(exc) + repr(exc) + repr(exc.args)
    for secret in SECRETS:
        assert secret not in text


# --- authorization URL --------------------------------------------------------------------------------


def test_authorize_url_uses_configured_accounts_host_and_all_parameters() -> None:
    # GIVEN a client file whose auth_uri names Google's host
    client = make_client(FakeSession())

    # WHEN the URL is built
    url = client.authorize_url(
        web_client(),
        state="STATE",
        nonce=NONCE,
        code_challenge="C" * 43,
        redirect_uri=REDIRECT,
        login_hint=TARO,
        hosted_domain=DOMAIN,
    )

    # THEN it goes to the configured base (never the file's host) with offline consent and PKCE
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://sandbox.test/google/accounts/o/oauth2/v2/auth"
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid email https://www.googleapis.com/auth/calendar.events",
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "state": "STATE",
        "nonce": NONCE,
        "login_hint": TARO,
        "hd": DOMAIN,
        "code_challenge": "C" * 43,
        "code_challenge_method": "S256",
    }
    assert CLIENT_SECRET not in url


def test_authorize_url_without_hints_and_with_whole_client_file() -> None:
    # GIVEN the whole file ({"web": {...}}) and no hints
    url = make_client(FakeSession()).authorize_url(
        {"web": web_client()}, state="S", nonce="N", code_challenge="C" * 43, redirect_uri=REDIRECT
    )

    # THEN the hints are left out
    query = parse_qs(urlsplit(url).query)
    assert query["client_id"] == [CLIENT_ID]
    assert "login_hint" not in query and "hd" not in query


def test_authorize_url_client_without_id_is_the_admins_to_fix() -> None:
    with pytest.raises(IntegrationCredentialsError) as caught:
        make_client(FakeSession()).authorize_url(
            web_client(client_id=""), state="S", nonce="N", code_challenge="C" * 43, redirect_uri=REDIRECT
        )
    assert caught.value.code == "missing_credentials"
    assert "web.client_id" in caught.value.detail


# --- code exchange, refresh, revoke -------------------------------------------------------------------


def oauth_error(status: int, error: str, description: str | None = None) -> requests.Response:
    body = {"error": error} if description is None else {"error": error, "error_description": description}
    return http_response(status, body)


def token_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "access_token": ACCESS,
        "expires_in": 3599,
        "refresh_token": REFRESH,
        "scope": "openid https://www.googleapis.com/auth/userinfo.email " + CALENDAR_EVENTS_SCOPE,
        "token_type": "Bearer",
        "id_token": "eyJ.id.token",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def test_exchange_posts_form_to_configured_token_endpoint() -> None:
    # GIVEN Google answering the code exchange
    session = FakeSession([http_response(200, token_body())])

    # WHEN the code is exchanged
    tokens = make_client(session, timeout=(1.0, 2.0)).exchange(
        web_client(), code="SECRETcode", redirect_uri=REDIRECT, code_verifier="V" * 64
    )

    # THEN one form POST went to GOOGLE_OAUTH2_BASE/token (not the file's token_uri)
    (call,) = session.requests
    assert (call.method, call.url, call.timeout) == ("POST", TOKEN_URL, (1.0, 2.0))
    assert call.headers == {"Content-Type": "application/x-www-form-urlencoded"}
    assert form_of(session) == {
        "grant_type": "authorization_code",
        "code": "SECRETcode",
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "code_verifier": "V" * 64,
    }
    # AND the tokens come back with an absolute expiry, secrets hidden from repr
    assert tokens == TokenSet(ACCESS, REFRESH, NOW + 3599, "eyJ.id.token", token_body()["scope"])
    for secret in (ACCESS, REFRESH, "eyJ.id.token"):
        assert secret not in repr(tokens)


@pytest.mark.parametrize(
    ("outcome", "error", "code"),
    [
        (oauth_error(400, "invalid_grant", "Bad Request"), PermanentProviderError, "invalid_grant"),
        (oauth_error(401, "invalid_client", "Unauthorized"), IntegrationCredentialsError, "invalid_client"),
        (oauth_error(400, "redirect_uri_mismatch"), IntegrationCredentialsError, "redirect_uri_mismatch"),
        (oauth_error(400, "invalid_request"), PermanentProviderError, "invalid_request"),
        (oauth_error(503, "temporarily_unavailable"), RetryableProviderError, "temporarily_unavailable"),
        (http_response(502, text="<html>bad gateway</html>"), RetryableProviderError, "http_502"),
        (http_response(200, {"token_type": "Bearer"}), RetryableProviderError, "invalid_token_response"),
        (requests.Timeout("SECRETcode"), RetryableProviderError, "token_timeout"),
        (requests.ConnectionError("SECRETcode"), RetryableProviderError, "token_connection_error"),
    ],
)
def test_exchange_errors_map_to_hub_errors(outcome: Any, error: type[Exception], code: str) -> None:
    # GIVEN a failing token endpoint
    session = FakeSession([outcome])

    # WHEN the code is exchanged
    with pytest.raises(error) as caught:
        make_client(session).exchange(web_client(), code="SECRETcode", redirect_uri=REDIRECT, code_verifier="V" * 64)

    # THEN the error names the OAuth code, never a secret; an exchange is never a re-link case
    assert type(caught.value) is error
    assert caught.value.code == code
    assert_no_secrets(caught.value)


def test_exchange_rate_limited_carries_retry_after() -> None:
    session = FakeSession([http_response(429, {"error": "rate_limit_exceeded"}, headers={"Retry-After": "7"})])
    with pytest.raises(RetryableProviderError) as caught:
        make_client(session).exchange(web_client(), code="c", redirect_uri=REDIRECT, code_verifier="v")
    assert caught.value.retry_after == 7.0


def test_refresh_posts_refresh_grant_and_leaves_refresh_token_empty_when_google_sends_none() -> None:
    # GIVEN Google answering with a new access token only
    session = FakeSession([http_response(200, token_body(refresh_token=None, id_token=None))])

    # WHEN the grant is refreshed
    tokens = make_client(session).refresh(web_client(), REFRESH)

    # THEN the refresh form was posted and the set says there is no new refresh token
    assert session.requests[0].url == TOKEN_URL
    assert form_of(session) == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    assert (tokens.access_token, tokens.refresh_token, tokens.id_token) == (ACCESS, None, None)
    assert tokens.expires_at == NOW + 3599


@pytest.mark.parametrize(
    ("outcome", "error", "code"),
    [
        (oauth_error(400, "invalid_grant", "Token has been expired or revoked."), NeedsRelinkError, "invalid_grant"),
        (oauth_error(400, "unauthorized_client", "Unauthorized"), NeedsRelinkError, "unauthorized_client"),
        (oauth_error(401, "invalid_client", "Unauthorized"), IntegrationCredentialsError, "invalid_client"),
        (oauth_error(500, "internal_failure"), RetryableProviderError, "internal_failure"),
    ],
)
def test_refresh_errors(outcome: requests.Response, error: type[Exception], code: str) -> None:
    session = FakeSession([outcome])
    with pytest.raises(error) as caught:
        make_client(session).refresh(web_client(), REFRESH)
    assert type(caught.value) is error
    assert caught.value.code == code
    assert_no_secrets(caught.value)


def test_refresh_without_refresh_token_needs_relink_without_calling_google() -> None:
    session = FakeSession()
    with pytest.raises(NeedsRelinkError) as caught:
        make_client(session).refresh(web_client(), "")
    assert caught.value.code == "invalid_grant"
    assert session.requests == []


@pytest.mark.parametrize(
    "outcome",
    [http_response(200, {}), oauth_error(400, "invalid_token", "Token expired or revoked")],
)
def test_revoke_posts_token_and_accepts_already_revoked(outcome: requests.Response) -> None:
    session = FakeSession([outcome])
    make_client(session).revoke(REFRESH)
    (call,) = session.requests
    assert (call.method, call.url) == ("POST", "http://sandbox.test/google/oauth2/revoke")
    assert form_of(session) == {"token": REFRESH}


def test_revoke_unavailable_is_retryable() -> None:
    session = FakeSession([http_response(503, {"error": "temporarily_unavailable"})])
    with pytest.raises(RetryableProviderError):
        make_client(session).revoke(REFRESH)


def test_client_repr_shows_no_secrets() -> None:
    assert "oauth2_base" in repr(make_client(FakeSession()))


# --- ID token -----------------------------------------------------------------------------------------


def private_key() -> Any:
    return serialization.load_pem_private_key(rsa_private_key_pem().encode(), password=None)


@cache
def other_private_key() -> str:
    """A second RSA key, for signatures the published key does not verify."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def jwks(kid: str = "k1", key: Any = None) -> dict[str, Any]:
    public = (key or private_key()).public_key()
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
    jwk.update(kid=kid, alg="RS256", use="sig")
    return {"keys": [jwk]}


def certs_response(max_age: int = 19800, **kwargs: Any) -> requests.Response:
    return http_response(200, jwks(**kwargs), headers={"Cache-Control": f"public, max-age={max_age}"})


def claims(**overrides: Any) -> dict[str, Any]:
    body = {
        "iss": "https://accounts.google.com",
        "azp": CLIENT_ID,
        "aud": CLIENT_ID,
        "sub": "110169484474386276334",
        "email": TARO,
        "email_verified": True,
        "hd": DOMAIN,
        "nonce": NONCE,
        "iat": int(NOW) - 10,
        "exp": int(NOW) + 3590,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def id_token(kid: str = "k1", key: Any = None, algorithm: str = "RS256", **overrides: Any) -> str:
    signing = key if key is not None else rsa_private_key_pem()
    return jwt.encode(claims(**overrides), signing, algorithm=algorithm, headers={"kid": kid})


def verify(client: GoogleOAuthClient, token: str, **kwargs: Any) -> dict[str, Any]:
    options = {"nonce": NONCE, "expected_email": TARO, "expected_domain": DOMAIN, **kwargs}
    return client.verify_id_token(web_client(), token, **options)


def test_verify_id_token_valid_returns_claims_and_caches_keys() -> None:
    # GIVEN Google's keys
    session = FakeSession([certs_response()])
    client = make_client(session)

    # WHEN two tokens are verified
    first = verify(client, id_token())
    second = verify(client, id_token(iss="accounts.google.com"), expected_email=TARO.upper())

    # THEN both pass and the JWKS was fetched once, from the configured URL
    assert first["email"] == TARO and second["iss"] == "accounts.google.com"
    assert [(r.method, r.url) for r in session.requests] == [("GET", CERTS)]


def test_verify_id_token_without_expectations_checks_only_the_token() -> None:
    client = make_client(FakeSession([certs_response()]))
    assert verify(client, id_token(hd=None, email=None), expected_email=None, expected_domain=None)["sub"]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"aud": "someone-else.apps.googleusercontent.com"}, "id_token_audience"),
        ({"iss": "https://evil.example"}, "id_token_issuer"),
        ({"exp": int(NOW) - 61}, "id_token_expired"),
        ({"iat": int(NOW) + 120}, "id_token_invalid"),
        ({"nonce": "replayed"}, "id_token_invalid"),
        ({"nonce": None}, "id_token_invalid"),
        ({"sub": None}, "id_token_invalid"),
        ({"hd": "other.example"}, "hosted_domain_mismatch"),
        ({"hd": None}, "hosted_domain_mismatch"),
        ({"email_verified": False}, "email_unverified"),
        ({"email_verified": "false"}, "email_unverified"),
        ({"email": "hanako@acme.example"}, "email_mismatch"),
    ],
)
def test_verify_id_token_refuses(overrides: dict[str, Any], code: str) -> None:
    # GIVEN a correctly signed token with one bad claim
    client = make_client(FakeSession([certs_response()]))

    # WHEN it is verified
    with pytest.raises(IdTokenError) as caught:
        verify(client, id_token(**overrides))

    # THEN the check that failed is named, and no claim value is quoted
    assert caught.value.code == code
    assert TARO not in str(caught.value) and "@" not in str(caught.value)


def test_verify_id_token_expiry_follows_the_clock_with_leeway() -> None:
    clock = Clock()
    client = make_client(FakeSession([certs_response()]), clock)
    token = id_token(exp=int(NOW) + 100)
    clock.now = NOW + 150  # within the 60 s leeway
    assert verify(client, token)
    clock.now = NOW + 161
    with pytest.raises(IdTokenError) as caught:
        verify(client, token)
    assert caught.value.code == "id_token_expired"


def test_verify_id_token_email_verified_string_true_is_accepted() -> None:
    client = make_client(FakeSession([certs_response()]))
    assert verify(client, id_token(email_verified="true"))


def test_verify_id_token_bad_signature() -> None:
    # GIVEN a token signed by another key under the published key id
    client = make_client(FakeSession([certs_response()]))
    with pytest.raises(IdTokenError) as caught:
        verify(client, id_token(key=other_private_key()))
    assert caught.value.code == "id_token_invalid"


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c"])
def test_verify_id_token_malformed(token: str) -> None:
    session = FakeSession()
    with pytest.raises(IdTokenError) as caught:
        verify(make_client(session), token)
    assert caught.value.code == "id_token_invalid"
    assert session.requests == []


def test_verify_id_token_refuses_hmac_tokens() -> None:
    # GIVEN a token "signed" with HS256 (alg confusion), never looked up
    session = FakeSession()
    with pytest.raises(IdTokenError) as caught:
        verify(make_client(session), id_token(key="x" * 32, algorithm="HS256"))
    assert caught.value.code == "id_token_invalid"
    assert session.requests == []


def test_verify_id_token_unknown_kid_refetches_keys_at_most_once_a_minute() -> None:
    # GIVEN keys fetched a while ago that do not include the token's key id
    clock = Clock()
    session = FakeSession([certs_response(), certs_response(), certs_response(kid="k2")])
    client = make_client(session, clock)
    verify(client, id_token())
    clock.now = NOW + 61

    # WHEN a token with a new key id arrives: one refetch (still unknown)
    with pytest.raises(IdTokenError) as caught:
        verify(client, id_token(kid="k2"))
    assert caught.value.code == "id_token_invalid"
    assert len(session.requests) == 2
    clock.now = NOW + 100
    with pytest.raises(IdTokenError):  # within a minute of the last fetch: no refetch
        verify(client, id_token(kid="k2"))
    assert len(session.requests) == 2

    # THEN a minute later the rotated keys are fetched and the token passes
    clock.now = NOW + 122
    assert verify(client, id_token(kid="k2"))
    assert len(session.requests) == 3


def test_verify_id_token_keys_expire_with_cache_control() -> None:
    clock = Clock()
    session = FakeSession([certs_response(max_age=100), certs_response(max_age=100)])
    client = make_client(session, clock)
    verify(client, id_token())
    clock.now = NOW + 101
    verify(client, id_token())
    assert len(session.requests) == 2


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (http_response(500, {}), "certs_http_500"),
        (http_response(200, {"keys": []}), "certs_invalid"),
        (http_response(200, text="nope"), "certs_invalid"),
        (requests.Timeout(), "certs_timeout"),
    ],
)
def test_verify_id_token_keys_unavailable_is_retryable(outcome: Any, code: str) -> None:
    with pytest.raises(RetryableProviderError) as caught:
        verify(make_client(FakeSession([outcome])), id_token())
    assert caught.value.code == code


def test_certs_url_defaults_to_googles_jwks_or_the_endpoints_setting() -> None:
    assert GoogleOAuthClient(FakeSession(), ProviderEndpoints()).certs_url == GOOGLE_CERTS_URL  # type: ignore[arg-type]
    endpoints = SimpleNamespace(GOOGLE_CERTS_URL="http://sandbox.test/google/oauth2/certs")
    assert GoogleOAuthClient(FakeSession(), endpoints).certs_url == endpoints.GOOGLE_CERTS_URL  # type: ignore[arg-type]


# --- domain-wide delegation ---------------------------------------------------------------------------


def service_account_info(**overrides: Any) -> dict[str, Any]:
    info = {
        "type": "service_account",
        "project_id": "acme-hub",
        "private_key_id": "0123456789abcdef",
        "private_key": rsa_private_key_pem(),
        "client_email": SA_EMAIL,
        "client_id": "109876543210987654321",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    info.update(overrides)
    return info


class ClosingSession(FakeSession):
    """A FakeSession that records whether anybody closed it."""

    closed = False

    def close(self) -> None:
        self.closed = True


def delegated(session: FakeSession, clock: Clock | None = None) -> DelegatedCalendarAuth:
    return DelegatedCalendarAuth(ENDPOINTS, clock or Clock(), session=session, timeout=(1.0, 2.0))  # type: ignore[arg-type]


def sa_token(token: str = "ya29.SECRETdelegated", expires_in: int = 3599) -> requests.Response:
    return http_response(200, {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})


@pytest.fixture
def no_backoff_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """google-auth retries 5xx token answers with 1 s, 2 s sleeps: skip the waiting."""
    monkeypatch.setattr(_exponential_backoff, "time", SimpleNamespace(sleep=lambda seconds: None))


def test_token_for_posts_jwt_grant_to_configured_endpoint_as_the_employee() -> None:
    # GIVEN a key file whose token_uri names Google
    session = FakeSession([sa_token()])

    # WHEN a token for Taro is asked for
    token = delegated(session).token_for(service_account_info(), TARO)

    # THEN google-auth posted the JWT-bearer grant to GOOGLE_OAUTH2_BASE/token with the hub's timeout
    assert token == "ya29.SECRETdelegated"
    (call,) = session.requests
    assert (call.method, call.url, call.timeout) == ("POST", TOKEN_URL, (1.0, 2.0))
    form = parse_qs(call.data.decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    # AND the assertion is an RS256 JWT for the subject and the calendar scope (§6.4)
    public = serialization.load_pem_private_key(rsa_private_key_pem().encode(), password=None).public_key()
    assertion = jwt.decode(
        form["assertion"][0], public, algorithms=["RS256"], audience="https://oauth2.googleapis.com/token"
    )
    assert (assertion["iss"], assertion["sub"], assertion["scope"]) == (SA_EMAIL, TARO, CALENDAR_EVENTS_SCOPE)
    assert assertion["exp"] - assertion["iat"] == 3600


def test_token_for_caches_per_employee_until_shortly_before_expiry() -> None:
    # GIVEN tokens for two employees
    clock = Clock()
    session = FakeSession([sa_token("ya29.taro1"), sa_token("ya29.hanako"), sa_token("ya29.taro2")])
    auth = delegated(session, clock)
    info = service_account_info()

    # WHEN they are asked for repeatedly
    assert auth.token_for(info, TARO) == "ya29.taro1"
    assert auth.token_for(info, TARO.upper()) == "ya29.taro1"
    assert auth.token_for(info, "hanako@acme.example") == "ya29.hanako"
    assert len(session.requests) == 2

    # THEN a token is renewed in the last five minutes of its life
    clock.now = NOW + 3599 - 299
    assert auth.token_for(info, TARO) == "ya29.taro2"


def test_token_for_invalidate_forgets_a_refused_token() -> None:
    session = FakeSession([sa_token("ya29.one"), sa_token("ya29.two")])
    auth = delegated(session)
    info = service_account_info()
    auth.invalidate(info, TARO, auth.token_for(info, TARO))
    assert auth.token_for(info, TARO) == "ya29.two"


def test_token_for_another_key_never_reuses_a_cached_token() -> None:
    session = FakeSession([sa_token("ya29.one"), sa_token("ya29.two")])
    auth = delegated(session)
    auth.token_for(service_account_info(), TARO)
    assert auth.token_for(service_account_info(private_key=other_private_key()), TARO) == "ya29.two"


def test_token_for_unauthorised_delegation_is_permanent_with_reason() -> None:
    # GIVEN the Workspace admin has not authorised the client for the scope
    body = {
        "error": "unauthorized_client",
        "error_description": "Client is unauthorized to retrieve access tokens using this method.",
    }
    session = FakeSession([http_response(401, body)])

    # WHEN a token is asked for
    with pytest.raises(PermanentProviderError) as caught:
        delegated(session).token_for(service_account_info(), TARO)

    # THEN the delivery log can say why, without secrets; google-auth did not retry
    assert type(caught.value) is PermanentProviderError
    assert (caught.value.code, caught.value.reason) == ("unauthorized_client", "google_delegation_not_authorized")
    assert len(session.requests) == 1
    assert "PRIVATE KEY" not in str(caught.value) + repr(caught.value.__cause__)


@pytest.mark.parametrize("error", ["invalid_grant", "invalid_client", "invalid_scope"])
def test_token_for_refused_key_file_is_the_admins_to_fix(error: str) -> None:
    session = FakeSession([http_response(400, {"error": error, "error_description": "Invalid JWT Signature."})])
    with pytest.raises(IntegrationCredentialsError) as caught:
        delegated(session).token_for(service_account_info(), TARO)
    assert caught.value.code == error


def test_token_for_google_unavailable_is_retryable_after_google_auths_retries(no_backoff_sleep: None) -> None:
    session = FakeSession([http_response(503, {"error": "temporarily_unavailable"})] * 3)
    with pytest.raises(RetryableProviderError) as caught:
        delegated(session).token_for(service_account_info(), TARO)
    assert caught.value.code == "temporarily_unavailable"
    assert len(session.requests) == 3


def test_token_for_non_json_error_is_retryable() -> None:
    session = FakeSession([http_response(502, text="<html>Bad Gateway</html>")])
    with pytest.raises(RetryableProviderError) as caught:
        delegated(session).token_for(service_account_info(), TARO)
    assert caught.value.code == "token_unavailable"


@pytest.mark.parametrize(
    ("exception", "code"),
    [(requests.Timeout("t"), "token_timeout"), (requests.ConnectionError("c"), "token_connection_error")],
)
def test_token_for_network_failures_are_retryable(exception: Exception, code: str) -> None:
    with pytest.raises(RetryableProviderError) as caught:
        delegated(FakeSession([exception])).token_for(service_account_info(), TARO)
    assert caught.value.code == code


@pytest.mark.parametrize(
    "overrides",
    [{"private_key": GARBAGE_PEM}, {"client_email": None}],
)
def test_token_for_unusable_key_file(overrides: dict[str, Any]) -> None:
    info = {k: v for k, v in service_account_info(**overrides).items() if v is not None}
    session = FakeSession()
    with pytest.raises(IntegrationCredentialsError) as caught:
        delegated(session).token_for(info, TARO)
    assert caught.value.code == "invalid_service_account"
    assert "SECRET" not in str(caught.value) and caught.value.__cause__ is None
    assert session.requests == []


@pytest.mark.parametrize("subject", ["", "taro"])
def test_token_for_without_an_employee_email_never_asks_google(subject: str) -> None:
    session = FakeSession()
    with pytest.raises(PermanentProviderError) as caught:
        delegated(session).token_for(service_account_info(), subject)
    assert caught.value.code == "invalid_subject"
    assert session.requests == []


def test_delegated_auth_never_closes_the_shared_session() -> None:
    # GIVEN an auth object on the hub's session, used and then dropped
    session = ClosingSession([sa_token()])
    auth = delegated(session)
    auth.token_for(service_account_info(), TARO)
    assert "oauth2_base" in repr(auth)

    # WHEN it is garbage collected
    del auth
    gc.collect()

    # THEN the session is still open (google-auth's transport closes its session when collected)
    assert not session.closed


# --- service-account key file check -------------------------------------------------------------------


def test_validate_service_account_json_accepts_and_compacts() -> None:
    text = json.dumps(service_account_info(), indent=2)
    assert json.loads(validate_service_account_json(text)) == service_account_info()
    assert "\n  " not in validate_service_account_json(text)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("not json", "is not JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps(service_account_info(type="authorized_user")), "type"),
        (json.dumps(service_account_info(client_email="nobody")), "client_email"),
        (json.dumps(service_account_info(private_key=None)), "private_key"),
        (json.dumps(service_account_info(private_key=GARBAGE_PEM)), "private_key"),
        (json.dumps(service_account_info(private_key=ec_private_key_pem())), "private_key must be an RSA"),
        (json.dumps(service_account_info(token_uri="http://oauth2.googleapis.com/token")), "token_uri"),
        (json.dumps(service_account_info(token_uri=None)), "token_uri"),
    ],
)
def test_validate_service_account_json_names_the_bad_field(text: str, field: str) -> None:
    with pytest.raises(ValueError, match=field) as caught:
        validate_service_account_json(text)
    assert "SECRET" not in str(caught.value) and "BEGIN" not in str(caught.value)
