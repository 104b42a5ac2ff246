"""`/admin/company`: the company's WORKPLACE product (Collabo bundles NAVER WORKS)."""

from __future__ import annotations

from typing import Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel, ConfigDict

from workplace_hub.api.auth import require_admin
from workplace_hub.api.errors import ADMIN, BODY, responses
from workplace_hub.api.services import ApiServices


class CompanyProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: Literal["workplace", "collabo"]


def register(app: APIGatewayHttpResolver, services: ApiServices) -> None:
    @app.get("/admin/company", tags=["admin"], responses=responses(*ADMIN))
    def get_company() -> dict:
        admin = require_admin(app, services.token_verifier)
        company = services.settings_repo.load(admin.company_id)
        return {"company_id": company.company_id, "product": company.product}

    @app.put("/admin/company", tags=["admin"], responses=responses(*ADMIN, *BODY))
    def put_company(profile: CompanyProfile) -> dict:
        admin = require_admin(app, services.token_verifier)
        services.settings_repo.save_product(admin.company_id, profile.product)
        return {"company_id": admin.company_id, "product": profile.product}
