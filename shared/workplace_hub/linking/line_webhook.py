"""LINE Messaging API webhook: follow / unfollow of the company's LINE Official Account.

Every call is checked against `X-Line-Signature` with the company's channel secret before anything is
read or stored (providers.md §3.5). A follow by a linked employee marks them a friend and sends the
"linking complete" message; an unfollow (block) marks their LINE link blocked, so LINE deliveries to
them are skipped with that reason until they follow again. An event older than the latest one applied to
the employee's link, or already applied, changes nothing (line_events.py).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import uuid
from typing import Any

from workplace_hub.catalog import Integration
from workplace_hub.clock import utc_now_iso
from workplace_hub.errors import HubError, ProviderError
from workplace_hub.events import COMPANY_ID_PATTERN
from workplace_hub.integration_settings.credentials import CompanyCredentials
from workplace_hub.line.messaging import LineSender, build_send
from workplace_hub.line.webhook_events import (
    APPLY,
    DUPLICATE,
    UNFOLLOW,
    AppliedEvents,
    LinkEvent,
    MalformedBody,
    read_events,
    verify_webhook_signature,
)
from workplace_hub.observability import logger
from workplace_hub.storage.link_health import BLOCKED, state_attribute
from workplace_hub.storage.links import EmployeeLinks, LinksRepository

_COMPANY = re.compile(COMPANY_ID_PATTERN)
_ATTEMPTS = 3  # conditional writes per event when another webhook changes the same link meanwhile

# One answer for a bad signature, an unknown company and a company without LINE, so the URL does not tell
# which companies use LINE. 401 as LINE's own SDK guide answers a failed signature check (line-bot-sdk-nodejs
# webhook guide: SignatureValidationFailed → 401, JSONParseError → 400).
_REFUSED = 401, {"error": "signature_invalid", "message": "X-Line-Signature does not match the body"}

WELCOME = {
    "ja": "WORKPLACE の通知を LINE で受け取る準備ができました。",
    "ko": "WORKPLACE 알림을 LINE으로 받을 준비가 되었습니다.",
    "en": "You will now receive WORKPLACE notifications on LINE.",
}


class LineWebhook:
    """Handles one webhook call for one company; returns the HTTP status and body to answer."""

    def __init__(
        self,
        *,
        credentials: CompanyCredentials,
        links: LinksRepository,
        sender: LineSender,
        line_api_base: str,
    ) -> None:
        self._credentials = credentials
        self._links = links
        self._sender = sender
        self._line_api_base = line_api_base

    def handle_http(self, event: dict[str, Any]) -> dict[str, Any]:
        """An HTTP API (payload 2.0) event in, the response out. The path's company is only trusted once
        the body's signature checks out against that company's channel secret."""
        company_id = (event.get("pathParameters") or {}).get("company_id") or ""
        raw = event.get("body") or ""
        body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
        headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
        status, answer = (
            self.handle(company_id, body, headers.get("x-line-signature"))
            if _COMPANY.fullmatch(company_id)
            else _REFUSED
        )
        return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(answer)}

    def handle(self, company_id: str, body: bytes, signature: str | None) -> tuple[int, dict[str, Any]]:
        company = self._credentials.company(company_id)
        stored_secret = self._credentials.secret(company, Integration.LINE, "channel_secret")
        # Without LINE the body is still checked (and then refused), so that answer costs what a real check
        # costs; against a fresh random secret, so no signature can be made for it.
        channel_secret = stored_secret or secrets.token_hex(16)
        if not verify_webhook_signature(channel_secret, body, signature) or not stored_secret:
            logger.warning("LINE webhook refused: bad signature or no LINE", extra={"company_id": company_id})
            return _REFUSED
        try:
            events, skipped = read_events(body)
        except MalformedBody as exc:
            logger.warning("LINE webhook refused: malformed body", extra={"field": exc.field})
            return 400, {"error": "invalid_request", "message": str(exc), "field": exc.field}
        # A malformed event in a signed body is skipped, not refused: LINE wants 200 for every webhook
        # (providers.md §3.5), treats anything else as a failed delivery and redelivers the same body, which
        # would fail the same way and hold back the good events beside it. Each event is applied whole or not.
        for reason in skipped:
            logger.warning("LINE webhook event skipped: malformed", extra={"reason": reason})
        credentials: dict[str, Any] | None = None
        for link_event in events:
            if self._apply(company_id, link_event) and link_event.kind != UNFOLLOW:
                credentials = credentials or self._credentials.resolve(company, Integration.LINE)
                self._welcome(credentials, link_event)
        return 200, {}

    def _apply(self, company_id: str, event: LinkEvent) -> bool:
        """Apply one event to the employee's link unless it is stale or already applied; True if applied."""
        employee: EmployeeLinks | None = self._links.find_by_line_user(company_id, event.line_user_id)
        for _ in range(_ATTEMPTS):
            if employee is None or employee.get("line_user_id") != event.line_user_id:
                logger.info("LINE follow/unfollow by a user who has not linked", extra={"type": event.kind})
                return False
            applied = AppliedEvents.of(employee.attributes)
            verdict = applied.verdict(event, employee.get("line_linked_at"))
            if verdict != APPLY:
                # LINE repeats an event only as a redelivery (`deliveryContext.isRedelivery`): an unmarked
                # repeat is someone posting a captured body again, worth a warning.
                replayed = verdict == DUPLICATE and not event.redelivery
                (logger.warning if replayed else logger.info)(
                    "LINE webhook event ignored",
                    extra={"type": event.kind, "verdict": "replayed" if replayed else verdict},
                )
                return False
            values, removed = _link_change(event)
            values.update(applied.after(event).attributes())
            # Only if no other webhook moved the link's event marks since they were read (the index read may lag).
            if self._links.update(company_id, employee.user_id, values, removed, expected=applied.attributes()):
                logger.info("LINE link updated", extra={"type": event.kind, "user_id": employee.user_id})
                return True
            employee = self._links.get(company_id, employee.user_id, consistent=True)
        raise HubError("the LINE link kept changing while a webhook event was applied")

    def _welcome(self, credentials: dict[str, Any], event: LinkEvent) -> None:
        # The webhook event id makes the retry key: were the event applied twice, the message is sent once.
        line_user_id = event.line_user_id
        retry_key = uuid.uuid5(uuid.NAMESPACE_URL, f"line-welcome:{event.event_id}")
        message = {"type": "text", "text": "\n".join(WELCOME.values())}
        token = credentials["channel_access_token"]
        call = build_send(self._line_api_base, token, [line_user_id], [message], str(retry_key))
        try:
            response = self._sender.execute(call)
            if response.status_code not in (200, 409):
                logger.warning("LINE welcome message refused", extra={"status": response.status_code})
        except ProviderError as exc:
            logger.warning("LINE welcome message not sent", extra={"code": exc.code})


def _link_change(event: LinkEvent) -> tuple[dict[str, Any], list[str]]:
    """The link attributes an event sets and removes."""
    if event.kind == UNFOLLOW:
        problem = {"state": BLOCKED, "reason": "line_unfollowed", "since": utc_now_iso()}
        return {"line_friend": False, state_attribute("line"): problem}, []
    return {"line_friend": True}, [state_attribute("line")]
