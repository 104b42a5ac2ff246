"""The linking function's wiring (OAuth starts and callbacks, calendar options) and the LINE webhook's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workplace_hub.config import LinkingSettings, WebhookSettings, load_settings
from workplace_hub.errors import ConfigurationError
from workplace_hub.wiring.common import (
    aws_client,
    company_credentials,
    http_session,
    http_timeout,
    secret_reader,
    storage,
    token_verifier,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from workplace_hub.linking.line_webhook import LineWebhook


def build_linking_api(config: LinkingSettings | None = None) -> APIGatewayHttpResolver:
    """The linking function: OAuth start and callbacks, personal calendars."""
    from workplace_hub.api.linking import LinkingApiServices, create_linking_app
    from workplace_hub.calendars.options import CalendarOptions
    from workplace_hub.google.oauth import GoogleOAuthClient
    from workplace_hub.line.login import LineLoginClient
    from workplace_hub.linking.flows import LinkingClients, LinkingService
    from workplace_hub.linking.state import OAuthStateStore
    from workplace_hub.naver_works.user_oauth import NaverWorksUserOAuthClient

    config = config or load_settings(LinkingSettings)
    stored = storage(config)
    credentials = company_credentials(config, stored, cached=False)
    session = http_session()
    timeout = http_timeout(config)
    read_app_secret = secret_reader(config.APP_SECRET_ARN)

    def signing_key() -> bytes:
        key = read_app_secret().get("state_signing_key")
        if not key:
            raise ConfigurationError("the app secret has no state_signing_key")
        return str(key).encode()

    linking = LinkingService(
        credentials=credentials,
        links=stored.links,
        keyring=stored.keyring,
        states=OAuthStateStore(aws_client("dynamodb").Table(config.OAUTH_STATE_TABLE_NAME), signing_key),
        clients=LinkingClients(
            line=LineLoginClient(session, config, timeout),
            google=GoogleOAuthClient(session, config, timeout, certs_url=config.GOOGLE_CERTS_URL),
            naver_works=NaverWorksUserOAuthClient(session, config, timeout),
        ),
        hub_public_url=config.HUB_PUBLIC_URL,
    )
    options = CalendarOptions(
        credentials=credentials, links=stored.links, personal_calendars=linking.personal_calendars
    )
    return create_linking_app(
        LinkingApiServices(token_verifier=token_verifier(config), linking=linking, calendar_options=options)
    )


def build_line_webhook(config: WebhookSettings | None = None) -> LineWebhook:
    """The LINE webhook: follow / unfollow, signature-checked per company."""
    from workplace_hub.line.messaging import LineSender
    from workplace_hub.linking.line_webhook import LineWebhook

    config = config or load_settings(WebhookSettings)
    stored = storage(config)
    return LineWebhook(
        credentials=company_credentials(config, stored, cached=False),
        links=stored.links,
        sender=LineSender(http_session(), config, http_timeout(config)),
        line_api_base=config.LINE_API_BASE,
    )
