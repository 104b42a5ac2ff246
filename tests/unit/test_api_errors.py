"""The settings API's error answers: bodies it cannot read are the caller's fault (4xx, never a 500), and the
OpenAPI document declares every error status a route can answer (found by tests/integration/test_openapi_fuzz.py)."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel, ConfigDict, ValidationError

from workplace_hub.api import create_app, errors, hub_openapi_document
from workplace_hub.api.integrations import IntegrationUpdate
from workplace_hub.api.resolver import HubResolver
from workplace_hub.api.services import ApiServices


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str


def _app() -> APIGatewayHttpResolver:
    app = HubResolver(enable_validation=True)
    errors.register(app)

    @app.put("/things")
    def put_thing(thing: Thing) -> dict:
        return {"name": thing.name}

    @app.put("/broken")
    def broken(thing: Thing) -> dict:
        raise ValueError("a bug of the hub, not of the request")

    return app


def _event(path: str, body: bytes, content_type: str | None = "application/json") -> dict[str, Any]:
    """An HTTP API (payload 2.0) PUT; a body that is not UTF-8 arrives base64-encoded, as API Gateway sends it."""
    try:
        text, is_base64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode(), True
    headers = {"content-type": content_type} if content_type is not None else {}
    return {
        "version": "2.0",
        "routeKey": f"PUT {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "http": {"method": "PUT", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "req-1",
            "routeKey": f"PUT {path}",
            "stage": "$default",
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


def _call(path: str, body: bytes, content_type: str | None = "application/json") -> tuple[int, dict[str, Any]]:
    response = _app().resolve(_event(path, body, content_type), None)
    return response["statusCode"], json.loads(response["body"])


def test_a_body_that_is_not_utf8_is_refused_with_422_naming_the_body() -> None:
    # GIVEN a JSON request whose bytes are not UTF-8 (the resolver used to raise UnicodeDecodeError: a 500)
    # WHEN it reaches the API
    status, body = _call("/things", b'{"name": "\xff\xfe"}')

    # THEN it is an invalid request about the body, and echoes nothing of it
    assert status == 422
    assert body["error"] == "invalid_request" and body["field"] == "body"
    assert body["details"] == [{"field": "body", "message": "must be UTF-8 encoded JSON"}]


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        ("multipart/form-data", b'{"name": "x"}'),  # no boundary: the resolver used to raise ValueError (a 500)
        ("text/plain", b'{"name": "x"}'),
        ("application/x-www-form-urlencoded", b'{"secret-looking value": 1}'),  # parsed into a "field" name
    ],
    ids=["multipart without boundary", "text", "form"],
)
def test_a_body_that_is_not_json_is_refused_with_415(content_type: str, payload: bytes) -> None:
    # WHEN a body arrives with a media type other than JSON
    status, body = _call("/things", payload, content_type)

    # THEN it is refused as an unsupported media type, naming nothing the caller sent
    assert status == 415
    assert body == {"error": "unsupported_media_type", "message": "the body must be application/json"}


def test_json_that_does_not_parse_names_the_body_not_a_character_offset() -> None:
    # WHEN the body is not JSON at all
    status, body = _call("/things", b'{"name": ')

    # THEN the field at fault is the body (the resolver's location is ("body", <offset>))
    assert status == 422
    assert body["field"] == "body" and body["details"] == [{"field": "body", "message": "JSON decode error"}]


def test_json_is_read_only_as_application_json() -> None:
    # README: every PUT and POST with a body needs Content-Type: application/json (a body without one used to
    # be read as JSON, and application/json-patch+json too, by its prefix)
    assert _call("/things", b'{"name": "x"}', content_type="application/json; charset=utf-8") == (200, {"name": "x"})
    for content_type in (None, "application/json-patch+json", "application/jsonx", "application/json; charset=utf-16"):
        assert _call("/things", b'{"name": "x"}', content_type=content_type)[0] == 415, content_type


def test_a_value_error_of_the_hub_itself_is_not_turned_into_a_4xx() -> None:
    # GIVEN a route that fails on a perfectly readable request
    # WHEN it is called, THEN the error propagates (a 500 from Lambda), not a 4xx blaming the caller
    with pytest.raises(ValueError, match="a bug of the hub"):
        _app().resolve(_event("/broken", b'{"name": "x"}'), None)


@pytest.mark.parametrize("enabled", [0, 1, "true", "off", None])
def test_enabled_must_be_a_json_boolean(enabled: Any) -> None:
    # The document says boolean; 0/1 and strings used to be coerced (found as "schema-violating request accepted")
    with pytest.raises(ValidationError):
        IntegrationUpdate.model_validate({"enabled": enabled})
    assert IntegrationUpdate.model_validate({"enabled": False}).enabled is False


def test_the_document_declares_every_error_status_each_route_can_answer() -> None:
    # GIVEN the document GET /openapi.json serves: the settings API's and the linking function's routes (no
    # service is called to build it)
    services = ApiServices(**{field.name: None for field in dataclasses.fields(ApiServices)})
    document = hub_openapi_document(create_app(services))
    schemas = document["components"]["schemas"]
    assert {"/me/links/{provider}/authorize", "/me/calendars", "/me/calendar-options", "/admin/links"} <= set(
        document["paths"]
    )
    assert document["security"] == [{"workplaceJwt": []}]

    for path, item in document["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            # THEN every route declares the token's 401 and the shape's 422, with the bodies the API sends
            assert {"200", "401", "422"} <= statuses, (method, path)
            errors = statuses - {"200", "302"}  # a redirect (linking's authorize) has no JSON body
            content = {s: operation["responses"][s]["content"]["application/json"] for s in errors}
            refs = {s: c["schema"]["$ref"] for s, c in content.items()}
            assert refs["401"].endswith("/AccessDeniedAnswer")
            assert refs["422"].endswith("/InvalidRequestAnswer")
            # AND every admin route its 403, every route with a JSON body its 415
            assert ("403" in statuses) == path.startswith("/admin/"), (method, path)
            assert ("415" in statuses) == ("requestBody" in operation), (method, path)
    assert set(schemas["InvalidRequestAnswer"]["required"]) == {"error", "message", "details"}
