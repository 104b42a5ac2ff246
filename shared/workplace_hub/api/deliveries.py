"""`/admin/deliveries` and `/me/deliveries`: the delivery log, newest first, paginated, each record with its
history; `/admin/deliveries/summary`: what became of one event's deliveries, per channel."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, Field

from workplace_hub.api.auth import current_principal, require_admin
from workplace_hub.api.errors import ADMIN, responses
from workplace_hub.api.services import ApiServices
from workplace_hub.events import EVENT_ID_PATTERN
from workplace_hub.storage.delivery_records import DeliveryStatus

Limit = Annotated[int, Query(ge=1, le=200)]
EventId = Annotated[str | None, Query(pattern=EVENT_ID_PATTERN)]
UserId = Annotated[str | None, Query(min_length=1, max_length=256)]
NextToken = Annotated[str | None, Query(max_length=2048)]
RequiredEventId = Annotated[str, Query(pattern=EVENT_ID_PATTERN)]


class ChannelSummary(BaseModel):
    """One channel's deliveries of the event, counted by what became of them."""

    total: int
    delivered: int = Field(description="the provider reported them delivered (or their SMS failover)")
    sent: int = Field(description="accepted by the provider, no delivery result yet or none to come")
    failed: int = Field(description="not delivered (including a failed delivery result and dead letters)")
    skipped: int = Field(description="never sent (channel off, no linked address, ...)")
    pending: int = Field(description="queued, being sent or waiting for a retry")
    reasons: dict[str, dict[str, int]] = Field(
        description="per count above (delivered, sent, failed, ...): each reason and how many records have it"
    )


class DeliverySummary(BaseModel):
    """What became of one event's notifications: who did not get it, and why."""

    event_id: str
    channels: dict[str, ChannelSummary]


def register(app: APIGatewayHttpResolver, services: ApiServices) -> None:
    @app.get("/admin/deliveries", tags=["admin"], responses=responses(400, *ADMIN))
    def admin_deliveries(
        event_id: EventId = None,
        user_id: UserId = None,
        status: DeliveryStatus | None = None,
        limit: Limit = 50,
        next_token: NextToken = None,
    ) -> dict:
        admin = require_admin(app, services.token_verifier)
        items, token = services.deliveries.search(
            admin.company_id,
            event_id=event_id,
            user_id=user_id,
            status=status.value if status else None,
            limit=limit,
            next_token=next_token,
        )
        return {"deliveries": items, "next_token": token}

    @app.get("/admin/deliveries/summary", tags=["admin"], responses=responses(400, *ADMIN))
    def admin_delivery_summary(event_id: RequiredEventId) -> DeliverySummary:
        """Per channel: how many were delivered, sent (accepted, no result yet or none to come), failed,
        skipped or are still pending, and the reasons with their counts."""
        admin = require_admin(app, services.token_verifier)
        channels = services.deliveries.summary(admin.company_id, event_id)
        return DeliverySummary(
            event_id=event_id, channels={name: ChannelSummary(**counts) for name, counts in sorted(channels.items())}
        )

    @app.get("/me/deliveries", tags=["me"], responses=responses(400))
    def my_deliveries(
        event_id: EventId = None,
        status: DeliveryStatus | None = None,
        limit: Limit = 50,
        next_token: NextToken = None,
    ) -> dict:
        me = current_principal(app, services.token_verifier)
        items, token = services.deliveries.search(
            me.company_id,
            event_id=event_id,
            user_id=me.user_id,
            status=status.value if status else None,
            limit=limit,
            next_token=next_token,
        )
        return {"deliveries": items, "next_token": token}
