"""What a NAVER WORKS tenant registers through the control API (`POST tenants`), and its tokens and grants."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_public_key

from infra.sandbox.base import ControlError

SCOPES = frozenset({"bot", "bot.message", "bot.read", "calendar", "calendar.read", "user.read", "directory.read"})
PLANS = {"free": 60, "standard": 240}  # requests per minute per API per domain

LEGACY_DAILY_PUSHES = 20_000
LEGACY_PUSHES_PER_EXTRA_MEMBER = 100
JST = timezone(timedelta(hours=9))


def jst_day(now: float | None = None) -> str:
    """The JST date the API 1.0 push quota counts in (it resets at 00:00 GMT+9)."""
    return datetime.fromtimestamp(time.time() if now is None else now, JST).date().isoformat()


@dataclass
class Tenant:
    domain_id: str
    users: set[str]
    bots: dict[str, dict[str, Any]]  # bot_id -> {"name", "in_domain", "allow_domains", ...}
    plan: str = "standard"
    token_ttl: int = 86400
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    service_account: str | None = None
    public_key: Any = field(default=None, repr=False)
    api_id: str | None = None
    server_list_id: str | None = None
    server_list_public_key: Any = field(default=None, repr=False)
    consumer_key: str | None = field(default=None, repr=False)
    oauth_apps: dict[str, str] = field(default_factory=dict, repr=False)  # user OAuth client_id -> secret
    redirect_uris: list[str] | None = None  # None: any http(s) redirect_uri is registered
    login: dict[str, str] | None = None  # who logs in at `authorize`: {"user_id", "consent"}
    calendars: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # user_id -> calendars
    legacy_quota: int | None = None  # API 1.0 pushes a day; None: the documented quota for its members
    legacy_pushes: dict[str, int] = field(default_factory=dict)  # JST date -> API 1.0 pushes that day

    def legacy_daily_quota(self) -> int:
        if self.legacy_quota is not None:
            return self.legacy_quota
        return LEGACY_DAILY_PUSHES + LEGACY_PUSHES_PER_EXTRA_MEMBER * max(0, len(self.users) - 100)

    def app_secret(self, client_id: str) -> str | None:
        """The secret of one of the tenant's OAuth clients (the 2.0 app or an extra one), or None."""
        if self.client_id and client_id == self.client_id:
            return self.client_secret
        return self.oauth_apps.get(client_id)


@dataclass
class Token:
    domain_id: str
    api: str  # "2.0" or "1.0"
    scopes: frozenset[str]
    expires_at: float
    user_id: str | None = None  # a user-OAuth token: whose it is
    client_id: str | None = None


@dataclass
class Grant:
    """An authorization code or a refresh token: who granted what to which client, until when."""

    domain_id: str
    user_id: str | None
    client_id: str
    scopes: frozenset[str]
    expires_at: float
    redirect_uri: str | None = None


def _key(pem: Any, name: str) -> Any:
    try:
        return load_pem_public_key(str(pem).encode())
    except (ValueError, TypeError) as exc:
        raise ControlError(f"{name} must be a PEM public key") from exc


def http_url(value: str) -> bool:
    return value.startswith(("http://", "https://")) and len(value) > len("https://")


def new_tenant(data: dict[str, Any]) -> Tenant:
    """The tenant a `POST tenants` body describes; ControlError if it is incomplete or invalid."""
    domain_id = str(data.get("domain_id") or "")
    if not domain_id.isdigit():
        raise ControlError("domain_id (digits) is required")
    users, bots = data.get("users") or [], data.get("bots") or []
    if not all(isinstance(u, str) and u for u in users):
        raise ControlError("users must be user IDs or login e-mails")
    if not all(isinstance(b, dict) and b.get("bot_id") for b in bots):
        raise ControlError('bots must be objects with "bot_id" (and "name")')
    plan, ttl = data.get("plan", "standard"), data.get("token_ttl", 86400)
    if plan not in PLANS:
        raise ControlError(f"plan must be one of {sorted(PLANS)}")
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
        raise ControlError("token_ttl must be a positive integer (seconds)")
    tenant = Tenant(
        domain_id,
        set(users),
        {str(b["bot_id"]): {"name": str(b.get("name") or "Bot"), "in_domain": True} for b in bots},
        plan,
        ttl,
    )
    v2 = ("client_id", "client_secret", "service_account", "public_key_pem")
    v1 = ("api_id", "server_list_id", "server_list_public_key_pem", "server_api_consumer_key")
    for group in (v2, v1):
        given = [name for name in group if data.get(name)]
        if given and len(given) != len(group):
            raise ControlError(f"give all of {list(group)} or none")
    if not data.get("client_id") and not data.get("api_id"):
        raise ControlError("give the API 2.0 fields, the API 1.0 fields, or both")
    if data.get("client_id"):
        tenant.client_id, tenant.client_secret = str(data["client_id"]), str(data["client_secret"])
        tenant.service_account = str(data["service_account"])
        tenant.public_key = _key(data["public_key_pem"], "public_key_pem")
    if data.get("api_id"):
        tenant.api_id, tenant.server_list_id = str(data["api_id"]), str(data["server_list_id"])
        tenant.server_list_public_key = _key(data["server_list_public_key_pem"], "server_list_public_key_pem")
        tenant.consumer_key = str(data["server_api_consumer_key"])
    apps, uris = data.get("oauth_apps") or [], data.get("redirect_uris")
    if not all(isinstance(a, dict) and a.get("client_id") and a.get("client_secret") for a in apps):
        raise ControlError('oauth_apps must be objects with "client_id" and "client_secret"')
    tenant.oauth_apps = {str(a["client_id"]): str(a["client_secret"]) for a in apps}
    if uris is not None:
        if not (isinstance(uris, list) and all(isinstance(u, str) and http_url(u) for u in uris)):
            raise ControlError("redirect_uris must be a list of http(s) URLs")
        tenant.redirect_uris = list(uris)
    return tenant
