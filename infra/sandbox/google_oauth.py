"""Fake of Google's OAuth 2.0 / OpenID Connect endpoints: the consent page, the token endpoint (codes,
refresh tokens, service-account JWT grants with domain-wide delegation), revoke and the signing keys.

Contract: providers.md §6.3-§6.5 and https://developers.google.com/identity/protocols/oauth2/web-server,
https://developers.google.com/identity/openid-connect/openid-connect,
https://developers.google.com/identity/protocols/oauth2/service-account.
Mounted under `/google` (the hub's GOOGLE_ACCOUNTS_BASE is `{sandbox}/google/accounts`, its
GOOGLE_OAUTH2_BASE `{sandbox}/google/oauth2`):

    GET  /google/accounts/o/oauth2/v2/auth   the consent page: 302 to redirect_uri with code&state
                                             (or error=access_denied); request errors answer 400 JSON
                                             {"error", "error_description"} in place of Google's error page
    POST /google/oauth2/token                authorization_code, refresh_token and jwt-bearer grants
    POST /google/oauth2/revoke               token=... (form or query)
    GET  /google/oauth2/certs                the JWKS the ID tokens are signed with
                                             (Google: https://www.googleapis.com/oauth2/v3/certs)

`serves()` claims only `/google/accounts/` and `/google/oauth2/`, so a Google Calendar fake can own
`/google/calendar` in any order where the server routes by `serves()`; a server that routes by `prefix`
alone must list the Calendar fake first (other `/google/...` paths reaching this fake answer 404).

Control (`/_sandbox/google_oauth/...`):
    POST clients           {"client_id", "client_secret", "redirect_uris": [...]} -> {"client_id", "client_json"}
    POST users             {"email", "hd"?, "consent": "approve"|"deny", "email_verified"?: true, "sub"?}:
                           whoever "signs in" on the consent page from now on, whatever login_hint/hd say
    POST service_accounts  {"client_email", "public_key_pem", "delegated_subjects": [...], "scopes": [...]}
                           (a subject "@example.com" delegates the whole domain)
    POST revoke_user       {"email"}: the user's grants die (refresh -> invalid_grant, access tokens gone)
    POST expire_codes      every outstanding authorization code expires
    POST expire_tokens     {"email"?}: access tokens (of one user, or all) expire; refresh tokens still work
Faults: server_error, invalid_auth (401 invalid_client), timeout; match on endpoint
(authorize|token|revoke|certs), grant_type, client_id.

For a Calendar fake: `token_info(access_token)` answers {"email", "scopes", "expires_at", "client_id"}
for a live access token issued here, else None.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from infra.sandbox.base import ControlError, FakeProvider, RateLimiter, Request, Response, json_response

ISSUER = "https://accounts.google.com"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"
USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"
USERINFO_PROFILE = "https://www.googleapis.com/auth/userinfo.profile"
# Short names Google accepts on the consent page and the full scopes it grants for them.
SCOPE_ALIASES = {"email": USERINFO_EMAIL, "profile": USERINFO_PROFILE}
KNOWN_SCOPES = frozenset(
    {
        "openid",
        USERINFO_EMAIL,
        USERINFO_PROFILE,
        CALENDAR_EVENTS,
        "https://www.googleapis.com/auth/calendar",
        "https://www.googleapis.com/auth/calendar.readonly",
        "https://www.googleapis.com/auth/calendar.events.owned",
        "https://www.googleapis.com/auth/calendar.app.created",
    }
)
ACCESS_TTL = 3599
ID_TOKEN_TTL = 3600
CODE_TTL = 600  # authorization codes live 10 minutes
ASSERTION_MAX_LIFETIME = 3600
AUTH_PATHS = ("/google/accounts/o/oauth2/v2/auth", "/google/accounts/o/oauth2/auth")
SERVED_PREFIXES = ("/google/accounts/", "/google/oauth2/")
TOKEN_PATH, REVOKE_PATH, CERTS_PATH = "/google/oauth2/token", "/google/oauth2/revoke", "/google/oauth2/certs"
PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
UNAUTHORIZED_CLIENT = (
    "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of "
    "the scopes requested."
)
SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat "
    "and exp values in the JWT claim."
)


@cache
def signing_key() -> tuple[rsa.RSAPrivateKey, str]:
    """The sandbox's ID-token key (generated on first use, once per process) and its key id."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = hashlib.sha256(str(key.public_key().public_numbers().n).encode()).hexdigest()[:40]
    return key, kid


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class Client:
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uris: list[str]


@dataclass
class User:
    email: str
    sub: str
    hd: str | None = None
    consent: str = "approve"
    email_verified: bool = True


@dataclass
class ServiceAccount:
    client_email: str
    public_key: Any = field(repr=False)
    delegated_subjects: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()

    def delegates(self, subject: str) -> bool:
        subject = subject.lower()
        return subject in self.delegated_subjects or "@" + subject.rpartition("@")[2] in self.delegated_subjects


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    user: User
    scopes: tuple[str, ...]
    nonce: str | None
    challenge: str
    offline: bool
    force_consent: bool
    expires_at: float


@dataclass
class Grant:
    """A refresh token and whose it is."""

    client_id: str
    user: User
    scopes: tuple[str, ...]
    revoked: bool = False


@dataclass
class AccessToken:
    client_id: str
    email: str
    scopes: tuple[str, ...]
    expires_at: float
    refresh_token: str | None = field(default=None, repr=False)


def _oauth_error(status: int, error: str, description: str) -> Response:
    return json_response(status, {"error": error, "error_description": description})


def _redirect(uri: str, params: dict[str, str]) -> Response:
    location = uri + ("&" if "?" in uri else "?") + urlencode(params)
    return Response(302, b"", {"Location": location}, {"redirect": location})


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ControlError(f"{name} must be a list of non-empty strings")
    return value


class GoogleOAuthFake(FakeProvider):
    """Google OAuth fake; clients, the signing-in user and service accounts come from the control API."""

    name = "google_oauth"
    prefix = "/google"
    match_keys = frozenset({"endpoint", "grant_type", "client_id"})
    fault_kinds = frozenset({"server_error", "invalid_auth"})

    def __init__(self) -> None:
        # Google publishes no token-endpoint rate limit; the limiter exists for the common interface only.
        super().__init__(RateLimiter(burst=1000, per_second=1000))
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.clients: dict[str, Client] = {}
            self.user: User | None = None
            self.service_accounts: dict[str, ServiceAccount] = {}
            self.codes: dict[str, Code] = {}
            self.grants: dict[str, Grant] = {}
            self.tokens: dict[str, AccessToken] = {}
            self._offline_granted: set[tuple[str, str]] = set()  # (client_id, email) with a refresh token
            self._granted_scopes: dict[tuple[str, str], set[str]] = {}
        self.limiter.reset()

    # --- for other fakes ---------------------------------------------------------------------------

    def token_info(self, access_token: str) -> dict[str, Any] | None:
        """{"email", "scopes", "expires_at", "client_id"} of a live access token issued here, else None."""
        with self._lock:
            token = self.tokens.get(access_token)
            if token is None or token.expires_at <= time.time():
                return None
            return {
                "email": token.email,
                "scopes": list(token.scopes),
                "expires_at": token.expires_at,
                "client_id": token.client_id,
            }

    # --- control API -------------------------------------------------------------------------------

    def control(self, action: str, method: str, data: dict[str, Any], base_url: str) -> dict[str, Any]:
        if method == "POST" and action == "clients":
            return self._add_client(data)
        if method == "POST" and action == "users":
            return self._set_user(data)
        if method == "POST" and action == "service_accounts":
            return self._add_service_account(data)
        if method == "POST" and action == "revoke_user":
            email = str(data.get("email") or "").lower()
            if not email:
                raise ControlError("email is required")
            with self._lock:
                grants = [g for g in self.grants.values() if g.user.email.lower() == email and not g.revoked]
                for grant in grants:
                    grant.revoked = True
                dead = [k for k, t in self.tokens.items() if t.email.lower() == email]
                for value in dead:
                    del self.tokens[value]
            return {"revoked": len(grants), "access_tokens": len(dead)}
        if method == "POST" and action == "expire_codes":
            with self._lock:
                for code in self.codes.values():
                    code.expires_at = 0.0
                return {"expired": len(self.codes)}
        if method == "POST" and action == "expire_tokens":
            email = str(data.get("email") or "").lower()
            with self._lock:
                tokens = [t for t in self.tokens.values() if not email or t.email.lower() == email]
                for token in tokens:
                    token.expires_at = 0.0
            return {"expired": len(tokens)}
        return super().control(action, method, data, base_url)

    def _add_client(self, data: dict[str, Any]) -> dict[str, Any]:
        client_id, secret = data.get("client_id"), data.get("client_secret")
        if not isinstance(client_id, str) or not client_id or not isinstance(secret, str) or not secret:
            raise ControlError("client_id and client_secret are required")
        uris = _strings(data.get("redirect_uris"), "redirect_uris")
        if not uris:
            raise ControlError("redirect_uris needs at least one URI")
        with self._lock:
            self.clients[client_id] = Client(client_id, secret, list(uris))
        # What Google Cloud's download button gives (hosts are Google's: the hub ignores them).
        web = {
            "client_id": client_id,
            "project_id": "wp-hub-sandbox",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": GOOGLE_TOKEN_URL,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_secret": secret,
            "redirect_uris": list(uris),
        }
        return {"client_id": client_id, "client_json": {"web": web}}

    def _set_user(self, data: dict[str, Any]) -> dict[str, Any]:
        email, hd = data.get("email"), data.get("hd")
        if not isinstance(email, str) or "@" not in email:
            raise ControlError("email is required")
        if hd is not None and (not isinstance(hd, str) or not hd):
            raise ControlError("hd must be a domain name (omit it for a consumer account)")
        consent, verified = data.get("consent", "approve"), data.get("email_verified", True)
        if consent not in ("approve", "deny"):
            raise ControlError('consent must be "approve" or "deny"')
        if not isinstance(verified, bool):
            raise ControlError("email_verified must be a boolean")
        sub = str(data.get("sub") or int(hashlib.sha256(email.lower().encode()).hexdigest()[:17], 16))
        user = User(email, sub, hd, consent, verified)
        with self._lock:
            self.user = user
        return {"email": email, "sub": sub}

    def _add_service_account(self, data: dict[str, Any]) -> dict[str, Any]:
        email = data.get("client_email")
        if not isinstance(email, str) or "@" not in email:
            raise ControlError("client_email is required")
        try:
            key = load_pem_public_key(str(data.get("public_key_pem") or "").encode())
        except (ValueError, TypeError) as exc:
            raise ControlError("public_key_pem must be a PEM public key") from exc
        if not isinstance(key, rsa.RSAPublicKey):
            raise ControlError("public_key_pem must be an RSA key")
        subjects = _strings(data.get("delegated_subjects", []), "delegated_subjects")
        scopes = _strings(data.get("scopes", [CALENDAR_EVENTS]), "scopes")
        account = ServiceAccount(email, key, frozenset(s.lower() for s in subjects), frozenset(scopes))
        with self._lock:
            self.service_accounts[email] = account
        return {"client_email": email}

    # --- routing and faults ------------------------------------------------------------------------

    def serves(self, path: str) -> bool:
        """Only the accounts and oauth2 paths: the rest of `/google` (e.g. `/google/calendar`) is left to
        other fakes (used by a server that asks each fake; one matching on `prefix` needs the order)."""
        return path.startswith(SERVED_PREFIXES)

    @staticmethod
    def _endpoint(request: Request) -> str:
        if request.path in AUTH_PATHS:
            return "authorize"
        return {TOKEN_PATH: "token", REVOKE_PATH: "revoke", CERTS_PATH: "certs"}.get(request.path, "unknown")

    @staticmethod
    def _form(request: Request) -> dict[str, str]:
        if request.media_type != "application/x-www-form-urlencoded":
            return {}
        return dict(parse_qsl(request.body.decode("utf-8", errors="replace"), keep_blank_values=True))

    def fault_attrs(self, request: Request) -> dict[str, str]:
        args = {**request.query, **self._form(request)}
        attrs = {"endpoint": self._endpoint(request)}
        for name in ("grant_type", "client_id"):
            if args.get(name):
                attrs[name] = args[name]
        return attrs

    def fault_response(self, kind: str, options: dict[str, Any]) -> Response:
        if kind == "server_error":
            status = options["status"]
            error = "temporarily_unavailable" if status == 503 else "internal_failure"
            return _oauth_error(status, error, "Backend Error")
        return _oauth_error(401, "invalid_client", "Unauthorized")

    # --- API ---------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        endpoint = self._endpoint(request)
        allowed = {"authorize": ("GET",), "token": ("POST",), "revoke": ("POST", "GET"), "certs": ("GET",)}
        if endpoint == "unknown":
            return json_response(404, {"error": {"code": 404, "message": f"no Google endpoint {request.path}"}})
        if request.method not in allowed[endpoint]:
            return _oauth_error(405, "invalid_request", f"{request.method} is not allowed here")
        if endpoint == "certs":
            key, kid = signing_key()
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            jwk.update(kid=kid, alg="RS256", use="sig")
            return json_response(200, {"keys": [jwk]}, {"Cache-Control": "public, max-age=19800, must-revalidate"})
        if endpoint == "authorize":
            return self._authorize(request.query)
        if endpoint == "revoke":
            return self._revoke({**request.query, **self._form(request)})
        return self._token(request)

    def _authorize(self, query: dict[str, str]) -> Response:
        with self._lock:
            client = self.clients.get(query.get("client_id", ""))
            user = self.user
        if client is None:
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return _oauth_error(400, "redirect_uri_mismatch", "redirect_uri is not registered for this client")
        if query.get("response_type") != "code":
            return _oauth_error(400, "unsupported_response_type", "response_type must be code")
        requested = [SCOPE_ALIASES.get(s, s) for s in query.get("scope", "").split()]
        if not requested:
            return _oauth_error(400, "invalid_request", "Missing required parameter: scope")
        if not set(requested) <= KNOWN_SCOPES:
            return _oauth_error(400, "invalid_scope", "Some requested scopes were invalid")
        # Stricter than Google, to hold the hub to its design: state and PKCE S256 are required.
        if not query.get("state"):
            return _oauth_error(400, "invalid_request", "Missing required parameter: state (sandbox rule)")
        challenge = query.get("code_challenge", "")
        if query.get("code_challenge_method") != "S256" or not PKCE_CHALLENGE.fullmatch(challenge):
            return _oauth_error(400, "invalid_request", "code_challenge (S256, 43 characters) is required")
        access_type = query.get("access_type", "online")
        if access_type not in ("online", "offline"):
            return _oauth_error(400, "invalid_request", "access_type must be online or offline")
        prompts = set(query.get("prompt", "").split())
        if not prompts <= {"none", "consent", "select_account"} or ("none" in prompts and len(prompts) > 1):
            return _oauth_error(400, "invalid_request", "invalid prompt")
        state = query["state"]
        if user is None:
            return _oauth_error(400, "sandbox_no_user", "POST /_sandbox/google_oauth/users first")
        if user.consent == "deny":
            return _redirect(redirect_uri, {"error": "access_denied", "state": state})
        key = (client.client_id, user.email.lower())
        with self._lock:
            granted = self._granted_scopes.setdefault(key, set())
            if "none" in prompts and not set(requested) <= granted:
                return _redirect(redirect_uri, {"error": "consent_required", "state": state})
            scopes = set(requested) | (granted if query.get("include_granted_scopes") == "true" else set())
            granted.update(requested)
            code = "4/0Asb" + secrets.token_urlsafe(32)
            self.codes[code] = Code(
                client.client_id,
                redirect_uri,
                user,
                tuple(sorted(scopes)),
                query.get("nonce"),
                challenge,
                access_type == "offline",
                "consent" in prompts,
                time.time() + CODE_TTL,
            )
        params = {"state": state, "code": code, "scope": " ".join(sorted(scopes)), "authuser": "0"}
        if user.hd:
            params["hd"] = user.hd
        params["prompt"] = "consent" if "none" not in prompts else "none"
        return _redirect(redirect_uri, params)

    def _token(self, request: Request) -> Response:
        if request.media_type != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        form = self._form(request)
        grant_type = form.get("grant_type", "")
        if grant_type == JWT_BEARER:
            return self._jwt_bearer(request, form)
        if grant_type not in ("authorization_code", "refresh_token"):
            return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        client_id, secret = self._client_auth(request, form)
        with self._lock:
            client = self.clients.get(client_id)
        if client is None:
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if not hmac.compare_digest(secret.encode(), client.client_secret.encode()):
            return _oauth_error(401, "invalid_client", "Unauthorized")
        if grant_type == "authorization_code":
            return self._redeem_code(client, form)
        return self._refresh(client, form)

    @staticmethod
    def _client_auth(request: Request, form: dict[str, str]) -> tuple[str, str]:
        auth = request.header("Authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return "", ""
            return client_id, secret
        return form.get("client_id", ""), form.get("client_secret", "")

    def _redeem_code(self, client: Client, form: dict[str, str]) -> Response:
        with self._lock:
            code = self.codes.get(form.get("code", ""))
        if code is None or code.client_id != client.client_id:
            return _oauth_error(400, "invalid_grant", "Malformed auth code.")
        if code.expires_at <= time.time():
            return _oauth_error(400, "invalid_grant", "Bad Request")
        if form.get("redirect_uri") != code.redirect_uri:
            return _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        verifier = form.get("code_verifier", "")
        if not verifier:
            return _oauth_error(400, "invalid_grant", "Missing code verifier.")
        if not hmac.compare_digest(_s256(verifier), code.challenge):
            return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
        with self._lock:
            if self.codes.pop(form["code"], None) is None:  # redeemed by a concurrent request
                return _oauth_error(400, "invalid_grant", "Bad Request")
            refresh_token = None
            key = (client.client_id, code.user.email.lower())
            if code.offline and (code.force_consent or key not in self._offline_granted):
                refresh_token = "1//0sb" + secrets.token_urlsafe(32)
                self.grants[refresh_token] = Grant(client.client_id, code.user, code.scopes)
                self._offline_granted.add(key)
        body = self._issue(client.client_id, code.user, code.scopes, code.nonce, refresh_token)
        if refresh_token:
            body["refresh_token"] = refresh_token
        return json_response(200, body)

    def _refresh(self, client: Client, form: dict[str, str]) -> Response:
        value = form.get("refresh_token", "")
        with self._lock:
            grant = self.grants.get(value)
        if grant is None or grant.revoked:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        if grant.client_id != client.client_id:
            return _oauth_error(400, "unauthorized_client", "Unauthorized")
        return json_response(200, self._issue(client.client_id, grant.user, grant.scopes, None, value))

    def _issue(
        self, client_id: str, user: User, scopes: tuple[str, ...], nonce: str | None, refresh_token: str | None
    ) -> dict[str, Any]:
        access = "ya29.sandbox-" + secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self.tokens[access] = AccessToken(client_id, user.email, scopes, now + ACCESS_TTL, refresh_token)
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": ACCESS_TTL,
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }
        if "openid" in scopes:
            body["id_token"] = self.id_token(client_id, user, scopes, nonce, now)
        return body

    @staticmethod
    def id_token(
        client_id: str, user: User, scopes: tuple[str, ...], nonce: str | None, now: float | None = None
    ) -> str:
        """An RS256 ID token as Google signs it (key published at /google/oauth2/certs)."""
        iat = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "azp": client_id,
            "aud": client_id,
            "sub": user.sub,
            "iat": iat,
            "exp": iat + ID_TOKEN_TTL,
        }
        if USERINFO_EMAIL in scopes:
            claims.update(email=user.email, email_verified=user.email_verified)
        if user.hd:
            claims["hd"] = user.hd
        if nonce:
            claims["nonce"] = nonce
        key, kid = signing_key()
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    def _jwt_bearer(self, request: Request, form: dict[str, str]) -> Response:
        assertion = form.get("assertion", "")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return _oauth_error(400, "invalid_grant", "Invalid JWT: malformed assertion.")
        with self._lock:
            account = self.service_accounts.get(str(unverified.get("iss") or ""))
        if account is None:
            return _oauth_error(400, "invalid_grant", "Invalid grant: account not found")
        # google-auth always signs for Google's token URL, whatever token_uri it posts to; the sandbox's
        # own token URL is accepted too, for clients that use token_uri as the audience.
        host = request.header("Host") or ""
        audiences = [GOOGLE_TOKEN_URL, f"{request.base_url}{TOKEN_PATH}", f"http://{host}{TOKEN_PATH}"]
        try:
            claims = jwt.decode(
                assertion,
                account.public_key,
                algorithms=["RS256"],
                audience=audiences,
                options={"require": ["iss", "aud", "iat", "exp"]},
                leeway=5,
            )
        except jwt.InvalidSignatureError:
            return _oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        except jwt.InvalidAudienceError:
            return _oauth_error(400, "invalid_grant", "Invalid JWT: Failed audience check.")
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
            return _oauth_error(400, "invalid_grant", SHORT_LIVED)
        except jwt.PyJWTError:
            return _oauth_error(400, "invalid_grant", "Invalid JWT.")
        if claims["exp"] - claims["iat"] > ASSERTION_MAX_LIFETIME:
            return _oauth_error(400, "invalid_grant", SHORT_LIVED)
        scopes = tuple(str(claims.get("scope") or "").split())
        if not scopes:
            return _oauth_error(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        subject = claims.get("sub")
        # Domain-wide delegation: the Workspace admin must have authorised the client for these scopes.
        delegated = subject and subject != account.client_email
        if delegated and (not account.delegates(str(subject)) or not set(scopes) <= account.scopes):
            return _oauth_error(401, "unauthorized_client", UNAUTHORIZED_CLIENT)
        email = str(subject or account.client_email)
        access = "ya29.sandbox-sa-" + secrets.token_urlsafe(32)
        with self._lock:
            self.tokens[access] = AccessToken(account.client_email, email, scopes, time.time() + ACCESS_TTL)
        return json_response(200, {"access_token": access, "expires_in": ACCESS_TTL, "token_type": "Bearer"})

    def _revoke(self, args: dict[str, str]) -> Response:
        value = args.get("token", "")
        with self._lock:
            grant = self.grants.get(value)
            token = self.tokens.get(value)
            refresh = value if grant is not None and not grant.revoked else (token.refresh_token if token else None)
            if refresh is None and token is None:
                return _oauth_error(400, "invalid_token", "Token expired or revoked")
            # Google revokes the whole grant: the refresh token and every access token from it.
            if refresh is not None:
                self.grants[refresh].revoked = True
                for key in [k for k, t in self.tokens.items() if t.refresh_token == refresh]:
                    del self.tokens[key]
            self.tokens.pop(value, None)
        return json_response(200, {})
