"""`/me/links` (an employee's own accounts) and `/admin/users/{user_id}/links` (the 連携ID field)."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from workplace_hub.api.auth import current_principal, require_admin
from workplace_hub.api.errors import ADMIN, BODY, responses
from workplace_hub.api.services import ApiServices
from workplace_hub.api.test_messages import Messenger, send_test_message
from workplace_hub.catalog import MESSENGERS, Integration
from workplace_hub.email_address import email_problem
from workplace_hub.errors import SettingsValidationError, ValueTooLargeError
from workplace_hub.google.chat import is_webhook_url
from workplace_hub.integration_settings.effective import effective
from workplace_hub.integration_settings.fields import MASK
from workplace_hub.storage.addresses import LOOKUP_MISSED
from workplace_hub.storage.link_health import link_states, state_attribute
from workplace_hub.storage.links import link_purpose
from workplace_hub.storage.settings import CompanySettings

SLACK_MEMBER_ID = r"^[UW][A-Z0-9]{6,20}$"
# No link value is longer (a Chat webhook URL is about 200 characters, an address at most 254): anything
# longer is refused before it is stripped, matched or parsed.
LINK_MAX_LENGTH = 2048


class MyLinksUpdate(BaseModel):
    """Fields left out stay as they are; null or "" removes a link."""

    model_config = ConfigDict(extra="forbid")

    slack_member_id: str | None = Field(default=None, description="Slack member ID (U… or W…)")
    google_chat_webhook_url: str | None = Field(default=None, description="incoming webhook URL of a Chat space")
    google_workspace_id: str | None = Field(default=None, description="Google Workspace e-mail in the company domain")


class AdminLinksUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    google_workspace_id: str | None = Field(description="Google Workspace e-mail in the company domain")


def _masked_webhook(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}?key={MASK}&token={MASK}"


def _validate(services: ApiServices, company_id: str, name: str, value: str) -> str:
    value = value.strip()
    if name == "slack_member_id":
        if not re.fullmatch(SLACK_MEMBER_ID, value):
            raise SettingsValidationError(
                name, "must be a Slack member ID like U012AB3CD (Profile → ⋮ → Copy member ID)"
            )
    elif name == "google_chat_webhook_url":
        if not is_webhook_url(value, services.google_chat_base):
            raise SettingsValidationError(
                name,
                "must be a Google Chat incoming webhook URL "
                f"({services.google_chat_base}/v1/spaces/…/messages?key=…&token=…)",
            )
    elif name == "google_workspace_id":
        value = value.lower()
        problem = email_problem(value)
        if problem:
            raise SettingsValidationError(name, problem)
        company = services.settings_repo.load(company_id)
        stored = company.integrations.get(Integration.GOOGLE_CALENDAR)
        domain = stored.settings.get("company_domain") if stored else None
        if domain and value.rsplit("@", 1)[1] != domain:
            raise SettingsValidationError(name, f"must be an address in the company domain {domain}")
    return value


# A link an employee (or admin) sets again is no longer broken.
_CHANNEL_OF_FIELD = {
    "slack_member_id": "slack",
    "google_chat_webhook_url": "google_chat",
    "google_workspace_id": "google_calendar",
}


def _apply(services: ApiServices, company_id: str, user_id: str, update: BaseModel) -> None:
    values: dict[str, Any] = {}
    removed: list[str] = [state_attribute(_CHANNEL_OF_FIELD[name]) for name in update.model_fields_set]
    if "slack_member_id" in update.model_fields_set:
        removed.append(LOOKUP_MISSED)  # a new try at finding the member by e-mail if this one is cleared
    for name in update.model_fields_set:
        raw = getattr(update, name)
        if raw is not None and len(raw) > LINK_MAX_LENGTH:
            raise ValueTooLargeError(name, LINK_MAX_LENGTH)
        if raw is None or raw.strip() == "":
            removed.append(name)
            continue
        value = _validate(services, company_id, name, raw)
        if name == "google_chat_webhook_url":
            value = services.keyring.seal(company_id, link_purpose(user_id, name), value)
        values[name] = value
    if values or removed:
        services.links.update(company_id, user_id, values, removed)


def _google_consent_required(company: CompanySettings) -> bool:
    """False when the company links Google calendars by domain-wide delegation (no employee consent)."""
    stored = company.integrations.get(Integration.GOOGLE_CALENDAR)
    return not (stored and stored.settings.get("auth_mode") == "domain_wide_delegation")


def _company_channels(company: CompanySettings) -> dict[str, Any]:
    """Which messengers the company has on (so an employee is offered those only), and the LINE Official
    Account's friend link (its QR code is drawn by the console) when LINE is on."""
    line = effective(company, Integration.LINE)
    return {
        "channels": {m.value: effective(company, m).enabled for m in MESSENGERS},
        "line_friend_link_url": line.settings.get("friend_link_url") if line.enabled else None,
    }


def _view(services: ApiServices, company_id: str, user_id: str) -> dict[str, Any]:
    links = services.links.get(company_id, user_id)
    company = services.settings_repo.load(company_id)  # once, for both the link states and the channels
    webhook = links.get("google_chat_webhook_url")
    if webhook:
        webhook = _masked_webhook(
            services.keyring.open(company_id, link_purpose(user_id, "google_chat_webhook_url"), webhook)
        )
    return {
        "user_id": user_id,
        "slack_member_id": links.get("slack_member_id"),
        "google_chat_webhook_url": webhook,
        "google_workspace_id": links.get("google_workspace_id"),
        "links": link_states(links, google_consent_required=_google_consent_required(company)),
        "updated_at": links.get("updated_at"),
        **_company_channels(company),
    }


def register(app: APIGatewayHttpResolver, services: ApiServices) -> None:
    @app.get("/me/links", tags=["me"], responses=responses())
    def get_my_links() -> dict:
        me = current_principal(app, services.token_verifier)
        return _view(services, me.company_id, me.user_id)

    @app.put("/me/links", tags=["me"], responses=responses(400, *BODY))
    def put_my_links(update: MyLinksUpdate) -> dict:
        me = current_principal(app, services.token_verifier)
        _apply(services, me.company_id, me.user_id, update)
        return _view(services, me.company_id, me.user_id)

    @app.get("/admin/links", tags=["admin"], responses=responses(400, *ADMIN))
    def list_links(limit: Annotated[int, Query(ge=1, le=200)] = 50, next_token: str | None = None) -> dict:
        """Per employee and channel: linked, not_linked, needs_relink or blocked, with the reason."""
        admin = require_admin(app, services.token_verifier)
        employees, token = services.links.list(admin.company_id, limit=limit, next_token=next_token)
        consent = _google_consent_required(services.settings_repo.load(admin.company_id))
        return {
            "employees": [
                {"user_id": e.user_id, "links": link_states(e, google_consent_required=consent)} for e in employees
            ],
            "next_token": token,
        }

    @app.post("/me/links/<channel>/test", tags=["me"], responses=responses(409))
    def test_my_link(channel: Messenger) -> dict:
        """Send a test message to the caller on that channel, so they see the link works."""
        me = current_principal(app, services.token_verifier)
        return send_test_message(services, me.company_id, me.user_id, channel.value)

    @app.put("/admin/users/<user_id>/links", tags=["admin"], responses=responses(400, *ADMIN, *BODY))
    def put_user_links(user_id: Annotated[str, Path(min_length=1, max_length=256)], update: AdminLinksUpdate) -> dict:
        admin = require_admin(app, services.token_verifier)
        _apply(services, admin.company_id, user_id, update)
        return _view(services, admin.company_id, user_id)
