"""Messenger senders, one module per provider, and the explicit registry of them.

The registry imports its modules when first read: `workplace_hub.providers.base` is imported by the router
and every sender, and each sender function needs only its own provider (NAVER WORKS' pulls in PyJWT).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workplace_hub.providers.base import Sender

# channel → (module, class); the channel is also each class's own `channel`.
_REGISTRY = {
    "slack": ("workplace_hub.providers.slack", "SlackSender"),
    "google_chat": ("workplace_hub.providers.google_chat", "GoogleChatSender"),
    "line": ("workplace_hub.providers.line", "LineSender"),
    "naver_works": ("workplace_hub.providers.naver_works", "NaverWorksSender"),
    "kakao": ("workplace_hub.providers.kakao", "KakaoSender"),
}


def sender_class(channel: str) -> type[Sender]:
    """One channel's Sender class, importing only its module."""
    module, name = _REGISTRY[channel]
    return getattr(importlib.import_module(module), name)


def __getattr__(name: str) -> Any:
    # SENDERS: the whole registry {channel: Sender class}, every provider imported.
    if name == "SENDERS":
        return {channel: sender_class(channel) for channel in _REGISTRY}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
