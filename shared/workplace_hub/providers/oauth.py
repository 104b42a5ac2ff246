"""An employee's grant as a token endpoint returns it (LINE Login, Google, NAVER WORKS user OAuth)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TokenSet:
    """`expires_at` is the access token's expiry (epoch seconds); `refresh_token` is None when the
    provider sent none (usual on a refresh); `id_token` only where the flow is OpenID Connect."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    id_token: str | None = field(default=None, repr=False)
    scope: str = ""
