"""The explicit registry of messenger senders: channel → the vendor module and Sender class.

The registry imports its modules when first read: `workplace_hub.providers.messenger` is imported by every
sender, and each sender function needs only its own provider (NAVER WORKS' pulls in PyJWT).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workplace_hub.providers.messenger import Sender

# channel → (module, class); the channel is also each class's own `channel`.
_REGISTRY = {
    "slack": ("workplace_hub.slack.messages", "SlackSender"),
    "google_chat": ("workplace_hub.google.chat", "GoogleChatSender"),
    "line": ("workplace_hub.line.messaging", "LineSender"),
    "naver_works": ("workplace_hub.naver_works.bot", "NaverWorksSender"),
    "kakao": ("workplace_hub.kakao.alimtalk", "KakaoSender"),
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
