"""One-time OAuth `state`: signed, bound to the company and employee who started the flow, consumed once.

The token handed to the provider is `<id>.<signature>`: the id names a record in the state table that
holds who started the flow (company, user, provider) and what the callback needs (PKCE verifier,
nonce); the signature (HMAC-SHA256 with the app's state-signing key) lets a forged or guessed id be
refused without a database read. The callback consumes the record with a conditional delete, so a
state works exactly once; it expires after 10 minutes. This guarantees CSRF protection and replay
protection; it does not authenticate the browser that returns (the provider does that).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from workplace_hub.errors import HubError

STATE_TTL_SECONDS = 600


class OAuthStateError(HubError):
    """The state is unknown, already used, expired, or not ours: no link may come of this callback."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class OAuthState:
    company_id: str
    user_id: str
    provider: str
    data: dict[str, Any] = field(default_factory=dict, repr=False)


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) per RFC 7636."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class OAuthStateStore:
    """Issues and consumes states; the table resource and the signing key are injected."""

    def __init__(self, table: Any, signing_key: Callable[[], bytes], *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._signing_key = signing_key
        self._clock = clock

    def _sign(self, state_id: str) -> str:
        digest = hmac.new(self._signing_key(), state_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, company_id: str, user_id: str, provider: str, data: dict[str, Any] | None = None) -> str:
        state_id = secrets.token_urlsafe(24)
        self._table.put_item(
            Item={
                "state_id": state_id,
                "company_id": company_id,
                "user_id": user_id,
                "provider": provider,
                "data": data or {},
                "expires_at": int(self._clock() + STATE_TTL_SECONDS),
            }
        )
        return f"{state_id}.{self._sign(state_id)}"

    def consume(self, token: str | None, provider: str) -> OAuthState:
        """The state's record, removed so it can never be used again; OAuthStateError otherwise."""
        state_id, _, signature = (token or "").partition(".")
        # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500, for "?state=a.日").
        # An id longer than any issued is refused before it is signed or looked up (DynamoDB keys: 1 KB).
        if (
            not state_id
            or len(state_id) > 64
            or not hmac.compare_digest(signature.encode(), self._sign(state_id).encode())
        ):
            raise OAuthStateError("state_invalid")
        try:
            item = self._table.delete_item(
                Key={"state_id": state_id},
                ConditionExpression="attribute_exists(state_id)",
                ReturnValues="ALL_OLD",
            )["Attributes"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise OAuthStateError("state_used") from None
            raise
        if int(item["expires_at"]) < self._clock():
            raise OAuthStateError("state_expired")
        if item["provider"] != provider:
            raise OAuthStateError("state_invalid")
        return OAuthState(item["company_id"], item["user_id"], item["provider"], dict(item.get("data") or {}))
