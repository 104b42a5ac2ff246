"""The template's functions, imported in-process with their own environment, invoked like Lambda does."""

from __future__ import annotations

import importlib
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.template import Resolver, function_environment, resources_of_type

_IMPORT_LOCK = threading.Lock()
SERVICE_VARIABLE = "POWERTOOLS_SERVICE_NAME"


@dataclass
class LocalContext:
    """The parts of the Lambda context object the functions and powertools use."""

    function_name: str
    timeout_seconds: int
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:ap-northeast-1:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))


@dataclass
class LocalFunction:
    """One function 'container': handles one invocation at a time, as a warm Lambda does."""

    logical_id: str
    handler: Callable[[dict[str, Any], Any], Any]
    timeout_seconds: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    invocations: int = 0

    def invoke(self, event: dict[str, Any]) -> Any:
        with self.lock:
            self.invocations += 1
            return self.handler(event, LocalContext(self.logical_id, self.timeout_seconds))


def import_environment(template: dict[str, Any], logical_id: str, resolver: Resolver) -> dict[str, str]:
    """The function's environment from the template, its service named after the function (see load_functions)."""
    environment = function_environment(template, logical_id, resolver)
    own = template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    if SERVICE_VARIABLE not in own:
        environment[SERVICE_VARIABLE] = logical_id
    return environment


def load_functions(template: dict[str, Any], resolver: Resolver) -> dict[str, LocalFunction]:
    """Import every function's handler module with that function's environment variables set. Each logs under
    its own name: `POWERTOOLS_SERVICE_NAME` is the function's logical ID (unless the function sets its own), so in
    this one process every function has a Logger of its own, as every Lambda function has its own process and
    log group (workplace_hub.observability)."""
    functions: dict[str, LocalFunction] = {}
    global_timeout = template.get("Globals", {}).get("Function", {}).get("Timeout", 3)
    global_handler = template.get("Globals", {}).get("Function", {}).get("Handler", "app.lambda_handler")
    for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        properties = resource["Properties"]
        code_uri = properties["CodeUri"].strip("/")
        module_name, attribute = properties.get("Handler", global_handler).rsplit(".", 1)
        environment = import_environment(template, logical_id, resolver)
        with _IMPORT_LOCK:
            saved = {name: os.environ.get(name) for name in environment}
            os.environ.update(environment)
            try:
                module = importlib.import_module(f"{code_uri.replace('/', '.')}.{module_name}")
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
        functions[logical_id] = LocalFunction(
            logical_id, getattr(module, attribute), int(properties.get("Timeout", global_timeout))
        )
    return functions
