"""Domain errors → HTTP responses, in one place. Messages name fields, never values."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from workplace_hub.errors import ConflictError, NotFoundError, SettingsValidationError


def _error(status: int, code: str, message: str, field: str | None = None) -> Response:
    body: dict[str, str] = {"error": code, "message": message}
    if field:
        body["field"] = field
    return Response(status_code=status, content_type="application/json", body=body)


def register(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(SettingsValidationError)
    def invalid_setting(exc: SettingsValidationError) -> Response:
        return _error(400, "invalid_setting", f"{exc.field} {exc.message}", exc.field)

    @app.exception_handler(ConflictError)
    def conflict(exc: ConflictError) -> Response:
        return _error(409, exc.code, exc.message, exc.field)

    @app.exception_handler(NotFoundError)
    def not_found(exc: NotFoundError) -> Response:
        return _error(404, "not_found", str(exc))

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response:
        problems = []
        for err in exc.errors():
            location = [str(part) for part in err.get("loc", ())]
            # ("body", "settings", "x") → "settings.x"; ("query", "limit") → "limit"
            field = ".".join(location[1:]) or ".".join(location)
            problems.append({"field": field, "message": err.get("msg", "invalid")})
        first = problems[0] if problems else {"field": "", "message": "invalid request"}
        response = _error(422, "invalid_request", f"{first['field']}: {first['message']}", first["field"])
        response.body = {**response.body, "details": problems}  # type: ignore[dict-item]
        return response
