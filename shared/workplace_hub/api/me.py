"""`GET /me`: who the caller is, from their verified token (the console's "signed in as")."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel, Field

from workplace_hub.api.auth import current_principal
from workplace_hub.api.errors import responses
from workplace_hub.api.services import ApiServices


class Me(BaseModel):
    user_id: str = Field(description="the token's sub (the WORKPLACE user ID)")
    company_id: str
    role: str = Field(description="admin or member")
    name: str | None = Field(default=None, description="the token's optional name claim")
    company_name: str | None = Field(default=None, description="the token's optional company_name claim")


def register(app: APIGatewayHttpResolver, services: ApiServices) -> None:
    @app.get("/me", tags=["me"], responses=responses())
    def get_me() -> Me:
        """The caller as the token says: company, user, role (and the display names WORKPLACE put in it)."""
        me = current_principal(app, services.token_verifier)
        return Me(
            user_id=me.user_id, company_id=me.company_id, role=me.role, name=me.name, company_name=me.company_name
        )
