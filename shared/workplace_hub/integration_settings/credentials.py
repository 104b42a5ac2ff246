"""A company's integration credentials: the one place that loads the company, applies the Collabo default, checks
that the integration is on and configured, and opens its credentials (the company's own or the platform's).

It also records what the provider said about them: a refused credential becomes the integration's status (the
admin sees it), a refused employee grant marks that employee's link `needs_relink` (the employee sees it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workplace_hub.catalog import Integration
from workplace_hub.clock import utc_now_iso
from workplace_hub.integration_settings.effective import effective, is_configured, resolve_credentials, secret_purpose
from workplace_hub.storage.link_health import mark_needs_relink
from workplace_hub.storage.settings import CachedSettings, CompanySettings, SettingsRepository

if TYPE_CHECKING:
    from workplace_hub.crypto import Keyring
    from workplace_hub.storage.links import LinksRepository

Credentials = dict[str, Any]


class CompanyCredentials:
    """Credentials of a company's integrations, and the record of their failures.

    `settings_cache`, when given, is read instead of the table (the workers, which see the same companies
    again and again); the API and linking read the table, so an admin's change applies at once.
    """

    def __init__(
        self,
        *,
        settings_repo: SettingsRepository,
        keyring: Keyring,
        platform_credentials: Callable[[], dict[str, Any]] = dict,
        links: LinksRepository,
        settings_cache: CachedSettings | None = None,
    ) -> None:
        self._settings_repo = settings_repo
        self._settings_cache = settings_cache
        self._keyring = keyring
        self._platform_credentials = platform_credentials
        self._links = links

    def company(self, company_id: str) -> CompanySettings:
        """The company's settings (from the cache when there is one)."""
        if self._settings_cache is not None:
            return self._settings_cache.get(company_id)
        return self._settings_repo.load(company_id)

    @staticmethod
    def enabled(company: CompanySettings, integration: Integration) -> bool:
        """On, the Collabo default included (a sender records its deliveries skipped when it is not)."""
        return effective(company, integration).enabled

    @classmethod
    def usable(cls, company: CompanySettings, integration: Integration) -> bool:
        """On and every setting it needs present."""
        return cls.enabled(company, integration) and is_configured(company, integration)

    def of(self, company: CompanySettings, integration: Integration) -> Credentials | None:
        """What a provider call needs, or None when the integration is off or not configured. Never log it."""
        return self.resolve(company, integration) if self.usable(company, integration) else None

    def resolve(self, company: CompanySettings, integration: Integration) -> Credentials:
        """The credentials whether or not the integration is on (verify, a job already accepted). Never log it."""
        return resolve_credentials(company, integration, self._keyring, self._platform_credentials)

    def secret(self, company: CompanySettings, integration: Integration, name: str) -> str | None:
        """One of the company's own secrets, opened; None when the integration is off or does not hold it."""
        stored = effective(company, integration)
        sealed = stored.sealed_secrets.get(name) if stored.enabled else None
        if not sealed:
            return None
        return self._keyring.open(company.company_id, secret_purpose(integration, name), sealed)

    def platform_settings(self, integration: Integration) -> dict[str, Any]:
        """The Collabo platform's credentials for an integration (e.g. its NAVER WORKS bot_id). Never log it."""
        return dict(self._platform_credentials().get(integration.value, {}))

    def record_error(self, company_id: str, integration: Integration, code: str, detail: str) -> None:
        """The provider refused the company's credentials: the integration's status says so until it is fixed."""
        status = {"state": "error", "code": code, "checked_at": utc_now_iso(), "detail": detail}
        self._settings_repo.save_status(company_id, integration, status)
        if self._settings_cache is not None:
            self._settings_cache.invalidate(company_id)

    def mark_needs_relink(self, company_id: str, user_id: str, channel: str, reason: str) -> None:
        """The provider refused the employee's own grant or address: they see it in GET /me/links, the admin in
        GET /admin/links, until they link again."""
        mark_needs_relink(self._links, company_id, user_id, channel, reason)
