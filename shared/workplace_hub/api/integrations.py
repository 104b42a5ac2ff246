"""`/admin/integrations`: turn integrations on and off, store credentials, verify them."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from workplace_hub.api.auth import require_admin
from workplace_hub.api.errors import ADMIN, BODY, responses
from workplace_hub.api.services import ApiServices
from workplace_hub.catalog import Integration
from workplace_hub.clock import utc_now_iso
from workplace_hub.errors import ConflictError, ProviderError, UnusableSettingsError
from workplace_hub.integration_settings.admin import apply_update, public_view
from workplace_hub.integration_settings.effective import (
    effective,
    is_configured,
    secret_purpose,
    uses_platform_credentials,
)
from workplace_hub.integration_settings.specs import CREDENTIALS_SOURCE
from workplace_hub.observability import logger
from workplace_hub.storage.settings import CompanySettings, StoredIntegration


class IntegrationUpdate(BaseModel):
    """PUT body: on/off and the integration's fields (secret fields may be omitted to keep them)."""

    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool  # true or false: not 0, 1, "yes" or "off"
    settings: dict[str, Any] = Field(default_factory=dict)


def _view(services: ApiServices, company: CompanySettings, integration: Integration) -> dict[str, Any]:
    view = public_view(company, integration, services.keyring, services.hub_public_url)
    if uses_platform_credentials(company, integration) and integration == Integration.NAVER_WORKS:
        platform_bot = services.credentials.platform_settings(Integration.NAVER_WORKS).get("bot_id")
        view["settings"].setdefault("bot_id", platform_bot)
    return view


def _status(state: str, **details: str) -> dict[str, str]:
    return {"state": state, "checked_at": utc_now_iso(), **details}


def _error_status(exc: ProviderError) -> dict[str, str]:
    return _status("error", code=exc.code, detail=exc.detail or "the provider refused the credentials")


def _derive_on_save(
    services: ApiServices, company_id: str, stored: StoredIntegration
) -> tuple[StoredIntegration, dict[str, str] | None]:
    """Run the provider's on_save hook on freshly saved credentials; its failure becomes the status."""
    hooks = services.providers.get(stored.integration)
    if hooks is None or hooks.on_save is None or not stored.enabled:
        return stored, None
    credentials: dict[str, Any] = dict(stored.settings)
    for name, sealed in stored.sealed_secrets.items():
        credentials[name] = services.keyring.open(company_id, secret_purpose(stored.integration, name), sealed)
    failure = None
    try:
        derived = hooks.on_save(credentials)
    except UnusableSettingsError as exc:
        derived, failure = exc.derived, _error_status(exc)
    except ProviderError as exc:
        return stored, _error_status(exc)
    settings = {**stored.settings, **derived}
    return StoredIntegration(stored.integration, stored.enabled, settings, stored.sealed_secrets), failure


def register(app: APIGatewayHttpResolver, services: ApiServices) -> None:
    @app.get("/admin/integrations", tags=["admin"], responses=responses(*ADMIN))
    def list_integrations() -> dict:
        admin = require_admin(app, services.token_verifier)
        company = services.settings_repo.load(admin.company_id)
        return {"integrations": [_view(services, company, integration) for integration in Integration]}

    @app.get("/admin/integrations/<integration>", tags=["admin"], responses=responses(*ADMIN))
    def get_integration(integration: Integration) -> dict:
        admin = require_admin(app, services.token_verifier)
        return _view(services, services.settings_repo.load(admin.company_id), integration)

    @app.put("/admin/integrations/<integration>", tags=["admin"], responses=responses(400, *ADMIN, *BODY))
    def put_integration(integration: Integration, update: IntegrationUpdate) -> dict:
        admin = require_admin(app, services.token_verifier)
        company = services.settings_repo.load(admin.company_id)
        stored = apply_update(company, integration, update.enabled, update.settings, services.keyring)
        previous = effective(company, integration)
        unchanged = stored.settings == previous.settings and stored.sealed_secrets == previous.sealed_secrets
        failure = None
        if not (company.is_collabo and stored.settings.get(CREDENTIALS_SOURCE) == "platform"):
            stored, failure = _derive_on_save(services, admin.company_id, stored)
        # New credentials have not been checked yet; keep the status only if nothing but on/off changed.
        status = failure or (previous.status if unchanged and previous.status else {"state": "unverified"})
        stored = StoredIntegration(integration, stored.enabled, stored.settings, stored.sealed_secrets, status)
        services.settings_repo.save_integration(admin.company_id, stored, admin.user_id)
        logger.info("integration saved", extra={"integration": integration.value, "enabled": stored.enabled})
        return _view(services, services.settings_repo.load(admin.company_id), integration)

    @app.delete("/admin/integrations/<integration>", tags=["admin"], responses=responses(*ADMIN))
    def delete_integration(integration: Integration) -> dict:
        admin = require_admin(app, services.token_verifier)
        company = services.settings_repo.load(admin.company_id)
        current = effective(company, integration)
        # Off, and every secret erased; the plain IDs stay so the admin can see what was configured.
        stored = StoredIntegration(
            integration, enabled=False, settings=dict(current.settings), status={"state": "unverified"}
        )
        services.settings_repo.save_integration(admin.company_id, stored, admin.user_id)
        logger.info("integration disabled and secrets erased", extra={"integration": integration.value})
        return _view(services, services.settings_repo.load(admin.company_id), integration)

    @app.post("/admin/integrations/<integration>/verify", tags=["admin"], responses=responses(*ADMIN, 409))
    def verify_integration(integration: Integration) -> dict:
        admin = require_admin(app, services.token_verifier)
        company = services.settings_repo.load(admin.company_id)
        hooks = services.providers.get(integration)
        if hooks is None:
            raise ConflictError(
                "verification_not_available", f"{integration.value} cannot be verified by this version of the hub"
            )
        if not is_configured(company, integration):
            raise ConflictError("not_configured", f"{integration.value} has missing settings; save them first")
        credentials = services.credentials.resolve(company, integration)
        try:
            status = _status("ok", detail=hooks.verify(credentials))
            derived = (
                hooks.on_save(credentials)
                if hooks.on_save and not uses_platform_credentials(company, integration)
                else {}
            )
        except ProviderError as exc:
            status, derived = _error_status(exc), {}
        if derived:
            current = effective(company, integration)
            refreshed = StoredIntegration(
                integration, current.enabled, {**current.settings, **derived}, current.sealed_secrets, status
            )
            services.settings_repo.save_integration(admin.company_id, refreshed, admin.user_id)
        else:
            services.settings_repo.save_status(admin.company_id, integration, status)
        logger.info("integration verified", extra={"integration": integration.value, "state": status["state"]})
        return _view(services, services.settings_repo.load(admin.company_id), integration)
