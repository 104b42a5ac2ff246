"""The settings API (admins and employees), one module per resource, built by `create_app`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from workplace_hub.api import company, deliveries, errors, failures, integrations, links, me, notification_settings
from workplace_hub.api.resolver import HubResolver
from workplace_hub.api.services import ApiServices

OPENAPI_PATH = "/openapi.json"


def create_app(services: ApiServices) -> APIGatewayHttpResolver:
    """The resolver with every route, the error mapping and the OpenAPI document."""
    app = HubResolver(enable_validation=True)
    app.configure_openapi(**_DOCUMENT_INFO)
    errors.register(app)
    for module in (integrations, notification_settings, links, deliveries, failures, company, me):
        module.register(app, services)

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def openapi_document() -> dict:
        return hub_openapi_document(app)

    return app


_DOCUMENT_INFO: dict[str, Any] = {
    "title": "WORKPLACE integration hub API",
    "version": "1.0.0",
    "description": "Admins configure integrations and notification routing; employees link their accounts.",
    "security_schemes": {"workplaceJwt": HTTPBearer(bearerFormat="JWT")},
    "security": [{"workplaceJwt": []}],
}


def hub_openapi_document(settings_app: APIGatewayHttpResolver) -> dict[str, Any]:
    """One document for every route a WORKPLACE token opens: the settings API's and the linking function's.
    (OAuth callbacks and provider webhooks are for browsers and providers, not API clients: left out.)"""
    from workplace_hub.api.linking import linking_openapi_schema  # only here: the settings API never links

    merged = OpenAPIMerge(**_DOCUMENT_INFO, on_conflict="error")
    merged.add_schema(settings_app.get_openapi_schema().model_dump(mode="json", by_alias=True, exclude_none=True))
    merged.add_schema(linking_openapi_schema())
    return merged.get_openapi_schema()
