"""Domain errors → HTTP responses, in one place, and the error answers each route documents.

Messages name fields, never values.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from workplace_hub.errors import (
    ConflictError,
    InvalidPageToken,
    NotFoundError,
    SettingsValidationError,
    ValueTooLargeError,
)

JSON = "application/json"


class RequestRefused(Exception):
    """A request refused before any route runs (unreadable body, undecodable path): the answer to give."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None, *, details: bool = False):
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.details = status, code, message, field, details


class ErrorAnswer(BaseModel):
    """A refused request: a stable `error` code, a message, and the field at fault when there is one."""

    error: str
    message: str
    field: str | None = None


class Problem(BaseModel):
    """One problem of an invalid request: the field and what is wrong with it."""

    field: str
    message: str


class InvalidRequestAnswer(ErrorAnswer):
    """A request that does not have the documented shape; `details` lists every problem."""

    details: list[Problem]


class AccessDeniedAnswer(BaseModel):
    """No valid token (401, from the gateway's JWT check or the API's own), or not an admin (403)."""

    message: str


_DOCUMENTED: dict[int, tuple[str, type[BaseModel]]] = {
    400: ("A value is invalid; `field` names it", ErrorAnswer),
    401: ("No valid WORKPLACE token", AccessDeniedAnswer),
    403: ("The route needs a company admin", AccessDeniedAnswer),
    409: ("The request contradicts the company's current settings", ErrorAnswer),
    413: ("The body, or a value in it, is larger than the hub takes; `field` names it", ErrorAnswer),
    415: ("The body is not application/json (a charset=utf-8 parameter is allowed)", ErrorAnswer),
    422: ("The request does not have the documented shape", InvalidRequestAnswer),
}

ADMIN = (403,)  # every /admin route: a member's token is refused
BODY = (400, 413, 415)  # every route with a JSON body: unreadable (too deep, lone surrogates), too large, not JSON


def responses(*statuses: int) -> dict[int, OpenAPIResponse]:
    """A route's answers for the OpenAPI document: 200, and 401 and 422 (every route), and these `statuses`."""
    documented: dict[int, OpenAPIResponse] = {200: {"description": "Successful Response"}}
    for status in sorted({401, 422, *statuses}):
        description, model = _DOCUMENTED[status]
        documented[status] = {"description": description, "content": {JSON: {"model": model}}}
    return documented


def _error(status: int, code: str, message: str, field: str | None = None) -> Response:
    body: dict[str, str] = {"error": code, "message": message}
    if field:
        body["field"] = field
    return Response(status_code=status, content_type=JSON, body=body)


def _invalid_request(problems: list[dict[str, str]]) -> Response:
    first = problems[0] if problems else {"field": "", "message": "invalid request"}
    response = _error(422, "invalid_request", f"{first['field']}: {first['message']}", first["field"])
    response.body = {**response.body, "details": problems}  # type: ignore[dict-item]
    return response


def _field(err: dict) -> str:
    """The field a validation error is about: ("body", "settings", "x") → "settings.x"; ("query", "limit") →
    "limit"; a body that is not JSON at all → "body" (its location is ("body", <character offset>))."""
    if err.get("type") == "json_invalid":
        return "body"
    location = [str(part) for part in err.get("loc", ())]
    return ".".join(location[1:]) or ".".join(location)


def _unsupported_media_type() -> Response:
    return _error(415, "unsupported_media_type", "the body must be application/json")


def is_json_media_type(content_type: str | None) -> bool:
    """`application/json`, optionally with `charset=utf-8`: the only bodies the hub reads. (A missing type, and
    `application/json-patch+json` and the like by their prefix, used to be read as JSON.)"""
    media_type, *parameters = (content_type or "").split(";")
    if media_type.strip().lower() != JSON:
        return False
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() != "charset" or value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


def _unreadable_body(app: APIGatewayHttpResolver) -> Response | None:
    """The answer for a body the resolver cannot read (not JSON, not UTF-8); None without a body or if it is fine."""
    event = app.current_event
    if not event.body:
        return None
    if not is_json_media_type(event.headers.get("content-type")):
        return _unsupported_media_type()
    try:
        event.decoded_body  # noqa: B018 - decoding is the check
    except ValueError:  # UnicodeDecodeError, or base64 that is not
        return _invalid_request([{"field": "body", "message": "must be UTF-8 encoded JSON"}])
    return None


def register(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(RequestRefused)
    def refused(exc: RequestRefused) -> Response:
        if exc.details:
            return _invalid_request([{"field": exc.field or "body", "message": exc.message.split(": ", 1)[-1]}])
        return _error(exc.status, exc.code, exc.message, exc.field)

    @app.exception_handler(ValueTooLargeError)
    def too_large(exc: ValueTooLargeError) -> Response:
        return _error(413, "too_large", f"{exc.field} {exc.message}", exc.field)

    @app.exception_handler(SettingsValidationError)
    def invalid_setting(exc: SettingsValidationError) -> Response:
        return _error(400, "invalid_setting", f"{exc.field} {exc.message}", exc.field)

    @app.exception_handler(InvalidPageToken)
    def invalid_page_token(exc: InvalidPageToken) -> Response:
        # A listing's `next_token` is refused as any invalid value is (the answer predates storage's own error).
        return _error(400, "invalid_setting", f"next_token {exc.message}", "next_token")

    @app.exception_handler(ConflictError)
    def conflict(exc: ConflictError) -> Response:
        return _error(409, exc.code, exc.message, exc.field)

    @app.exception_handler(NotFoundError)
    def not_found(exc: NotFoundError) -> Response:
        return _error(404, "not_found", str(exc))

    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_media_type(exc: RequestUnsupportedContentType) -> Response:
        return _unsupported_media_type()

    @app.exception_handler(ValueError)
    def unreadable_body(exc: ValueError) -> Response:
        # The resolver reads the body before any route runs: bytes that are not UTF-8 raise UnicodeDecodeError,
        # multipart/form-data without a boundary a ValueError. Those are the caller's fault (4xx); any other
        # ValueError is the hub's and stays a 500.
        answer = _unreadable_body(app)
        if answer is None:
            raise exc
        return answer

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response:
        unreadable = _unreadable_body(app)
        if unreadable is not None:
            # e.g. a form body, parsed into "fields" that are the caller's values: the API only reads JSON.
            return unreadable
        return _invalid_request([{"field": _field(err), "message": err.get("msg", "invalid")} for err in exc.errors()])
