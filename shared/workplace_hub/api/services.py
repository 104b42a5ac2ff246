"""What the API routes need, injected once per cold start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workplace_hub.catalog import Integration
from workplace_hub.crypto import Keyring
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.links import LinksRepository
from workplace_hub.storage.settings import SettingsRepository
from workplace_hub.tokens import TokenVerifier

Verifier = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class ApiServices:
    settings: SettingsRepository
    links: LinksRepository
    deliveries: DeliveriesRepository
    keyring: Keyring
    token_verifier: TokenVerifier
    verifiers: dict[Integration, Verifier]
    platform_credentials: Callable[[], dict[str, Any]]
    hub_public_url: str
    google_chat_base: str
