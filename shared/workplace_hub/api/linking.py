"""The linking function's routes: start a flow, finish it on the callback, list personal calendars."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from workplace_hub.api.auth import current_principal
from workplace_hub.api.errors import register as register_errors
from workplace_hub.api.errors import responses
from workplace_hub.api.resolver import HubResolver
from workplace_hub.calendars.options import CalendarOptions
from workplace_hub.catalog import OAUTH_AUTHORIZE_PATH, OAUTH_CALLBACK_PATH
from workplace_hub.errors import ConflictError, NeedsRelinkError, ProviderError
from workplace_hub.linking.flows import LinkingService
from workplace_hub.linking.pages import PAGE_HEADERS, choose_locale
from workplace_hub.linking.provider_flows import LinkingError
from workplace_hub.workplace_jwt import TokenVerifier

Provider = Literal["line", "google", "naver_works"]
_ASSETS = Path(__file__).parents[1] / "naver_works" / "assets"
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_AUTHORIZE_RESPONSES: dict[int, OpenAPIResponse] = {
    **responses(409),
    200: {
        "description": "The provider's consent page",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"authorize_url": {"type": "string", "format": "uri"}},
                    "required": ["authorize_url"],
                }
            }
        },
    },
    302: {
        "description": "With `redirect=true`: to the provider's consent page",
        "headers": {"Location": {"description": "the consent page", "schema": {"type": "string"}}},
        "content": {"text/plain": {"schema": {"type": "string", "maxLength": 0}}},
    },
}


@dataclass(frozen=True)
class LinkingApiServices:
    token_verifier: TokenVerifier
    linking: LinkingService
    calendar_options: CalendarOptions


def create_linking_app(services: LinkingApiServices) -> APIGatewayHttpResolver:
    app = HubResolver(enable_validation=True)
    app.configure_openapi(
        title="WORKPLACE integration hub linking API",
        version="1.0.0",
        security_schemes={"workplaceJwt": HTTPBearer(bearerFormat="JWT")},
    )
    register_errors(app)

    @app.exception_handler(LinkingError)
    def cannot_start(exc: LinkingError) -> Response:
        return Response(409, "application/json", {"error": exc.code, "message": exc.message})

    @app.get(_route(OAUTH_AUTHORIZE_PATH), tags=["me"], responses=_AUTHORIZE_RESPONSES)
    def authorize(provider: Provider, redirect: bool = False) -> Any:
        """Start linking the employee's account with the provider: its consent page's URL (with `redirect=true`,
        a redirect there). 409 when the company has not set the provider up."""
        me = current_principal(app, services.token_verifier)
        url = services.linking.authorize_url(me.company_id, me.user_id, provider)
        if redirect:
            return Response(302, "text/plain", "", headers={"Location": url, **_NO_STORE})
        return Response(200, "application/json", {"authorize_url": url}, headers=_NO_STORE)

    @app.get(_route(OAUTH_CALLBACK_PATH), include_in_schema=False)
    def callback(provider: Provider) -> Any:
        event = app.current_event
        query = dict(event.query_string_parameters or {})
        page = services.linking.complete(provider, query, choose_locale(event.headers.get("accept-language")))
        return Response(page.status, "text/html; charset=utf-8", page.body, headers={**_NO_STORE, **PAGE_HEADERS})

    @app.get("/assets/naver-works-bot.png", include_in_schema=False)
    def naver_works_bot_photo():  # type: ignore[no-untyped-def]
        """The picture of the NAVER WORKS bots the hub creates (bot-create's photoUrl: a 640x640 PNG).
        (No return annotation: response validation would read the PNG's bytes as text.)"""
        return Response(
            200,
            "image/png",
            _asset("naver_works_bot.png"),
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )

    @app.get("/me/calendars", tags=["me"], responses=responses(409))
    def my_calendars() -> dict:
        """The employee's personal NAVER WORKS calendars (409 until they authorized NAVER WORKS calendars)."""
        me = current_principal(app, services.token_verifier)
        try:
            calendars = services.linking.personal_calendars(me.company_id, me.user_id)
        except NeedsRelinkError as exc:
            raise ConflictError("naver_works_calendar_not_authorized", "authorize NAVER WORKS calendars first") from exc
        except LinkingError as exc:
            raise ConflictError(exc.code, exc.message) from exc
        except ProviderError as exc:
            raise ConflictError("provider_unavailable", f"NAVER WORKS did not answer ({exc.code})") from exc
        return {"naver_works": calendars}

    @app.get("/me/calendar-options", tags=["me"], responses=responses())
    def my_calendar_options() -> dict:
        """What the absence form offers this employee: the calendar registrations that are on, whether each is
        usable now (and why not), and their personal NAVER WORKS calendars."""
        me = current_principal(app, services.token_verifier)
        return services.calendar_options.for_employee(me.company_id, me.user_id)

    return app


def _route(path: str) -> str:
    """A catalog path (`/oauth/{provider}/callback`) as the resolver's route (`/oauth/<provider>/callback`)."""
    return re.sub(r"\{(\w+)\}", r"<\1>", path)


@cache
def _asset(name: str) -> bytes:
    return (_ASSETS / name).read_bytes()


def linking_openapi_schema() -> dict[str, Any]:
    """The linking routes' part of the hub's OpenAPI document (built without services: no route runs)."""
    app = create_linking_app(None)  # type: ignore[arg-type]
    return app.get_openapi_schema().model_dump(mode="json", by_alias=True, exclude_none=True)
