"""Google domain-wide delegation (providers.md §6.4): google-auth's service-account grant through a scripted
session, its token cache and error mapping, and the service-account key file check. No network.
"""

from __future__ import annotations

import gc
import json
from functools import cache
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import _exponential_backoff

from tests.unit.builders import ec_private_key_pem, http_response, rsa_private_key_pem
from tests.unit.fakes import FakeSession
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import IntegrationCredentialsError, PermanentProviderError, RetryableProviderError
from workplace_hub.google.delegation import DelegatedCalendarAuth, validate_service_account_json
from workplace_hub.google.oauth import CALENDAR_EVENTS_SCOPE

NOW = 1_800_000_000.0
TARO = "taro.yamada@acme.example"
SA_EMAIL = "hub-calendar@acme-hub.iam.gserviceaccount.com"
ENDPOINTS = ProviderEndpoints(
    GOOGLE_ACCOUNTS_BASE="http://sandbox.test/google/accounts", GOOGLE_OAUTH2_BASE="http://sandbox.test/google/oauth2"
)
TOKEN_URL = "http://sandbox.test/google/oauth2/token"
GARBAGE_PEM = "-----BEGIN PRIVATE KEY-----\nSECRETgarbage\n-----END PRIVATE KEY-----\n"


@cache
def other_private_key() -> str:
    """A second RSA key: another key file of the same service account."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


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
