"""An integration's settings as they apply now: Collabo defaults, whether configured, opened credentials."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workplace_hub.catalog import Integration
from workplace_hub.integration_settings.specs import CREDENTIALS_SOURCE, PLATFORM_CAPABLE, active_specs
from workplace_hub.storage.settings import CompanySettings, StoredIntegration

if TYPE_CHECKING:  # the router reads settings without opening a secret: no cryptography at its cold start
    from workplace_hub.crypto import Keyring


def uses_platform_credentials(company: CompanySettings, integration: Integration) -> bool:
    """True when this Collabo company runs NAVER WORKS on the platform credentials."""
    if integration not in PLATFORM_CAPABLE or not company.is_collabo:
        return False
    stored = company.integrations.get(integration)
    return stored is None or stored.settings.get(CREDENTIALS_SOURCE, "platform") == "platform"


def effective(company: CompanySettings, integration: Integration) -> StoredIntegration:
    """The integration as it applies now, with the Collabo default (on, platform credentials)."""
    stored = company.integrations.get(integration)
    if stored is not None:
        return stored
    status = company.statuses.get(integration)
    if integration in PLATFORM_CAPABLE and company.is_collabo:
        return StoredIntegration(integration, enabled=True, settings={CREDENTIALS_SOURCE: "platform"}, status=status)
    return StoredIntegration(integration, status=status)


def is_configured(company: CompanySettings, integration: Integration) -> bool:
    """Whether every field the integration needs is stored (platform credentials count as all of them)."""
    if uses_platform_credentials(company, integration):
        return True
    stored = effective(company, integration)
    present = set(stored.settings) | set(stored.sealed_secrets)
    return all(
        spec.name in present for spec in active_specs(integration, stored.settings) if spec.needed(stored.settings)
    )


def secret_purpose(integration: Integration, field_name: str) -> str:
    """Associated data that binds a sealed secret to its integration and field."""
    return f"integration:{integration.value}:{field_name}"


def open_credentials(company: CompanySettings, integration: Integration, keyring: Keyring) -> dict[str, Any]:
    """Plain settings plus opened secrets, for a sender or a verification call. Never log the result."""
    stored = effective(company, integration)
    values: dict[str, Any] = dict(stored.settings)
    for name, sealed in stored.sealed_secrets.items():
        values[name] = keyring.open(company.company_id, secret_purpose(integration, name), sealed)
    return values


def resolve_credentials(
    company: CompanySettings,
    integration: Integration,
    keyring: Keyring,
    platform_credentials: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """What a provider call needs: the company's opened settings, or for a Collabo company on platform
    credentials the platform's (with the admin's replacement bot_id). Never log the result."""
    if not uses_platform_credentials(company, integration):
        return open_credentials(company, integration, keyring)
    credentials = dict(platform_credentials().get(integration.value, {}))
    overrides = effective(company, integration).settings
    credentials.update({name: value for name, value in overrides.items() if name != CREDENTIALS_SOURCE})
    return credentials
