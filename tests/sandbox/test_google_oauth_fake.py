"""Google OAuth fake: the consent page, code/refresh/JWT-bearer grants, revoke, signing keys, faults and
routing next to a Calendar fake; then `GoogleOAuthClient` and `DelegatedCalendarAuth` end to end against it
over 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from infra.keys import rsa_key_pair
from infra.sandbox import Sandbox, SandboxClient, SandboxError
from infra.sandbox.base import FakeProvider, RateLimiter, Request, Response, json_response
from infra.sandbox.google_oauth import GoogleOAuthFake
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    PermanentProviderError,
    RetryableProviderError,
)
from workplace_hub.google.delegation import DelegatedCalendarAuth
from workplace_hub.google.oauth import GoogleOAuthClient
from workplace_hub.providers.oauth import IdTokenError

CLIENT_ID, CLIENT_SECRET = "1234567890-abc.apps.googleusercontent.com", "GOCSPX-SECRETclient"
REDIRECT = "https://hub.example/oauth/google/callback"
TARO, HANAKO, DOMAIN = "taro@acme.example", "hanako@acme.example", "acme.example"
SA_EMAIL = "hub-calendar@acme-hub.iam.gserviceaccount.com"
CALENDAR = "https://www.googleapis.com/auth/calendar.events"
SCOPE = f"openid email {CALENDAR}"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


keys = rsa_key_pair


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0, providers=[GoogleOAuthFake]) as sb:
        yield sb


@pytest.fixture
def fake(sandbox: Sandbox) -> GoogleOAuthFake:
    return sandbox.providers["google_oauth"]  # type: ignore[return-value]


@pytest.fixture
def web(control: SandboxClient) -> dict[str, Any]:
    """A registered OAuth client ("web" object of its file) and Taro as the user who signs in."""
    answer = control.control(
        "google_oauth",
        "clients",
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT]},
    )
    control.control("google_oauth", "users", {"email": TARO, "hd": DOMAIN})
    return answer["client_json"]["web"]


@pytest.fixture
def endpoints(sandbox: Sandbox) -> ProviderEndpoints:
    return ProviderEndpoints(
        GOOGLE_ACCOUNTS_BASE=f"{sandbox.url}/google/accounts", GOOGLE_OAUTH2_BASE=f"{sandbox.url}/google/oauth2"
    )


@pytest.fixture
def client(http: requests.Session, endpoints: ProviderEndpoints, sandbox: Sandbox) -> GoogleOAuthClient:
    return GoogleOAuthClient(http, endpoints, certs_url=f"{sandbox.url}/google/oauth2/certs")


def auth_params(**overrides: Any) -> dict[str, str]:
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": SCOPE,
        "access_type": "offline",
        "prompt": "consent",
        "state": "STATE1",
        "nonce": "NONCE1",
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def authorize(http: requests.Session, sandbox: Sandbox, **overrides: Any) -> requests.Response:
    url = f"{sandbox.url}/google/accounts/o/oauth2/v2/auth"
    return http.get(url, params=auth_params(**overrides), allow_redirects=False)


def callback(response: requests.Response) -> dict[str, str]:
    """The query the consent page redirected to REDIRECT with."""
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def get_code(http: requests.Session, sandbox: Sandbox, **overrides: Any) -> tuple[str, str]:
    """(code, verifier) from an approved consent."""
    verifier, challenge = pkce()
    return callback(authorize(http, sandbox, code_challenge=challenge, **overrides))["code"], verifier


def token(http: requests.Session, sandbox: Sandbox, **form: str) -> requests.Response:
    body = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form}
    body = {k: v for k, v in body.items() if v is not None}
    return http.post(f"{sandbox.url}/google/oauth2/token", data=body)


def redeem(http: requests.Session, sandbox: Sandbox, code: str, verifier: str, **form: str) -> requests.Response:
    options = {"grant_type": "authorization_code", "redirect_uri": REDIRECT, **form}
    return token(http, sandbox, code=code, code_verifier=verifier, **options)


# --- consent page -------------------------------------------------------------------------------------


def test_authorize_redirects_with_code_state_and_granted_scopes(
    http: requests.Session, sandbox: Sandbox, web: dict[str, Any]
) -> None:
    # WHEN Taro approves, whatever hints the URL carries
    query = callback(authorize(http, sandbox, login_hint=HANAKO, hd="other.example"))

    # THEN the callback has a code, the state and the scopes Google grants (email expanded)
    assert query["state"] == "STATE1" and query["code"].startswith("4/")
    assert set(query["scope"].split()) == {"openid", "https://www.googleapis.com/auth/userinfo.email", CALENDAR}
    assert query["hd"] == DOMAIN


def test_authorize_denied_redirects_with_access_denied(
    http: requests.Session, sandbox: Sandbox, control: SandboxClient, web: dict[str, Any]
) -> None:
    control.control("google_oauth", "users", {"email": TARO, "consent": "deny"})
    assert callback(authorize(http, sandbox)) == {"error": "access_denied", "state": "STATE1"}


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"client_id": "unknown.apps.googleusercontent.com"}, 401, "invalid_client"),
        ({"redirect_uri": REDIRECT + "/other"}, 400, "redirect_uri_mismatch"),
        ({"redirect_uri": None}, 400, "redirect_uri_mismatch"),
        ({"response_type": "token"}, 400, "unsupported_response_type"),
        ({"scope": None}, 400, "invalid_request"),
        ({"scope": "openid https://www.googleapis.com/auth/drive"}, 400, "invalid_scope"),
        ({"state": None}, 400, "invalid_request"),
        ({"code_challenge": None}, 400, "invalid_request"),
        ({"code_challenge_method": "plain"}, 400, "invalid_request"),
        ({"access_type": "forever"}, 400, "invalid_request"),
        ({"prompt": "none consent"}, 400, "invalid_request"),
    ],
)
def test_authorize_refuses_bad_requests_without_redirecting(
    http: requests.Session, sandbox: Sandbox, web: dict[str, Any], overrides: dict[str, Any], status: int, error: str
) -> None:
    response = authorize(http, sandbox, **overrides)
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert "Location" not in response.headers


def test_authorize_without_a_configured_user(http: requests.Session, sandbox: Sandbox, control: SandboxClient) -> None:
    control.control(
        "google_oauth", "clients", {"client_id": CLIENT_ID, "client_secret": "s", "redirect_uris": [REDIRECT]}
    )
    assert authorize(http, sandbox).json()["error"] == "sandbox_no_user"


# --- token endpoint: authorization code ---------------------------------------------------------------


def test_code_exchange_returns_tokens_and_a_google_signed_id_token(
    http: requests.Session, sandbox: Sandbox, web: dict[str, Any], fake: GoogleOAuthFake
) -> None:
    # GIVEN an approved consent
    code, verifier = get_code(http, sandbox)

    # WHEN the code is redeemed
    response = redeem(http, sandbox, code, verifier)

    # THEN the body has Google's fields and the ID token verifies against the published keys
    body = response.json()
    assert response.status_code == 200, body
    assert set(body) == {"access_token", "expires_in", "refresh_token", "scope", "token_type", "id_token"}
    assert (body["expires_in"], body["token_type"]) == (3599, "Bearer")
    jwks = jwt.PyJWKClient(f"{sandbox.url}/google/oauth2/certs")
    claims = jwt.decode(
        body["id_token"], jwks.get_signing_key_from_jwt(body["id_token"]).key, algorithms=["RS256"], audience=CLIENT_ID
    )
    assert claims["iss"] == "https://accounts.google.com"
    assert (claims["email"], claims["email_verified"], claims["hd"], claims["nonce"]) == (TARO, True, DOMAIN, "NONCE1")
    assert claims["exp"] - claims["iat"] == 3600
    # AND other fakes can look the access token up
    info = fake.token_info(body["access_token"])
    assert info is not None and info["email"] == TARO and CALENDAR in info["scopes"]
    assert fake.token_info("ya29.unknown") is None


def test_code_is_single_use(http: requests.Session, sandbox: Sandbox, web: dict[str, Any]) -> None:
    code, verifier = get_code(http, sandbox)
    assert redeem(http, sandbox, code, verifier).status_code == 200
    again = redeem(http, sandbox, code, verifier)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize(
    ("form", "status", "error", "description"),
    [
        ({"code_verifier": "wrong-" + "v" * 60}, 400, "invalid_grant", "Invalid code verifier."),
        ({"code_verifier": ""}, 400, "invalid_grant", "Missing code verifier."),
        ({"redirect_uri": REDIRECT + "/other"}, 400, "redirect_uri_mismatch", "Bad Request"),
        ({"client_secret": "wrong"}, 401, "invalid_client", "Unauthorized"),
        ({"client_id": "unknown"}, 401, "invalid_client", "The OAuth client was not found."),
        ({"code": "4/0Aforged"}, 400, "invalid_grant", "Malformed auth code."),
        ({"grant_type": "password"}, 400, "unsupported_grant_type", "Invalid grant_type: password"),
    ],
)
def test_code_exchange_refusals(
    http: requests.Session,
    sandbox: Sandbox,
    web: dict[str, Any],
    form: dict[str, str],
    status: int,
    error: str,
    description: str,
) -> None:
    # GIVEN a valid code
    code, verifier = get_code(http, sandbox)

    # WHEN it is redeemed with one thing wrong
    response = redeem(http, sandbox, form.pop("code", code), form.pop("code_verifier", verifier), **form)

    # THEN Google's error comes back, and the code still works when redeemed correctly
    assert (response.status_code, response.json()) == (status, {"error": error, "error_description": description})
    assert redeem(http, sandbox, code, verifier).status_code == 200


def test_code_exchange_with_basic_client_auth(http: requests.Session, sandbox: Sandbox, web: dict[str, Any]) -> None:
    code, verifier = get_code(http, sandbox)
    body = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT}
    response = http.post(f"{sandbox.url}/google/oauth2/token", data=body, auth=(CLIENT_ID, CLIENT_SECRET))
    assert response.status_code == 200


def test_expired_codes_are_refused(
    http: requests.Session, sandbox: Sandbox, control: SandboxClient, web: dict[str, Any]
) -> None:
    code, verifier = get_code(http, sandbox)
    assert control.control("google_oauth", "expire_codes", {}) == {"expired": 1}
    assert redeem(http, sandbox, code, verifier).json()["error"] == "invalid_grant"


def test_code_of_another_client_is_refused(
    http: requests.Session, sandbox: Sandbox, control: SandboxClient, web: dict[str, Any]
) -> None:
    control.control(
        "google_oauth", "clients", {"client_id": "other", "client_secret": "s2", "redirect_uris": [REDIRECT]}
    )
    code, verifier = get_code(http, sandbox)
    response = redeem(http, sandbox, code, verifier, client_id="other", client_secret="s2")
    assert response.json()["error"] == "invalid_grant"


def test_refresh_token_only_for_offline_access_and_on_first_or_forced_consent(
    http: requests.Session, sandbox: Sandbox, web: dict[str, Any]
) -> None:
    # online access: never a refresh token
    assert "refresh_token" not in redeem(http, sandbox, *get_code(http, sandbox, access_type="online")).json()
    # first offline consent, even without prompt=consent: one
    assert "refresh_token" in redeem(http, sandbox, *get_code(http, sandbox, prompt=None)).json()
    # later consents: only with prompt=consent
    assert "refresh_token" not in redeem(http, sandbox, *get_code(http, sandbox, prompt=None)).json()
    assert "refresh_token" in redeem(http, sandbox, *get_code(http, sandbox)).json()


def test_token_endpoint_wants_a_form(http: requests.Session, sandbox: Sandbox, web: dict[str, Any]) -> None:
    response = http.post(f"{sandbox.url}/google/oauth2/token", json={"grant_type": "refresh_token"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


# --- refresh and revoke -------------------------------------------------------------------------------


@pytest.fixture
def grant(http: requests.Session, sandbox: Sandbox, web: dict[str, Any]) -> dict[str, Any]:
    """Tokens of an approved, redeemed consent."""
    return redeem(http, sandbox, *get_code(http, sandbox)).json()


def test_refresh_issues_a_new_access_token(
    http: requests.Session, sandbox: Sandbox, grant: dict[str, Any], fake: GoogleOAuthFake
) -> None:
    response = token(http, sandbox, grant_type="refresh_token", refresh_token=grant["refresh_token"])
    body = response.json()
    assert response.status_code == 200
    assert "refresh_token" not in body and body["access_token"] != grant["access_token"]
    assert "nonce" not in jwt.decode(body["id_token"], options={"verify_signature": False})
    assert fake.token_info(body["access_token"])["email"] == TARO  # type: ignore[index]


def test_revoked_user_refresh_is_invalid_grant(
    http: requests.Session, sandbox: Sandbox, control: SandboxClient, grant: dict[str, Any], fake: GoogleOAuthFake
) -> None:
    # GIVEN Taro revoked the hub's access in his Google account
    assert control.control("google_oauth", "revoke_user", {"email": TARO})["revoked"] == 1

    # THEN the refresh token is dead with Google's exact answer, and so is the access token
    response = token(http, sandbox, grant_type="refresh_token", refresh_token=grant["refresh_token"])
    assert (response.status_code, response.json()) == (
        400,
        {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
    )
    assert fake.token_info(grant["access_token"]) is None


def test_refresh_token_of_another_client(
    http: requests.Session, sandbox: Sandbox, control: SandboxClient, grant: dict[str, Any]
) -> None:
    control.control(
        "google_oauth", "clients", {"client_id": "other", "client_secret": "s2", "redirect_uris": [REDIRECT]}
    )
    response = token(
        http,
        sandbox,
        grant_type="refresh_token",
        refresh_token=grant["refresh_token"],
        client_id="other",
        client_secret="s2",
    )
    assert (response.status_code, response.json()["error"]) == (400, "unauthorized_client")


def test_revoke_endpoint_kills_the_grant(
    http: requests.Session, sandbox: Sandbox, grant: dict[str, Any], fake: GoogleOAuthFake
) -> None:
    # WHEN the hub revokes the access token (Google revokes the whole grant)
    response = http.post(f"{sandbox.url}/google/oauth2/revoke", data={"token": grant["access_token"]}, headers=FORM)
    assert (response.status_code, response.json()) == (200, {})

    # THEN the refresh token is dead too, and a second revoke says so
    refresh = token(http, sandbox, grant_type="refresh_token", refresh_token=grant["refresh_token"])
    assert refresh.json()["error"] == "invalid_grant"
    again = http.post(f"{sandbox.url}/google/oauth2/revoke", params={"token": grant["refresh_token"]})
    assert (again.status_code, again.json()["error"]) == (400, "invalid_token")
    assert fake.token_info(grant["access_token"]) is None


def test_expire_tokens_keeps_the_refresh_token_working(
    http: requests.Session, sandbox: Sandbox, control: SandboxClient, grant: dict[str, Any], fake: GoogleOAuthFake
) -> None:
    assert control.control("google_oauth", "expire_tokens", {"email": TARO}) == {"expired": 1}
    assert fake.token_info(grant["access_token"]) is None
    assert token(http, sandbox, grant_type="refresh_token", refresh_token=grant["refresh_token"]).status_code == 200


# --- JWT-bearer grant (domain-wide delegation) --------------------------------------------------------


def register_service_account(control: SandboxClient, subjects: list[str], scopes: list[str] | None = None) -> None:
    body: dict[str, Any] = {"client_email": SA_EMAIL, "public_key_pem": keys("sa")[1], "delegated_subjects": subjects}
    if scopes is not None:
        body["scopes"] = scopes
    control.control("google_oauth", "service_accounts", body)


def assertion(key: str = "sa", **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": SA_EMAIL,
        "sub": TARO,
        "aud": "https://oauth2.googleapis.com/token",
        "scope": CALENDAR,
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, keys(key)[0], algorithm="RS256")


def jwt_grant(http: requests.Session, sandbox: Sandbox, value: str) -> requests.Response:
    body = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": value}
    return http.post(f"{sandbox.url}/google/oauth2/token", data=body)


def test_jwt_grant_for_a_delegated_subject(
    http: requests.Session, sandbox: Sandbox, control: SandboxClient, fake: GoogleOAuthFake
) -> None:
    register_service_account(control, [TARO])
    response = jwt_grant(http, sandbox, assertion())
    body = response.json()
    assert response.status_code == 200, body
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert fake.token_info(body["access_token"])["email"] == TARO  # type: ignore[index]


def test_jwt_grant_whole_domain_delegation(http: requests.Session, sandbox: Sandbox, control: SandboxClient) -> None:
    register_service_account(control, ["@acme.example"])
    assert jwt_grant(http, sandbox, assertion(sub=HANAKO)).status_code == 200
    assert jwt_grant(http, sandbox, assertion(sub="eve@evil.example")).status_code == 401


@pytest.mark.parametrize(
    ("subjects", "scopes", "claims"),
    [
        ([TARO], None, {"sub": HANAKO}),
        ([TARO], ["https://www.googleapis.com/auth/calendar.readonly"], {}),
        ([TARO], None, {"scope": f"{CALENDAR} https://www.googleapis.com/auth/drive"}),
    ],
)
def test_jwt_grant_not_authorised_is_unauthorized_client(
    http: requests.Session,
    sandbox: Sandbox,
    control: SandboxClient,
    subjects: list[str],
    scopes: list[str] | None,
    claims: dict[str, Any],
) -> None:
    register_service_account(control, subjects, scopes)
    response = jwt_grant(http, sandbox, assertion(**claims))
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized_client"
    assert response.json()["error_description"].startswith("Client is unauthorized to retrieve access tokens")


@pytest.mark.parametrize(
    ("key", "claims", "description"),
    [
        ("other", {}, "Invalid JWT Signature."),
        ("sa", {"aud": "https://evil.example/token"}, "Invalid JWT: Failed audience check."),
        ("sa", {"exp": 1}, "Invalid JWT: Token must be a short-lived token"),
        ("sa", {"iss": "nobody@x.iam.gserviceaccount.com"}, "Invalid grant: account not found"),
    ],
)
def test_jwt_grant_bad_assertions_are_invalid_grant(
    http: requests.Session,
    sandbox: Sandbox,
    control: SandboxClient,
    key: str,
    claims: dict[str, Any],
    description: str,
) -> None:
    register_service_account(control, [TARO])
    response = jwt_grant(http, sandbox, assertion(key, **claims))
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    assert response.json()["error_description"].startswith(description)


# --- faults and routing -------------------------------------------------------------------------------


def test_faults_match_the_endpoint(
    http: requests.Session, sandbox: Sandbox, control: SandboxClient, grant: dict[str, Any]
) -> None:
    control.add_fault("google_oauth", "server_error", times=1, match={"endpoint": "token"})
    control.add_fault("google_oauth", "invalid_auth", times=1, match={"grant_type": "refresh_token"})
    assert http.get(f"{sandbox.url}/google/oauth2/certs").status_code == 200
    first = token(http, sandbox, grant_type="refresh_token", refresh_token=grant["refresh_token"])
    assert (first.status_code, first.json()["error"]) == (503, "temporarily_unavailable")
    second = token(http, sandbox, grant_type="refresh_token", refresh_token=grant["refresh_token"])
    assert (second.status_code, second.json()["error"]) == (401, "invalid_client")


class CalendarStub(FakeProvider):
    """Stands in for a later Google Calendar fake mounted under /google/calendar."""

    name = "google_calendar"
    prefix = "/google/calendar"

    def __init__(self) -> None:
        super().__init__(RateLimiter(burst=1, per_second=1))

    def reset(self) -> None:
        pass

    def fault_attrs(self, request: Request) -> dict[str, str]:
        return {}

    def handle(self, request: Request) -> Response:
        return json_response(200, {"calendar": request.path})


def test_routing_next_to_a_calendar_fake_listed_first() -> None:
    # GIVEN the server's first-match routing with the Calendar fake listed before the OAuth fake
    with Sandbox(port=0, providers=[CalendarStub, GoogleOAuthFake]) as sb, requests.Session() as http:
        # THEN each gets its own paths, and unknown Google paths are a 404 of the OAuth fake
        assert http.get(f"{sb.url}/google/calendar/v3/calendars/primary/events").json() == {
            "calendar": "/google/calendar/v3/calendars/primary/events"
        }
        assert "keys" in http.get(f"{sb.url}/google/oauth2/certs").json()
        assert http.get(f"{sb.url}/google/drive/v3/files").status_code == 404


def test_fake_claims_only_its_own_google_paths() -> None:
    fake = GoogleOAuthFake()
    assert fake.serves("/google/accounts/o/oauth2/v2/auth") and fake.serves("/google/oauth2/token")
    assert not fake.serves("/google/calendar/v3/calendars/primary/events")
    assert not fake.serves("/google_chat/v1/spaces/AAA/messages")


@pytest.mark.skipif(not hasattr(FakeProvider, "serves"), reason="the server routes by prefix only")
def test_routing_next_to_a_calendar_fake_listed_after() -> None:
    with Sandbox(port=0, providers=[GoogleOAuthFake, CalendarStub]) as sb, requests.Session() as http:
        assert http.get(f"{sb.url}/google/calendar/v3/calendars/primary/events").status_code == 200
        assert http.get(f"{sb.url}/google/oauth2/certs").status_code == 200


def test_control_validates_input(control: SandboxClient) -> None:
    for action, body in [
        ("clients", {"client_id": CLIENT_ID, "client_secret": "s", "redirect_uris": []}),
        ("users", {"email": TARO, "consent": "maybe"}),
        ("service_accounts", {"client_email": SA_EMAIL, "public_key_pem": "nope"}),
        ("revoke_user", {}),
    ]:
        with pytest.raises(SandboxError):
            control.control("google_oauth", action, body)


# --- the hub's client end to end ----------------------------------------------------------------------


def browser_consent(http: requests.Session, url: str) -> dict[str, str]:
    """The employee's browser: open the authorization URL, land on the callback."""
    return callback(http.get(url, allow_redirects=False))


def start(client: GoogleOAuthClient, web: dict[str, Any]) -> tuple[str, str, str]:
    """(authorization URL, verifier, nonce) as the hub builds them."""
    verifier, challenge = pkce()
    nonce = secrets.token_urlsafe(16)
    url = client.authorize_url(
        web,
        state="S1",
        nonce=nonce,
        code_challenge=challenge,
        redirect_uri=REDIRECT,
        login_hint=TARO,
        hosted_domain=DOMAIN,
    )
    return url, verifier, nonce


def test_client_links_refreshes_and_revokes(
    http: requests.Session, client: GoogleOAuthClient, web: dict[str, Any], fake: GoogleOAuthFake
) -> None:
    # GIVEN the employee consents
    url, verifier, nonce = start(client, web)
    query = browser_consent(http, url)
    assert query["state"] == "S1"

    # WHEN the hub exchanges the code and checks the ID token
    tokens = client.exchange(web, code=query["code"], redirect_uri=REDIRECT, code_verifier=verifier)
    claims = client.verify_id_token(
        web, tokens.id_token or "", nonce=nonce, expected_email=TARO, expected_domain=DOMAIN
    )

    # THEN Taro is linked with offline access to his calendar events
    assert claims["email"] == TARO and tokens.refresh_token
    assert CALENDAR in tokens.scope.split()
    assert fake.token_info(tokens.access_token)["email"] == TARO  # type: ignore[index]

    # AND refresh works until the grant is revoked, then asks for a re-link
    fresh = client.refresh(web, tokens.refresh_token or "")
    assert fresh.access_token != tokens.access_token and fresh.refresh_token is None
    client.revoke(tokens.refresh_token or "")
    client.revoke(tokens.refresh_token or "")  # already revoked: still fine
    with pytest.raises(NeedsRelinkError) as caught:
        client.refresh(web, tokens.refresh_token or "")
    assert caught.value.code == "invalid_grant"


def test_client_code_reuse_is_invalid_grant(
    http: requests.Session, client: GoogleOAuthClient, web: dict[str, Any]
) -> None:
    url, verifier, _ = start(client, web)
    code = browser_consent(http, url)["code"]
    client.exchange(web, code=code, redirect_uri=REDIRECT, code_verifier=verifier)
    with pytest.raises(PermanentProviderError) as caught:
        client.exchange(web, code=code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert caught.value.code == "invalid_grant"


@pytest.mark.parametrize(
    ("user", "code"),
    [
        ({"email": HANAKO, "hd": DOMAIN}, "email_mismatch"),  # picked a colleague's account
        ({"email": "taro.personal@gmail.example"}, "hosted_domain_mismatch"),  # a consumer account
        ({"email": TARO, "hd": DOMAIN, "email_verified": False}, "email_unverified"),
    ],
)
def test_client_refuses_the_wrong_account(
    http: requests.Session,
    client: GoogleOAuthClient,
    control: SandboxClient,
    web: dict[str, Any],
    user: dict[str, Any],
    code: str,
) -> None:
    # GIVEN the employee signs in with another account than the hinted one
    control.control("google_oauth", "users", user)
    url, verifier, nonce = start(client, web)
    tokens = client.exchange(
        web, code=browser_consent(http, url)["code"], redirect_uri=REDIRECT, code_verifier=verifier
    )

    # THEN the ID token check says which rule it broke
    with pytest.raises(IdTokenError) as caught:
        client.verify_id_token(web, tokens.id_token or "", nonce=nonce, expected_email=TARO, expected_domain=DOMAIN)
    assert caught.value.code == code


def test_client_token_endpoint_faults(client: GoogleOAuthClient, control: SandboxClient, web: dict[str, Any]) -> None:
    control.add_fault("google_oauth", "server_error", times=1, match={"endpoint": "token"})
    with pytest.raises(RetryableProviderError):
        client.refresh(web, "1//anything")
    control.add_fault("google_oauth", "invalid_auth", times=1, match={"endpoint": "token"})
    with pytest.raises(IntegrationCredentialsError):
        client.refresh(web, "1//anything")


def test_client_timeout_is_retryable(
    http: requests.Session, endpoints: ProviderEndpoints, control: SandboxClient, web: dict[str, Any]
) -> None:
    control.add_fault("google_oauth", "timeout", times=1, delay=2.0, match={"endpoint": "token"})
    impatient = GoogleOAuthClient(http, endpoints, timeout=(1.0, 0.2))
    with pytest.raises(RetryableProviderError) as caught:
        impatient.refresh(web, "1//anything")
    assert caught.value.code == "token_timeout"


def test_delegated_auth_end_to_end(
    http: requests.Session, endpoints: ProviderEndpoints, control: SandboxClient, fake: GoogleOAuthFake
) -> None:
    # GIVEN a service account delegated for Taro only
    register_service_account(control, [TARO])
    info = {
        "type": "service_account",
        "client_email": SA_EMAIL,
        "private_key": keys("sa")[0],
        "private_key_id": "k1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    auth = DelegatedCalendarAuth(endpoints, session=http)

    # WHEN tokens are asked for
    token_value = auth.token_for(info, TARO)

    # THEN Taro's works (and is cached), Hanako's is refused as not authorised
    info_about = fake.token_info(token_value)
    assert info_about is not None
    assert (info_about["email"], info_about["scopes"], info_about["client_id"]) == (TARO, [CALENDAR], SA_EMAIL)
    assert info_about["expires_at"] > time.time() + 3500
    assert auth.token_for(info, TARO) == token_value
    with pytest.raises(PermanentProviderError) as caught:
        auth.token_for(info, HANAKO)
    assert (caught.value.code, caught.value.reason) == ("unauthorized_client", "google_delegation_not_authorized")
