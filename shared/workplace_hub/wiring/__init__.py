"""The composition root: one module per family of functions builds their collaborators once per cold start."""

# Functions call these builders at module scope (through a function, so tests can call them with their own
# environment); nothing here runs at import time. Each builder imports what only its function needs (the router
# no provider, a sender only its own, the calendar clients only the calendar worker): every module imported is
# paid by every cold start.

from workplace_hub.wiring.calendars import build_calendar_worker
from workplace_hub.wiring.common import aws_client, reset_clients
from workplace_hub.wiring.linking import build_line_webhook, build_linking_api
from workplace_hub.wiring.router import build_router
from workplace_hub.wiring.senders import build_kakao_results, build_worker
from workplace_hub.wiring.settings_api import build_api

__all__ = [
    "aws_client",
    "build_api",
    "build_calendar_worker",
    "build_kakao_results",
    "build_line_webhook",
    "build_linking_api",
    "build_router",
    "build_worker",
    "reset_clients",
]
