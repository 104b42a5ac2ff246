"""Google OAuth client (providers.md §6.3): the authorization URL, token requests and their error mapping, every
ID-token check (delegation: test_delegation.py). No network.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.unit.builders import http_response, rsa_private_key_pem
from tests.unit.fakes import FakeSession
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    RetryableProviderError,
)
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
