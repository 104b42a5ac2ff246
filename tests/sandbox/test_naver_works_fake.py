"""NAVER WORKS fake: token endpoint rules, bot message and bot management rules, plan rate limits, API 1.0,
faults; then `NaverWorksSender` end to end against it over 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
import requests

from infra.keys import rsa_key_pair
from infra.sandbox import Sandbox, SandboxClient, SandboxError
from infra.sandbox.naver_works import NaverWorksFake
from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import IntegrationCredentialsError, PermanentProviderError, RetryableProviderError
from workplace_hub.naver_works.bot import NaverWorksSender
from workplace_hub.providers.messenger import Destination, Notification, SendReceipt

DOMAIN = "10000001"
BOT = "2000001"
TARO = "taro@acme.example"
HANAKO = "hanako@acme.example"
CLIENT_ID, CLIENT_SECRET, SERVICE_ACCOUNT = "CLIENTid01", "SECRETclient", "abcde.serviceaccount@acme.example"
API_ID, SERVER_LIST_ID, CONSUMER_KEY = "jp1ABCDEF", "SERVERlist01", "SECRETconsumer"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


keys = rsa_key_pair


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0, providers=[NaverWorksFake]) as sb:
        yield sb


def tenant(**overrides: Any) -> dict[str, Any]:
    body = {
        "domain_id": DOMAIN,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "service_account": SERVICE_ACCOUNT,
        "public_key_pem": keys("tenant")[1],
        "api_id": API_ID,
        "server_list_id": SERVER_LIST_ID,
        "server_list_public_key_pem": keys("tenant")[1],
        "server_api_consumer_key": CONSUMER_KEY,
        "bots": [{"bot_id": BOT, "name": "WORKPLACE"}],
        "users": [TARO, HANAKO],
        "plan": "standard",
    }
    body.update(overrides)
    return body


@pytest.fixture
def works(sandbox: Sandbox, control: SandboxClient) -> str:
    """Registers the tenant; returns the sandbox URL."""
    control.control("naver_works", "tenants", tenant())
    return sandbox.url


def assertion(now: float | None = None, key: str = "tenant", **claims: Any) -> str:
    iat = int(time.time() if now is None else now)
    payload = {"iss": CLIENT_ID, "sub": SERVICE_ACCOUNT, "iat": iat, "exp": iat + 3600, **claims}
    return jwt.encode(payload, keys(key)[0], algorithm="RS256")


def token_form(**overrides: Any) -> dict[str, str]:
    form = {
        "assertion": assertion(),
        "grant_type": GRANT,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": "bot",
    }
    form.update(overrides)
    return form


def get_token(http: requests.Session, url: str, **overrides: Any) -> requests.Response:
    return http.post(f"{url}/works/auth/oauth2/v2.0/token", data=token_form(**overrides), timeout=5)


def access_token(http: requests.Session, url: str, scope: str = "bot") -> str:
    return get_token(http, url, scope=scope).json()["access_token"]


def post_message(http: requests.Session, url: str, token: str | None, content: Any, user: str = TARO, bot: str = BOT):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    user_path = requests.utils.quote(user, safe="")
    return http.post(
        f"{url}/works/api/v1.0/bots/{bot}/users/{user_path}/messages",
        json={"content": content},
        headers=headers,
        timeout=5,
    )


LINK = {"type": "link", "contentText": "申請が差し戻されました", "linkText": "開く", "link": "https://acme.example/a/1"}


def error_body(resp: requests.Response) -> tuple[int, str, str]:
    body = resp.json()
    return resp.status_code, body.get("code") or body.get("error"), body.get("description") or body.get("message") or ""


# ---------------------------------------------------------------- control API


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"domain_id": "acme"}, "domain_id"),
        ({"client_secret": None}, "all of"),
        ({"public_key_pem": "not a key"}, "public_key_pem"),
        ({"plan": "gold"}, "plan"),
        ({"token_ttl": 0}, "token_ttl"),
        ({"bots": [{"name": "no id"}]}, "bot_id"),
        ({"client_id": None, "client_secret": None, "service_account": None, "public_key_pem": None, "api_id": None,
          "server_list_id": None, "server_list_public_key_pem": None, "server_api_consumer_key": None}, "API 2.0"),
    ],
)  # fmt: skip
def test_tenant_validation(control: SandboxClient, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SandboxError, match=message):
        control.control("naver_works", "tenants", tenant(**overrides))


def test_unknown_control_route(control: SandboxClient) -> None:
    with pytest.raises(SandboxError, match="404"):
        control.control("naver_works", "nope", {})


# ---------------------------------------------------------------- token endpoint


def test_token_success_shape_has_a_string_expires_in(works: str, http: requests.Session) -> None:
    resp = get_token(http, works, scope="bot,calendar")

    body = resp.json()
    assert resp.status_code == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == "86400" and body["scope"] == "bot,calendar"
    assert body["access_token"] and body["refresh_token"]


def test_token_accepts_the_double_encoded_grant_type(works: str, http: requests.Session) -> None:
    assert get_token(http, works, grant_type=requests.utils.quote(GRANT, safe="")).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"client_id": "other"}, 401, "invalid_client"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"assertion": "not.a.jwt"}, 400, "invalid_grant"),
        ({"scope": "drive"}, 400, "invalid_scope"),
        ({"scope": ""}, 400, "invalid_scope"),
    ],
)
def test_token_refusals(works: str, http: requests.Session, overrides: dict[str, str], status: int, error: str) -> None:
    resp = get_token(http, works, **overrides)

    assert resp.status_code == status and resp.json()["error"] == error and resp.json()["error_description"]


@pytest.mark.parametrize(
    "bad_assertion",
    [
        lambda: assertion(key="intruder"),  # signed with another key
        lambda: assertion(iss="other-client"),
        lambda: assertion(sub="someone.serviceaccount@acme.example"),
        lambda: assertion(exp=int(time.time()) + 3700),  # more than 60 minutes
        lambda: assertion(now=time.time() - 4000, exp=int(time.time()) - 400),  # expired
    ],
)
def test_token_checks_the_jwt(works: str, http: requests.Session, bad_assertion) -> None:
    resp = get_token(http, works, assertion=bad_assertion())

    assert (resp.status_code, resp.json()["error"]) == (400, "invalid_grant")


def test_token_needs_a_form_body(works: str, http: requests.Session) -> None:
    resp = http.post(f"{works}/works/auth/oauth2/v2.0/token", json=token_form(), timeout=5)

    assert (resp.status_code, resp.json()["error"]) == (400, "invalid_request")


# ---------------------------------------------------------------- bot message API


def test_message_is_delivered_and_recorded(works: str, http: requests.Session, control: SandboxClient) -> None:
    resp = post_message(http, works, access_token(http, works), LINK)

    assert resp.status_code == 201 and resp.content == b""
    messages = control.control("naver_works", "messages", {"domain_id": DOMAIN})["messages"]
    assert messages == [{"api": "2.0", "domain_id": DOMAIN, "bot_id": BOT, "user_id": TARO, "content": LINK}]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"token": None}, (401, "UNAUTHORIZED", "Authentication failed")),
        ({"token": "kr1Aforged"}, (401, "UNAUTHORIZED", "Authentication failed")),
        ({"bot": "9999999"}, (404, "NOT_FOUND", "bot not found")),
        ({"user": "nobody@acme.example"}, (404, "NOT_FOUND", "user not found")),
    ],
)
def test_message_auth_bot_and_user_rules(works: str, http: requests.Session, kwargs: dict, expected: tuple) -> None:
    token = kwargs.pop("token", access_token(http, works))

    assert error_body(post_message(http, works, token, LINK, **kwargs)) == expected


@pytest.mark.parametrize(
    "content",
    [
        None,
        {"type": "sticker", "packageId": "1", "stickerId": "3"},
        {"type": "text", "text": ""},
        {"type": "text", "text": "x" * 2001},
        {**LINK, "contentText": "x" * 1001},
        {**LINK, "linkText": ""},
        {**LINK, "link": "javascript:alert(1)"},
        {"type": "link", "contentText": "no link", "linkText": "open"},
    ],
)
def test_message_content_rules(works: str, http: requests.Session, content: Any) -> None:
    status, code, _ = error_body(post_message(http, works, access_token(http, works), content))

    assert (status, code) == (400, "INVALID_PARAMETER")


def test_message_limits_are_inclusive(works: str, http: requests.Session) -> None:
    token = access_token(http, works)
    assert post_message(http, works, token, {"type": "text", "text": "x" * 2000}).status_code == 201
    assert post_message(http, works, token, {**LINK, "contentText": "x" * 1000}).status_code == 201


def test_a_token_without_the_bot_scope_is_forbidden(works: str, http: requests.Session) -> None:
    status, code, _ = error_body(post_message(http, works, access_token(http, works, scope="calendar"), LINK))

    assert (status, code) == (403, "FORBIDDEN")


def test_expire_tokens_makes_current_tokens_fail(works: str, http: requests.Session, control: SandboxClient) -> None:
    token = access_token(http, works)

    assert control.control("naver_works", "expire_tokens", {"domain_id": DOMAIN}) == {"expired": 1}

    assert error_body(post_message(http, works, token, LINK))[:2] == (401, "UNAUTHORIZED")
    assert post_message(http, works, access_token(http, works), LINK).status_code == 201


def test_token_ttl_is_the_tenants(sandbox: Sandbox, control: SandboxClient, http: requests.Session) -> None:
    control.control("naver_works", "tenants", tenant(token_ttl=1))
    token = get_token(http, sandbox.url).json()
    assert token["expires_in"] == "1"
    time.sleep(1.1)
    assert post_message(http, sandbox.url, token["access_token"], LINK).status_code == 401


# ---------------------------------------------------------------- rate limits


def test_free_plan_allows_60_per_minute_per_api(sandbox: Sandbox, control: SandboxClient, http: requests.Session):
    control.control("naver_works", "tenants", tenant(plan="free"))
    token = access_token(http, sandbox.url)
    for _ in range(60):
        assert post_message(http, sandbox.url, token, {"type": "text", "text": "x"}).status_code == 201

    resp = post_message(http, sandbox.url, token, {"type": "text", "text": "x"})

    assert error_body(resp) == (429, "TOO_MANY_REQUESTS", "API rate limit exceeded")
    assert resp.headers["rateLimit-limit"] == "60" and resp.headers["rateLimit-remaining"] == "0"
    assert int(resp.headers["rateLimit-reset"]) >= 1
    # Another API operation has its own budget.
    bot = http.get(f"{sandbox.url}/works/api/v1.0/bots/{BOT}", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert bot.status_code == 200


def test_limits_can_be_changed_and_disabled(works: str, control: SandboxClient, http: requests.Session) -> None:
    token = access_token(http, works)
    control.set_limits("naver_works", burst=1, per_second=0.01)
    assert post_message(http, works, token, LINK).status_code == 201
    assert post_message(http, works, token, LINK).status_code == 429
    control.set_limits("naver_works", enabled=False)
    assert all(post_message(http, works, token, LINK).status_code == 201 for _ in range(5))


# ---------------------------------------------------------------- bot management API


def test_bot_create_domain_and_get(works: str, http: requests.Session) -> None:
    auth = {"Authorization": f"Bearer {access_token(http, works)}"}
    api = f"{works}/works/api/v1.0"
    body = {
        "botName": "WORKPLACE",
        "photoUrl": "https://example.com/bot.png",
        "description": "notifications",
        "administrators": [TARO],
        "allowDomains": [int(DOMAIN)],
    }

    created = http.post(f"{api}/bots", json=body, headers=auth, timeout=5)
    bot_id = created.json()["botId"]
    assert created.status_code == 201 and isinstance(bot_id, int)
    # Not usable before it is added to the domain.
    assert error_body(post_message(http, works, auth["Authorization"][7:], LINK, bot=str(bot_id)))[0] == 404
    added = http.post(f"{api}/bots/{bot_id}/domains/{DOMAIN}", json={}, headers=auth, timeout=5)
    assert added.status_code == 201 and added.json()["domainId"] == int(DOMAIN)
    assert post_message(http, works, auth["Authorization"][7:], LINK, bot=str(bot_id)).status_code == 201
    got = http.get(f"{api}/bots/{bot_id}", headers=auth, timeout=5).json()
    assert got["botId"] == bot_id and got["botName"] == "WORKPLACE" and got["administrators"] == [TARO]


@pytest.mark.parametrize(
    "overrides",
    [
        {"botName": ""},
        {"botName": "x" * 101},
        {"photoUrl": "http://example.com/bot.png"},
        {"description": "x" * 101},
        {"administrators": []},
        {"administrators": ["stranger@else.example"]},
    ],
)
def test_bot_create_rules(works: str, http: requests.Session, overrides: dict[str, Any]) -> None:
    body = {"botName": "B", "photoUrl": "https://e.example/p.png", "description": "d", "administrators": [TARO]}
    resp = http.post(
        f"{works}/works/api/v1.0/bots",
        json={**body, **overrides},
        headers={"Authorization": f"Bearer {access_token(http, works)}"},
        timeout=5,
    )

    assert error_body(resp)[:2] == (400, "INVALID_PARAMETER")


def test_bot_domain_must_be_the_tenants(works: str, http: requests.Session) -> None:
    auth = {"Authorization": f"Bearer {access_token(http, works)}"}
    resp = http.post(f"{works}/works/api/v1.0/bots/{BOT}/domains/99999", json={}, headers=auth, timeout=5)
    assert error_body(resp)[:2] == (400, "INVALID_PARAMETER")
    resp = http.post(f"{works}/works/api/v1.0/bots/1/domains/{DOMAIN}", json={}, headers=auth, timeout=5)
    assert error_body(resp)[:2] == (404, "NOT_FOUND")


# ---------------------------------------------------------------- API 1.0


def legacy_token(http: requests.Session, url: str, **claims: Any) -> requests.Response:
    iat = int(time.time())
    jwt_ = jwt.encode(
        {"iss": SERVER_LIST_ID, "iat": iat, "exp": iat + 300, **claims}, keys("tenant")[0], algorithm="RS256"
    )
    return http.post(
        f"{url}/works/auth/b/{API_ID}/server/token",
        params={"grant_type": GRANT, "assertion": jwt_},
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
        timeout=5,
    )


def push(http: requests.Session, url: str, token: str, account: str = TARO, bot: str = BOT, key: str = CONSUMER_KEY):
    return http.post(
        f"{url}/works/legacy/r/{API_ID}/message/v1/bot/{bot}/message/push",
        json={"accountId": account, "content": {"type": "text", "text": "hello"}},
        headers={"Authorization": f"Bearer {token}", "consumerKey": key},
        timeout=5,
    )


def test_legacy_token_and_push(works: str, http: requests.Session, control: SandboxClient) -> None:
    resp = legacy_token(http, works)
    token = resp.json()["access_token"]
    assert resp.status_code == 200

    assert push(http, works, token).status_code == 200
    assert error_body(push(http, works, token, key="wrong"))[:2] == (401, "UNAUTHORIZED")
    assert error_body(push(http, works, token, bot="42"))[:2] == (400, "NONEXISTENT_BOT")
    assert error_body(push(http, works, token, account="nobody@acme.example"))[:2] == (400, "BAD_REQUEST")
    # A 2.0 token is not a server token, nor the other way round.
    assert push(http, works, access_token(http, works)).status_code == 401
    assert post_message(http, works, token, LINK).status_code == 401
    assert control.control("naver_works", "messages", {})["messages"][0]["api"] == "1.0"


def test_legacy_push_daily_quota(works: str, http: requests.Session, control: SandboxClient) -> None:
    token = legacy_token(http, works).json()["access_token"]
    # The documented quota: 20,000 a day, plus 100 per member above 100.
    assert control.control("naver_works", "legacy_quota", {"domain_id": DOMAIN})["quota"] == 20_000
    control.control("naver_works", "legacy_quota", {"domain_id": DOMAIN, "quota": 2})
    assert [push(http, works, token).status_code for _ in range(2)] == [200, 200]
    refused = push(http, works, token)
    assert error_body(refused)[:2] == (429, "QUOTA_EXCEEDED")
    assert not any(name.lower().startswith("ratelimit") for name in refused.headers)
    assert len(control.control("naver_works", "messages", {})["messages"]) == 2
    # 00:00 JST: a new day's count.
    assert control.control("naver_works", "legacy_quota", {"domain_id": DOMAIN, "reset": True})["used"] == 0
    assert push(http, works, token).status_code == 200


def test_legacy_push_quota_grows_with_members(sandbox: Sandbox, control: SandboxClient) -> None:
    members = [f"user{i}@acme.example" for i in range(150)]
    control.control("naver_works", "tenants", {**tenant(), "users": members})
    assert control.control("naver_works", "legacy_quota", {"domain_id": DOMAIN})["quota"] == 25_000


# Claims are made when the test runs, not when pytest collects it: a slow start must not age them.
@pytest.mark.parametrize("claims", [lambda: {"iss": "other"}, lambda: {"exp": int(time.time()) + 600}])
def test_legacy_token_checks_the_jwt(works: str, http: requests.Session, claims: Callable[[], dict[str, Any]]) -> None:
    resp = legacy_token(http, works, **claims())

    assert (resp.status_code, resp.json()["error"]) == (400, "invalid_grant")


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("kind", "options", "status", "code"),
    [
        ("rate_limited", {"retry_after": 7}, 429, "TOO_MANY_REQUESTS"),
        ("server_error", {}, 503, "SERVICE_UNAVAILABLE"),
        ("server_error", {"status": 500}, 500, "INTERNAL_SERVER_ERROR"),
        ("invalid_auth", {}, 401, "UNAUTHORIZED"),
        ("not_found", {}, 404, "NOT_FOUND"),
    ],
)
def test_faults(works: str, http: requests.Session, control: SandboxClient, kind, options, status, code) -> None:
    token = access_token(http, works)
    control.add_fault("naver_works", kind, times=1, match={"api": "message", "user_id": TARO}, **options)

    assert post_message(http, works, token, LINK, user=HANAKO).status_code == 201  # not matched
    resp = post_message(http, works, token, LINK)
    assert error_body(resp)[:2] == (status, code)
    if kind == "rate_limited":
        assert resp.headers["rateLimit-reset"] == "7"
    assert post_message(http, works, token, LINK).status_code == 201  # used up


# ---------------------------------------------------------------- the sender end to end


def endpoints(url: str) -> ProviderEndpoints:
    return ProviderEndpoints(
        WORKS_AUTH_BASE=f"{url}/works/auth/oauth2/v2.0",
        WORKS_API_BASE=f"{url}/works/api/v1.0",
        WORKS_LEGACY_API_BASE=f"{url}/works/legacy",
    )


def v2(**overrides: Any) -> dict[str, Any]:
    values = {
        "api_version": "2.0",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "service_account": SERVICE_ACCOUNT,
        "private_key": keys("tenant")[0],
        "domain_id": DOMAIN,
        "admin_email": TARO,
        "bot_id": BOT,
    }
    values.update(overrides)
    return values


def v1(**overrides: Any) -> dict[str, Any]:
    values = {
        "api_version": "1.0",
        "domain_id": DOMAIN,
        "admin_email": TARO,
        "api_id": API_ID,
        "server_api_consumer_key": CONSUMER_KEY,
        "server_list_id": SERVER_LIST_ID,
        "server_list_private_key": keys("tenant")[0],
        "bot_id": BOT,
    }
    values.update(overrides)
    return values


NOTE = Notification(
    "evt-1", "approval.requested", "決裁依頼", "鈴木さんから決裁依頼が届きました。", "https://acme.example/a/8812"
)


@pytest.fixture
def hub(works: str, http: requests.Session) -> NaverWorksSender:
    return NaverWorksSender(http, endpoints(works), timeout=(2.0, 2.0), hub_public_url=works)


def to(user: str = TARO) -> Destination:
    return Destination(user_id=user, address=user)


def token_calls(control: SandboxClient) -> int:
    return sum(r["path"].endswith("/token") for r in control.requests("naver_works"))


def test_sender_sends_with_api_2(hub: NaverWorksSender, control: SandboxClient) -> None:
    assert hub.send(NOTE, to(), v2()) == SendReceipt(provider_message_id=None)

    (message,) = control.control("naver_works", "messages", {})["messages"]
    assert message["api"] == "2.0" and message["user_id"] == TARO
    assert message["content"] == {
        "type": "link",
        "contentText": "決裁依頼\n鈴木さんから決裁依頼が届きました。",
        "linkText": "WORKPLACEで開く",
        "link": "https://acme.example/a/8812",
    }


def test_sender_sends_with_api_1(hub: NaverWorksSender, control: SandboxClient) -> None:
    assert hub.send(NOTE, to(HANAKO), v1()) == SendReceipt(provider_message_id=None)
    assert hub.verify(v1()).startswith("API 1.0 server token issued")

    (message,) = control.control("naver_works", "messages", {})["messages"]
    assert (message["api"], message["user_id"], message["content"]["type"]) == ("1.0", HANAKO, "link")
    assert token_calls(control) == 1


def test_sender_uses_one_token_for_20_messages(hub: NaverWorksSender, control: SandboxClient) -> None:
    for _ in range(20):
        hub.send(NOTE, to(), v2())

    assert token_calls(control) == 1
    assert len(control.control("naver_works", "messages", {})["messages"]) == 20


def test_sender_renews_an_expired_token_once(hub: NaverWorksSender, control: SandboxClient) -> None:
    hub.send(NOTE, to(), v2())
    control.control("naver_works", "expire_tokens", {"domain_id": DOMAIN})

    hub.send(NOTE, to(), v2())
    hub.send(NOTE, to(), v2())

    assert token_calls(control) == 2
    statuses = [r["status"] for r in control.requests("naver_works") if not r["path"].endswith("/token")]
    assert statuses == [201, 401, 201, 201]


def test_sender_gives_up_after_a_second_refusal(hub: NaverWorksSender, control: SandboxClient) -> None:
    control.add_fault("naver_works", "invalid_auth", times=2, match={"api": "message"})

    with pytest.raises(IntegrationCredentialsError):
        hub.send(NOTE, to(), v2())
    assert token_calls(control) == 2


def test_sender_verify_and_provision_bot(hub: NaverWorksSender, control: SandboxClient) -> None:
    assert hub.verify(v2()) == f"bot WORKPLACE ({BOT})"

    bot_id = hub.provision_bot(v2(bot_id=None), name="WORKPLACE 通知")

    assert bot_id.isdigit() and bot_id != BOT
    assert hub.verify(v2(bot_id=bot_id)) == f"bot WORKPLACE 通知 ({bot_id})"
    hub.send(NOTE, to(), v2(bot_id=bot_id))
    assert control.control("naver_works", "messages", {})["messages"][0]["bot_id"] == bot_id
    assert hub.on_save(v2()) == {}


def test_sender_errors(hub: NaverWorksSender, control: SandboxClient) -> None:
    with pytest.raises(PermanentProviderError) as user:
        hub.send(NOTE, to("nobody@acme.example"), v2())
    assert user.value.reason == "naver_works_user_not_found"
    with pytest.raises(IntegrationCredentialsError) as bot:
        hub.send(NOTE, to(), v2(bot_id="42"))
    assert bot.value.reason == "naver_works_bot_not_found"
    with pytest.raises(IntegrationCredentialsError) as refused:
        hub.send(NOTE, to(), v2(client_secret="wrong"))
    assert refused.value.code == "invalid_client"


def test_sender_rate_limited_is_retryable(hub: NaverWorksSender, control: SandboxClient) -> None:
    control.set_limits("naver_works", burst=2, per_second=0.05)
    hub.send(NOTE, to(), v2())
    hub.send(NOTE, to(), v2())

    with pytest.raises(RetryableProviderError) as raised:
        hub.send(NOTE, to(), v2())

    assert raised.value.code == "TOO_MANY_REQUESTS" and raised.value.status_code == 429
    assert raised.value.retry_after is not None and raised.value.retry_after >= 1


def test_sender_timeout_is_retryable(works: str, http: requests.Session, control: SandboxClient) -> None:
    hub = NaverWorksSender(http, endpoints(works), timeout=(2.0, 0.2))
    control.add_fault("naver_works", "timeout", times=1, delay=0.5, match={"api": "message"})

    with pytest.raises(RetryableProviderError) as raised:
        hub.send(NOTE, to(), v2())

    assert raised.value.code == "timeout"
