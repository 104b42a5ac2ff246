"""The settings API function's wiring: every sender (verify, on save, test messages) and the calendar checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workplace_hub.catalog import Integration, oauth_redirect_uri
from workplace_hub.config import ApiSettings, load_settings
from workplace_hub.queues import JobQueues
from workplace_hub.wiring.common import (
    aws_client,
    company_credentials,
    http_session,
    http_timeout,
    storage,
    token_verifier,
)

if TYPE_CHECKING:
    import requests
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from workplace_hub.api.services import ProviderHooks


def provider_hooks(sender: Any) -> ProviderHooks:
    """verify, plus what the provider derives on save (the AlimTalk template, a NAVER WORKS bot)."""
    from workplace_hub.api.services import ProviderHooks

    return ProviderHooks(verify=sender.verify, on_save=sender.on_save)


def calendar_checks(
    config: ApiSettings, session: requests.Session, timeout: tuple[float, float]
) -> dict[Integration, ProviderHooks]:
    """verify for the calendar integrations."""
    from workplace_hub.calendars.checks import GoogleCalendarCheck, NaverWorksCalendarCheck
    from workplace_hub.google.delegation import DelegatedCalendarAuth
    from workplace_hub.google.oauth import GoogleOAuthClient
    from workplace_hub.naver_works.bot import NaverWorksSender

    google = GoogleCalendarCheck(
        GoogleOAuthClient(session, config, timeout),
        DelegatedCalendarAuth(config, session=session, timeout=timeout),
        oauth_redirect_uri(config.HUB_PUBLIC_URL, "google"),
    )
    works = NaverWorksCalendarCheck(NaverWorksSender(session, config, timeout, scope="calendar"))
    return {
        Integration.GOOGLE_CALENDAR: provider_hooks(google),
        Integration.NAVER_WORKS_CALENDAR: provider_hooks(works),
    }


def build_api(config: ApiSettings | None = None) -> APIGatewayHttpResolver:
    """The settings API (imported here: the router and the senders never load the API stack)."""
    from workplace_hub.api import create_app
    from workplace_hub.api.services import ApiServices
    from workplace_hub.delivery.senders import SENDERS
    from workplace_hub.naver_works.bot import NaverWorksSender

    config = config or load_settings(ApiSettings)
    stored = storage(config)
    session = http_session()
    timeout = http_timeout(config)
    senders = {channel: sender_class(session, config, timeout) for channel, sender_class in SENDERS.items()}
    # The bot the hub creates on save shows the hub's own picture, served at its public URL.
    senders["naver_works"] = NaverWorksSender(session, config, timeout, hub_public_url=config.HUB_PUBLIC_URL)
    providers = {Integration(channel): provider_hooks(sender) for channel, sender in senders.items()}
    providers.update(calendar_checks(config, session, timeout))
    services = ApiServices(
        settings_repo=stored.settings_repo,
        links=stored.links,
        deliveries=stored.deliveries,
        keyring=stored.keyring,
        credentials=company_credentials(config, stored, cached=False),
        token_verifier=token_verifier(config),
        providers=providers,
        senders=senders,
        hub_public_url=config.HUB_PUBLIC_URL,
        google_chat_base=config.GOOGLE_CHAT_BASE,
        replay_queues=JobQueues(aws_client("sqs"), config.replay_queue_urls()),
    )
    return create_app(services)
