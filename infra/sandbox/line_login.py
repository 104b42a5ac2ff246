"""Fake of LINE Login v2.1: the consent page, the token endpoint, friendship status and profile; plus a
helper that builds signed Messaging API webhooks (follow / unfollow) for tests to post into the hub.

Contract: providers.md §3.5, §3.6 (shared provider reference) and
https://developers.line.biz/en/docs/line-login/integrate-line-login/, …/line-login/verify-id-token/,
https://developers.line.biz/en/reference/line-login/, https://developers.line.biz/en/reference/messaging-api/#webhooks.

Paths (the hub's LINE_ACCESS_BASE is `{sandbox}/line/access`, its LINE_API_BASE `{sandbox}/line/api`):

    GET  /line/access/oauth2/v2.1/authorize   consent by the user set with `POST users`: 302 to the redirect_uri
    POST /line/api/oauth2/v2.1/token          authorization_code (PKCE S256) and refresh_token grants
    GET  /line/api/friendship/v1/status       {"friendFlag"}          (Bearer user access token)
    GET  /line/api/v2/profile                 {"userId", "displayName", "pictureUrl"?}

Mounting: these paths share `/line` with the Messaging API fake (`LineFake`, prefix `/line`), and the server
routes a request to the first fake whose `prefix + "/"` starts its path. `serves(path)` says which paths are
this fake's; the server must route by it (`FakeProvider.serves`, defaulting to the prefix test) and list
`LineLoginFake` before `LineFake`. Mounted alone (`Sandbox(providers=[LineLoginFake])`) it works as it is.

Control (`/_sandbox/line_login/...`, JSON):

    POST channels      {"channel_id": 10 digits, "channel_secret", "messaging_channel_access_token"?,
                        "callback_urls"?: [url]}     register (or replace) a Login channel; with callback_urls,
                                                     a redirect_uri (without its query) must be one of them
    POST users         {"channel_id", "user_id": "U" + 32 hex, "name"?, "picture"?, "friend"?: bool,
                        "was_friend"?: bool, "consent"?: "approve" | "deny"}
                       who logs in next (until replaced); `was_friend` is the friendship before the consent
                       page, `friend` after it (when the request had bot_prompt)
    POST expire_codes  {}                            every code issued so far is expired (10 minutes passed)
    POST revoke        {"channel_id", "user_id"}     the user removed the app: their tokens are refused
    GET  logins                                      every consent page answered, in order

A code is spent by the first exchange attempt of its own client, successful or not; presenting a spent code
again also revokes the tokens it gave. Faults: `server_error` (and the server's `timeout`), matching on
`endpoint` (authorize, token, friendship, profile) and `client_id`. Rate limits are not modelled.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt

from infra.sandbox.base import ControlError, FakeProvider, RateLimiter, Request, Response, json_response

ACCESS_PREFIX = "/line/access"
API_PREFIX = "/line/api"
AUTHORIZE_PATH = ACCESS_PREFIX + "/oauth2/v2.1/authorize"
ROUTES = {  # path -> (method, endpoint)
    AUTHORIZE_PATH: ("GET", "authorize"),
    API_PREFIX + "/oauth2/v2.1/token": ("POST", "token"),
    API_PREFIX + "/friendship/v1/status": ("GET", "friendship"),
    API_PREFIX + "/v2/profile": ("GET", "profile"),
}
ISSUER = "https://access.line.me"
FORM = "application/x-www-form-urlencoded"
CODE_TTL = 600  # authorization codes: 10 minutes, single use
ACCESS_TOKEN_TTL = 2592000  # 30 days
ID_TOKEN_TTL = 3600
SCOPES = ("profile", "openid", "email")  # the order LINE lists them in `scope`
CHANNEL_ID = re.compile(r"[0-9]{10}")
USER_ID = re.compile(r"U[0-9a-f]{32}")
CODE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url SHA-256, unpadded
CODE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 §4.1
INVALID_TOKEN = "Authentication failed. Confirm that the access token in the authorization header is valid."
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass
class LoginUser:
    user_id: str
    name: str
    picture: str | None
    friend: bool
    consent: str


@dataclass
class LoginChannel:
    channel_id: str
    secret: str = field(repr=False)
    messaging_token: str | None = field(default=None, repr=False)
    callback_urls: list[str] = field(default_factory=list)
    next_user: LoginUser | None = None
    friends: set[str] = field(default_factory=set)


@dataclass
class Grant:
    """What an authorization code stands for."""

    channel_id: str
    user: LoginUser
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    issued_at: float
    expired: bool = False
    used: bool = False
    tokens: list[str] = field(default_factory=list)  # access and refresh tokens it gave


@dataclass
class Issued:
    """An access or refresh token."""

    channel_id: str
    user: LoginUser
    scope: str
    expires_at: float
    revoked: bool = False


def _oauth_error(status: int, error: str, description: str) -> Response:
    return json_response(status, {"error": error, "error_description": description})


def _page(error: str, description: str) -> Response:
    """LINE shows an error page (no redirect) when it cannot trust the request enough to send it back."""
    text = f"<!doctype html><title>LINE Login</title><h1>{error}</h1><p>{html.escape(description)}</p>"
    payload = {"error": error, "error_description": description}
    return Response(400, text.encode(), {"Content-Type": "text/html; charset=utf-8"}, payload)


def _redirect(uri: str, params: dict[str, str]) -> Response:
    """302 to `uri` with `params` added to whatever query it already has."""
    parts = urlsplit(uri)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    location = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
    return Response(302, b"", {"Location": location}, {"location": location})


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class LineLoginFake(FakeProvider):
    """LINE Login fake; channels and the user who logs in next are set through the control API."""

    name = "line_login"
    prefix = "/line"
    match_keys = frozenset({"endpoint", "client_id"})
    fault_kinds = frozenset({"server_error"})

    def __init__(self) -> None:
        super().__init__(RateLimiter(burst=1000, per_second=1000))  # required by the base; not applied
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._channels: dict[str, LoginChannel] = {}
            self._codes: dict[str, Grant] = {}
            self._tokens: dict[str, Issued] = {}  # access tokens
            self._refresh_tokens: dict[str, Issued] = {}
            self._logins: list[dict[str, Any]] = []
        self.limiter.reset()

    def serves(self, path: str) -> bool:
        """Whether `path` is LINE Login's; the rest of `/line` belongs to the Messaging API fake."""
        return path in ROUTES or path.startswith((ACCESS_PREFIX + "/", API_PREFIX + "/oauth2/"))

    def set_limits(self, limits: dict[str, Any]) -> dict[str, Any]:
        raise ControlError("LINE Login rate limits are not modelled")

    # --- control API -------------------------------------------------------------------------------------

    def control(self, action: str, method: str, data: dict[str, Any], base_url: str) -> dict[str, Any]:
        if method == "POST" and action == "channels":
            return self._add_channel(data)
        if method == "POST" and action == "users":
            return self._set_user(data)
        if method == "POST" and action == "expire_codes":
            with self._lock:
                fresh = [g for g in self._codes.values() if not g.expired and not g.used]
                for grant in fresh:
                    grant.expired = True
            return {"expired": len(fresh)}
        if method == "POST" and action == "revoke":
            channel_id, user_id = data.get("channel_id"), data.get("user_id")
            with self._lock:
                issued = [*self._tokens.values(), *self._refresh_tokens.values()]
                hits = [i for i in issued if i.channel_id == channel_id and i.user.user_id == user_id and not i.revoked]
                for item in hits:
                    item.revoked = True
            return {"revoked": len(hits)}
        if method == "GET" and action == "logins":
            with self._lock:
                return {"logins": [dict(login) for login in self._logins]}
        return super().control(action, method, data, base_url)

    def _add_channel(self, data: dict[str, Any]) -> dict[str, Any]:
        channel_id, secret = data.get("channel_id"), data.get("channel_secret")
        messaging_token, callback_urls = data.get("messaging_channel_access_token"), data.get("callback_urls") or []
        if not (isinstance(channel_id, str) and CHANNEL_ID.fullmatch(channel_id)):
            raise ControlError("channel_id must be a string of 10 digits")
        if not (isinstance(secret, str) and secret):
            raise ControlError("channel_secret is required")
        if messaging_token is not None and not isinstance(messaging_token, str):
            raise ControlError("messaging_channel_access_token must be a string")
        if not isinstance(callback_urls, list) or not all(
            isinstance(u, str) and u.startswith(("http://", "https://")) for u in callback_urls
        ):
            raise ControlError("callback_urls must be a list of http(s) URLs")
        with self._lock:
            self._channels[channel_id] = LoginChannel(channel_id, secret, messaging_token, list(callback_urls))
        return {"channel_id": channel_id, "callback_urls": callback_urls}

    def _set_user(self, data: dict[str, Any]) -> dict[str, Any]:
        user_id, name, picture = data.get("user_id"), data.get("name", "Sandbox User"), data.get("picture")
        friend, was_friend, consent = data.get("friend", False), data.get("was_friend", False), data.get("consent")
        if not (isinstance(user_id, str) and USER_ID.fullmatch(user_id)):
            raise ControlError("user_id must be U + 32 hex")
        if not (isinstance(name, str) and name):
            raise ControlError("name must be a non-empty string")
        if picture is not None and not (isinstance(picture, str) and picture.startswith("https://")):
            raise ControlError("picture must be an https URL")
        if not isinstance(friend, bool) or not isinstance(was_friend, bool):
            raise ControlError("friend and was_friend must be booleans")
        if consent not in (None, "approve", "deny"):
            raise ControlError("consent must be approve or deny")
        user = LoginUser(user_id, name, picture, friend, consent or "approve")
        with self._lock:
            channel = self._channels.get(str(data.get("channel_id")))
            if channel is None:
                raise ControlError("unknown channel_id; POST /_sandbox/line_login/channels first", 404)
            channel.next_user = user
            if was_friend:
                channel.friends.add(user_id)
            else:
                channel.friends.discard(user_id)
        return {"channel_id": channel.channel_id, "user_id": user_id, "consent": user.consent}

    # --- API ---------------------------------------------------------------------------------------------

    def fault_attrs(self, request: Request) -> dict[str, str]:
        route = ROUTES.get(request.path)
        attrs = {"endpoint": route[1]} if route else {}
        form = request.parsed_body()
        client_id = request.query.get("client_id") or (form.get("client_id") if isinstance(form, dict) else None)
        if isinstance(client_id, str):
            attrs["client_id"] = client_id
        return attrs

    def fault_response(self, kind: str, options: dict[str, Any]) -> Response:
        return _oauth_error(int(options.get("status", 500)), "server_error", "Internal Server Error")

    def handle(self, request: Request) -> Response:
        route = ROUTES.get(request.path)
        if route is None:
            return json_response(404, {"message": "Not found"})
        method, endpoint = route
        if request.method != method:
            return json_response(405, {"message": "Method Not Allowed"})
        if endpoint == "authorize":
            return self._authorize(request.query)
        if endpoint == "token":
            return self._token(request)
        return self._user_api(request, endpoint)

    def _authorize(self, query: dict[str, str]) -> Response:
        with self._lock:
            channel = self._channels.get(query.get("client_id", ""))
        redirect_uri, state = query.get("redirect_uri", ""), query.get("state", "")
        if channel is None:
            return _page("INVALID_REQUEST", "client_id is not a LINE Login channel")
        if not redirect_uri.startswith(("http://", "https://")):
            return _page("INVALID_REQUEST", "redirect_uri must be an http(s) URL")
        if channel.callback_urls and redirect_uri.split("?")[0] not in channel.callback_urls:
            return _page("INVALID_REQUEST", "redirect_uri does not match the channel's callback URLs")
        if query.get("response_type") != "code":
            return _page("UNSUPPORTED_RESPONSE_TYPE", "response_type must be code")
        if not state:
            return _page("INVALID_REQUEST", "state is required")
        scopes = set(query.get("scope", "").split())
        if not scopes & {"profile", "openid"} or scopes - set(SCOPES) or ("email" in scopes and "openid" not in scopes):
            return _page("INVALID_SCOPE", "scope must include profile or openid (email needs openid)")
        challenge, challenge_method = query.get("code_challenge"), query.get("code_challenge_method")
        if (challenge or challenge_method) and not (
            challenge_method == "S256" and CODE_CHALLENGE.fullmatch(challenge or "")
        ):
            return _page("INVALID_REQUEST", "PKCE needs a 43-character code_challenge and code_challenge_method=S256")
        bot_prompt = query.get("bot_prompt")
        if bot_prompt not in (None, "normal", "aggressive"):
            return _page("INVALID_REQUEST", "bot_prompt must be normal or aggressive")
        with self._lock:
            user = channel.next_user
            if user is None:
                return _page("SANDBOX_NO_USER", "nobody logs in: POST /_sandbox/line_login/users first")
            login: dict[str, Any] = {
                "channel_id": channel.channel_id,
                "user_id": user.user_id,
                "name": user.name,
                "consent": user.consent,
                "messaging_channel_access_token": channel.messaging_token,
                "at": time.time(),
            }
            self._logins.append(login)
            if user.consent == "deny":
                description = "The resource owner denied the request."
                return _redirect(
                    redirect_uri, {"error": "ACCESS_DENIED", "error_description": description, "state": state}
                )
            code = secrets.token_urlsafe(15)
            scope = " ".join(s for s in SCOPES if s in scopes and s != "email")  # email never appears in scope
            self._codes[code] = Grant(
                channel.channel_id, user, redirect_uri, scope, query.get("nonce"), challenge, time.time()
            )
            params = {"code": code, "state": state}
            if bot_prompt:
                changed = user.friend != (user.user_id in channel.friends)
                (channel.friends.add if user.friend else channel.friends.discard)(user.user_id)
                params["friendship_status_changed"] = "true" if changed else "false"
                login["friendship_status_changed"] = changed
            login["friend"] = user.user_id in channel.friends
        return _redirect(redirect_uri, params)

    def _token(self, request: Request) -> Response:
        if request.media_type != FORM:
            return _oauth_error(400, "invalid_request", f"Content-Type must be {FORM}")
        form = dict(parse_qsl(request.body.decode("utf-8", errors="replace"), keep_blank_values=True))
        grant_type = form.get("grant_type")
        if grant_type not in ("authorization_code", "refresh_token"):
            return _oauth_error(400, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
        with self._lock:
            channel = self._channels.get(form.get("client_id", ""))
            if channel is None or not _equal(form.get("client_secret", ""), channel.secret):
                return _oauth_error(401, "invalid_client", "invalid client_id or client_secret")
            if grant_type == "refresh_token":
                return self._refresh(channel, form.get("refresh_token", ""))
            return self._exchange(channel, form)

    def _exchange(self, channel: LoginChannel, form: dict[str, str]) -> Response:
        grant = self._codes.get(form.get("code", ""))
        if grant is None or grant.channel_id != channel.channel_id:
            return _oauth_error(400, "invalid_grant", "invalid authorization code")
        if grant.used:
            for token in grant.tokens:  # a replayed code: whatever it gave is revoked (RFC 6749 §4.1.2)
                (self._tokens.get(token) or self._refresh_tokens[token]).revoked = True
            return _oauth_error(400, "invalid_grant", "authorization code has already been used")
        grant.used = True
        if grant.expired or time.time() - grant.issued_at > CODE_TTL:
            return _oauth_error(400, "invalid_grant", "authorization code expired")
        if form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error(400, "invalid_grant", "redirect_uri does not match")
        if grant.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            if not (CODE_VERIFIER.fullmatch(verifier) and _equal(s256(verifier), grant.code_challenge)):
                return _oauth_error(400, "invalid_grant", "invalid code_verifier")
        access_token, refresh_token, body = self._issue(channel, grant.user, grant.scope)
        grant.tokens += [access_token, refresh_token]
        if "openid" in grant.scope.split():
            body["id_token"] = self._id_token(channel, grant)
        return json_response(200, body)

    def _refresh(self, channel: LoginChannel, refresh_token: str) -> Response:
        issued = self._refresh_tokens.get(refresh_token)
        if issued is None or issued.revoked or issued.channel_id != channel.channel_id:
            return _oauth_error(400, "invalid_grant", "invalid refresh token")
        if time.time() > issued.expires_at:
            return _oauth_error(400, "invalid_grant", "refresh token expired")
        issued.revoked = True  # rotated: the old one is spent
        return json_response(200, self._issue(channel, issued.user, issued.scope)[2])

    def _issue(self, channel: LoginChannel, user: LoginUser, scope: str) -> tuple[str, str, dict[str, Any]]:
        """A new access token (30 days) and refresh token (90 days after it), and the answer's body."""
        now, access_token, refresh_token = time.time(), secrets.token_urlsafe(32), secrets.token_urlsafe(15)
        self._tokens[access_token] = Issued(channel.channel_id, user, scope, now + ACCESS_TOKEN_TTL)
        self._refresh_tokens[refresh_token] = Issued(
            channel.channel_id, user, scope, now + ACCESS_TOKEN_TTL + 90 * 86400
        )
        body = {
            "access_token": access_token,
            "expires_in": ACCESS_TOKEN_TTL,
            "refresh_token": refresh_token,
            "scope": scope,
            "token_type": "Bearer",
        }
        return access_token, refresh_token, body

    @staticmethod
    def _id_token(channel: LoginChannel, grant: Grant) -> str:
        """The web-login ID token: HS256 keyed with the channel secret (providers.md §3.6, §8.4)."""
        iat = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": grant.user.user_id,
            "aud": channel.channel_id,
            "exp": iat + ID_TOKEN_TTL,
            "iat": iat,
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        claims["amr"] = ["pwd"]
        if "profile" in grant.scope.split():
            claims["name"] = grant.user.name
            if grant.user.picture:
                claims["picture"] = grant.user.picture
        return jwt.encode(claims, channel.secret, algorithm="HS256")

    def _user_api(self, request: Request, endpoint: str) -> Response:
        auth = request.header("Authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        with self._lock:
            issued = self._tokens.get(token)
            if issued is None or issued.revoked or time.time() > issued.expires_at:
                return json_response(401, {"message": INVALID_TOKEN})
            if "profile" not in issued.scope.split():
                return json_response(403, {"message": "Not allowed to use this API. The profile scope is required."})
            if endpoint == "friendship":
                return json_response(
                    200, {"friendFlag": issued.user.user_id in self._channels[issued.channel_id].friends}
                )
        profile = {"userId": issued.user.user_id, "displayName": issued.user.name}
        if issued.user.picture:
            profile["pictureUrl"] = issued.user.picture
        return json_response(200, profile)


# --- webhooks (providers.md §3.5): built for tests, not served -------------------------------------------------


def _ulid(now_ms: int) -> str:
    value = (now_ms << 80) | secrets.randbits(80)
    return "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def webhook_event(event: dict[str, Any]) -> dict[str, Any]:
    """A complete webhook event from a short one: `{"type": "follow" | "unfollow", "userId", ...}`.

    Common fields (mode, timestamp, webhookEventId, deliveryContext) are filled in; a follow gets a
    replyToken and `follow.isUnblocked` (from `isUnblocked`, default false). Given fields win.
    """
    event = dict(event)
    user_id, unblocked = event.pop("userId", None), event.pop("isUnblocked", False)
    now_ms = int(time.time() * 1000)
    full: dict[str, Any] = {
        "type": event.get("type", "follow"),
        "mode": "active",
        "timestamp": now_ms,
        "webhookEventId": _ulid(now_ms),
        "deliveryContext": {"isRedelivery": False},
    }
    if user_id is not None:
        full["source"] = {"type": "user", "userId": user_id}
    if full["type"] == "follow":
        full["replyToken"] = secrets.token_hex(16)
        full["follow"] = {"isUnblocked": bool(unblocked)}
    return {**full, **event}


def signed_webhook(
    channel_secret: str, events: list[dict[str, Any]], *, destination: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """A webhook as LINE posts it: the raw body and headers with `X-Line-Signature` (HMAC-SHA256, Base64).

    `events` may be short (`{"type": "follow", "userId": "U…"}`, see `webhook_event`); an empty list is
    LINE's connectivity check. `destination` is the bot's userId (default: derived from the secret).
    """
    destination = destination or "U" + hashlib.sha256(channel_secret.encode()).hexdigest()[:32]
    payload = {"destination": destination, "events": [webhook_event(e) for e in events]}
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    signature = base64.b64encode(hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()).decode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "LineBotWebhook/2.0",
        "X-Line-Signature": signature,
    }
    return body, headers
