"""Verification of WORKPLACE-issued JWTs (RS256, keys from the issuer's JWKS).

The HTTP API's JWT authorizer checks every request in AWS; the settings API checks again with this
same code (defence in depth: a route deployed without the authorizer still refuses strangers), and the
local gateway uses it in the authorizer's place.
"""

from __future__ import annotations

from typing import Any

import jwt

from workplace_hub.errors import HubError

LEEWAY_SECONDS = 30


class InvalidTokenError(HubError):
    """The bearer token is missing, malformed, expired, or not from WORKPLACE for this hub."""


class TokenVerifier:
    """Checks signature (JWKS, RS256), issuer, audience and expiry; returns the claims."""

    def __init__(self, issuer: str, audience: str, jwks_url: str, jwks_client: Any = None) -> None:
        self._issuer = issuer
        self._audience = audience
        # PyJWKClient caches the key set for the life of the container.
        self._jwks = jwks_client or jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600, timeout=5)

    def verify(self, authorization: str | None) -> dict[str, Any]:
        if not authorization:
            raise InvalidTokenError("missing bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise InvalidTokenError("missing bearer token")
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            return jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
            raise InvalidTokenError(f"invalid token: {type(exc).__name__}") from None
