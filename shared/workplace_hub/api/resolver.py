"""The hub's HTTP API resolver: powertools' `APIGatewayHttpResolver` plus what every route needs before it runs.

- Path parameters are decoded exactly once, as API Gateway decodes them. HTTP APIs hand the function
  `pathParameters` already decoded ("API Gateway decodes URL-encoded request parameters before passing them
  to your backend integration": https://docs.aws.amazon.com/apigateway/latest/developerguide/
  http-api-develop-routes.html), and match routes on the decoded path. powertools instead matches its
  rules on `rawPath` and hands the route the raw text of the segment, so `taro.yamada%40acme.example` used to
  reach the handler as written. `rawPath` itself is not to be relied on either way: HTTP APIs have been seen
  delivering it decoded (Worklytics/psoxy#827, middleapi/standard-server#93), the local gateway delivers it
  as received. So the route's parameters come from `pathParameters`, and only an event without them (a test's)
  has its raw segments percent-decoded here, once.
- A request body is read only as bounded UTF-8 JSON: at most MAX_BODY_BYTES, `Content-Type: application/json`
  (a `charset=utf-8` parameter allowed), nested at most MAX_JSON_DEPTH deep, and without a lone surrogate
  (JSON's "\\ud800" parses, but no UTF-8 encoder, DynamoDB's included, takes it). Anything else is the
  caller's fault, answered 4xx with the usual error body before any route or validation runs.
- Every answer carries the security headers of SECURITY_HEADERS (a page may send a stricter CSP of its own).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.api_gateway import ResponseBuilder, Route

from workplace_hub.api.errors import RequestRefused, is_json_media_type

MAX_BODY_BYTES = 512 * 1024  # API Gateway takes 10 MB; the largest body the hub stores is one integration's settings
MAX_JSON_DEPTH = 32  # DynamoDB's limit for nested attributes; the hub's own bodies are 3 deep

# Every answer: not to be sniffed into another type, framed, or to load anything (a JSON document needs
# nothing). An HTML page sends its own Content-Security-Policy (linking/pages.py), which wins.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


class HubResolver(APIGatewayHttpResolver):
    """APIGatewayHttpResolver with decoded path parameters, bounded JSON bodies and security headers."""

    @staticmethod
    def _compile_regex(rule: str, base_regex: str = "^{}$") -> re.Pattern[str]:
        # A parameter is a whole segment, whatever its characters: powertools' own rule leaves out some that
        # a decoded rawPath can carry (an emoji, "?"), which would answer 404 for an existing route. (These three
        # overrides are powertools internals: aws-lambda-powertools is pinned in layers/deps/requirements.txt, and
        # tests/unit/test_api_requests.py fails if a new version changes them.)
        return re.compile(base_regex.format(re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", rule)))

    def _call_route(self, route: Route, route_arguments: dict[str, str]) -> ResponseBuilder:
        try:
            route_arguments = self._decoded_path_parameters(route_arguments)
            self._check_body()
        except RequestRefused as exc:
            answer = self._call_exception_handler(exc, route)
            if answer is None:
                raise
            return answer
        return super()._call_route(route, route_arguments)

    def _build_response(self, response_builder: ResponseBuilder) -> dict[str, Any]:
        response = super()._build_response(response_builder)
        headers = response.setdefault("headers", {})
        present = {name.lower() for name in headers}
        for name, value in SECURITY_HEADERS.items():
            if name.lower() not in present:
                headers[name] = value
        return response

    def _decoded_path_parameters(self, matched: dict[str, str]) -> dict[str, str]:
        given = self.current_event.path_parameters
        if matched and set(matched) <= set(given):
            return {name: given[name] for name in matched}  # decoded by API Gateway (or the local gateway)
        decoded = {}
        for name, raw in matched.items():
            try:
                decoded[name] = unquote(raw, errors="strict")
            except UnicodeDecodeError:
                raise RequestRefused(400, "invalid_path", "must be percent-encoded UTF-8", name) from None
        return decoded

    def _check_body(self) -> None:
        event = self.current_event
        body = event.body
        if not body:
            return
        if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:  # first, before anything reads it (base64 is 4/3 longer)
            raise _too_large()
        if not is_json_media_type(event.headers.get("content-type")):
            raise RequestRefused(415, "unsupported_media_type", "the body must be application/json")
        # powertools picks its parser by the type's lowercase prefix: "Application/JSON" is the same type.
        headers = event.raw_event.get("headers") or {}
        for name in headers:
            if name.lower() == "content-type":
                headers[name] = "application/json"
        try:
            text = event.decoded_body or ""
        except ValueError:  # UnicodeDecodeError, or base64 that is not
            raise _invalid_body("must be UTF-8 encoded JSON", status=422) from None
        if len(text.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
            raise _too_large()
        try:
            document = json.loads(text, parse_constant=_no_constant)
        except json.JSONDecodeError:
            return  # the route's validation answers it (422 naming the body), as for any JSON it cannot use
        except RecursionError:
            raise _invalid_body(f"must not nest deeper than {MAX_JSON_DEPTH} levels") from None
        except ValueError:  # NaN/Infinity, or an integer of more than 4,300 digits
            raise _invalid_body("must be JSON without NaN, Infinity or numbers that long") from None
        _check_document(document)


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _too_large() -> RequestRefused:
    return RequestRefused(413, "too_large", f"the body must be at most {MAX_BODY_BYTES} bytes", "body")


def _invalid_body(message: str, field: str = "body", status: int = 400) -> RequestRefused:
    field = field if len(field) <= 128 else "body"  # names in it are the caller's: never echo a long one
    code = "invalid_request" if status == 422 else "invalid_body"
    return RequestRefused(status, code, f"{field}: {message}", field, details=status == 422)


def _check_document(document: Any) -> None:
    """Depth and text of a parsed body, without recursion: each string (name or value) must encode as UTF-8."""
    pending: list[tuple[Any, str, int]] = [(document, "", 0)]
    while pending:
        value, path, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise _invalid_body(f"must not nest deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, str):
            if not _is_utf8(value):
                raise _invalid_body("must be text without lone surrogates (\\ud800-\\udfff)", path or "body")
        elif isinstance(value, dict):
            for name, item in value.items():
                if not _is_utf8(name):
                    # The name itself is the caller's text: name the object it is in, not it.
                    raise _invalid_body("has a name with a lone surrogate (\\ud800-\\udfff)", path or "body")
                pending.append((item, f"{path}.{name}" if path else name, depth + 1))
        elif isinstance(value, list):
            pending.extend(
                (item, f"{path}.{index}" if path else str(index), depth + 1) for index, item in enumerate(value)
            )


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
