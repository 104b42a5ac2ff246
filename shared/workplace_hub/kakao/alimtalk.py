"""KakaoTalk AlimTalk through NAVER Cloud Platform SENS (providers.md §5, §9.1).

Docs: https://api.ncloud-docs.com/docs/en/sens-alimtalk-send. The sender renders the approved template
(`templates.py`) for each recipient, signs its calls (`sens.py`), adds the SMS failover when on
(`failover.py`) and reads delivery results through the lookup API (`results.py`). SENS has no idempotency
key: never repeat a call whose outcome is unknown.

Two codes per message (§9.1): the send answer's `requestStatusCode` (`A000` = accepted) and, later, the
delivery result `messageStatusCode` (`0000` = delivered), read only through the message lookup API
(`lookup_results`). With `sms_failover` on, every message carries SENS's SMS/LMS failover.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    IntegrationCredentialsError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
    UnusableSettingsError,
)
from workplace_hub.kakao.failover import failover_config, failover_on
from workplace_hub.kakao.results import ACCEPTED, MessageResult, parse_result
from workplace_hub.kakao.sens import PROVIDER, error_info, fail, need, request_error, signed_call, to_sens_number
from workplace_hub.kakao.templates import ALIASES, parse_template, render
from workplace_hub.providers.messenger import (
    Destination,
    Notification,
    PreparedCall,
    Sender,
    SendReceipt,
)

MAX_MESSAGES = 100  # per request [C SENS-DOC]
MAX_RESULT_PAGES = 20  # lookup pages of one request (100 messages at most)


@dataclass(frozen=True)
class AcceptedAlimTalk(SendReceipt):
    """A message SENS accepted (`A000`): `request_id` is the send request's, for the result lookup."""

    request_id: str | None = None


def _answered(response: requests.Response) -> tuple[list[Any], str | None]:
    """The per-message statuses of a 202 and its requestId, or an error that applies to the whole call."""
    if response.status_code not in (200, 202):
        raise request_error(response)
    try:
        body = response.json()
        messages = body.get("messages")
    except (ValueError, AttributeError):
        body, messages = {}, None
    if not isinstance(messages, list):
        # Accepted but unreadable: resending could deliver twice (SENS has no idempotency key).
        raise fail("invalid_response", reason="kakao_unknown_outcome", status=response.status_code)
    request_id = body.get("requestId")
    return messages, request_id if isinstance(request_id, str) and request_id else None


def _outcome(answer: dict[str, Any], status: int, request_id: str | None = None) -> SendReceipt | ProviderError:
    code = str(answer.get("requestStatusCode") or "")
    if code == ACCEPTED:
        return AcceptedAlimTalk(provider_message_id=answer.get("messageId"), request_id=request_id)
    detail = ": ".join(str(answer[k]) for k in ("requestStatusName", "requestStatusDesc") if answer.get(k))
    return fail(code or "unknown_status", detail, reason="kakao_rejected", status=status)


def read_statuses(response: requests.Response, sent: list[dict[str, Any]]) -> list[SendReceipt | ProviderError]:
    """One outcome per sent message, matched by position and by `to` (and countryCode when echoed)."""
    answers, request_id = _answered(response)

    def same(index: int, message: dict[str, Any]) -> bool:
        answer = answers[index]
        return (
            isinstance(answer, dict)
            and re.sub(r"\D", "", str(answer.get("to") or "")) == message["to"]
            and str(answer.get("countryCode") or message["countryCode"]) == message["countryCode"]
        )

    free, outcomes = list(range(len(answers))), []
    for position, message in enumerate(sent):
        index = position if position in free and same(position, message) else None
        index = index if index is not None else next((i for i in free if same(i, message)), None)
        if index is None:
            outcomes.append(fail("no_message_status", reason="kakao_unknown_outcome", status=response.status_code))
        else:
            free.remove(index)
            outcomes.append(_outcome(answers[index], response.status_code, request_id))
    return outcomes


class KakaoSender(Sender):
    """Sends the approved AlimTalk template, filled per recipient, through the company's SENS project."""

    channel = "kakao"
    api_docs = "https://api.ncloud-docs.com/docs/en/sens-alimtalk-send"
    max_batch = MAX_MESSAGES

    def __init__(
        self,
        session: requests.Session,
        endpoints: ProviderEndpoints,
        timeout: tuple[float, float] = (3.05, 10.0),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(session, endpoints, timeout)
        self._clock = clock

    def _call(
        self, method: str, credentials: dict[str, Any], resource: str, query: str = "", body: Any = None
    ) -> PreparedCall:
        return signed_call(self._endpoints.SENS_BASE, self._clock, method, credentials, resource, query, body)

    def fetch_template(self, credentials: dict[str, Any]) -> dict[str, Any]:
        """The approved template (text, buttons, variables) for the settings; raises if unusable."""
        channel_id, template_code = need(credentials, "channel_id", "template_code")
        query = f"channelId={quote(channel_id, safe='')}&templateCode={quote(template_code, safe='')}"
        response = self.execute(self._call("GET", credentials, "templates", query))
        if response.status_code == 400:  # e.g. a channel that is not in this Biz Message service
            raise fail("template_not_found", error_info(response)[1], status=400)
        if response.status_code != 200:
            raise request_error(response)
        try:
            body = response.json()
        except ValueError:  # a GET: safe to try again
            raise RetryableProviderError(PROVIDER, "invalid_response", status_code=200) from None
        fetched_at = datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="seconds")
        return parse_template(body, template_code, fetched_at)

    def on_save(self, credentials: dict[str, Any]) -> dict[str, Any]:
        """What the settings API stores on save/verify: the approved template. One the hub cannot fill
        is stored too (the admin sees it) but reported as an error (sends then fail, never go out wrong)."""
        return {"template": self._fillable_template(credentials)}

    def _fillable_template(self, credentials: dict[str, Any]) -> dict[str, Any]:
        template = self.fetch_template(credentials)
        unknown = [name for name in template["variables"] if name.strip() not in ALIASES]
        if unknown:
            raise UnusableSettingsError(
                PROVIDER,
                "template_variable_unknown",
                detail=f"template variable(s) {', '.join(unknown)} have no WORKPLACE value",
                reason="kakao_template_mismatch",
                derived={"template": template},
            )
        return template

    def build_message(
        self, notification: Notification, destination: Destination, credentials: dict[str, Any]
    ) -> dict[str, Any]:
        """One entry of `messages`: recipient number and the rendered template."""
        template = credentials.get("template")
        if not isinstance(template, dict) or not template.get("content"):
            raise IntegrationCredentialsError(PROVIDER, "template_not_fetched", detail="verify the settings again")
        if template.get("template_code") != credentials.get("template_code"):
            raise IntegrationCredentialsError(PROVIDER, "template_stale", detail="verify the settings again")
        country_code, to = to_sens_number(destination.address or destination.phone or "")
        message = {"countryCode": country_code, "to": to, **render(template, notification, destination)}
        if failover_on(credentials):
            (sender_number,) = need(credentials, "sms_from")
            message["useSmsFailover"] = True
            message["failoverConfig"] = failover_config(message["content"], notification.title, sender_number)
        return message

    def _send_call(self, credentials: dict[str, Any], messages: list[dict[str, Any]]) -> PreparedCall:
        channel_id, template_code = need(credentials, "channel_id", "template_code")
        body = {"plusFriendId": channel_id, "templateCode": template_code, "messages": messages}
        return self._call("POST", credentials, "messages", body=body)

    def build_request(
        self, notification: Notification, destination: Destination, credentials: dict[str, Any]
    ) -> PreparedCall:
        return self._send_call(credentials, [self.build_message(notification, destination, credentials)])

    def parse_response(self, response: requests.Response) -> SendReceipt:
        answers, request_id = _answered(response)
        if not answers or not isinstance(answers[0], dict):
            raise fail("no_message_status", reason="kakao_unknown_outcome", status=response.status_code)
        outcome = _outcome(answers[0], response.status_code, request_id)
        if isinstance(outcome, ProviderError):
            raise outcome
        return outcome

    def send_batch(
        self,
        notification: Notification,
        destinations: list[Destination],
        credentials: dict[str, Any],
        *,
        idempotency_key: str,
    ) -> dict[str, SendReceipt | ProviderError]:
        """Up to 100 recipients per call; a recipient that cannot be rendered fails alone, before the call."""
        outcomes: dict[str, SendReceipt | ProviderError] = {}
        ready: list[tuple[Destination, dict[str, Any]]] = []
        for destination in destinations:
            try:
                ready.append((destination, self.build_message(notification, destination, credentials)))
            except PermanentProviderError as exc:
                outcomes[destination.user_id] = exc
        for start in range(0, len(ready), MAX_MESSAGES):
            chunk = ready[start : start + MAX_MESSAGES]
            messages = [message for _, message in chunk]
            try:
                results = read_statuses(self.execute(self._send_call(credentials, messages)), messages)
            except ProviderError as exc:
                results = [exc] * len(chunk)
            outcomes.update((d.user_id, result) for (d, _), result in zip(chunk, results, strict=True))
        return outcomes

    def lookup_results(self, credentials: dict[str, Any], request_id: str) -> dict[str, MessageResult]:
        """Delivery results of one send request's messages, by messageId (a read: sends nothing).

        `GET .../messages?requestId=` lists every message of the request (pages joined by `nextToken`, C-3p).
        An unknown requestId answers an empty 404 (C-3p): nothing listed yet, not an error. Raises a
        ProviderError when the lookup itself fails (timeout, 429/5xx, credentials, an unreadable answer).
        """
        results: dict[str, MessageResult] = {}
        token: str | None = None
        for _ in range(MAX_RESULT_PAGES):
            query = f"requestId={quote(request_id, safe='')}" + (f"&nextToken={quote(token, safe='')}" if token else "")
            response = self.execute(self._call("GET", credentials, "messages", query))
            if response.status_code == 404 and not response.content.strip():
                return results
            if response.status_code != 200:
                raise request_error(response)
            try:
                body = response.json()
            except ValueError:
                body = None
            messages = body.get("messages") if isinstance(body, dict) else None
            if not isinstance(messages, list):
                raise RetryableProviderError(PROVIDER, "invalid_lookup_response", status_code=200)
            for answer in messages:
                if isinstance(answer, dict) and isinstance(answer.get("messageId"), str):
                    results[answer["messageId"]] = parse_result(answer)
            token = body.get("nextToken") if isinstance(body.get("nextToken"), str) else None
            if not token:
                break
        return results

    def lookup_message(self, credentials: dict[str, Any], message_id: str) -> MessageResult:
        """One message's delivery result (`GET .../messages/{messageId}`): for a send answer without a
        requestId. A message SENS does not know (404) is not listed yet. Raises when the lookup fails."""
        response = self.execute(self._call("GET", credentials, f"messages/{quote(message_id, safe='')}"))
        if response.status_code == 404:
            return MessageResult("pending", "result_not_listed")
        if response.status_code != 200:
            raise request_error(response)
        try:
            body = response.json()
        except ValueError:
            raise RetryableProviderError(PROVIDER, "invalid_lookup_response", status_code=200) from None
        if isinstance(body, dict) and body.get("messageId") not in (None, message_id):
            return MessageResult("pending", "result_unreadable", detail="another message's result")
        return parse_result(body)

    def verify(self, credentials: dict[str, Any]) -> str:
        template = self._fillable_template(credentials)
        variables = ", ".join(template["variables"]) or "none"
        described = f"template {template['template_code']} ({template['name']}): approved, variables: {variables}"
        if failover_on(credentials):
            (sender_number,) = need(credentials, "sms_from")
            # SENS has no documented call to check a sender number: a wrong one shows as failed failovers.
            described += f"; SMS failover from {sender_number} (must be a sender number registered in SENS)"
        return described
