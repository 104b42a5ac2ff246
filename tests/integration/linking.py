"""Set-up and inspection helpers for the account-linking tests (LINE Login, Google, NAVER WORKS, link health).

Each helper registers what the provider would hold (a LINE Login channel, a Google OAuth client, a NAVER WORKS
tenant with a user OAuth app) in the sandbox, then configures the hub through its settings API exactly as an
admin does. The "browser" of these tests is `requests` without automatic redirects: every hop (the hub's
authorize answer, the provider's consent page, the hub's callback) is one explicit call.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import requests

from infra.keys import rsa_key_pair
from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from infra.template import function_environment, load_template
from tests.integration.helpers import Api, ok
from tests.integration.messengers import LineChannel, new_line_channel, new_line_user_id

FRIEND_LINK_URL = "https://lin.ee/WpHub01"
CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"


# ------------------------------------------------------------------------------------------- the browser


def get(url: str, *, lang: str | None = None, headers: dict[str, str] | None = None) -> requests.Response:
    """One hop, as a browser would make it, without following redirects."""
    sent = dict(headers or {})
    if lang is not None:
        sent["Accept-Language"] = lang
    return requests.get(url, headers=sent, allow_redirects=False, timeout=10)


def query_of(url: str) -> dict[str, str]:
    """The query parameters of a URL (each once)."""
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def authorize_url(api: Api, provider: str) -> str:
    """The provider's authorization URL for this employee (a fresh state each time)."""
    return ok(api.get(f"/me/links/{provider}/authorize"))["authorize_url"]


def consent(url: str) -> str:
    """The provider's consent page answers with a redirect to the hub's callback; its Location."""
    response = get(url)
    assert response.status_code == 302, f"consent page: {response.status_code} {response.text[:300]}"
    return response.headers["Location"]


def link(api: Api, provider: str, *, lang: str | None = None) -> requests.Response:
    """The whole flow: authorize, consent at the (sandbox) provider, the hub's callback page."""
    return get(consent(authorize_url(api, provider)), lang=lang)


def open_callback(url: str, params: dict[str, str], *, lang: str | None = None) -> requests.Response:
    """The hub's callback with these query parameters (a hand-made, e.g. forged, return from a provider)."""
    return get(f"{url}?{urlencode(params)}", lang=lang)


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.title = ""
        self.result: dict[str, str] = {}
        self.friend: dict[str, str] = {}
        self.friend_link: str | None = None
        self.svg = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "html":
            self.lang = values.get("lang")
        elif tag == "title" and not self.svg:  # the document's, not the QR code's <title>
            self._in_title = True
        elif tag == "svg":
            self.svg += 1
        if values.get("id") == "result":
            self.result = values
        elif values.get("id") == "friend":
            self.friend = values
        elif values.get("id") == "friend-link":
            self.friend_link = values.get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


@dataclass(frozen=True)
class Page:
    """What the employee's browser shows at the end of a flow."""

    status: int
    content_type: str
    lang: str | None
    title: str
    result: str | None  # linked | failed
    reason: str | None  # state_used, access_denied, ...
    friend: str | None  # LINE: yes | no
    friend_link: str | None
    svg_count: int
    text: str


def page(response: requests.Response) -> Page:
    parser = _PageParser()
    parser.feed(response.text)
    return Page(
        status=response.status_code,
        content_type=response.headers.get("Content-Type", ""),
        lang=parser.lang,
        title=parser.title.strip(),
        result=parser.result.get("data-result"),
        reason=parser.result.get("data-reason"),
        friend=parser.friend.get("data-friend"),
        friend_link=parser.friend_link,
        svg_count=parser.svg,
        text=response.text,
    )


LINKED_TITLE = {"ja": "連携が完了しました", "ko": "연동이 완료되었습니다", "en": "Your account is linked"}
FAILED_TITLE = {"ja": "連携できませんでした", "ko": "연동하지 못했습니다", "en": "The account could not be linked"}
NEXT_STEP = {"ja": "次にすること", "ko": "다음 단계", "en": "What to do next"}


def assert_failed(response: requests.Response, reason: str, *, lang: str = "ja", status: int = 400) -> Page:
    """A real HTML failure page in `lang`, naming `reason` and saying what to do next."""
    shown = page(response)
    assert (shown.status, shown.result, shown.reason) == (status, "failed", reason), (shown.status, shown.text[:600])
    assert shown.content_type.startswith("text/html"), shown.content_type
    assert (shown.lang, shown.title) == (lang, FAILED_TITLE[lang])
    assert NEXT_STEP[lang] in shown.text
    assert response.headers.get("Cache-Control") == "no-store"
    return shown


# ------------------------------------------------------------------------------------------- AWS side


def table(stack: LocalStack, logical_id: str) -> Any:
    return boto3.resource("dynamodb", endpoint_url=stack.aws_endpoint_url).Table(stack.resolver.refs[logical_id])


def raw_links(stack: LocalStack, company_id: str, user_id: str) -> dict[str, Any]:
    """The employee's item in LinksTable as stored (empty when there is none)."""
    return table(stack, "LinksTable").get_item(Key={"pk": company_id, "sk": user_id}).get("Item") or {}


def state_id(authorize: str) -> str:
    """The id part (`<id>.<signature>`) of the state in an authorization URL."""
    return query_of(authorize)["state"].partition(".")[0]


def my_links(api: Api) -> dict[str, dict[str, Any]]:
    return ok(api.get("/me/links"))["links"]


def admin_links(admin: Api) -> dict[str, dict[str, dict[str, Any]]]:
    """GET /admin/links, every page: user_id → channel → state."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    token: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"next_token": token} if token else {})}
        body = ok(admin.get("/admin/links", params=params))
        found.update({e["user_id"]: e["links"] for e in body["employees"]})
        token = body["next_token"]
        if not token:
            return found


# ------------------------------------------------------------------------------------------- LINE


@dataclass(frozen=True)
class LineLogin:
    """A company's LINE Official Account (Messaging API channel) and its LINE Login channel, in the sandbox."""

    channel: LineChannel
    callback_url: str

    @property
    def channel_id(self) -> str:
        return self.channel.login_channel_id

    def settings(self, **overrides: str) -> dict[str, str]:
        return self.channel.settings(friend_link_url=FRIEND_LINK_URL, **overrides)


def new_line_login(stack: LocalStack, sandbox: SandboxClient, friends: list[str] | None = None) -> LineLogin:
    """A Messaging API channel and a Login channel whose only callback URL is the hub's."""
    channel = new_line_channel(sandbox, friends or [])
    callback_url = stack.api_url + "/oauth/line/callback"
    sandbox.control(
        "line_login",
        "channels",
        {
            "channel_id": channel.login_channel_id,
            "channel_secret": channel.login_channel_secret,
            "messaging_channel_access_token": channel.token,
            "callback_urls": [callback_url],
        },
    )
    return LineLogin(channel, callback_url)


def enable_line_login(
    stack: LocalStack, admin: Api, sandbox: SandboxClient, friends: list[str] | None = None
) -> LineLogin:
    """LINE on for the admin's company, with both channels registered in the sandbox."""
    login = new_line_login(stack, sandbox, friends)
    saved = ok(admin.put("/admin/integrations/line", {"enabled": True, "settings": login.settings()}))
    assert saved["enabled"] is True and saved["configured"] is True
    return login


def line_user_logs_in(
    sandbox: SandboxClient, login: LineLogin, line_user_id: str, *, friend: bool = False, consent: str = "approve"
) -> None:
    """Who signs in on LINE's consent page next; `friend`: they add the Official Account there."""
    sandbox.control(
        "line_login",
        "users",
        {
            "channel_id": login.channel_id,
            "user_id": line_user_id,
            "name": "山田 太郎",
            "friend": friend,
            "consent": consent,
        },
    )


def line_pushes(sandbox: SandboxClient, login: LineLogin, to: str | None = None) -> list[dict[str, Any]]:
    """Push calls the sandbox got with this channel's token (to one userId)."""
    return [
        r
        for r in sandbox.requests("line")
        if r["path"] == "/line/api/v2/bot/message/push"
        and r["headers"].get("Authorization") == f"Bearer {login.channel.token}"
        and (to is None or (isinstance(r["body"], dict) and r["body"].get("to") == to))
    ]


def post_webhook(stack: LocalStack, company_id: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{stack.api_url}/webhooks/line/{company_id}", data=body, headers=headers, timeout=10)


def link_line_user(
    stack: LocalStack, api: Api, sandbox: SandboxClient, login: LineLogin, *, friend: bool = False
) -> str:
    """Run the LINE flow for `api`'s employee; returns their (new) LINE userId."""
    line_user_id = new_line_user_id()
    line_user_logs_in(sandbox, login, line_user_id, friend=friend)
    shown = page(link(api, "line"))
    assert shown.result == "linked", shown.text[:600]
    return line_user_id


# ------------------------------------------------------------------------------------------- Google


@dataclass(frozen=True)
class GoogleWorkspace:
    domain: str
    client_json: dict[str, Any] = field(repr=False)

    @property
    def client_id(self) -> str:
        return self.client_json["web"]["client_id"]


def new_google_client(stack: LocalStack, sandbox: SandboxClient, domain: str) -> GoogleWorkspace:
    """A "web" OAuth client in the sandbox whose redirect URI is the hub's Google callback."""
    tag = uuid.uuid4().hex[:12]
    answer = sandbox.control(
        "google_oauth",
        "clients",
        {
            "client_id": f"{tag}-hub.apps.googleusercontent.com",
            "client_secret": "GOCSPX-" + secrets.token_urlsafe(20),
            "redirect_uris": [stack.api_url + "/oauth/google/callback"],
        },
    )
    return GoogleWorkspace(domain, answer["client_json"])


def enable_google_calendar(stack: LocalStack, admin: Api, sandbox: SandboxClient, domain: str) -> GoogleWorkspace:
    """Google Calendar on in user-consent mode with a sandbox OAuth client, for `domain`."""
    workspace = new_google_client(stack, sandbox, domain)
    settings = {
        "auth_mode": "user_consent",
        "oauth_client_json": json.dumps(workspace.client_json),
        "company_domain": domain,
    }
    saved = ok(admin.put("/admin/integrations/google_calendar", {"enabled": True, "settings": settings}))
    assert saved["enabled"] is True and saved["configured"] is True
    return workspace


def register_workspace_id(admin: Api, user_id: str, workspace_id: str) -> None:
    saved = ok(admin.put(f"/admin/users/{user_id}/links", {"google_workspace_id": workspace_id}))
    assert saved["google_workspace_id"] == workspace_id


def google_user_signs_in(
    sandbox: SandboxClient, email: str, hd: str | None, *, consent: str = "approve"
) -> dict[str, Any]:
    body: dict[str, Any] = {"email": email, "consent": consent}
    if hd is not None:
        body["hd"] = hd
    return sandbox.control("google_oauth", "users", body)


def google_token_answers(sandbox: SandboxClient, grant_type: str) -> list[dict[str, Any]]:
    """Token-endpoint calls the sandbox got for a grant type, with what it answered."""
    return [
        r
        for r in sandbox.requests("google_oauth")
        if r["path"] == "/google/oauth2/token"
        and isinstance(r["body"], dict)
        and r["body"].get("grant_type") == grant_type
    ]


def service_account_key() -> tuple[str, str]:
    """(private PKCS#8 PEM, public PEM) of a service account key, one per session."""
    return rsa_key_pair("service_account")


def service_account_json(client_email: str) -> str:
    """A key file as Google Cloud's "Create key" button gives it."""
    private, _ = service_account_key()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "wp-hub-sandbox",
            "private_key_id": uuid.uuid4().hex,
            "private_key": private,
            "client_email": client_email,
            "client_id": str(secrets.randbelow(10**20)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )


def delegation_settings(sandbox: SandboxClient, company_id: str, verify_subject: str) -> dict[str, str]:
    """A service account the sandbox Workspace delegates the whole company domain to, as the admin's form."""
    domain = f"{company_id}.example"
    client_email = f"hub-{company_id}@wp-hub-sandbox.iam.gserviceaccount.com"
    sandbox.control(
        "google_oauth",
        "service_accounts",
        {
            "client_email": client_email,
            "public_key_pem": service_account_key()[1],
            "delegated_subjects": [f"@{domain}"],
            "scopes": [CALENDAR_EVENTS],
        },
    )
    return {
        "auth_mode": "domain_wide_delegation",
        "company_domain": domain,
        "service_account_json": service_account_json(client_email),
        "verify_subject": verify_subject,
    }


# ------------------------------------------------------------------------------------------- NAVER WORKS


@dataclass(frozen=True)
class WorksCalendarTenant:
    """A NAVER WORKS tenant (API 2.0 app and service account) with a separate user OAuth app."""

    domain_id: str
    admin_email: str
    client_id: str
    client_secret: str
    service_account: str
    oauth_client_id: str
    oauth_client_secret: str
    redirect_url: str

    def settings(self, **overrides: str) -> dict[str, str]:
        """The naver_works_calendar admin form (API 2.0)."""
        return {
            "api_version": "2.0",
            "domain_id": self.domain_id,
            "admin_email": self.admin_email,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "service_account": self.service_account,
            "private_key": rsa_key_pair("works-2.0")[0],
            "user_oauth_client_id": self.oauth_client_id,
            "user_oauth_client_secret": self.oauth_client_secret,
            **overrides,
        }


def new_works_calendar_tenant(
    stack: LocalStack, sandbox: SandboxClient, users: list[str], *, token_ttl: int = 86400
) -> WorksCalendarTenant:
    """Register a tenant whose users are `users`, with a user OAuth app whose only Redirect URL is the hub's."""
    tag = uuid.uuid4().hex[:10]
    tenant = WorksCalendarTenant(
        domain_id=str(secrets.randbelow(9 * 10**7) + 10**7),
        admin_email=f"admin-{tag}@works.example",
        client_id=f"client{tag}",
        client_secret=f"secret{tag}",
        service_account=f"{tag}.serviceaccount@works.example",
        oauth_client_id=f"oauth{tag}",
        oauth_client_secret=f"oauthsecret{tag}",
        redirect_url=stack.api_url + "/oauth/naver_works/callback",
    )
    sandbox.control(
        "naver_works",
        "tenants",
        {
            "domain_id": tenant.domain_id,
            "users": [*users, tenant.admin_email],
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "service_account": tenant.service_account,
            "public_key_pem": rsa_key_pair("works-2.0")[1],
            "token_ttl": token_ttl,
            "oauth_apps": [{"client_id": tenant.oauth_client_id, "client_secret": tenant.oauth_client_secret}],
            "redirect_uris": [tenant.redirect_url],
        },
    )
    return tenant


def enable_works_calendar(admin: Api, tenant: WorksCalendarTenant) -> dict[str, Any]:
    saved = ok(admin.put("/admin/integrations/naver_works_calendar", {"enabled": True, "settings": tenant.settings()}))
    assert saved["enabled"] is True and saved["configured"] is True
    return saved


def works_user_signs_in(
    sandbox: SandboxClient,
    tenant: WorksCalendarTenant,
    user_id: str,
    *,
    consent: str = "approve",
    calendars: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"domain_id": tenant.domain_id, "user_id": user_id, "consent": consent}
    if calendars is not None:
        body["calendars"] = calendars
    return sandbox.control("naver_works", "oauth_users", body)


# ------------------------------------------------------------------------------------------- the linking service


def linking_service(stack: LocalStack, clock: Callable[[], float] = time.time) -> Any:
    """A LinkingService wired like the linking function's (its tables, KMS key, app secret and the sandbox's
    provider endpoints), with its own clock: for paths no public route drives yet (Google token refresh)."""
    from aws_lambda_powertools.utilities import parameters

    from workplace_hub.config import LinkingSettings, load_settings
    from workplace_hub.crypto import Keyring
    from workplace_hub.google.oauth import GoogleOAuthClient
    from workplace_hub.integration_settings.credentials import CompanyCredentials
    from workplace_hub.line.login import LineLoginClient
    from workplace_hub.linking.flows import LinkingClients, LinkingService
    from workplace_hub.linking.state import OAuthStateStore
    from workplace_hub.naver_works.user_oauth import NaverWorksUserOAuthClient
    from workplace_hub.storage.links import LinksRepository
    from workplace_hub.storage.settings import SettingsRepository

    environment = {**os.environ, **function_environment(load_template(), "LinkingFunction", stack.resolver)}
    settings = load_settings(LinkingSettings, environment)
    dynamodb = boto3.resource("dynamodb", endpoint_url=stack.aws_endpoint_url)
    settings_repository = SettingsRepository(dynamodb.Table(settings.SETTINGS_TABLE_NAME))
    kms = boto3.client("kms", endpoint_url=stack.aws_endpoint_url)
    session = requests.Session()
    timeout = (settings.HTTP_CONNECT_TIMEOUT, settings.HTTP_READ_TIMEOUT)

    def signing_key() -> bytes:
        secret = parameters.get_secret(settings.APP_SECRET_ARN, transform="json")
        return str(secret["state_signing_key"]).encode()  # type: ignore[index]

    links = LinksRepository(dynamodb.Table(settings.LINKS_TABLE_NAME), dynamodb)
    keyring = Keyring(kms, settings.KMS_KEY_ID, settings_repository)
    return LinkingService(
        credentials=CompanyCredentials(settings_repo=settings_repository, keyring=keyring, links=links),
        links=links,
        keyring=keyring,
        states=OAuthStateStore(dynamodb.Table(settings.OAUTH_STATE_TABLE_NAME), signing_key),
        clients=LinkingClients(
            line=LineLoginClient(session, settings, timeout),
            google=GoogleOAuthClient(session, settings, timeout, certs_url=settings.GOOGLE_CERTS_URL),
            naver_works=NaverWorksUserOAuthClient(session, settings, timeout),
        ),
        hub_public_url=settings.HUB_PUBLIC_URL,
        clock=clock,
    )
