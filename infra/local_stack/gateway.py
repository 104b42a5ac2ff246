"""An HTTP API stand-in: routes the template's HttpApi events to the real handlers.

Like the HTTP API's JWT authorizer, it refuses every request without a valid WORKPLACE token (unless
the route says `Auth: {Authorizer: NONE}`) before any handler runs, and hands the verified claims to
the handler in `requestContext.authorizer.jwt.claims`. It also serves the dev issuer's discovery
document and JWKS under /_dev/issuer.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_to_bytes, urlsplit

from infra.local_stack.functions import LocalFunction
from infra.local_stack.identity import DevIssuer
from workplace_hub.workplace_jwt import InvalidTokenError, TokenVerifier

log = logging.getLogger("local_stack.gateway")
ISSUER_PATH = "/_dev/issuer"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # template form: /admin/integrations/{integration}
    pattern: re.Pattern[str]
    function: LocalFunction
    authorized: bool

    @classmethod
    def build(cls, method: str, path: str, function: LocalFunction, authorized: bool) -> Route:
        # {name+} is a greedy path variable (the rest of the path, slashes included), as in an HTTP API.
        regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\+\\\}", r"(?P<\1>.+)", re.escape(path))
        regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", regex)
        return cls(method.upper(), path, re.compile(f"^{regex}$"), function, authorized)


def routes_from_template(template: dict[str, Any], functions: dict[str, LocalFunction]) -> list[Route]:
    routes = []
    for logical_id, function in functions.items():
        events = template["Resources"][logical_id]["Properties"].get("Events", {})
        for event in events.values():
            if event["Type"] != "HttpApi":
                continue
            properties = event["Properties"]
            authorizer = properties.get("Auth", {}).get("Authorizer")
            routes.append(Route.build(properties["Method"], properties["Path"], function, authorizer != "NONE"))
    # Literal paths before templated ones, and greedy ones last, as API Gateway prefers the most specific route.
    return sorted(routes, key=lambda route: (route.path.count("+}"), route.path.count("{")))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        self.gateway = gateway
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed-ACK stalls
        return sock, address


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # request lines may carry tokens: no access log
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.server.gateway.dispatch(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, self.client_address[0]
        )
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle


def decode_path(received: str) -> tuple[str, str]:
    """The request path decoded once (what routes match, and what path parameters are cut from), and as
    `rawPath` (percent-encoded). Like an HTTP API: it decodes the path before it matches a route, so
    `/admin/users/a%2Fb/links` has one segment too many and matches no route, and it hands the function
    `pathParameters` decoded ("API Gateway decodes URL-encoded request parameters before passing them to your
    backend integration", https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html).
    A path that is not percent-encoded UTF-8 raises UnicodeDecodeError (what API Gateway answers then is not
    documented; here 400). http.server reads the request line as ISO-8859-1, so raw UTF-8 bytes come back whole."""
    octets = received.encode("latin-1" if all(ord(c) < 256 for c in received) else "utf-8")
    # rawPath: as received, with raw non-ASCII bytes (and spaces) percent-encoded, existing escapes kept.
    return unquote_to_bytes(octets).decode("utf-8"), quote(octets, safe="/%:@!$&'()*+,;=-._~")


def _json(status: int, document: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(document).encode()


class Gateway:
    """Binds first (so its URL is known to the functions), routes once `serve()` gets the routes."""

    def __init__(self, host: str, port: int) -> None:
        self._server = _Server((host, port), self)
        self._routes: list[Route] = []
        self._verifier: TokenVerifier | None = None
        self._issuer: DevIssuer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def serve(self, routes: list[Route], issuer: DevIssuer, verifier: TokenVerifier) -> None:
        self._routes, self._issuer, self._verifier = routes, issuer, verifier
        self._thread = threading.Thread(target=self._server.serve_forever, name="gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def dispatch(
        self, method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        try:
            path, raw_path = decode_path(parts.path)
        except UnicodeDecodeError:
            return _json(400, {"message": "Bad Request"})
        parts = parts._replace(path=raw_path)
        if path.startswith(ISSUER_PATH) and method == "GET" and self._issuer:
            if path == f"{ISSUER_PATH}/jwks.json":
                return _json(200, self._issuer.jwks())
            if path == f"{ISSUER_PATH}/.well-known/openid-configuration":
                return _json(200, self._issuer.discovery(f"{self.url}{ISSUER_PATH}/jwks.json"))
        for route in self._routes:
            match = route.pattern.fullmatch(path)  # fullmatch: "$" alone would also end before a trailing "\n"
            if match and route.method == method:
                return self._invoke(route, match.groupdict(), method, parts, headers, body, source_ip)
        return _json(404, {"message": "Not Found"})

    def _invoke(
        self,
        route: Route,
        path_parameters: dict[str, str],
        method: str,
        parts: Any,
        headers: dict[str, str],
        body: bytes,
        source_ip: str,
    ) -> tuple[int, dict[str, str], bytes]:
        authorizer: dict[str, Any] = {}
        if route.authorized:
            assert self._verifier is not None
            try:
                claims = self._verifier.verify(headers.get("authorization"))
            except InvalidTokenError:
                return _json(401, {"message": "Unauthorized"})
            # HTTP API hands claims to the function as strings.
            authorizer = {
                "jwt": {
                    "claims": {k: v if isinstance(v, str) else json.dumps(v) for k, v in claims.items()},
                    "scopes": None,
                }
            }
        now = time.time()
        query: dict[str, list[str]] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(name, []).append(value)
        try:
            text_body = body.decode("utf-8")
            is_base64 = False
        except UnicodeDecodeError:
            text_body, is_base64 = base64.b64encode(body).decode(), True
        route_key = f"{route.method} {route.path}"
        event = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": parts.path,
            "rawQueryString": parts.query,
            "headers": headers,
            "queryStringParameters": {name: ",".join(values) for name, values in query.items()} or None,
            "pathParameters": path_parameters or None,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "authorizer": authorizer,
                "domainName": headers.get("host", "localhost"),
                "domainPrefix": "local",
                "http": {
                    "method": method,
                    "path": parts.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": source_ip,
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": route_key,
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
            },
            "body": text_body or None,
            "isBase64Encoded": is_base64,
        }
        try:
            result = route.function.invoke(event)
        except Exception:
            log.exception("%s raised", route.function.logical_id)
            return _json(500, {"message": "Internal Server Error"})
        response_headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            response_headers[name] = ", ".join(values)
        payload = result.get("body") or ""
        raw = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        return int(result.get("statusCode", 200)), response_headers, raw
