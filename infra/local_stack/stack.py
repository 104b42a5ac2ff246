"""Starts and stops the whole local stack; used by `make run`, `make demo`, the tests and the benchmark."""

from __future__ import annotations

import errno
import json
import os
import socket
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.local_stack.aws import REGION, client, create_resources, start_moto
from infra.local_stack.functions import LocalFunction, load_functions
from infra.local_stack.gateway import ISSUER_PATH, Gateway, routes_from_template
from infra.local_stack.identity import DEV_AUDIENCE, DevIssuer
from infra.local_stack.persistence import restore_state, save_state
from infra.local_stack.poller import SqsPoller
from infra.sandbox import Sandbox
from infra.sandbox.latency import Latency
from infra.sandbox.server import SANDBOX_PATHS
from infra.template import ROOT, Resolver, load_template, resources_of_type
from workplace_hub.workplace_jwt import TokenVerifier

STATE_DIR = ROOT / ".local"
AWS_STATE_FILE = "aws-state.pickle"
SIGNING_KEY_FILE = "dev-signing-key.pem"


class PortInUseError(RuntimeError):
    """A port the stack was told to use is taken (moto would otherwise wait for its server forever)."""


def ensure_free(host: str, port: int, what: str) -> None:
    """Raise PortInUseError naming `port` and `what` if something listens there; port 0 is always free."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is free
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise PortInUseError(f"port {port} ({what}) on {host} is already in use") from error


def provider_endpoints(sandbox_url: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Every provider host variable pointed at the sandbox, except one already set in the environment."""
    return {name: environ.get(name) or f"{sandbox_url}{path}" for name, path in SANDBOX_PATHS.items()}


DEV_COMPANY = "acme"
DEV_ADMIN = "admin@acme.example"
DEV_MEMBER = "taro.yamada@acme.example"


class LocalStack:
    """moto server + resources from template.yaml + gateway + pollers + dev issuer + provider sandbox."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        moto_port: int = 0,
        gateway_port: int = 0,
        sandbox_port: int = 0,
        state_dir: Path = STATE_DIR,
        visibility_timeout: int | None = None,
        environ: Mapping[str, str] | None = None,
        persist: bool = False,
        workplace_origin: str = "'none'",
        latency: dict[str, Latency] | None = None,
    ) -> None:
        """`persist`: keep the AWS state in `state_dir` across restarts (saved by stop(), loaded by start()).
        `workplace_origin`: the template's WorkplaceOrigin, the origin(s) that may frame the console.
        `latency`: the sandbox's providers answer after these delays (infra/sandbox/latency.py)."""
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the local stack listens on loopback only")
        self.host = host
        self._ports = (moto_port, gateway_port, sandbox_port)
        self.state_dir = state_dir
        self._visibility_timeout = visibility_timeout
        self.aws_state_file = state_dir / AWS_STATE_FILE if persist else None
        self._latency = latency
        self._environ = os.environ if environ is None else environ
        self.workplace_origin = workplace_origin
        self.functions: dict[str, LocalFunction] = {}
        self.queues: dict[str, str] = {}
        self.pollers: list[SqsPoller] = []

    def start(self) -> LocalStack:
        moto_port, gateway_port, sandbox_port = self._ports
        template = load_template()
        for port, what in zip(self._ports, ("AWS / moto server", "API gateway", "provider sandbox"), strict=True):
            ensure_free(self.host, port, what)
        self._moto, self.aws_endpoint_url = start_moto(self.host, moto_port)
        if self.aws_state_file:
            restore_state(self.aws_state_file)
        self.sandbox = Sandbox(self.host, sandbox_port, latency=self._latency).start()
        self.gateway = Gateway(self.host, gateway_port)
        self.api_url = self.gateway.url
        self.issuer = DevIssuer(self.state_dir / SIGNING_KEY_FILE, f"{self.api_url}{ISSUER_PATH}", DEV_AUDIENCE)
        jwks_url = f"{self.issuer.issuer}/jwks.json"
        resolver = Resolver(
            parameters={
                "Stage": "local",
                "HubPublicUrl": self.api_url,
                "WorkplaceJwtIssuer": self.issuer.issuer,
                "WorkplaceJwtAudience": DEV_AUDIENCE,
                "WorkplaceJwksUrl": jwks_url,
                "WorkplaceProducerArn": "",
                "LogRetentionDays": "30",
                "WorkplaceOrigin": self.workplace_origin,
            }
        )
        self.queues = create_resources(template, resolver, self.aws_endpoint_url, self._visibility_timeout)
        self.resolver = resolver
        self.provider_env = provider_endpoints(self.sandbox.url, self._environ)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.aws_endpoint_url,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
                **self.provider_env,
            }
        )
        # Metrics are disabled locally; powertools still warns on every flush without metrics.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        # Every sender shares this process (and powertools' one set of dimensions): on Lambda each has its own.
        warnings.filterwarnings("ignore", message="Dimension 'channel' has already been added")
        self.functions = load_functions(template, resolver)
        verifier = TokenVerifier(self.issuer.issuer, DEV_AUDIENCE, jwks_url)
        self.gateway.serve(routes_from_template(template, self.functions), self.issuer, verifier)
        self._start_pollers(template, resolver)
        return self

    def _start_pollers(self, template: dict[str, Any], resolver: Resolver) -> None:
        sqs = client("sqs", self.aws_endpoint_url)
        for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items():
            for event in resource["Properties"].get("Events", {}).values():
                if event["Type"] != "SQS":
                    continue
                queue_logical_id = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                poller = SqsPoller(
                    sqs,
                    self.queues[queue_logical_id],
                    resolver.attributes[(queue_logical_id, "Arn")],
                    self.functions[logical_id],
                    int(event["Properties"].get("BatchSize", 10)),
                )
                poller.start()
                self.pollers.append(poller)

    def stop_pollers(self) -> None:
        """No more messages go to the functions (the servers stay up); stop() calls it too."""
        for poller in self.pollers:
            poller.stop()
        for poller in self.pollers:
            poller.join(timeout=5)

    def stop(self) -> None:
        self.stop_pollers()
        self.gateway.stop()
        self.sandbox.stop()
        self._moto.stop()
        if self.aws_state_file:  # moto's backends outlive its server; nothing changes them any more
            save_state(self.aws_state_file)

    def token(self, company_id: str, user_id: str, role: str, **claims: Any) -> str:
        return self.issuer.mint(company_id, user_id, role, **claims)

    def console_url(self, token: str) -> str:
        """The console signed in with `token`, as WORKPLACE opens it (the token in the fragment)."""
        return f"{self.api_url}/console/#token={token}"

    def description(self) -> dict[str, Any]:
        """What `make run` prints and writes to .local/stack.json."""
        return {
            "api_url": self.api_url,
            "console_url": f"{self.api_url}/console/",
            "aws_endpoint_url": self.aws_endpoint_url,
            "sandbox_url": self.sandbox.url,
            "queues": self.queues,
            "tables": {k: v for k, v in self.resolver.refs.items() if k.endswith("Table")},
            "issuer": self.issuer.issuer,
            "audience": DEV_AUDIENCE,
            "provider_endpoints": self.provider_env,
            "tokens": {
                "admin": self.token(DEV_COMPANY, DEV_ADMIN, "admin"),
                "member": self.token(DEV_COMPANY, DEV_MEMBER, "member"),
            },
        }

    def write_description(self) -> Path:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / "stack.json"
        path.write_text(json.dumps(self.description(), indent=2))
        path.chmod(0o600)
        return path

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
