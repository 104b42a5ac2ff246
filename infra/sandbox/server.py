"""The provider sandbox: one loopback HTTP server hosting every provider fake plus a control API.

Provider fakes live one per module (NAVER WORKS: one package) and are registered in `PROVIDERS`; each is
mounted under its `prefix` (e.g. `/slack`). The control API (JSON; wrapped by `client.SandboxClient`):

    GET    /_sandbox/health                      {"ok", "providers"}
    GET    /_sandbox/requests[?provider=P]       {"requests": [...]} in arrival order
    DELETE /_sandbox/requests
    POST   /_sandbox/faults {"provider", "kind", "times"?, "match"?, ...options} -> {"id"}
    GET    /_sandbox/faults, DELETE /_sandbox/faults
    POST   /_sandbox/limits {"provider", "enabled"?, "burst"?, "per_second"?} -> {"provider", "limits"}
    GET    /_sandbox/latency                     {"providers": {P: {"fixed_ms", "jitter_ms"}}, "in_flight",
                                                  "peak_in_flight"} (delayed requests waiting now / at most)
    POST   /_sandbox/latency {"profile"?, "providers"?: {P: {"fixed_ms", "jitter_ms"?} | null}} -> the same
    POST   /_sandbox/reset
    *      /_sandbox/{provider}/{action}         provider-specific (e.g. slack/workspaces)
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from infra.sandbox.base import ControlError, FakeProvider, Request, Response, json_response
from infra.sandbox.faults import FaultStore
from infra.sandbox.google_calendar import GoogleCalendarFake
from infra.sandbox.google_chat import GoogleChatFake
from infra.sandbox.google_oauth import GoogleOAuthFake
from infra.sandbox.latency import Latency, LatencyStore
from infra.sandbox.line import LineFake
from infra.sandbox.line_login import LineLoginFake
from infra.sandbox.naver_works import NaverWorksFake
from infra.sandbox.sens import SensFake
from infra.sandbox.slack import SlackFake

# Every provider fake, in routing order. Add new fakes (LINE, NAVER WORKS, SENS, Google OAuth/Calendar) here.
# LineLoginFake before LineFake: both live under /line, and the login fake claims only its own paths.
PROVIDERS: list[type[FakeProvider]] = [
    SlackFake,
    GoogleChatFake,
    GoogleOAuthFake,
    GoogleCalendarFake,
    LineLoginFake,
    LineFake,
    NaverWorksFake,
    SensFake,
]
CONTROL_PREFIX = "/_sandbox/"

# Each provider host variable and where it lives in the sandbox.
SANDBOX_PATHS = {
    "SLACK_API_BASE": "/slack/api",
    "GOOGLE_CHAT_BASE": "/google_chat",
    "LINE_API_BASE": "/line/api",
    "LINE_ACCESS_BASE": "/line/access",
    "WORKS_AUTH_BASE": "/works/auth/oauth2/v2.0",
    "WORKS_API_BASE": "/works/api/v1.0",
    "WORKS_LEGACY_API_BASE": "/works/legacy",
    "SENS_BASE": "/sens",
    "GOOGLE_ACCOUNTS_BASE": "/google/accounts",
    "GOOGLE_OAUTH2_BASE": "/google/oauth2",
    "GOOGLE_CALENDAR_BASE": "/google/calendar/v3",
    "GOOGLE_CERTS_URL": "/google/oauth2/certs",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive connections would otherwise make server_close() wait for clients

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        # Without this each keep-alive response waits ~40 ms for a delayed ACK (Nagle).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.connections_lock:
            self.connections.add(sock)
        return sock, addr

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (e.g. during a `timeout` fault) is expected; anything else is a bug.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections."""
        with self.connections_lock:
            socks = list(self.connections)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is available through the control API."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._send(json_response(411, {"error": "chunked bodies are not supported; send Content-Length"}))
            self.close_connection = True
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers=dict(self.headers.items()),
            body=body,
            base_url=self.server.sandbox.url,
        )
        try:
            response = self.server.sandbox.dispatch(request)
        except Exception:
            traceback.print_exc()
            response = json_response(500, {"error": "sandbox internal error"})
        if response is None:  # a fault asked to drop the connection
            self.close_connection = True
            return
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


class Sandbox:
    """Loopback fake of the external provider APIs. `start()` serves in a daemon thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        providers: list[type[FakeProvider]] | None = None,
        latency: dict[str, Latency] | None = None,
    ) -> None:
        """`latency`: each provider's delay from the start (see latency.py; the control API changes it)."""
        if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the sandbox binds to loopback only, not {host!r}")
        self.host, self.port = host, port
        self.providers: dict[str, FakeProvider] = {cls.name: cls() for cls in (providers or PROVIDERS)}
        # The Calendar fake accepts the access tokens the Google OAuth fake issued, as Google does.
        calendar, oauth = self.providers.get("google_calendar"), self.providers.get("google_oauth")
        if isinstance(calendar, GoogleCalendarFake) and oauth is not None:
            calendar.attach(oauth)
        self.faults = FaultStore()
        self.latency = LatencyStore(latency)
        self._log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._server.server_address[1]}"

    def start(self) -> Sandbox:
        """Bind and serve in a daemon thread; returns self."""
        self._server = _Server((self.host, self.port), self)
        # A short poll interval keeps stop() (and so each test's teardown) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close all connections (held `timeout` faults are released)."""
        if self._server is None:
            return
        self._stopping.set()
        self.latency.wake()
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Everything back to empty: provider state, limits, faults and the request log; latency back to what the
        sandbox started with."""
        for provider in self.providers.values():
            provider.reset()
        self.faults.clear()
        self.latency.reset()
        with self._log_lock:
            self._log.clear()

    # --- dispatch ------------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response | None:
        """Route one request; None means drop the connection without answering."""
        if request.path.startswith(CONTROL_PREFIX):
            try:
                return self._control(request)
            except ControlError as exc:
                return json_response(exc.status, exc.payload())
        arrived = time.monotonic()
        provider = next((p for p in self.providers.values() if p.serves(request.path)), None)
        entry: dict[str, Any] = {
            "provider": provider.name if provider else None,
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "headers": request.headers,
            "body": request.parsed_body(),
            "status": None,
            "response": None,
            "fault": None,
            "at": time.time(),
        }
        with self._log_lock:
            self._log.append(entry)  # at arrival, so the log stays in arrival order
        response = (
            self._answer(provider, request, entry)
            if provider
            else (json_response(404, {"error": f"no fake provider serves {request.path}"}))
        )
        if provider is not None:
            # The answer is decided on arrival (rate limits count arrivals) and sent after the provider's delay.
            self.latency.wait(provider.name, arrived, self._stopping)
        with self._log_lock:
            entry["status"] = response.status if response else None
            entry["response"] = response.payload if response else None
        return response

    def _answer(self, provider: FakeProvider, request: Request, entry: dict[str, Any]) -> Response | None:
        fault = self.faults.take(provider.name, provider.fault_attrs(request))
        if fault is None:
            return provider.handle(request)
        with self._log_lock:
            entry["fault"] = fault.id
        if fault.kind != "timeout":
            return provider.fault_response(fault.kind, fault.options)
        self._stopping.wait(fault.options["delay"])
        return None if fault.options["drop"] or self._stopping.is_set() else provider.handle(request)

    def _control(self, request: Request) -> Response:
        route = request.path.removeprefix(CONTROL_PREFIX).strip("/")
        try:
            data = json.loads(request.body) if request.body else {}
        except ValueError as exc:
            raise ControlError("body must be JSON", field="body") from exc
        if not isinstance(data, dict):
            raise ControlError("body must be a JSON object", field="body")
        method = request.method
        if route == "health" and method == "GET":
            return json_response(200, {"ok": True, "providers": sorted(self.providers)})
        if route == "requests" and method == "GET":
            wanted = request.query.get("provider")
            with self._log_lock:
                entries = [dict(e) for e in self._log if wanted is None or e["provider"] == wanted]
            return json_response(200, {"requests": entries})
        if route == "requests" and method == "DELETE":
            with self._log_lock:
                self._log.clear()
            return json_response(200, {"ok": True})
        if route == "faults" and method == "POST":
            provider = self._provider(data.pop("provider", None))
            kinds = provider.fault_kinds | {"timeout"}
            fault = self.faults.add(provider.name, data, kinds, provider.match_keys)
            return json_response(200, {"id": fault.id})
        if route == "faults" and method == "GET":
            return json_response(200, {"faults": self.faults.list()})
        if route == "faults" and method == "DELETE":
            self.faults.clear()
            return json_response(200, {"ok": True})
        if route == "limits" and method == "POST":
            provider = self._provider(data.pop("provider", None))
            return json_response(200, {"provider": provider.name, "limits": provider.set_limits(data)})
        if route == "latency" and method == "GET":
            return json_response(200, {"providers": self.latency.settings(), **self.latency.stats()})
        if route == "latency" and method == "POST":
            settings = self.latency.configure(data)
            return json_response(200, {"providers": settings, **self.latency.stats()})
        if route == "reset" and method == "POST":
            self.reset()
            return json_response(200, {"ok": True})
        name, _, action = route.partition("/")
        if name in self.providers and action:
            return json_response(200, self.providers[name].control(action, method, data, request.base_url))
        raise ControlError(f"unknown control route {method} {request.path}", 404)

    def _provider(self, name: Any) -> FakeProvider:
        # A JSON object or list is unhashable: checked as a string first, or the lookup would answer 500.
        if not isinstance(name, str) or name not in self.providers:
            raise ControlError(f"provider must be one of {sorted(self.providers)}", field="provider")
        return self.providers[name]
