"""The admin API's side of settings: validating a PUT into what is stored, and the masked view it shows.

A PUT that omits a secret field (or sends back its masked form) keeps the stored value; an omitted plain
field is cleared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workplace_hub.catalog import Integration
from workplace_hub.errors import SettingsValidationError, ValueTooLargeError
from workplace_hub.integration_settings.effective import effective, is_configured, secret_purpose
from workplace_hub.integration_settings.fields import FIELD_MAX_LENGTH, MASK, SETTINGS_MAX_BYTES, digits, mask
from workplace_hub.integration_settings.specs import (
    CREDENTIALS_SOURCE,
    DERIVED_FIELDS,
    FIELD_SPECS,
    PLATFORM_CAPABLE,
    READ_ONLY_URLS,
    active_specs,
)
from workplace_hub.storage.settings import CompanySettings, StoredIntegration

if TYPE_CHECKING:
    from workplace_hub.crypto import Keyring


def apply_update(
    company: CompanySettings,
    integration: Integration,
    enabled: bool,
    submitted: dict[str, Any],
    keyring: Keyring,
) -> StoredIntegration:
    """Validate an admin's PUT and return what to store; raises SettingsValidationError naming the field."""
    current = effective(company, integration)
    derived = DERIVED_FIELDS.get(integration, frozenset())
    submitted = {name: value for name, value in submitted.items() if name not in derived}
    _check_size(integration, submitted)
    source = submitted.pop(CREDENTIALS_SOURCE, None)
    if integration in PLATFORM_CAPABLE and company.is_collabo:
        source = source or current.settings.get(CREDENTIALS_SOURCE, "platform")
        if source not in ("platform", "company"):
            raise SettingsValidationError(f"settings.{CREDENTIALS_SOURCE}", 'must be "platform" or "company"')
        if source == "platform":
            return _platform_update(integration, enabled, submitted)
    elif source not in (None, "company"):
        raise SettingsValidationError(
            f"settings.{CREDENTIALS_SOURCE}", "platform credentials are only for WORKPLACE Collabo companies"
        )

    variant = {
        "api_version": submitted.get("api_version", current.settings.get("api_version", "2.0")),
        "auth_mode": submitted.get("auth_mode", current.settings.get("auth_mode", "user_consent")),
    }
    specs = {spec.name: spec for spec in active_specs(integration, variant)}
    for name in submitted:
        if name not in specs:
            raise SettingsValidationError(f"settings.{name}", f"is not a setting of {integration.value}")

    plain: dict[str, Any] = {}
    sealed: dict[str, str] = {}
    for name, spec in specs.items():
        value = variant[name] if name in variant else submitted.get(name)
        if spec.secret and (value is None or (isinstance(value, str) and value.startswith(MASK))):
            if name in current.sealed_secrets:
                sealed[name] = current.sealed_secrets[name]
            continue
        if value is None:
            continue  # PUT replaces the plain fields: an omitted one is cleared
        if not isinstance(value, str):
            raise SettingsValidationError(f"settings.{name}", "must be a string")
        if len(value) > spec.max_length:
            raise ValueTooLargeError(f"settings.{name}", spec.max_length)
        value = value.strip() if not spec.secret else value
        if value == "":
            continue  # an empty value clears the field
        try:
            normalized = spec.validate(value)
        except ValueError as exc:
            raise SettingsValidationError(f"settings.{name}", str(exc)) from None
        if spec.secret:
            sealed[name] = keyring.seal(company.company_id, secret_purpose(integration, name), normalized)
        else:
            plain[name] = normalized
    if integration in PLATFORM_CAPABLE and company.is_collabo:
        plain[CREDENTIALS_SOURCE] = "company"
    if enabled:
        present = set(plain) | set(sealed)
        for spec in specs.values():
            if spec.needed(plain) and not spec.derivable and spec.name not in present:
                raise SettingsValidationError(f"settings.{spec.name}", f"is required to turn on {integration.value}")
    return StoredIntegration(integration, enabled=enabled, settings=plain, sealed_secrets=sealed)


def _check_size(integration: Integration, submitted: dict[str, Any]) -> None:
    """Sizes first, before any validator: each value within its field's max_length (a name that is no field:
    FIELD_MAX_LENGTH), all of them within SETTINGS_MAX_BYTES, names within 64 characters (an unknown name is
    echoed in the answer's `field`)."""
    limits = {spec.name: spec.max_length for spec in FIELD_SPECS[integration]}
    total = 0
    for name, value in submitted.items():
        if len(name) > 64:
            raise SettingsValidationError("settings", "has a setting name longer than 64 characters")
        if not isinstance(value, str):
            continue
        limit = limits.get(name, FIELD_MAX_LENGTH)
        if len(value) > limit:
            raise ValueTooLargeError(f"settings.{name}", limit)
        total += len(name) + len(value.encode("utf-8", "surrogatepass"))
    if total > SETTINGS_MAX_BYTES:
        raise ValueTooLargeError("settings", SETTINGS_MAX_BYTES, "bytes in all")


def _platform_update(integration: Integration, enabled: bool, submitted: dict[str, Any]) -> StoredIntegration:
    settings: dict[str, Any] = {CREDENTIALS_SOURCE: "platform"}
    for name, value in submitted.items():
        if name != "bot_id" or integration != Integration.NAVER_WORKS:
            raise SettingsValidationError(
                f"settings.{name}",
                'cannot be set while credentials_source is "platform" (only bot_id can be replaced)',
            )
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise SettingsValidationError("settings.bot_id", "must be a string")
        if len(value) > FIELD_MAX_LENGTH:
            raise ValueTooLargeError("settings.bot_id", FIELD_MAX_LENGTH)
        try:
            settings["bot_id"] = digits(value.strip())
        except ValueError as exc:
            raise SettingsValidationError("settings.bot_id", str(exc)) from None
    return StoredIntegration(integration, enabled=enabled, settings=settings)


def public_view(
    company: CompanySettings, integration: Integration, keyring: Keyring, hub_public_url: str
) -> dict[str, Any]:
    """The integration as the admin API shows it: secrets masked, copy-paste URLs included."""
    stored = effective(company, integration)
    specs = {spec.name: spec for spec in FIELD_SPECS[integration]}
    settings: dict[str, Any] = dict(stored.settings)
    for name, sealed in stored.sealed_secrets.items():
        plaintext = keyring.open(company.company_id, secret_purpose(integration, name), sealed)
        settings[name] = mask(specs[name], plaintext) if name in specs else MASK
    read_only = {
        name: hub_public_url.rstrip("/") + path.format(company_id=company.company_id)
        for name, path in READ_ONLY_URLS.get(integration, {}).items()
    }
    return {
        "integration": integration.value,
        "kind": integration.kind,
        "enabled": stored.enabled,
        "configured": is_configured(company, integration),
        "status": stored.status or {"state": "unverified"},
        "settings": settings,
        "read_only": read_only,
    }
