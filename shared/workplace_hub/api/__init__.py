"""The settings API (admins and employees), one module per resource, built by `create_app`."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from workplace_hub.api import company, deliveries, errors, failures, integrations, links, notification_settings
from workplace_hub.api.services import ApiServices

OPENAPI_PATH = "/openapi.json"


def create_app(services: ApiServices) -> APIGatewayHttpResolver:
    """The resolver with every route, the error mapping and the OpenAPI document."""
    app = APIGatewayHttpResolver(enable_validation=True)
    app.configure_openapi(
        title="WORKPLACE integration hub settings API",
        version="1.0.0",
        description="Admins configure integrations and notification routing; employees link their accounts.",
        security_schemes={"workplaceJwt": HTTPBearer(bearerFormat="JWT")},
        security=[{"workplaceJwt": []}],
    )
    errors.register(app)
    for module in (integrations, notification_settings, links, deliveries, failures, company):
        module.register(app, services)

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def openapi_document() -> dict:
        return app.get_openapi_schema().model_dump(mode="json", by_alias=True, exclude_none=True)

    return app
