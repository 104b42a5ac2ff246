"""Malformed and hostile requests to the settings API (on moto's tables): every one a 4xx with the usual error
body, never a 500, never stored; path parameters decoded once; no input costs more than linear time."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from tests.unit.aws import HubStack
from workplace_hub.api import create_app, links
from workplace_hub.api.resolver import MAX_BODY_BYTES, MAX_JSON_DEPTH, SECURITY_HEADERS
from workplace_hub.api.services import ApiServices
from workplace_hub.catalog import Integration
from workplace_hub.integration_settings.credentials import CompanyCredentials
from workplace_hub.integration_settings.fields import JSON_FILE_MAX_LENGTH, FieldSpec
from workplace_hub.integration_settings.specs import FIELD_SPECS
from workplace_hub.storage.delivery_records import DeliveryKey, DeliveryStatus, NewDelivery

COMPANY = "acme"
ADMIN = "admin@acme.example"
MEMBER = "taro.yamada@acme.example"


class Tokens:
    """Stands in for the JWT check: `Bearer <role>:<user>` is that user of acme."""

    def verify(self, authorization: str | None) -> dict[str, Any]:
        role, _, user = (authorization or "").removeprefix("Bearer ").partition(":")
        return {"sub": user, "company_id": COMPANY, "role": role}


def api_services(stack: HubStack, token_verifier: Any) -> ApiServices:
    """The settings API's services on the in-process moto stack, with a token verifier of the test's own."""
    return ApiServices(
        settings_repo=stack.settings_repository,
        links=stack.links,
        deliveries=stack.deliveries,
        keyring=stack.keyring,
        credentials=CompanyCredentials(
            settings_repo=stack.settings_repository, keyring=stack.keyring, links=stack.links
        ),
        token_verifier=token_verifier,
        providers={},
        senders={},
        hub_public_url="https://hub.example",
        google_chat_base="https://chat.googleapis.com",
    )


@pytest.fixture
def api(stack: HubStack) -> Callable[..., tuple[int, dict[str, Any], dict[str, str]]]:
    app = create_app(api_services(stack, Tokens()))
    return lambda *args, **kwargs: call(app, *args, **kwargs)


def http_event(
    method: str,
    raw_path: str,
    body: str | bytes | None = None,
    *,
    content_type: str | None = "application/json",
    role: str = "admin",
    user: str = ADMIN,
    query: str = "",
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event as API Gateway sends it (a body that is not UTF-8 base64-encoded)."""
    headers = {"authorization": f"Bearer {role}:{user}"}
    if content_type is not None:
        headers["content-type"] = content_type
    is_base64 = isinstance(body, bytes)
    text = base64.b64encode(body).decode() if isinstance(body, bytes) else body
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "queryStringParameters": dict(pair.split("=", 1) for pair in query.split("&")) if query else None,
        "headers": headers,
        "pathParameters": path_parameters,
        "requestContext": {
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


def call(app: APIGatewayHttpResolver, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    answer = app.resolve(http_event(*args, **kwargs), None)
    return answer["statusCode"], json.loads(answer["body"] or "null"), answer.get("headers") or {}


def refused(answer: tuple[int, dict[str, Any], dict[str, str]], status: int, field: str | None) -> dict[str, Any]:
    """The usual error body: a code, a message, the field at fault."""
    code, body, _ = answer
    assert code == status, body
    assert set(body) >= {"error", "message"}
    assert body.get("field") == field
    return body


# ----------------------------------------------------------------------------------------- item 2: linear time


def test_a_30_kb_google_workspace_id_is_refused_by_its_length_before_any_check_reads_it(
    api: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the e-mail check, counted (the old regex took 11 s on this value: the check must never see it)
    seen: list[int] = []
    check = links.email_problem
    monkeypatch.setattr(links, "email_problem", lambda value: seen.append(len(value)) or check(value))
    hostile = "a@" + "a" * 30_000  # the backtracking input: '@', then a long run without '.'

    # WHEN an employee sends it
    answer = api("PUT", "/me/links", json.dumps({"google_workspace_id": hostile}), role="member", user=MEMBER)

    # THEN it is too large, naming the field, and the check never ran
    refused(answer, 413, "google_workspace_id")
    assert seen == []

    # AND a value of a few hundred characters reaches the check once, and is no address (at most 254)
    refused(
        api("PUT", "/me/links", json.dumps({"google_workspace_id": hostile[:300]}), role="member", user=MEMBER),
        400,
        "google_workspace_id",
    )
    assert seen == [300]


def test_an_oversized_admin_email_is_refused_before_its_validator_runs(
    stack: HubStack, api: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN every field validator of NAVER WORKS counted
    ran: list[str] = []
    specs = FIELD_SPECS[Integration.NAVER_WORKS]

    def counted(spec: FieldSpec) -> FieldSpec:
        def validate(value: str) -> str:
            ran.append(spec.name)
            return spec.validate(value)

        return FieldSpec(**{**spec.__dict__, "validate": validate})

    monkeypatch.setitem(FIELD_SPECS, Integration.NAVER_WORKS, [counted(s) for s in specs])

    # WHEN an admin sends a 30 KB admin_email
    body = {"enabled": False, "settings": {"api_version": "2.0", "admin_email": "a@" + "a" * 30_000}}
    answer = api("PUT", "/admin/integrations/naver_works", json.dumps(body))

    # THEN it is too large, naming the field, and its validator never saw it
    refused(answer, 413, "settings.admin_email")
    assert "admin_email" not in ran
    assert stack.settings_repository.load(COMPANY).integrations.get(Integration.NAVER_WORKS) is None


# --------------------------------------------------------------------------------- item 3: malformed requests


def test_json_nested_100000_deep_is_a_400_not_a_recursion_error(api: Callable[..., Any]) -> None:
    deep = '{"items": ' + "[" * 100_000 + "]" * 100_000 + "}"
    refused(api("PUT", "/admin/notification-settings", deep), 400, "body")


def test_json_deeper_than_dynamodb_takes_is_a_400(api: Callable[..., Any]) -> None:
    # Deep enough to parse, too deep to store (DynamoDB nests 32 levels)
    nested = "[" * (MAX_JSON_DEPTH + 2) + "]" * (MAX_JSON_DEPTH + 2)
    refused(api("PUT", "/admin/notification-settings", '{"items": ' + nested + "}"), 400, "body")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/me/links", '{"google_workspace_id": "\\ud800@x.example"}', "google_workspace_id"),
        (
            "/admin/integrations/slack",
            '{"enabled": true, "settings": {"bot_token": "xoxb-1-2-\\udfffabcdefghij"}}',
            "settings.bot_token",
        ),
        (
            "/admin/notification-settings",
            '{"items": {"approval.requested": ["sl\\ud800ack"]}}',
            "items.approval.requested.0",
        ),
        ("/admin/company", '{"\\ud800": "workplace"}', "body"),  # a name: the field is where it is, not it
    ],
    ids=["link", "secret", "list", "name"],
)
def test_a_lone_surrogate_is_a_400_naming_the_field_and_nothing_is_stored(
    stack: HubStack, api: Callable[..., Any], path: str, body: str, field: str
) -> None:
    # GIVEN a body JSON parses into text no UTF-8 encoder (DynamoDB's included) takes
    # WHEN it is sent, THEN it is refused naming the field, before anything is stored
    role, user = ("member", MEMBER) if path == "/me/links" else ("admin", ADMIN)
    refused(api("PUT", path, body, role=role, user=user), 400, field)
    assert "google_workspace_id" not in stack.links.get(COMPANY, MEMBER).attributes
    assert stack.settings_repository.load(COMPANY).integrations == {}


@pytest.mark.parametrize(
    "body",
    ['{"items": {}, "n": NaN}', '{"items": {}, "n": ' + "9" * 5000 + "}"],
    ids=["NaN", "5000 digits"],
)
def test_numbers_python_reads_but_json_and_dynamodb_do_not_are_a_400(api: Callable[..., Any], body: str) -> None:
    refused(api("PUT", "/admin/notification-settings", body), 400, "body")


def _token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("event_id=evt-1&", {"pk": "acme#evt-1"}),  # decodes, belongs to the listing, lacks the sort key
        ("", {"gsi1pk": "acme", "pk": "acme#evt-1", "sk": "u#slack"}),  # lacks the index's sort key
        ("event_id=evt-1&", {"pk": "acme#evt-1", "sk": "x" * 1100}),  # a sort key DynamoDB refuses
        ("event_id=evt-1&", {"pk": "acme#evt-1", "sk": "\ud800"}),  # JSON's lone surrogate
        ("event_id=evt-1&", {"pk": "acme#evt-1", "sk": "u#slack", "extra": "x"}),
    ],
    ids=["no sort key", "no index key", "sort key too long", "surrogate", "extra attribute"],
)
def test_a_next_token_that_decodes_but_is_no_key_of_the_listing_is_a_400(
    stack: HubStack, api: Callable[..., Any], query: str, key: dict[str, Any]
) -> None:
    stack.deliveries.add_many(
        [NewDelivery(DeliveryKey(COMPANY, "evt-1", MEMBER, "slack"), "approval.requested", DeliveryStatus.SENT)]
    )
    refused(api("GET", "/admin/deliveries", query=f"{query}next_token={_token(key)}"), 400, "next_token")
    refused(api("GET", "/admin/failures", query=f"{query}next_token={_token(key)}"), 400, "next_token")


@pytest.mark.parametrize(
    ("path", "token", "message"),
    [
        ("/admin/deliveries", "not-a-token", "next_token is not a token this API returned"),
        ("/admin/failures", _token(["acme"]), "next_token is not a token this API returned"),
        (
            "/admin/deliveries",
            _token({"gsi1pk": "globex", "gsi1sk": "x"}),
            "next_token does not belong to this listing",
        ),
        ("/admin/deliveries", _token({"gsi2pk": "globex#u", "pk": "p", "sk": "s", "gsi2sk": "x"}), None),
    ],
    ids=["undecodable", "no key", "another company's", "another listing's"],
)
def test_a_refused_page_token_is_answered_with_exactly_the_documented_400_body(
    api: Callable[..., Any], path: str, token: str, message: str | None
) -> None:
    query = f"user_id={MEMBER}&next_token={token}" if message is None else f"next_token={token}"
    code, body, _ = api("GET", path, query=query)
    expected = message or "next_token does not belong to this listing"
    assert (code, body) == (400, {"error": "invalid_setting", "message": expected, "field": "next_token"})


def test_a_links_next_token_longer_than_a_user_id_can_be_is_a_400(api: Callable[..., Any]) -> None:
    refused(api("GET", "/admin/links", query="next_token=" + "x" * 1100), 400, "next_token")


def test_a_settings_value_larger_than_the_hub_stores_is_a_413_naming_it(
    stack: HubStack, api: Callable[..., Any]
) -> None:
    # GIVEN a 500 KB OAuth client file (a DynamoDB item holds 400 KB): the body itself is under the body limit
    oversized = json.dumps({"web": {"client_id": "x" * 500_000}})
    body = json.dumps(
        {"enabled": False, "settings": {"company_domain": "acme.example", "oauth_client_json": oversized}}
    )
    assert len(body) < MAX_BODY_BYTES

    # WHEN it is saved, THEN it is refused naming the field, and nothing is stored
    refused(api("PUT", "/admin/integrations/google_calendar", body), 413, "settings.oauth_client_json")
    # AND 64 KB is the limit
    at_limit = json.dumps({"web": {"client_id": "x" * (JSON_FILE_MAX_LENGTH - 26)}})
    over = json.dumps({"web": {"client_id": "x" * (JSON_FILE_MAX_LENGTH - 25)}})
    assert len(at_limit) == JSON_FILE_MAX_LENGTH
    settings = {"company_domain": "acme.example"}
    refused(
        api(
            "PUT",
            "/admin/integrations/google_calendar",
            json.dumps({"enabled": False, "settings": {**settings, "oauth_client_json": over}}),
        ),
        413,
        "settings.oauth_client_json",
    )
    answer = api(
        "PUT",
        "/admin/integrations/google_calendar",
        json.dumps({"enabled": False, "settings": {**settings, "oauth_client_json": at_limit}}),
    )
    refused(answer, 400, "settings.oauth_client_json")  # the right size, but no "web" client: its own check ran
    assert stack.settings_repository.load(COMPANY).integrations == {}


def test_many_unknown_settings_in_all_larger_than_an_item_are_a_413(api: Callable[..., Any]) -> None:
    settings = {f"s{i}": "x" * 500 for i in range(500)}  # 250 KB, each value within its field limit
    refused(
        api("PUT", "/admin/integrations/slack", json.dumps({"enabled": False, "settings": settings})), 413, "settings"
    )


def test_a_body_larger_than_any_the_hub_takes_is_a_413(api: Callable[..., Any]) -> None:
    body = json.dumps({"items": {"x": ["slack"] * (MAX_BODY_BYTES // 9 + 1)}})
    refused(api("PUT", "/admin/notification-settings", body), 413, "body")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json-patch+json", '{"product": "collabo"}'),  # read as JSON by its prefix, and saved
        (
            "multipart/form-data; boundary=X",
            '--X\r\nContent-Disposition: form-data; name="product"\r\n\r\ncollabo\r\n--X--\r\n',
        ),
        ("application/x-www-form-urlencoded", "product=collabo"),
        (None, '{"product": "collabo"}'),  # README: every body needs Content-Type: application/json
        ("application/json; charset=latin-1", '{"product": "collabo"}'),
        ("text/plain", '{"product": "collabo"}'),
    ],
    ids=["json-patch", "multipart", "form", "none", "latin-1", "text"],
)
def test_a_body_that_is_not_application_json_is_a_415_and_nothing_is_saved(
    stack: HubStack, api: Callable[..., Any], content_type: str | None, body: str
) -> None:
    code, answer, _ = api("PUT", "/admin/company", body, content_type=content_type)
    assert (code, answer) == (415, {"error": "unsupported_media_type", "message": "the body must be application/json"})
    assert api("GET", "/admin/company")[1]["product"] == "workplace"


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", 'Application/JSON;charset="UTF-8"']
)
def test_application_json_with_or_without_a_utf8_charset_is_read(api: Callable[..., Any], content_type: str) -> None:
    code, answer, _ = api("PUT", "/admin/company", '{"product": "collabo"}', content_type=content_type)
    assert (code, answer["product"]) == (200, "collabo")


# ---------------------------------------------------------------------------------------- path parameters


@pytest.mark.parametrize(
    ("raw_path", "path_parameters", "user_id"),
    [
        (
            "/admin/users/taro.yamada%40acme.example/links",
            {"user_id": "taro.yamada@acme.example"},
            "taro.yamada@acme.example",
        ),
        ("/admin/users/taro.yamada%40acme.example/links", None, "taro.yamada@acme.example"),  # a test's event
        ("/admin/users/" + quote("山田太郎") + "/links", {"user_id": "山田太郎"}, "山田太郎"),
        (
            "/admin/users/山田太郎/links",
            {"user_id": "山田太郎"},
            "山田太郎",
        ),  # rawPath as HTTP APIs were seen to send it
        ("/admin/users/👍?x/links", {"user_id": "👍?x"}, "👍?x"),  # characters powertools' own rule leaves out
        ("/admin/users/100%2525/links", {"user_id": "100%25"}, "100%25"),  # API Gateway decoded it: not again
    ],
    ids=["%40", "%40 without pathParameters", "non-ASCII encoded", "non-ASCII decoded", "emoji", "once"],
)
def test_a_path_parameter_is_decoded_once_as_api_gateway_decodes_it(
    stack: HubStack, api: Callable[..., Any], raw_path: str, path_parameters: dict[str, str] | None, user_id: str
) -> None:
    code, answer, _ = api(
        "PUT", raw_path, json.dumps({"google_workspace_id": "taro@acme.example"}), path_parameters=path_parameters
    )
    assert (code, answer["user_id"]) == (200, user_id)
    assert stack.links.get(COMPANY, user_id).attributes["google_workspace_id"] == "taro@acme.example"
    listed = [employee["user_id"] for employee in api("GET", "/admin/links")[1]["employees"]]
    assert listed == [user_id]  # one employee: no second one named with the escapes


# ---------------------------------------------------------------------------------------- item 5: headers


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/admin/company", None),
        ("PUT", "/admin/company", '{"product": 1}'),  # 422
        ("PUT", "/admin/company", "product=collabo"),  # 415 (form type below)
        ("GET", "/nowhere", None),  # powertools' 404
        ("GET", "/openapi.json", None),
    ],
)
def test_every_answer_carries_the_security_headers(
    api: Callable[..., Any], method: str, path: str, body: str | None
) -> None:
    content_type = "application/x-www-form-urlencoded" if body == "product=collabo" else "application/json"
    _, _, headers = api(method, path, body, content_type=content_type)
    assert {name: headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS


def test_a_raw_path_segment_that_is_not_utf8_is_a_400_naming_the_parameter(api: Callable[..., Any]) -> None:
    # Only an event without pathParameters (API Gateway always sends them) is decoded here
    body = json.dumps({"google_workspace_id": "taro@acme.example"})
    refused(api("PUT", "/admin/users/%FF/links", body), 400, "user_id")
