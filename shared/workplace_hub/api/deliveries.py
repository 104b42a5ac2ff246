"""`/admin/deliveries` and `/me/deliveries`: the delivery log, newest first, paginated."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Query

from workplace_hub.api.auth import current_principal, require_admin
from workplace_hub.api.errors import ADMIN, responses
from workplace_hub.api.services import ApiServices
from workplace_hub.events import EVENT_ID_PATTERN
from workplace_hub.storage.deliveries import DeliveryStatus

Limit = Annotated[int, Query(ge=1, le=200)]
EventId = Annotated[str | None, Query(pattern=EVENT_ID_PATTERN)]
UserId = Annotated[str | None, Query(min_length=1, max_length=256)]
NextToken = Annotated[str | None, Query(max_length=2048)]


def register(app: APIGatewayHttpResolver, services: ApiServices) -> None:
    @app.get("/admin/deliveries", tags=["admin"], responses=responses(400, *ADMIN))
    def admin_deliveries(
        event_id: EventId = None,
        user_id: UserId = None,
        status: DeliveryStatus | None = None,
        limit: Limit = 50,
        next_token: NextToken = None,
    ) -> dict:
        admin = require_admin(app, services)
        items, token = services.deliveries.search(
            admin.company_id,
            event_id=event_id,
            user_id=user_id,
            status=status.value if status else None,
            limit=limit,
            next_token=next_token,
        )
        return {"deliveries": items, "next_token": token}

    @app.get("/me/deliveries", tags=["me"], responses=responses(400))
    def my_deliveries(
        event_id: EventId = None,
        status: DeliveryStatus | None = None,
        limit: Limit = 50,
        next_token: NextToken = None,
    ) -> dict:
        me = current_principal(app, services)
        items, token = services.deliveries.search(
            me.company_id,
            event_id=event_id,
            user_id=me.user_id,
            status=status.value if status else None,
            limit=limit,
            next_token=next_token,
        )
        return {"deliveries": items, "next_token": token}
