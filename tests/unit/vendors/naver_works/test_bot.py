"""NAVER WORKS sender: JWT assertions, token requests and cache, message builders, response parsing,
API 1.0 legacy push, bot verification and provisioning (providers.md §4, §7). No network: a scripted
session answers every call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization

from tests.unit.builders import destination, http_response, notification, rsa_private_key_pem
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    IntegrationCredentialsError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
)
from workplace_hub.naver_works.auth import (
    JWT_BEARER,
    TokenCache,
    build_legacy_token_assertion,
    build_legacy_token_request,
    build_token_assertion,
    build_token_form,
    legacy_auth_base,
    parse_token_response,
)
from workplace_hub.naver_works.bot import (
    LINK_TEXT_MAX,
    TEXT_MAX,
    NaverWorksSender,
    build_content,
    build_legacy_push_request,
    build_message_request,
    error_for,
    rate_limit_wait,
    seconds_until_quota_reset,
)
from workplace_hub.providers.messenger import SendReceipt

USER = "taro.yamada+hub@acme.example"
USER_PATH = "taro.yamada%2Bhub%40acme.example"
CLIENT_SECRET = "SECRETclientSECRET0001"
CONSUMER_KEY = "SECRETconsumerKEY0001"
ACCESS_TOKEN = "kr1AAAASECRETaccessTOKEN"
ENDPOINTS = ProviderEndpoints()
NOW = 1_800_000_000.0


def private_key() -> str:
    return rsa_private_key_pem()


def public_key() -> str:
    key = serialization.load_pem_private_key(private_key().encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def decode(assertion: str) -> dict[str, Any]:
    """Verify the signature with the public key; the fixed test clock is in the future, so no time checks."""
    return jwt.decode(assertion, public_key(), algorithms=["RS256"], options={"verify_exp": False, "verify_iat": False})


def v2_credentials(**overrides: Any) -> dict[str, Any]:
    values = {
        "api_version": "2.0",
        "client_id": "CLIENTid01",
        "client_secret": CLIENT_SECRET,
        "service_account": "abcde.serviceaccount@acme.example",
        "private_key": private_key(),
        "domain_id": "10000001",
        "admin_email": "admin@acme.example",
        "bot_id": "2000001",
    }
    values.update(overrides)
    return values


def v1_credentials(**overrides: Any) -> dict[str, Any]:
    values = {
        "api_version": "1.0",
        "domain_id": "10000001",
        "admin_email": "admin@acme.example",
        "api_id": "jp1ABCDEF",
        "server_api_consumer_key": CONSUMER_KEY,
        "server_list_id": "SERVERlist01",
        "server_list_private_key": private_key(),
        "bot_id": "1234",
    }
    values.update(overrides)
    return values


@dataclass
class Call:
    method: str
    url: str
    headers: dict[str, str]
    json: Any
    data: Any


@dataclass
class ScriptedSession:
    """Answers token calls and API calls from separate queues (an exception is raised instead)."""

    tokens: list[Any] = field(default_factory=list)
    api: list[Any] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    delay: float = 0.0

    def request(self, method: str, url: str, *, headers=None, json=None, data=None, timeout=None, **_: Any):
        assert timeout is not None, "every call needs a timeout"
        self.calls.append(Call(method, url, dict(headers or {}), json, data))
        time.sleep(self.delay)
        queue = self.tokens if url.split("?")[0].endswith("/token") else self.api
        outcome = queue.pop(0) if len(queue) > 1 else queue[0]  # the last outcome repeats
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def token_calls(self) -> list[Call]:
        return [c for c in self.calls if c.url.split("?")[0].endswith("/token")]

    def api_calls(self) -> list[Call]:
        return [c for c in self.calls if not c.url.split("?")[0].endswith("/token")]


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def token_ok(token: str = ACCESS_TOKEN, expires_in: Any = "86400") -> requests.Response:
    return http_response(
        200,
        {
            "access_token": token,
            "refresh_token": "kr1R",
            "scope": "bot",
            "token_type": "Bearer",
            "expires_in": expires_in,
        },
    )


def works_error(status: int, code: str, description: str = "", headers: dict[str, str] | None = None):
    return http_response(status, {"code": code, "description": description}, headers=headers)


UNAUTHORIZED = works_error(401, "UNAUTHORIZED", "Authentication failed")


def sender(session: Any, clock: Callable[[], float] | None = None, **kwargs: Any) -> NaverWorksSender:
    return NaverWorksSender(session, ENDPOINTS, clock=clock or Clock(), **kwargs)


def send(s: NaverWorksSender, credentials: dict[str, Any] | None = None, user: str = USER) -> SendReceipt:
    return s.send(notification(), destination(address=user, user_id=user), credentials or v2_credentials())


# ---------------------------------------------------------------- API 2.0 token: pure builders


def test_token_assertion_is_rs256_signed_with_the_service_account_claims() -> None:
    assertion = build_token_assertion(v2_credentials(), NOW + 0.7)

    assert jwt.get_unverified_header(assertion) == {"alg": "RS256", "typ": "JWT"}
    claims = decode(assertion)
    assert claims == {
        "iss": "CLIENTid01",
        "sub": "abcde.serviceaccount@acme.example",
        "iat": int(NOW),
        "exp": int(NOW) + 3600,
    }


def test_token_form_has_the_jwt_bearer_grant_and_scope() -> None:
    form = build_token_form(v2_credentials(), "the.jwt.assertion", "bot calendar")

    assert form == {
        "assertion": "the.jwt.assertion",
        "grant_type": JWT_BEARER,
        "client_id": "CLIENTid01",
        "client_secret": CLIENT_SECRET,
        "scope": "bot calendar",
    }


def test_token_is_requested_form_encoded_from_the_auth_base() -> None:
    session = ScriptedSession(tokens=[token_ok()], api=[http_response(201)])

    send(sender(session))

    (call,) = session.token_calls()
    assert (call.method, call.url) == ("POST", "https://auth.worksmobile.com/oauth2/v2.0/token")
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert call.json is None and call.data["grant_type"] == JWT_BEARER and call.data["scope"] == "bot"
    claims = decode(call.data["assertion"])
    assert claims["iat"] == int(NOW)


def test_scope_is_a_parameter() -> None:
    session = ScriptedSession(tokens=[token_ok()], api=[http_response(201)])

    send(sender(session, scope="bot,calendar"))

    assert session.token_calls()[0].data["scope"] == "bot,calendar"


@pytest.mark.parametrize(
    ("response", "token", "ttl"),
    [
        (token_ok("t1", "86400"), "t1", 86400.0),  # the documented string
        (token_ok("t2", 3600), "t2", 3600.0),
        (http_response(200, {"access_token": "t3"}), "t3", 3600.0),  # missing: assume the shorter setting
        (token_ok("t4", "soon"), "t4", 3600.0),
    ],
)
def test_parse_token_response_reads_expires_in_as_a_string(response, token: str, ttl: float) -> None:
    assert parse_token_response(response) == (token, ttl)


@pytest.mark.parametrize(
    ("response", "error_type", "code"),
    [
        (
            http_response(400, {"error": "invalid_grant", "error_description": "bad jwt"}),
            IntegrationCredentialsError,
            "invalid_grant",
        ),
        (
            http_response(401, {"error": "invalid_client", "error_description": "x"}),
            IntegrationCredentialsError,
            "invalid_client",
        ),
        (http_response(400, text="<html>bad</html>"), IntegrationCredentialsError, "http_400"),
        (http_response(429, {"code": "TOO_MANY_REQUESTS"}), RetryableProviderError, "TOO_MANY_REQUESTS"),
        (http_response(503, text="unavailable"), RetryableProviderError, "http_503"),
        (http_response(200, {"token_type": "Bearer"}), RetryableProviderError, "invalid_token_response"),
        (http_response(200, text="not json"), RetryableProviderError, "invalid_token_response"),
    ],
)
def test_parse_token_response_errors(response, error_type: type[ProviderError], code: str) -> None:
    with pytest.raises(error_type) as raised:
        parse_token_response(response)
    assert raised.value.code == code and raised.value.provider == "naver_works"


@pytest.mark.parametrize(
    ("exception", "code"),
    [(requests.ReadTimeout("slow"), "token_timeout"), (requests.ConnectionError("down"), "token_connection_error")],
)
def test_token_endpoint_network_failures_are_retryable(exception: Exception, code: str) -> None:
    session = ScriptedSession(tokens=[exception])

    with pytest.raises(RetryableProviderError) as raised:
        send(sender(session))

    assert raised.value.code == code and not session.api_calls()


def test_token_refusal_is_a_credentials_error_and_nothing_is_sent() -> None:
    session = ScriptedSession(tokens=[http_response(401, {"error": "invalid_client", "error_description": "no"})])

    with pytest.raises(IntegrationCredentialsError) as raised:
        send(sender(session))

    assert raised.value.code == "invalid_client" and not session.api_calls()


def test_missing_or_unusable_credentials_name_the_field_only() -> None:
    with pytest.raises(IntegrationCredentialsError, match="client_secret") as missing:
        send(sender(ScriptedSession()), v2_credentials(client_secret=""))
    assert missing.value.code == "missing_credentials"

    with pytest.raises(IntegrationCredentialsError) as unusable:
        build_token_assertion(v2_credentials(private_key="-----BEGIN PRIVATE KEY-----\nSECRETgarbage\n"), NOW)
    assert unusable.value.code == "invalid_private_key" and "SECRETgarbage" not in str(unusable.value)


# ---------------------------------------------------------------- token cache


def test_one_token_for_many_messages() -> None:
    session = ScriptedSession(tokens=[token_ok()], api=[http_response(201)])
    s = sender(session)

    for _ in range(20):
        send(s)

    assert len(session.token_calls()) == 1 and len(session.api_calls()) == 20
    assert {c.headers["Authorization"] for c in session.api_calls()} == {f"Bearer {ACCESS_TOKEN}"}


def test_token_is_renewed_shortly_before_it_expires() -> None:
    clock = Clock()
    session = ScriptedSession(tokens=[token_ok("t1", "3600"), token_ok("t2", "3600")], api=[http_response(201)])
    s = sender(session, clock)

    send(s)
    clock.now += 3600 - 301  # still more than the 5-minute margin left
    send(s)
    clock.now += 2  # within the margin
    send(s)

    assert [c.headers["Authorization"] for c in session.api_calls()] == ["Bearer t1", "Bearer t1", "Bearer t2"]


def test_tokens_are_cached_per_credentials_and_scope() -> None:
    session = ScriptedSession(tokens=[token_ok("a"), token_ok("b"), token_ok("c")], api=[http_response(201)])
    s = sender(session)

    send(s)
    send(s, v2_credentials(client_secret="another-secret"))  # same client ID, other secret: never shared
    s.scope = "bot.message"
    send(s)

    assert len(session.token_calls()) == 3


def test_concurrent_messages_share_one_token_fetch() -> None:
    session = ScriptedSession(tokens=[token_ok()], api=[http_response(201)], delay=0.01)
    s = sender(session)
    threads = [threading.Thread(target=send, args=(s,)) for _ in range(8)]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(session.token_calls()) == 1 and len(session.api_calls()) == 8


def test_a_refused_token_is_renewed_and_the_message_retried_once() -> None:
    session = ScriptedSession(tokens=[token_ok("old"), token_ok("new")], api=[UNAUTHORIZED, http_response(201)])
    s = sender(session)

    assert send(s) == SendReceipt(None)

    assert [c.headers["Authorization"] for c in session.api_calls()] == ["Bearer old", "Bearer new"]
    send(s)  # the renewed token is cached
    assert len(session.token_calls()) == 2


def test_a_second_refusal_is_a_credentials_error() -> None:
    session = ScriptedSession(tokens=[token_ok("old"), token_ok("new")], api=[UNAUTHORIZED])

    with pytest.raises(IntegrationCredentialsError) as raised:
        send(sender(session))

    assert raised.value.code == "UNAUTHORIZED" and raised.value.status_code == 401
    assert len(session.api_calls()) == 2 and len(session.token_calls()) == 2


def test_403_unauthorized_is_treated_like_401() -> None:
    session = ScriptedSession(
        tokens=[token_ok("old"), token_ok("new")], api=[works_error(403, "UNAUTHORIZED"), http_response(201)]
    )

    send(sender(session))

    assert len(session.token_calls()) == 2


def test_cache_invalidate_keeps_a_token_renewed_by_another_thread() -> None:
    cache = TokenCache(Clock())
    cache.get(("k",), lambda: ("fresh", 3600.0))

    cache.invalidate(("k",), "stale")

    assert cache.get(("k",), lambda: pytest.fail("must not fetch")) == "fresh"


# ---------------------------------------------------------------- message request and content


def test_message_request_url_encodes_the_user_id() -> None:
    call = build_message_request("https://www.worksapis.com/v1.0/", "2000001", USER, ACCESS_TOKEN, notification())

    assert call.method == "POST"
    assert call.url == f"https://www.worksapis.com/v1.0/bots/2000001/users/{USER_PATH}/messages"
    assert call.headers == {"Authorization": f"Bearer {ACCESS_TOKEN}", "Content-Type": "application/json"}
    assert call.json == {
        "content": {
            "type": "link",
            "contentText": "決裁依頼: 出張申請 (大阪)\n鈴木 一郎 さんから決裁依頼が届きました。",
            "linkText": "WORKPLACEで開く",
            "link": "https://acme.workplace.example/approvals/8812",
        }
    }


def test_sender_build_request_uses_the_endpoint_and_the_given_token_without_io() -> None:
    session = ScriptedSession(tokens=[])
    s = NaverWorksSender(session, ProviderEndpoints(WORKS_API_BASE="http://127.0.0.1:9/works/api/v1.0"))

    call = s.build_request(
        notification(), destination(address=USER), {**v2_credentials(), "access_token": ACCESS_TOKEN}
    )

    assert call.url == f"http://127.0.0.1:9/works/api/v1.0/bots/2000001/users/{USER_PATH}/messages"
    assert call.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"


def test_sender_build_request_without_a_token_refuses() -> None:
    s = NaverWorksSender(ScriptedSession(tokens=[]), ENDPOINTS)

    with pytest.raises(IntegrationCredentialsError) as raised:
        s.build_request(notification(), destination(address=USER), v2_credentials())

    assert raised.value.code == "no_access_token"


@pytest.mark.parametrize(
    ("locale", "label"), [("ko", "WORKPLACE에서 열기"), ("en", "Open in WORKPLACE"), ("zz", "WORKPLACEで開く")]
)
def test_link_text_is_the_localized_button_label(locale: str, label: str) -> None:
    assert build_content(notification(locale=locale))["linkText"] == label


def test_content_text_is_kept_within_the_link_limit() -> None:
    content = build_content(notification(title="t" * 600, body="b" * 600))

    assert len(content["contentText"]) == LINK_TEXT_MAX and content["contentText"].endswith("…")
    assert build_content(notification(title="Only a title", body=""))["contentText"] == "Only a title"


def test_a_url_too_long_for_a_link_goes_into_a_text_message() -> None:
    url = "https://acme.workplace.example/" + "x" * 1200

    content = build_content(notification(url=url, body="b" * 2000))

    assert content["type"] == "text" and content["text"].endswith("\n" + url) and len(content["text"]) == TEXT_MAX
    with pytest.raises(PermanentProviderError, match="url_too_long"):
        build_content(notification(url="https://x/" + "x" * TEXT_MAX))


# ---------------------------------------------------------------- parse_response / error_for


@pytest.mark.parametrize("status", [201, 200])
def test_parse_response_success_has_no_message_id(status: int) -> None:
    assert sender(ScriptedSession()).parse_response(http_response(status)) == SendReceipt(provider_message_id=None)


@pytest.mark.parametrize(
    ("response", "error_type", "code", "reason"),
    [
        (works_error(400, "INVALID_PARAMETER", "content.type"), PermanentProviderError, "INVALID_PARAMETER", None),
        (works_error(403, "FORBIDDEN", "scope"), PermanentProviderError, "FORBIDDEN", None),
        (
            works_error(404, "NOT_FOUND", "user not found"),
            PermanentProviderError,
            "NOT_FOUND",
            "naver_works_user_not_found",
        ),
        (
            works_error(404, "NOT_FOUND", "bot not found"),
            IntegrationCredentialsError,
            "NOT_FOUND",
            "naver_works_bot_not_found",
        ),
        (http_response(404, text=""), PermanentProviderError, "http_404", "naver_works_user_not_found"),
        (
            http_response(400, {"code": "NONEXISTENT_BOT", "message": "Bot not found", "domain": "message"}),
            IntegrationCredentialsError,
            "NONEXISTENT_BOT",
            "naver_works_bot_not_found",
        ),
        (UNAUTHORIZED, IntegrationCredentialsError, "UNAUTHORIZED", None),
        (works_error(500, "INTERNAL_SERVER_ERROR"), RetryableProviderError, "INTERNAL_SERVER_ERROR", None),
        (http_response(503, text="down"), RetryableProviderError, "http_503", None),
    ],
)
def test_parse_response_errors(response, error_type: type[ProviderError], code: str, reason: str | None) -> None:
    with pytest.raises(ProviderError) as raised:
        sender(ScriptedSession()).parse_response(response)

    assert type(raised.value) is error_type
    assert (raised.value.provider, raised.value.code, raised.value.reason) == ("naver_works", code, reason)
    assert raised.value.status_code == response.status_code


def test_429_is_retryable_with_the_rate_limit_reset() -> None:
    headers = {"rateLimit-limit": "240", "rateLimit-remaining": "0", "rateLimit-reset": "17"}
    error = error_for(works_error(429, "TOO_MANY_REQUESTS", "API rate limit exceeded", headers))

    assert isinstance(error, RetryableProviderError) and error.code == "TOO_MANY_REQUESTS"
    assert error.retry_after == 17.0
    assert error_for(works_error(429, "TOO_MANY_REQUESTS", headers={"Retry-After": "5"})).retry_after == 5.0
    assert error_for(works_error(429, "TOO_MANY_REQUESTS")).retry_after is None  # the worker backs off


def test_rate_limit_reset_as_an_epoch_is_converted_to_seconds() -> None:
    assert rate_limit_wait(http_response(429, headers={"rateLimit-reset": str(int(NOW) + 30)}), NOW) == 30.0
    assert rate_limit_wait(http_response(429, headers={"rateLimit-reset": str(int(NOW + 12) * 1000)}), NOW) == 12.0
    assert rate_limit_wait(http_response(429, headers={"rateLimit-reset": "soon"}), NOW) is None


def test_message_call_timeout_is_retryable() -> None:
    session = ScriptedSession(tokens=[token_ok()], api=[requests.ReadTimeout("slow")])

    with pytest.raises(RetryableProviderError, match="timeout"):
        send(sender(session))


# ---------------------------------------------------------------- API 1.0 (legacy)


def test_legacy_assertion_claims() -> None:
    assertion = build_legacy_token_assertion(v1_credentials(), NOW)

    claims = decode(assertion)
    assert claims == {"iss": "SERVERlist01", "iat": int(NOW), "exp": int(NOW) + 300}


def test_legacy_token_request_puts_the_grant_in_the_query() -> None:
    assert legacy_auth_base("https://auth.worksmobile.com/oauth2/v2.0/") == "https://auth.worksmobile.com"

    call = build_legacy_token_request(v1_credentials(), "http://127.0.0.1:9/works/auth/oauth2/v2.0", NOW)

    parts = urlsplit(call.url)
    assert (call.method, parts.path) == ("POST", "/works/auth/b/jp1ABCDEF/server/token")
    assert parts.query.startswith("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=")
    query = parse_qs(parts.query)
    assert decode(query["assertion"][0])
    assert call.headers == {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"} and call.json is None


def test_legacy_push_request() -> None:
    call = build_legacy_push_request(
        "https://apis.worksmobile.com/", v1_credentials(), USER, "srvTOKEN", notification()
    )

    assert call.url == "https://apis.worksmobile.com/r/jp1ABCDEF/message/v1/bot/1234/message/push"
    assert call.headers == {
        "Authorization": "Bearer srvTOKEN",
        "consumerKey": CONSUMER_KEY,
        "Content-Type": "application/json; charset=UTF-8",
    }
    assert call.json is not None and call.json["accountId"] == USER and call.json["content"]["type"] == "link"


def test_legacy_send_caches_the_server_token_and_renews_it_once_on_403() -> None:
    session = ScriptedSession(
        tokens=[http_response(200, {"access_token": "srv1"}), http_response(200, {"access_token": "srv2"})],
        api=[http_response(200), http_response(403, {"code": "PERMISSION_DENIED", "message": "x"}), http_response(200)],
    )
    s = sender(session)

    send(s, v1_credentials())
    send(s, v1_credentials())

    tokens = [c.headers["Authorization"] for c in session.api_calls()]
    assert tokens == ["Bearer srv1", "Bearer srv1", "Bearer srv2"]
    assert len(session.token_calls()) == 2
    assert session.token_calls()[0].url.startswith("https://auth.worksmobile.com/b/jp1ABCDEF/server/token?")


def test_legacy_token_lasts_a_day_unless_the_response_says_otherwise() -> None:
    clock = Clock()
    session = ScriptedSession(
        tokens=[http_response(200, {"access_token": "srv1"}), http_response(200, {"access_token": "srv2"})],
        api=[http_response(200)],
    )
    s = sender(session, clock)

    send(s, v1_credentials())
    clock.now += 86400 - 400
    send(s, v1_credentials())
    clock.now += 200
    send(s, v1_credentials())

    assert len(session.token_calls()) == 2


# ---------------------------------------------------------------- verify and provision_bot


def test_verify_reads_the_bot() -> None:
    session = ScriptedSession(tokens=[token_ok()], api=[http_response(200, {"botId": 2000001, "botName": "WORKPLACE"})])

    assert sender(session).verify(v2_credentials()) == "bot WORKPLACE (2000001)"
    (call,) = session.api_calls()
    assert (call.method, call.url) == ("GET", "https://www.worksapis.com/v1.0/bots/2000001")


def test_verify_a_wrong_bot_id_is_a_credentials_error() -> None:
    session = ScriptedSession(tokens=[token_ok()], api=[works_error(404, "NOT_FOUND", "bot not found")])

    with pytest.raises(IntegrationCredentialsError) as raised:
        sender(session).verify(v2_credentials())
    assert raised.value.reason == "naver_works_bot_not_found"


def test_verify_legacy_and_without_bot() -> None:
    session = ScriptedSession(tokens=[token_ok()])
    assert "token issued" in sender(session).verify(v2_credentials(bot_id=""))

    session = ScriptedSession(tokens=[http_response(200, {"access_token": "srv"})])
    assert "jp1ABCDEF" in sender(session).verify(v1_credentials())
    assert not session.api_calls()


def test_provision_bot_creates_the_bot_and_adds_it_to_the_domain() -> None:
    created = http_response(201, {"botId": 3000001, "botName": "WORKPLACE"})
    added = http_response(201, {"domainId": 10000001, "visible": False, "allowToSelectedMember": False})
    session = ScriptedSession(tokens=[token_ok()], api=[created, added])

    hub = "https://hub.acme.example"
    assert sender(session, hub_public_url=hub + "/").provision_bot(v2_credentials(bot_id=None)) == "3000001"

    create, domain = session.api_calls()
    assert (create.method, create.url) == ("POST", "https://www.worksapis.com/v1.0/bots")
    assert create.json == {
        "botName": "WORKPLACE",
        "photoUrl": "https://hub.acme.example/assets/naver-works-bot.png",
        "description": "WORKPLACE notifications",
        "administrators": ["admin@acme.example"],
        "allowDomains": [10000001],
    }
    assert domain.url == "https://www.worksapis.com/v1.0/bots/3000001/domains/10000001"
    assert domain.json == {"visible": False, "allowToSelectedMember": False}


def test_provision_bot_uses_the_admins_bot_photo_url() -> None:
    created = http_response(201, {"botId": 3000001})
    added = http_response(201, {"domainId": 10000001})
    session = ScriptedSession(tokens=[token_ok()], api=[created, added])
    photo = "https://cdn.acme.example/bot.png"

    sender(session, hub_public_url="https://hub.acme.example").provision_bot(
        {**v2_credentials(bot_id=None), "bot_photo_url": photo}
    )

    create, _ = session.api_calls()
    assert create.json is not None and create.json["photoUrl"] == photo


def test_provision_bot_names_the_created_bot_when_the_domain_step_fails() -> None:
    session = ScriptedSession(
        tokens=[token_ok()], api=[http_response(201, {"botId": 3000002}), works_error(500, "INTERNAL_SERVER_ERROR")]
    )

    with pytest.raises(PermanentProviderError, match="bot 3000002 was created") as raised:
        sender(session).provision_bot(v2_credentials())
    assert raised.value.code == "bot_domain_registration_failed"


def test_provision_bot_needs_api_2() -> None:
    with pytest.raises(PermanentProviderError, match="unsupported_api_version"):
        sender(ScriptedSession()).provision_bot(v1_credentials())


# ---------------------------------------------------------------- no secrets anywhere


def test_no_secret_in_reprs_or_errors() -> None:
    credentials = v2_credentials()
    session = ScriptedSession(
        tokens=[token_ok()], api=[UNAUTHORIZED, UNAUTHORIZED, works_error(400, "INVALID_PARAMETER", "bad")]
    )
    s = sender(session)
    call = s.build_request(notification(), destination(address=USER), {**credentials, "access_token": ACCESS_TOKEN})
    legacy_call = build_legacy_push_request(
        ENDPOINTS.WORKS_LEGACY_API_BASE, v1_credentials(), USER, "t", notification()
    )
    token_call = build_legacy_token_request(v1_credentials(), ENDPOINTS.WORKS_AUTH_BASE, NOW)
    texts = [repr(s), repr(s.tokens), repr(s.tokens.cache._entries), repr(call), repr(legacy_call), repr(token_call)]
    for _ in range(2):
        with pytest.raises(ProviderError) as raised:
            send(s, credentials)
        texts += [str(raised.value), repr(raised.value), raised.value.detail]
    refused = ScriptedSession(
        tokens=[http_response(400, {"error": "invalid_grant", "error_description": "bad assertion"})]
    )
    with pytest.raises(ProviderError) as token_error:
        send(sender(refused), credentials)
    texts += [str(token_error.value), token_error.value.detail]

    secrets_ = [CLIENT_SECRET, CONSUMER_KEY, ACCESS_TOKEN, "PRIVATE KEY", private_key().splitlines()[1]]
    for text in texts:
        for secret in secrets_:
            assert secret not in text


def test_naver_works_a_spent_daily_push_quota_waits_until_after_midnight_jst() -> None:
    # GIVEN the answer to a push past the day's quota
    response = http_response(429, {"code": "QUOTA_EXCEEDED", "message": "daily message push quota exceeded"})

    # WHEN it is read
    error = error_for(response)

    # THEN it is retryable, recorded as the daily quota, and due just after the next 00:00 JST
    assert isinstance(error, RetryableProviderError)
    assert (error.code, error.reason) == ("QUOTA_EXCEEDED", "daily_quota_reached")
    assert error.retry_after is not None and 60 <= error.retry_after <= 86_400 + 60


@pytest.mark.parametrize(
    ("moment", "seconds"),
    [
        ("2026-12-07T23:59:00+09:00", 60 + 60),
        ("2026-12-07T00:00:00+09:00", 86_400 + 60),
        ("2026-12-07T14:30:00+00:00", 30 * 60 + 60),  # 23:30 JST
        ("2026-12-07T15:00:00+00:00", 86_400 + 60),  # 00:00 JST the next day
    ],
)
def test_naver_works_quota_reset_is_midnight_jst(moment: str, seconds: float) -> None:
    assert seconds_until_quota_reset(datetime.fromisoformat(moment).timestamp()) == seconds
