"""`POST /me/links/{channel}/test`: a test message to the caller, through the same sender as real ones."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from workplace_hub.api.services import ApiServices
from workplace_hub.catalog import Integration
from workplace_hub.errors import ConflictError, IntegrationCredentialsError, NeedsRelinkError, ProviderError
from workplace_hub.events import Recipient
from workplace_hub.providers.messenger import Destination, Notification
from workplace_hub.storage.addresses import ADDRESS_SOURCES


class Messenger(StrEnum):
    SLACK = "slack"
    GOOGLE_CHAT = "google_chat"
    LINE = "line"
    NAVER_WORKS = "naver_works"


TEST_TEXT = {
    "title": {"ja": "WORKPLACE 連携テスト", "ko": "WORKPLACE 연동 테스트", "en": "WORKPLACE link test"},
    "body": {
        "ja": "このメッセージが届いていれば、通知を受け取る準備はできています。",
        "ko": "이 메시지가 도착했다면 알림을 받을 준비가 되었습니다.",
        "en": "If you can read this, you are ready to receive notifications.",
    },
}


def send_test_message(services: ApiServices, company_id: str, user_id: str, channel: str) -> dict[str, Any]:
    company = services.credentials.company(company_id)
    integration = Integration(channel)
    if not services.credentials.usable(company, integration):
        raise ConflictError("channel_not_enabled", f"{channel} is not turned on for your company")
    links = services.links.get(company_id, user_id)
    recipient = Recipient(user_id=user_id)
    address = ADDRESS_SOURCES[channel].address(company_id, recipient, links, services.keyring)
    if address is None:
        raise ConflictError("not_linked", f"link your {channel} account first", ADDRESS_SOURCES[channel].missing_reason)
    credentials = services.credentials.resolve(company, integration)
    locale = "ja"
    notification = Notification(
        event_id=f"link-test-{uuid.uuid4().hex[:12]}",
        item="link.test",
        title=TEST_TEXT["title"][locale],
        body=TEST_TEXT["body"][locale],
        url=services.hub_public_url,
        locale=locale,
        company_id=company_id,
    )
    try:
        receipt = services.senders[channel].send(notification, Destination(user_id, address), credentials)
    except NeedsRelinkError as exc:
        services.credentials.mark_needs_relink(company_id, user_id, channel, exc.code)
        return {"channel": channel, "result": "failed", "code": exc.code, "next_step": "link your account again"}
    except IntegrationCredentialsError as exc:
        return {"channel": channel, "result": "failed", "code": exc.code, "next_step": "ask your admin to check it"}
    except ProviderError as exc:
        result = "retry_later" if exc.retryable else "failed"
        return {"channel": channel, "result": result, "code": exc.code}
    return {"channel": channel, "result": "sent", "provider_message_id": receipt.provider_message_id}
