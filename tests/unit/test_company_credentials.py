"""CompanyCredentials: the one chain from a company to an integration's credentials, and the records of refusals."""

from __future__ import annotations

from tests.unit.aws import HubStack
from workplace_hub.catalog import Integration
from workplace_hub.integration_settings.credentials import CompanyCredentials
from workplace_hub.storage.link_health import NEEDS_RELINK, state_attribute
from workplace_hub.storage.settings import CachedSettings

COMPANY = "acme"
TOKEN = "xoxb-" + "1" * 24
PLATFORM = {"naver_works": {"client_id": "platform-app", "bot_id": "4001"}}


def credentials(stack: HubStack, *, cached: bool = False) -> CompanyCredentials:
    return CompanyCredentials(
        settings_repo=stack.settings_repository,
        keyring=stack.keyring,
        platform_credentials=lambda: PLATFORM,
        links=stack.links,
        settings_cache=CachedSettings(stack.settings_repository, 300.0) if cached else None,
    )


def test_credentials_are_opened_only_while_the_integration_is_on(stack: HubStack) -> None:
    # GIVEN Slack configured, then turned off
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": TOKEN})
    service = credentials(stack)
    assert service.of(service.company(COMPANY), Integration.SLACK) == {"bot_token": TOKEN}
    stack.configure(COMPANY, Integration.SLACK, {}, enabled=False)

    # THEN none while it is off, but resolve still opens them (a job accepted before)
    company = service.company(COMPANY)
    assert not service.enabled(company, Integration.SLACK)
    assert service.of(company, Integration.SLACK) is None
    assert service.resolve(company, Integration.SLACK) == {"bot_token": TOKEN}
    assert service.of(company, Integration.LINE) is None  # never configured


def test_a_collabo_company_without_settings_uses_the_platforms(stack: HubStack) -> None:
    stack.settings_repository.save_product(COMPANY, "collabo")
    service = credentials(stack)

    opened = service.of(service.company(COMPANY), Integration.NAVER_WORKS)

    assert opened == PLATFORM["naver_works"]
    assert service.platform_settings(Integration.NAVER_WORKS)["bot_id"] == "4001"


def test_a_recorded_credentials_error_is_the_status_and_the_cache_forgets_the_company(stack: HubStack) -> None:
    # GIVEN a worker's cached view of the company
    stack.configure(COMPANY, Integration.SLACK, {"bot_token": TOKEN})
    service = credentials(stack, cached=True)
    assert service.company(COMPANY).integrations[Integration.SLACK].status is None

    # WHEN the provider refuses the token
    service.record_error(COMPANY, Integration.SLACK, "invalid_auth", "refused while sending")

    # THEN the next read sees the error status at once
    status = service.company(COMPANY).integrations[Integration.SLACK].status
    assert status is not None
    assert (status["state"], status["code"], status["detail"]) == ("error", "invalid_auth", "refused while sending")


def test_a_link_marked_needs_relink_says_why(stack: HubStack) -> None:
    credentials(stack).mark_needs_relink(COMPANY, "taro", "slack", "user_not_found")

    problem = stack.links.get(COMPANY, "taro").get(state_attribute("slack"))

    assert (problem["state"], problem["reason"]) == (NEEDS_RELINK, "user_not_found")
