"""The one contract every registered Sender (workplace_hub.providers.SENDERS) must pass.

Each provider brings a table of recorded HTTP answers (apprise-style) and what the hub must make of
them; the checks are the same for every provider: success → SendReceipt; 429 → retryable with
Retry-After; 5xx and network failures → retryable; refused credentials → IntegrationCredentialsError or
NeedsRelinkError; other refusals → PermanentProviderError; build_request is pure; no secret or URL
ever shows in a repr or an error message. A new sender fails `test_contract_every_sender_has_a_table`
until its table is added here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from http.client import RemoteDisconnected
from typing import Any

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from tests.unit.builders import (
    SLACK_MEMBER_ID,
    SLACK_TOKEN,
    TARO,
    WEBHOOK_KEY,
    WEBHOOK_TOKEN,
    WEBHOOK_URL,
    destination,
    http_response,
    notification,
    rsa_private_key_pem,
)
from tests.unit.fakes import FakeSession
from workplace_hub.config import ProviderEndpoints
from workplace_hub.delivery.senders import SENDERS
from workplace_hub.errors import (
    IntegrationCredentialsError,
    NeedsRelinkError,
    OutcomeUnknownError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
)
from workplace_hub.providers.messenger import Destination, PreparedCall, Sender, SendReceipt

TIMEOUT = (1.5, 4.0)
NOW = 1_700_000_000.0  # a fixed clock for senders that sign or timestamp their requests
HANAKO = "hanako.sato@acme.example"
REQUIRED_KINDS = frozenset({"success", "rate_limited", "server_error", "credentials", "permanent"})

Reply = Callable[[], requests.Response | BaseException]


@dataclass(frozen=True)
class Outcome:
    """One recorded provider exchange and what the sender must turn it into.

    `replies` are what the session answers, in order, after the table's preamble (e.g. a token call)
    unless `skip_preamble`; the sender must use every one of them and make no further call.
    """

    name: str
    kind: str  # success | rate_limited | server_error | credentials | permanent | network
    replies: tuple[Reply, ...]
    error: type[ProviderError] | None = None  # None: a SendReceipt
    receipt: str | None = None
    code: str | None = None
    retry_after: float | None = None
    skip_preamble: bool = False
    xfail: str | None = None  # a known product bug: strict xfail with this reason


@dataclass(frozen=True)
class ProviderTable:
    """What a provider's contract rows need: how to build it, inputs, and the secrets to look for."""

    make: Callable[[FakeSession], Sender]
    credentials: dict[str, Any]
    destination: Destination
    other_destination: Destination
    secrets: tuple[str, ...]
    outcomes: tuple[Outcome, ...]
    batch_success: tuple[Reply, ...]  # answers to send_batch for both destinations, all accepted
    batch_refusal: tuple[Reply, ...]  # answers to send_batch for both destinations, refused for good
    preamble: tuple[Reply, ...] = ()  # calls a cold sender makes before the message (an access token)


def reply(status: int, payload: Any = None, *, text: str | None = None, headers: dict[str, str] | None = None) -> Reply:
    """A fresh hand-built requests.Response per use."""
    return lambda: http_response(status, payload, text=text, headers=headers)


def standard(channel: str, **kwargs: Any) -> Callable[[FakeSession], Sender]:
    """The registered class, built as wiring does (session, endpoints, timeout), plus extra kwargs."""
    return lambda session: SENDERS[channel](session, ProviderEndpoints(), TIMEOUT, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- Slack (providers.md §1)


def slack_error(code: str) -> Reply:
    return reply(200, {"ok": False, "error": code})


SLACK = ProviderTable(
    make=standard("slack"),
    credentials={"bot_token": SLACK_TOKEN},
    destination=destination(SLACK_MEMBER_ID, TARO),
    other_destination=destination("U0HANAKO", HANAKO),
    secrets=(SLACK_TOKEN,),
    outcomes=(
        Outcome(
            "ok",
            "success",
            (reply(200, {"ok": True, "channel": "D024BFF1M", "ts": "1700000000.000100"}),),
            receipt="1700000000.000100",
        ),
        Outcome(
            "429_retry_after",
            "rate_limited",
            (reply(429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": "3"}),),
            RetryableProviderError,
            code="ratelimited",
            retry_after=3.0,
        ),
        Outcome("ok_false_ratelimited", "rate_limited", (slack_error("ratelimited"),), RetryableProviderError),
        Outcome(
            "500", "server_error", (reply(500, text="Internal Server Error"),), RetryableProviderError, code="http_500"
        ),
        Outcome("503", "server_error", (reply(503, text=""),), RetryableProviderError, code="http_503"),
        Outcome(
            "invalid_auth",
            "credentials",
            (slack_error("invalid_auth"),),
            IntegrationCredentialsError,
            code="invalid_auth",
        ),
        Outcome("token_revoked", "credentials", (slack_error("token_revoked"),), IntegrationCredentialsError),
        Outcome("channel_not_found", "credentials", (slack_error("channel_not_found"),), NeedsRelinkError),
        Outcome(
            "invalid_blocks",
            "permanent",
            (slack_error("invalid_blocks"),),
            PermanentProviderError,
            code="invalid_blocks",
        ),
        Outcome("404", "permanent", (reply(404, text="Not Found"),), PermanentProviderError, code="http_404"),
        Outcome(
            "200_json_list",
            "server_error",
            (reply(200, text="[]"),),
            RetryableProviderError,
        ),
    ),
    batch_success=(reply(200, {"ok": True, "ts": "1.1"}), reply(200, {"ok": True, "ts": "1.2"})),
    batch_refusal=(slack_error("invalid_blocks"), slack_error("invalid_blocks")),
)


# ---------------------------------------------------------------- Google Chat (providers.md §2)


def google_error(code: int, status: str, message: str, reason: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}]
    return {"error": error}


GOOGLE_CHAT = ProviderTable(
    make=standard("google_chat"),
    credentials={},
    destination=destination(WEBHOOK_URL, TARO),
    other_destination=destination(WEBHOOK_URL.replace("AAAA1234", "BBBB5678"), HANAKO),
    secrets=(WEBHOOK_KEY, WEBHOOK_TOKEN, WEBHOOK_URL),
    outcomes=(
        Outcome(
            "ok",
            "success",
            (reply(200, {"name": "spaces/AAAA1234/messages/m1.m1", "thread": {"name": "spaces/AAAA1234/threads/t1"}}),),
            receipt="spaces/AAAA1234/messages/m1.m1",
        ),
        Outcome(
            "429_retry_after",
            "rate_limited",
            (
                reply(
                    429,
                    google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
                    headers={"Retry-After": "5"},
                ),
            ),
            RetryableProviderError,
            code="RESOURCE_EXHAUSTED",
            retry_after=5.0,
        ),
        Outcome(
            "500",
            "server_error",
            (reply(500, google_error(500, "INTERNAL", "Internal error encountered.")),),
            RetryableProviderError,
            code="INTERNAL",
        ),
        Outcome("503_html", "server_error", (reply(503, text="<html>unavailable</html>"),), RetryableProviderError),
        Outcome(
            "403_token",
            "credentials",
            (reply(403, google_error(403, "PERMISSION_DENIED", "The API is called without a valid token.")),),
            NeedsRelinkError,
            code="PERMISSION_DENIED",
        ),
        Outcome(
            "400_api_key_invalid",
            "credentials",
            (reply(400, google_error(400, "INVALID_ARGUMENT", "API key not valid.", reason="API_KEY_INVALID")),),
            NeedsRelinkError,
        ),
        Outcome(
            "404_space_gone",
            "credentials",
            (reply(404, google_error(404, "NOT_FOUND", "Requested entity was not found.")),),
            NeedsRelinkError,
            code="NOT_FOUND",
        ),
        Outcome(
            "400_invalid_argument",
            "permanent",
            (reply(400, google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")),),
            PermanentProviderError,
            code="INVALID_ARGUMENT",
        ),
        Outcome("413", "permanent", (reply(413, text="Request Entity Too Large"),), PermanentProviderError),
        Outcome(
            "503_json_string",
            "server_error",
            (reply(503, "Service Unavailable"),),
            RetryableProviderError,
        ),
        Outcome(
            "200_json_list",
            "server_error",
            (reply(200, text="[]"),),
            RetryableProviderError,
        ),
    ),
    batch_success=(reply(200, {"name": "spaces/A/messages/1"}), reply(200, {"name": "spaces/B/messages/2"})),
    batch_refusal=(
        reply(400, google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")),
        reply(400, google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")),
    ),
)


# ---------------------------------------------------------------- LINE (providers.md §3)

LINE_TOKEN = "SECRETlineChannelAccessTokenXYZ0123456789+/="
LINE_CHANNEL_SECRET = "0123456789abcdef0123456789abcdef"
LINE_LOGIN_SECRET = "fedcba9876543210fedcba9876543210"


def line_error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    return reply(status, {"message": message}, headers=headers)


LINE = ProviderTable(
    make=standard("line"),
    credentials={
        "login_channel_id": "1234567890",
        "login_channel_secret": LINE_LOGIN_SECRET,
        "channel_access_token": LINE_TOKEN,
        "channel_secret": LINE_CHANNEL_SECRET,
        "friend_link_url": "https://lin.ee/AbCdEfG",
    },
    destination=destination("U" + "1" * 32, TARO),
    other_destination=destination("U" + "2" * 32, HANAKO),
    secrets=(LINE_TOKEN, LINE_CHANNEL_SECRET, LINE_LOGIN_SECRET),
    outcomes=(
        Outcome(
            "push_ok",
            "success",
            (reply(200, {"sentMessages": [{"id": "461230966842064897", "quoteToken": "IStG5h1Tz7b"}]}),),
            receipt="461230966842064897",
        ),
        Outcome(
            "409_retry_key_already_accepted",
            "success",
            (
                reply(
                    409,
                    {"message": "The retry key is already accepted", "sentMessages": [{"id": "461230966842064897"}]},
                    headers={"x-line-request-id": "new-req", "x-line-accepted-request-id": "orig-req"},
                ),
            ),
            receipt="461230966842064897",
        ),
        Outcome(
            "429_rate_limit",
            "rate_limited",
            (line_error(429, "The API rate limit has been exceeded. Try again later.", {"Retry-After": "2"}),),
            RetryableProviderError,
            code="rate_limited",
            retry_after=2.0,
        ),
        Outcome(
            "500", "server_error", (line_error(500, "Internal server error"),), RetryableProviderError, code="http_500"
        ),
        Outcome(
            "401",
            "credentials",
            (line_error(401, "Authentication failed due to the following reason: invalid token."),),
            IntegrationCredentialsError,
            code="http_401",
        ),
        Outcome(
            "429_monthly_limit",
            "permanent",
            (line_error(429, "You have reached your monthly limit."),),
            PermanentProviderError,
            code="monthly_limit",
        ),
        Outcome(
            "400",
            "permanent",
            (
                reply(
                    400, {"message": "The request body has 1 error(s)", "details": [{"message": "x", "property": "to"}]}
                ),
            ),
            PermanentProviderError,
            code="http_400",
        ),
        Outcome("503_json_string", "server_error", (reply(503, "Service Unavailable"),), RetryableProviderError),
    ),
    batch_success=(reply(200, {}, headers={"x-line-request-id": "multicast-req-1"}),),
    batch_refusal=(line_error(400, "The request body has 1 error(s)"),),
)


# ---------------------------------------------------------------- NAVER WORKS (providers.md §4)

WORKS_ACCESS_TOKEN = "SECRETworksAccessToken0001"
WORKS_CLIENT_SECRET = "SECRETworksClientSecret"
WORKS_TOKEN = reply(200, {"access_token": WORKS_ACCESS_TOKEN, "token_type": "Bearer", "expires_in": "86400"})


def works_error(status: int, code: str, description: str, headers: dict[str, str] | None = None) -> Reply:
    return reply(status, {"code": code, "description": description}, headers=headers)


def _pem_body_line() -> str:
    """A line from the middle of the test private key: must never show up anywhere."""
    return rsa_private_key_pem().splitlines()[5]


NAVER_WORKS = ProviderTable(
    make=standard("naver_works", clock=lambda: NOW),
    credentials={
        "api_version": "2.0",
        "domain_id": "10000001",
        "admin_email": "admin@acme.example",
        "client_id": "clientIdABC123",
        "client_secret": WORKS_CLIENT_SECRET,
        "service_account": "ab1cd.serviceaccount@acme.example",
        "private_key": rsa_private_key_pem(),
        "bot_id": "2000001",
        # send() obtains tokens itself; build_request takes the one it is given (it does no I/O).
        "access_token": WORKS_ACCESS_TOKEN,
    },
    destination=destination(TARO, TARO),
    other_destination=destination(HANAKO, HANAKO),
    secrets=(WORKS_ACCESS_TOKEN, WORKS_CLIENT_SECRET, _pem_body_line()),
    preamble=(WORKS_TOKEN,),
    outcomes=(
        Outcome("201", "success", (reply(201, text=""),), receipt=None),
        Outcome(
            "429_retry_after",
            "rate_limited",
            (works_error(429, "TOO_MANY_REQUESTS", "API rate limit exceeded", {"Retry-After": "4"}),),
            RetryableProviderError,
            code="TOO_MANY_REQUESTS",
            retry_after=4.0,
        ),
        Outcome(
            "429_rate_limit_reset",
            "rate_limited",
            (works_error(429, "TOO_MANY_REQUESTS", "API rate limit exceeded", {"rateLimit-reset": "30"}),),
            RetryableProviderError,
            retry_after=30.0,
        ),
        Outcome("500", "server_error", (reply(500, text=""),), RetryableProviderError, code="http_500"),
        Outcome("503_json_string", "server_error", (reply(503, "Service Unavailable"),), RetryableProviderError),
        Outcome(
            "401_after_fresh_token",
            "credentials",
            (
                works_error(401, "UNAUTHORIZED", "Authentication failed"),
                WORKS_TOKEN,
                works_error(401, "UNAUTHORIZED", "Authentication failed"),
            ),
            IntegrationCredentialsError,
            code="UNAUTHORIZED",
        ),
        Outcome(
            "token_refused",
            "credentials",
            (reply(400, {"error": "invalid_client", "error_description": "client authentication failed"}),),
            IntegrationCredentialsError,
            code="invalid_client",
            skip_preamble=True,
        ),
        Outcome(
            "token_endpoint_503",
            "server_error",
            (reply(503, text=""),),
            RetryableProviderError,
            skip_preamble=True,
        ),
        Outcome(
            "404_bot",
            "credentials",
            (works_error(404, "NONEXISTENT_BOT", "Bot does not exist"),),
            IntegrationCredentialsError,
            code="NONEXISTENT_BOT",
        ),
        Outcome(
            "404_user",
            "permanent",
            (works_error(404, "NOT_FOUND", "User not found"),),
            PermanentProviderError,
            code="NOT_FOUND",
        ),
        Outcome(
            "400",
            "permanent",
            (works_error(400, "INVALID_PARAMETER", "content.text is too long"),),
            PermanentProviderError,
            code="INVALID_PARAMETER",
        ),
    ),
    batch_success=(WORKS_TOKEN, reply(201, text=""), reply(201, text="")),
    batch_refusal=(
        WORKS_TOKEN,
        works_error(400, "INVALID_PARAMETER", "bad"),
        works_error(400, "INVALID_PARAMETER", "bad"),
    ),
)


# ---------------------------------------------------------------- KakaoTalk AlimTalk via SENS (providers.md §5)

SENS_SECRET_KEY = "SECRETKEYEXAMPLE0000000000000000000000001"
KAKAO_TEMPLATE = {
    "template_code": "APPROVAL01",
    "name": "결재 알림",
    "content": "[WORKPLACE] #{name}님, #{title}\n#{content}",
    "variables": ["name", "title", "content", "url"],
    "buttons": [{"type": "WL", "name": "자세히 보기", "linkMobile": "https://#{url}", "linkPc": "https://#{url}"}],
    "status": "APR",
    "fetched_at": "2026-11-28T09:00:00+00:00",
}


def sens_status(to: str, code: str = "A000", message_id: str = "m-1") -> dict[str, Any]:
    return {"messageId": message_id, "countryCode": "82", "to": to, "requestStatusCode": code}


def sens_accepted(*statuses: dict[str, Any]) -> Reply:
    return reply(202, {"requestId": "RAKA-1", "statusCode": "202", "statusName": "success", "messages": list(statuses)})


def sens_error(status: int, error_code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return reply(status, {"error": {"errorCode": error_code, "message": message}}, headers=headers)


KAKAO = ProviderTable(
    make=standard("kakao", clock=lambda: NOW),
    credentials={
        "access_key_id": "ACCESSKEYEXAMPLE0001",
        "secret_key": SENS_SECRET_KEY,
        "channel_id": "@workplace",
        "service_id": "ncp:kkobizmsg:kr:1234567:sens",
        "template_code": "APPROVAL01",
        "template": KAKAO_TEMPLATE,
    },
    destination=destination("+821012345678", TARO, name="홍길동", phone="+821012345678"),
    other_destination=destination("+821098765432", HANAKO, name="김철수", phone="+821098765432"),
    secrets=(SENS_SECRET_KEY,),
    outcomes=(
        Outcome("202_accepted", "success", (sens_accepted(sens_status("01012345678")),), receipt="m-1"),
        Outcome(
            "429_retry_after",
            "rate_limited",
            (sens_error(429, "429", "Too Many Requests", {"Retry-After": "3"}),),
            RetryableProviderError,
            code="rate_limited",
            retry_after=3.0,
        ),
        Outcome("500", "server_error", (reply(500, text=""),), RetryableProviderError, code="http_500"),
        Outcome(
            "401_signature",
            "credentials",
            (sens_error(401, "200", "Authentication Failed"),),
            IntegrationCredentialsError,
            code="authentication_failed",
        ),
        Outcome(
            "403_permission",
            "credentials",
            (sens_error(403, "210", "Permission Denied"),),
            IntegrationCredentialsError,
            code="permission_denied",
        ),
        Outcome(
            "400",
            "permanent",
            (sens_error(400, "400", "Bad Request"),),
            PermanentProviderError,
            code="bad_request",
        ),
        Outcome(
            "202_message_rejected",
            "permanent",
            (sens_accepted(sens_status("01012345678", code="E001")),),
            PermanentProviderError,
            code="E001",
        ),
        Outcome(
            "202_unreadable_never_retried",
            "permanent",
            (reply(202, text="[]"),),
            PermanentProviderError,
            code="invalid_response",
        ),
    ),
    batch_success=(
        sens_accepted(sens_status("01012345678", message_id="m-1"), sens_status("01098765432", message_id="m-2")),
    ),
    batch_refusal=(sens_error(400, "400", "Bad Request"),),
)

TABLES: dict[str, ProviderTable] = {
    "slack": SLACK,
    "google_chat": GOOGLE_CHAT,
    "line": LINE,
    "naver_works": NAVER_WORKS,
    "kakao": KAKAO,
}


def _network_outcomes(table: ProviderTable) -> tuple[Outcome, ...]:
    """Failures before any answer; the exception texts carry the URL, as requests' own do."""
    url = table.destination.address if table.destination.address.startswith("https://") else "https://api.example/x"
    return (
        Outcome(
            "read_timeout",
            "network",
            (lambda: requests.ReadTimeout(f"Read timed out. (url: {url})"),),
            OutcomeUnknownError,  # retryable, but the provider may have acted on it
        ),
        Outcome(
            "connect_timeout",
            "network",
            (lambda: requests.ConnectTimeout(f"{url} connect timeout"),),
            RetryableProviderError,
        ),
        Outcome(
            "connection_error",
            "network",
            (lambda: requests.ConnectionError(f"HTTPSConnectionPool: Max retries exceeded with url: {url}"),),
            RetryableProviderError,
        ),
        Outcome(  # as requests raises a refused connection: nothing was sent
            "connection_refused",
            "network",
            (
                lambda: requests.ConnectionError(
                    MaxRetryError(None, url, NewConnectionError(None, "[Errno 111] Connection refused"))  # type: ignore[arg-type]
                ),
            ),
            RetryableProviderError,
        ),
        Outcome(  # as requests raises a connection the provider closed before answering: it may have acted
            "connection_lost",
            "network",
            (
                lambda: requests.ConnectionError(
                    ProtocolError("Connection aborted.", RemoteDisconnected("Remote end closed connection"))
                ),
            ),
            OutcomeUnknownError,
        ),
        Outcome(
            "connection_reset",
            "network",
            (lambda: requests.ConnectionError(ConnectionResetError(104, "Connection reset by peer")),),
            OutcomeUnknownError,
        ),
    )


def _cases() -> list[Any]:
    cases = []
    for channel in SENDERS:
        table = TABLES.get(channel)
        if table is None:
            continue  # test_contract_every_sender_has_a_table fails for it
        for outcome in (*table.outcomes, *_network_outcomes(table)):
            marks = [pytest.mark.xfail(reason=outcome.xfail, strict=True)] if outcome.xfail else []
            cases.append(pytest.param(channel, outcome, id=f"{channel}-{outcome.name}", marks=marks))
    return cases


def _session(table: ProviderTable, *replies: Reply, preamble: bool = True) -> FakeSession:
    return FakeSession([r() for r in (*(table.preamble if preamble else ()), *replies)])


def _assert_no_secret(text: str, table: ProviderTable) -> None:
    for secret in table.secrets:
        assert secret not in text, f"a secret leaked into {text!r}"


def _success(table: ProviderTable) -> Outcome:
    return next(outcome for outcome in table.outcomes if outcome.kind == "success")


CHANNELS = [channel for channel in SENDERS if channel in TABLES]


def _cold_build_cases() -> list[Any]:
    return list(CHANNELS)


# ---------------------------------------------------------------- coverage of the registry


def test_contract_every_sender_has_a_table() -> None:
    # GIVEN the senders the hub deploys
    # WHEN their contract tables are looked up
    missing = sorted(set(SENDERS) - set(TABLES))

    # THEN every registered sender has one (add rows here when registering a provider)
    assert missing == [], f"no contract table for {missing}"


@pytest.mark.parametrize("channel", CHANNELS)
def test_contract_table_covers_every_outcome_kind(channel: str) -> None:
    # GIVEN a provider's contract table
    # WHEN its outcome kinds are listed
    kinds = {outcome.kind for outcome in TABLES[channel].outcomes if not outcome.xfail}

    # THEN success, rate limit, server error, refused credentials and refusal are all covered
    assert kinds >= REQUIRED_KINDS


@pytest.mark.parametrize("channel", CHANNELS)
def test_sender_registered_under_its_channel(channel: str) -> None:
    # GIVEN a registered sender class
    sender_class = SENDERS[channel]

    # WHEN / THEN it is registered under its own channel, documents its API, and batches sensibly
    assert sender_class.channel == channel
    assert sender_class.api_docs.startswith("https://")
    assert 1 <= sender_class.max_batch <= 1000


# ---------------------------------------------------------------- outcomes


@pytest.mark.parametrize(("channel", "outcome"), _cases())
def test_sender_outcome_maps_to_receipt_or_provider_error(channel: str, outcome: Outcome) -> None:
    # GIVEN a session that answers (or fails) as the provider did in the recording
    table = TABLES[channel]
    session = _session(table, *outcome.replies, preamble=not outcome.skip_preamble)
    expected_calls = len(session.outcomes)
    sender = table.make(session)

    # WHEN the sender sends one notification
    if outcome.error is None:
        receipt = sender.send(notification(), table.destination, table.credentials)

        # THEN a receipt with the provider's message id comes back, after exactly the recorded calls
        # (a provider may return a SendReceipt subclass carrying more: AlimTalk's requestId for the result lookup)
        assert isinstance(receipt, SendReceipt) and receipt.provider_message_id == outcome.receipt
        assert len(session.requests) == expected_calls
        return
    with pytest.raises(ProviderError) as raised:
        sender.send(notification(), table.destination, table.credentials)

    # THEN exactly the expected error type, with the provider's name and code, and no secret or URL
    error = raised.value
    assert type(error) is outcome.error
    assert error.provider == channel
    assert error.retryable is issubclass(outcome.error, RetryableProviderError)
    if outcome.code is not None:
        assert error.code == outcome.code
    if isinstance(error, RetryableProviderError):
        assert error.retry_after == outcome.retry_after
    _assert_no_secret(str(error), table)
    _assert_no_secret(repr(error), table)
    _assert_no_secret(error.detail, table)
    if outcome.kind == "network":
        assert "https://" not in str(error)
        assert error.__cause__ is None
        assert error.__suppress_context__ is True
    # Every recorded answer was used and nothing more was sent (no hidden retries of a POST).
    assert len(session.requests) == expected_calls


# ---------------------------------------------------------------- purity and secrecy


@pytest.mark.parametrize("channel", _cold_build_cases())
def test_sender_build_request_is_pure(channel: str) -> None:
    # GIVEN a fresh sender whose session would record (and refuse) any call, and the provider's inputs
    table = TABLES[channel]
    session = FakeSession()
    sender = table.make(session)
    credentials = copy.deepcopy(table.credentials)

    # WHEN the same request is built twice
    first = sender.build_request(notification(), table.destination, credentials)
    second = sender.build_request(notification(), table.destination, credentials)

    # THEN both are equal, nothing was sent, and the inputs were not changed
    assert isinstance(first, PreparedCall)
    assert first == second
    assert session.requests == []
    assert credentials == table.credentials


@pytest.mark.parametrize("channel", CHANNELS)
def test_sender_build_request_repeatable_once_warm(channel: str) -> None:
    # GIVEN a sender that has sent once (any token it needs is cached)
    table = TABLES[channel]
    session = _session(table, *_success(table).replies)
    sender = table.make(session)
    sender.send(notification(), table.destination, table.credentials)
    calls = len(session.requests)

    # WHEN requests are built for the same and for another recipient
    first = sender.build_request(notification(), table.destination, table.credentials)
    again = sender.build_request(notification(), table.destination, table.credentials)
    other = sender.build_request(notification(), table.other_destination, table.credentials)

    # THEN the same input gives the same call, another recipient another call, and no I/O happened
    assert first == again
    assert other != first
    assert len(session.requests) == calls


@pytest.mark.parametrize("channel", CHANNELS)
def test_sender_prepared_call_repr_hides_secrets(channel: str) -> None:
    # GIVEN a built request (which holds the credentials)
    table = TABLES[channel]
    session = _session(table, *_success(table).replies)
    sender = table.make(session)
    sender.send(notification(), table.destination, table.credentials)
    call = sender.build_request(notification(), table.destination, table.credentials)

    # WHEN it, the destination or the sender is printed (e.g. by a logger or a traceback)
    # THEN no token, key or webhook URL shows
    _assert_no_secret(repr(call), table)
    _assert_no_secret(str(call), table)
    _assert_no_secret(repr(table.destination), table)
    _assert_no_secret(repr(sender), table)


@pytest.mark.parametrize("channel", CHANNELS)
def test_sender_send_issues_exactly_the_built_call_with_timeout(channel: str) -> None:
    # GIVEN a session that answers success
    table = TABLES[channel]
    session = _session(table, *_success(table).replies)
    sender = table.make(session)

    # WHEN one notification is sent
    sender.send(notification(), table.destination, table.credentials)

    # THEN the message call the session got is the built one, and every call had the configured timeout
    built = sender.build_request(notification(), table.destination, table.credentials)
    sent = session.requests[-1]
    assert (sent.method, sent.url, sent.headers, sent.json) == (built.method, built.url, built.headers, built.json)
    assert {request.timeout for request in session.requests} == {TIMEOUT}


@pytest.mark.parametrize("channel", CHANNELS)
def test_sender_send_batch_returns_an_outcome_per_destination(channel: str) -> None:
    # GIVEN two recipients and a provider that accepts them
    table = TABLES[channel]
    session = FakeSession([r() for r in table.batch_success])
    sender = table.make(session)

    # WHEN the worker's batch entry point is used
    outcomes = sender.send_batch(
        notification(), [table.destination, table.other_destination], table.credentials, idempotency_key="k-1"
    )

    # THEN each recipient has its own receipt, and every recorded answer was used
    assert set(outcomes) == {table.destination.user_id, table.other_destination.user_id}
    assert all(isinstance(outcome, SendReceipt) for outcome in outcomes.values())
    assert len(session.requests) == len(table.batch_success)


@pytest.mark.parametrize("channel", CHANNELS)
def test_sender_send_batch_reports_errors_without_raising(channel: str) -> None:
    # GIVEN a provider that refuses the recipients for good
    table = TABLES[channel]
    sender = table.make(FakeSession([r() for r in table.batch_refusal]))

    # WHEN the worker's batch entry point is used
    outcomes = sender.send_batch(
        notification(), [table.destination, table.other_destination], table.credentials, idempotency_key="k-1"
    )

    # THEN every recipient gets the error as its outcome (nothing is raised, nothing is lost)
    assert set(outcomes) == {table.destination.user_id, table.other_destination.user_id}
    assert all(isinstance(outcome, PermanentProviderError) for outcome in outcomes.values())
    for outcome in outcomes.values():
        _assert_no_secret(str(outcome), table)
