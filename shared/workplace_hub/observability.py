"""The Logger and Metrics every module shares.

No powertools Tracer: it imports the X-Ray SDK and patches botocore and requests, in every cold start; the
functions' active tracing (template.yaml) traces each invocation without it (README "Cold starts and tracing").

`logger` is the Logger of the function whose invocation is running. In Lambda that is the one Logger of the
process (one function per process). The local stack runs every function in one process, each imported with its
own `POWERTOOLS_SERVICE_NAME`: each function then logs under its own name, with keys of its own, and one
function's `clear_state` or per-record keys never reach another's lines.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics

SERVICE = "workplace-hub"
_SERVICE_VARIABLE = "POWERTOOLS_SERVICE_NAME"

Handler = TypeVar("Handler", bound=Callable[..., Any])

_loggers: dict[str, Logger] = {}
_running: ContextVar[Logger | None] = ContextVar("workplace_hub_running_logger", default=None)


def service_logger() -> Logger:
    """The Logger of the service named in the environment now (a function's, while it is imported)."""
    service = os.environ.get(_SERVICE_VARIABLE, SERVICE)
    if service not in _loggers:
        _loggers[service] = Logger(service=service)
    return _loggers[service]


def service_loggers() -> list[Logger]:
    """Every function's Logger in this process (one in Lambda)."""
    return list(_loggers.values())


class FunctionLogger:
    """A powertools Logger's methods, on the running function's Logger (else the process's first)."""

    def __init__(self) -> None:
        self._default = service_logger()

    @property
    def current(self) -> Logger:
        return _running.get() or self._default

    def __getattr__(self, name: str) -> Any:
        return getattr(self.current, name)

    def inject_lambda_context(self, *args: Any, **kwargs: Any) -> Any:
        """powertools' decorator, on the Logger of the function being imported; its invocations log with it."""
        own = service_logger()

        def decorate(handler: Handler) -> Handler:
            injected = own.inject_lambda_context(**kwargs)(handler)

            @functools.wraps(handler)
            def invoke(*call_args: Any, **call_kwargs: Any) -> Any:
                token = _running.set(own)
                try:
                    return injected(*call_args, **call_kwargs)
                finally:
                    _running.reset(token)

            return invoke  # type: ignore[return-value]

        if len(args) == 1 and callable(args[0]) and not kwargs:
            return decorate(args[0])  # used bare: @logger.inject_lambda_context
        return decorate


logger: Any = FunctionLogger()
# A namespace even when the environment has none, so an automatic flush (every 100 metrics) never fails.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "WorkplaceHub"))


@contextmanager
def record_log_keys() -> Iterator[None]:
    """Keys appended while one record of a batch is handled (its company, event...) are gone when it is done,
    and keys it changed are put back: the batch's next record never logs under this one's event_id."""
    before = dict(logger.get_current_keys())
    try:
        yield
    finally:
        after = logger.get_current_keys()
        added = [key for key in after if key not in before]
        if added:
            logger.remove_keys(added)
        changed = {key: value for key, value in before.items() if after.get(key) is not value}
        if changed:
            logger.append_keys(**changed)


def per_record_log_keys(handler: Handler) -> Handler:
    """Decorates a batch's record handler: see record_log_keys."""

    @functools.wraps(handler)
    def handle(*args: Any, **kwargs: Any) -> Any:
        with record_log_keys():
            return handler(*args, **kwargs)

    return handle  # type: ignore[return-value]
