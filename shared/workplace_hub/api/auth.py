"""Who is calling: the claims of the verified WORKPLACE token.

The HTTP API's JWT authorizer (or the local gateway) has checked the token already; the API checks it
again (see workplace_jwt.py). The company always comes from the verified token, never from a path, query or body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.exceptions import ForbiddenError, UnauthorizedError

from workplace_hub.events import COMPANY_ID_PATTERN
from workplace_hub.workplace_jwt import InvalidTokenError, TokenVerifier

_COMPANY = re.compile(COMPANY_ID_PATTERN)


# WORKPLACE's optional display names: shown by the console, never trusted for anything else.
DISPLAY_NAME_MAX_LENGTH = 200


@dataclass(frozen=True)
class Principal:
    user_id: str
    company_id: str
    role: str
    name: str | None = None  # the token's `name` claim, if WORKPLACE sent one
    company_name: str | None = None  # the token's `company_name` claim, likewise

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def current_principal(app: APIGatewayHttpResolver, verifier: TokenVerifier) -> Principal:
    """The caller of the current request, from its verified bearer token; 401 otherwise."""
    try:
        claims = verifier.verify(app.current_event.headers.get("authorization"))
    except InvalidTokenError as exc:
        raise UnauthorizedError(str(exc)) from None
    user_id, company_id, role = claims.get("sub"), claims.get("company_id"), claims.get("role")
    if not user_id or not isinstance(company_id, str) or not _COMPANY.fullmatch(company_id):
        raise UnauthorizedError("the token has no valid sub and company_id")
    if role not in ("admin", "member"):
        raise UnauthorizedError("the token's role must be admin or member")
    return Principal(
        str(user_id), company_id, role, _display_name(claims.get("name")), _display_name(claims.get("company_name"))
    )


def _display_name(value: object) -> str | None:
    """A display name from a claim: a non-empty string, cut to DISPLAY_NAME_MAX_LENGTH; anything else: None."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:DISPLAY_NAME_MAX_LENGTH]


def require_admin(app: APIGatewayHttpResolver, verifier: TokenVerifier) -> Principal:
    """The caller, who must be a company admin; 403 otherwise."""
    principal = current_principal(app, verifier)
    if not principal.is_admin:
        raise ForbiddenError("this needs a company admin")
    return principal
