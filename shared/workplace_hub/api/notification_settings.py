"""`/admin/notification-settings`: which external channels receive each notification item."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from workplace_hub.api.auth import require_admin
from workplace_hub.api.errors import ADMIN, BODY, responses
from workplace_hub.api.services import ApiServices
from workplace_hub.catalog import ITEM_CATALOG, MESSENGERS, Integration
from workplace_hub.errors import ConflictError
from workplace_hub.events import ITEM_PATTERN
from workplace_hub.integration_settings.effective import effective
from workplace_hub.storage.settings import CompanySettings

ItemKey = Annotated[str, StringConstraints(pattern=ITEM_PATTERN)]
MessengerId = Annotated[
    Integration, Field(description="a messenger integration: " + ", ".join(m.value for m in MESSENGERS))
]


class NotificationRouting(BaseModel):
    """Per notification item, the channels that receive it. Items left out go to no external channel."""

    model_config = ConfigDict(extra="forbid")

    items: dict[ItemKey, list[MessengerId]] = Field(max_length=200)


def _document(company: CompanySettings) -> dict:
    return {
        "items": company.routing,
        "catalog": list(ITEM_CATALOG),
        "channels": {m.value: effective(company, m).enabled for m in MESSENGERS},
    }


def register(app: APIGatewayHttpResolver, services: ApiServices) -> None:
    @app.get("/admin/notification-settings", tags=["admin"], responses=responses(*ADMIN))
    def get_notification_settings() -> dict:
        admin = require_admin(app, services.token_verifier)
        return _document(services.settings_repo.load(admin.company_id))

    @app.put("/admin/notification-settings", tags=["admin"], responses=responses(*ADMIN, 409, *BODY))
    def put_notification_settings(routing: NotificationRouting) -> dict:
        admin = require_admin(app, services.token_verifier)
        company = services.settings_repo.load(admin.company_id)
        cleaned: dict[str, list[str]] = {}
        for item, channels in routing.items.items():
            for channel in channels:
                if channel not in MESSENGERS:
                    raise ConflictError(
                        "not_a_messenger", f"{channel.value} is a calendar, not a messenger", f"items.{item}"
                    )
                if not effective(company, channel).enabled:
                    raise ConflictError(
                        "channel_not_enabled",
                        f"{channel.value} is not enabled for this company; enable it before routing items to it",
                        f"items.{item}",
                    )
            cleaned[item] = list(dict.fromkeys(channel.value for channel in channels))
        services.settings_repo.save_routing(admin.company_id, cleaned, admin.user_id)
        return _document(services.settings_repo.load(admin.company_id))
