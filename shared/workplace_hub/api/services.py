"""What the API routes need, injected once per cold start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workplace_hub.catalog import Integration
from workplace_hub.crypto import Keyring
from workplace_hub.integration_settings.credentials import CompanyCredentials
from workplace_hub.providers.messenger import Sender
from workplace_hub.queues import JobQueues
from workplace_hub.storage.deliveries import DeliveriesRepository
from workplace_hub.storage.links import LinksRepository
from workplace_hub.storage.settings import SettingsRepository
from workplace_hub.workplace_jwt import TokenVerifier

Credentials = dict[str, Any]


@dataclass(frozen=True)
class ProviderHooks:
    """What the settings API asks of a provider.

    verify: prove the credentials with a real call; returns a short description.
    on_save: settings the hub derives from the provider when an admin saves or verifies (e.g. the
        approved AlimTalk template, a newly provisioned NAVER WORKS bot id).
    """

    verify: Callable[[Credentials], str]
    on_save: Callable[[Credentials], dict[str, Any]] | None = None


@dataclass(frozen=True)
class ApiServices:
    settings_repo: SettingsRepository
    links: LinksRepository
    deliveries: DeliveriesRepository
    keyring: Keyring
    credentials: CompanyCredentials
    token_verifier: TokenVerifier
    providers: dict[Integration, ProviderHooks]
    senders: dict[str, Sender]  # by channel, for test messages
    hub_public_url: str
    google_chat_base: str
    replay_queues: JobQueues | None = None  # where POST /admin/failures/replay puts failures back
