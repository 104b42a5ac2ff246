"""LINE Messaging API webhook: follow / unfollow of the company's LINE Official Account.

Every call is checked against `X-Line-Signature` with the company's channel secret before anything is
read or stored (providers.md §3.5). A follow by a linked employee marks them a friend and sends the
"linking complete" message; an unfollow (block) marks their LINE link blocked, so LINE deliveries to
them are skipped with that reason until they follow again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from typing import Any

from workplace_hub.catalog import Integration
from workplace_hub.crypto import Keyring
from workplace_hub.errors import ProviderError
from workplace_hub.events import COMPANY_ID_PATTERN
from workplace_hub.integration_settings import effective, open_credentials
from workplace_hub.link_health import BLOCKED, state_attribute
from workplace_hub.observability import logger
from workplace_hub.providers.line import LineSender, build_send
from workplace_hub.storage.links import LinksRepository
from workplace_hub.storage.settings import SettingsRepository, utc_now_iso

_COMPANY = re.compile(COMPANY_ID_PATTERN)

WELCOME = {
    "ja": "WORKPLACE の通知を LINE で受け取る準備ができました。",
    "ko": "WORKPLACE 알림을 LINE으로 받을 준비가 되었습니다.",
    "en": "You will now receive WORKPLACE notifications on LINE.",
}


def signature_valid(channel_secret: str, body: bytes, signature: str | None) -> bool:
    expected = base64.b64encode(hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()).decode()
    return bool(signature) and hmac.compare_digest(expected, signature or "")


class LineWebhook:
    """Handles one webhook call for one company; returns the HTTP status to answer."""

    def __init__(
        self,
        *,
        settings: SettingsRepository,
        links: LinksRepository,
        keyring: Keyring,
        sender: LineSender,
        line_api_base: str,
    ) -> None:
        self._settings = settings
        self._links = links
        self._keyring = keyring
        self._sender = sender
        self._line_api_base = line_api_base

    def handle_http(self, event: dict[str, Any]) -> dict[str, Any]:
        """An HTTP API (payload 2.0) event in, the response out. The path's company is only trusted once
        the body's signature checks out against that company's channel secret."""
        company_id = (event.get("pathParameters") or {}).get("company_id") or ""
        raw = event.get("body") or ""
        body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
        headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
        status = (
            self.handle(company_id, body, headers.get("x-line-signature")) if _COMPANY.fullmatch(company_id) else 404
        )
        return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps({})}

    def handle(self, company_id: str, body: bytes, signature: str | None) -> int:
        company = self._settings.load(company_id)
        stored = effective(company, Integration.LINE)
        if not stored.enabled or "channel_secret" not in stored.sealed_secrets:
            return 404
        credentials = open_credentials(company, Integration.LINE, self._keyring)
        if not signature_valid(credentials["channel_secret"], body, signature):
            logger.warning("LINE webhook with a bad signature refused", extra={"company_id": company_id})
            return 401
        try:
            events = json.loads(body).get("events") or []
        except (ValueError, AttributeError):
            return 400
        for event in events:
            self._handle_event(company_id, credentials, event)
        return 200

    def _handle_event(self, company_id: str, credentials: dict[str, Any], event: dict[str, Any]) -> None:
        kind = event.get("type")
        line_user_id = (event.get("source") or {}).get("userId")
        if kind not in ("follow", "unfollow") or not line_user_id:
            return
        employee = self._links.find_by_line_user(company_id, line_user_id)
        if employee is None:
            logger.info("LINE follow/unfollow by a user who has not linked", extra={"type": kind})
            return
        if kind == "unfollow":
            problem = {"state": BLOCKED, "reason": "line_unfollowed", "since": utc_now_iso()}
            self._links.update(
                company_id, employee.user_id, {"line_friend": False, state_attribute("line"): problem}, []
            )
            logger.info("LINE link blocked (unfollow)", extra={"user_id": employee.user_id})
            return
        self._links.update(company_id, employee.user_id, {"line_friend": True}, [state_attribute("line")])
        self._welcome(credentials, line_user_id, event)
        logger.info("LINE friend added", extra={"user_id": employee.user_id})

    def _welcome(self, credentials: dict[str, Any], line_user_id: str, event: dict[str, Any]) -> None:
        # The webhook event id makes the retry key: a redelivered webhook never sends the message twice.
        retry_key = uuid.uuid5(uuid.NAMESPACE_URL, f"line-welcome:{event.get('webhookEventId') or line_user_id}")
        message = {"type": "text", "text": "\n".join(WELCOME.values())}
        token = credentials["channel_access_token"]
        call = build_send(self._line_api_base, token, [line_user_id], [message], str(retry_key))
        try:
            response = self._sender.execute(call)
            if response.status_code not in (200, 409):
                logger.warning("LINE welcome message refused", extra={"status": response.status_code})
        except ProviderError as exc:
            logger.warning("LINE welcome message not sent", extra={"code": exc.code})
