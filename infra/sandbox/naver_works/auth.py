"""NAVER WORKS access tokens: the API 2.0 service-account token (JWT) and the API 1.0 server token."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote

import jwt

from infra.sandbox.base import Request, Response, json_response
from infra.sandbox.naver_works.state import NaverWorksState, oauth_error
from infra.sandbox.naver_works.tenants import SCOPES, Grant

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class AuthApi(NaverWorksState):
    """`auth/oauth2/v2.0/token` (user OAuth grants go on to `user_oauth`) and `auth/b/{apiId}/server/token`."""

    def _token(self, request: Request) -> Response:
        if request.media_type != "application/x-www-form-urlencoded":
            return oauth_error(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        form = dict(parse_qsl(request.body.decode("utf-8", errors="replace"), keep_blank_values=True))
        grant_type = unquote(form.get("grant_type", ""))
        if grant_type in ("authorization_code", "refresh_token"):
            return self._user_token(form, grant_type)
        if grant_type != JWT_BEARER:  # the official sample double-encodes it
            return oauth_error(400, "unsupported_grant_type", "grant_type must be jwt-bearer")
        with self._lock:
            tenant = next(
                (t for t in self.tenants.values() if t.client_id and t.client_id == form.get("client_id")), None
            )
        if tenant is None or form.get("client_secret") != tenant.client_secret:
            return oauth_error(401, "invalid_client", "unknown client or wrong client_secret")
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                tenant.public_key,
                algorithms=["RS256"],
                options={"require": ["iss", "sub", "iat", "exp"]},
                leeway=5,
            )
        except jwt.PyJWTError as exc:
            return oauth_error(400, "invalid_grant", f"invalid assertion: {exc}")
        if claims["iss"] != tenant.client_id or claims["sub"] != tenant.service_account:
            return oauth_error(400, "invalid_grant", "iss must be the Client ID and sub the Service Account")
        if claims["exp"] - claims["iat"] > 3600:
            return oauth_error(400, "invalid_grant", "exp must be at most 60 minutes after iat")
        scopes = frozenset(s for s in form.get("scope", "").replace(",", " ").split() if s)
        if not scopes or not scopes <= SCOPES:
            return oauth_error(400, "invalid_scope", "unknown or missing scope")
        body = self._issue(tenant, "2.0", scopes)
        refresh = self._grant_refresh(Grant(tenant.domain_id, None, str(tenant.client_id), scopes, 0.0))
        body.update(refresh_token=refresh, scope=",".join(sorted(scopes)))
        return json_response(200, body)

    def _legacy_token(self, request: Request, api_id: str) -> Response:
        args = {**request.query, **dict(parse_qsl(request.body.decode("utf-8", errors="replace")))}
        with self._lock:
            tenant = next((t for t in self.tenants.values() if t.api_id and t.api_id == api_id), None)
        if tenant is None:
            return oauth_error(400, "invalid_request", "unknown API ID")
        if args.get("grant_type") != JWT_BEARER:
            return oauth_error(400, "unsupported_grant_type", "grant_type must be jwt-bearer")
        try:
            claims = jwt.decode(
                args.get("assertion", ""),
                tenant.server_list_public_key,
                algorithms=["RS256"],
                options={"require": ["iss", "iat", "exp"]},
                leeway=5,
            )
        except jwt.PyJWTError as exc:
            return oauth_error(400, "invalid_grant", f"invalid assertion: {exc}")
        if claims["iss"] != tenant.server_list_id or claims["exp"] - claims["iat"] > 300:
            return oauth_error(400, "invalid_grant", "iss must be the Server List ID and exp at most iat + 5 min")
        return json_response(200, self._issue(tenant, "1.0", frozenset()))
