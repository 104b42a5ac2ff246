"""KakaoTalk AlimTalk through NAVER Cloud Platform SENS (providers.md §5, §9.1).

Docs: https://api.ncloud-docs.com/docs/en/sens-alimtalk-send, .../sens-alimtalk-template-get and
.../common-ncpapi (signature v2). Kakao delivers only text equal to the approved template with its
`#{variables}` filled, so the hub stores the template it fetched when the admin verified the settings
(`credentials["template"]`) and renders every message from it. SENS has no idempotency key: never
repeat a call whose outcome is unknown.

Two codes per message (§9.1): the send answer's `requestStatusCode` (`A000` = accepted) and, later, the
delivery result `messageStatusCode` (`0000` = delivered), read only through the message lookup API
(`lookup_results`). With `sms_failover` on, every message carries SENS's SMS/LMS failover.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from workplace_hub.config import ProviderEndpoints
from workplace_hub.errors import (
    IntegrationCredentialsError,
    PermanentProviderError,
    ProviderError,
    RetryableProviderError,
    UnusableSettingsError,
)
from workplace_hub.providers.messenger import (
    Destination,
    Notification,
    PreparedCall,
    Sender,
    SendReceipt,
    error_for_status,
)

PROVIDER = "kakao"
MAX_MESSAGES = 100  # per request [C SENS-DOC]
MAX_RESULT_PAGES = 20  # lookup pages of one request (100 messages at most)
CONTENT_MAX = 1000  # AlimTalk text limit, characters
ACCEPTED = "A000"  # requestStatusCode of an accepted message; anything else is a per-message failure
# templateInspectionStatus "APR" = approved; "APPROVED"/"COMPLETE" seen in third-party clients. The
# templateStatus names of a template Kakao stopped are UNCONFIRMED.
APPROVED = frozenset({"APR", "APPROVED", "COMPLETE"})
STOPPED = frozenset({"BLOCKED", "STOPPED", "STP", "DELETED", "DORMANT"})
BUTTON_FIELDS = ("type", "name", "linkMobile", "linkPc", "schemeIos", "schemeAndroid")
LINK_FIELDS = BUTTON_FIELDS[2:]
VARIABLE = re.compile(r"#\{([^{}]*)\}")
URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Template variable → the WORKPLACE value it takes (English names plus common Korean aliases).
ALIASES = {"name": "name", "이름": "name", "고객명": "name", "content": "content", "내용": "content"}
ALIASES |= {"title": "title", "제목": "title", "url": "url", "URL": "url", "링크": "url"}
DELIVERED = "0000"  # messageStatusCode of a message Kakao delivered; anything else: not delivered
# SMS holds 90 bytes of EUC-KR (Korean: 2 bytes a character); longer failover text goes as LMS, which holds
# 2,000 bytes and a subject of up to 40 bytes (SENS SMS API; SENS picks LMS itself above 90 bytes, C-3p).
SMS_MAX_BYTES = 90
LMS_MAX_BYTES = 2000
LMS_SUBJECT_MAX_BYTES = 40
SENDER_NUMBER = re.compile(r"0[0-9]{8,10}|1[5-9][0-9]{6}")  # 02-123-4567, 010-..., 1588-xxxx
# Country calling codes accepted (E.164 codes are prefix-free, so the longest match is the only one).
COUNTRY_CODES = frozenset(
    {"82", "81", "1", "86", "852", "886", "65", "66", "84", "63", "62", "60", "44", "49", "33", "61", "64"}
)


def sign(method: str, uri_with_query: str, timestamp_ms: int | str, access_key: str, secret_key: str) -> str:
    """NCP API Gateway signature v2: Base64(HMAC-SHA256(secret, "METHOD URI\\nTIMESTAMP\\nACCESS_KEY"))."""
    message = f"{method} {uri_with_query}\n{timestamp_ms}\n{access_key}"
    return base64.b64encode(hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).digest()).decode()


def template_variables(content: str, buttons: list[dict[str, Any]]) -> list[str]:
    """Names used as `#{...}` in the text and then the buttons, in order, each once."""
    texts = [content, *(str(b[k]) for b in buttons for k in LINK_FIELDS if b.get(k))]
    return list(dict.fromkeys(name for text in texts for name in VARIABLE.findall(text)))


def parse_template(body: Any, template_code: str, fetched_at: str) -> dict[str, Any]:
    """The stored form of `template_code` from a lookup answer (a list, or an object with `templates`)."""
    if isinstance(body, dict):
        body = body.get("templates", [body])
    candidates = body if isinstance(body, list) else []
    found = next((t for t in candidates if isinstance(t, dict) and t.get("templateCode") == template_code), None)
    if found is None:
        raise _fail("template_not_found", f"no template {template_code} on the channel")
    inspection = str(found.get("templateInspectionStatus") or found.get("inspectionStatus") or "")
    state = str(found.get("templateStatus") or "")
    if state in STOPPED or (inspection not in APPROVED and not (not inspection and state == "ACTIVE")):
        status = "/".join(s for s in (inspection, state) if s) or "unknown"
        raise _fail("template_not_approved", f"template {template_code} is not approved (status {status})")
    raw_buttons = [b for b in found.get("buttons") or [] if isinstance(b, dict)]
    raw_buttons.sort(key=lambda b: b.get("order") or 0)
    buttons = [{k: str(b[k]) for k in BUTTON_FIELDS if b.get(k)} for b in raw_buttons]
    content = str(found.get("content") or "")
    return {
        "template_code": template_code,
        "name": str(found.get("templateName") or ""),
        "content": content,
        "variables": template_variables(content, buttons),
        "buttons": buttons,
        "status": inspection or state,
        "fetched_at": fetched_at,
    }


def _fail(code: str, detail: str = "", *, reason: str | None = None, status: int | None = None) -> ProviderError:
    return PermanentProviderError(PROVIDER, code, status_code=status, detail=detail, reason=reason)


def _mismatch(detail: str) -> ProviderError:
    return _fail("template_variable_unknown", detail, reason="kakao_template_mismatch")


def _fill(text: str, values: dict[str, str], *, link: bool) -> str:
    def value(match: re.Match[str]) -> str:
        key = ALIASES.get(match.group(1).strip())
        if key is None:
            raise _mismatch(f"template variable #{{{match.group(1)}}} has no WORKPLACE value")
        if link and match.string[: match.start()].endswith("://"):
            return URL_SCHEME.sub("", values[key])  # `https://#{url}`: the pattern brings the scheme
        return values[key]

    return VARIABLE.sub(value, text)


def render(template: dict[str, Any], notification: Notification, destination: Destination) -> dict[str, Any]:
    """Pure: the AlimTalk `content` (and `buttons`) for one recipient, exactly as the template allows."""
    values = {"name": destination.name or destination.user_id, "content": notification.body or notification.title}
    values |= {"title": notification.title, "url": notification.url}
    content = _fill(str(template.get("content") or ""), values, link=False)
    if len(content) > CONTENT_MAX:
        # A shortened text would no longer match the template: Kakao would refuse it anyway.
        raise _mismatch(f"the filled text has {len(content)} characters, AlimTalk allows {CONTENT_MAX}")
    message: dict[str, Any] = {"content": content}
    buttons = [
        {k: _fill(v, values, link=True) if k in LINK_FIELDS else v for k, v in button.items()}
        for button in template.get("buttons") or []
    ]
    if buttons:
        message["buttons"] = buttons
    return message


def to_sens_number(phone: str) -> tuple[str, str]:
    """E.164 → (countryCode, to): `+821012345678` → ("82", "01012345678"); others keep national digits."""
    compact = re.sub(r"[\s().-]", "", phone or "")
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", compact):
        raise _fail("invalid_phone", "not an E.164 phone number", reason="phone_unsupported")
    digits = compact[1:]
    code = next((digits[:n] for n in (3, 2, 1) if digits[:n] in COUNTRY_CODES), None)
    if code is None:
        raise _fail("country_unsupported", "the phone's country code is not supported", reason="phone_unsupported")
    national = digits[len(code) :]
    if code == "82" and not national.startswith("0"):
        national = "0" + national  # Korean numbers go in domestic form, with their trunk 0
    return code, national


def euc_kr_bytes(text: str) -> int:
    """The length SENS counts for SMS/LMS: EUC-KR bytes (a character EUC-KR lacks counted as 2)."""
    return sum(_char_bytes(c) for c in text)


def _char_bytes(char: str) -> int:
    try:
        return len(char.encode("euc-kr"))
    except UnicodeEncodeError:
        return 2


def _clip_bytes(text: str, limit: int) -> str:
    clipped, used = [], 0
    for char in text:
        size = _char_bytes(char)
        if used + size > limit:
            break
        clipped.append(char)
        used += size
    return "".join(clipped)


def failover_config(content: str, subject: str, sender_number: str) -> dict[str, str]:
    """`failoverConfig` carrying the AlimTalk's own text: SMS when it fits 90 bytes, else LMS (with a subject);
    text beyond what LMS holds is clipped rather than refused (the AlimTalk itself still goes out whole)."""
    if euc_kr_bytes(content) <= SMS_MAX_BYTES:
        return {"type": "SMS", "from": sender_number, "content": content}
    return {
        "type": "LMS",
        "from": sender_number,
        "subject": _clip_bytes(subject or "WORKPLACE", LMS_SUBJECT_MAX_BYTES),
        "content": _clip_bytes(content, LMS_MAX_BYTES),
    }


def failover_on(credentials: dict[str, Any]) -> bool:
    return str(credentials.get("sms_failover") or "off") == "on"


@dataclass(frozen=True)
class AcceptedAlimTalk(SendReceipt):
    """A message SENS accepted (`A000`): `request_id` is the send request's, for the result lookup."""

    request_id: str | None = None


@dataclass(frozen=True)
class MessageResult:
    """What the lookup API says of one message.

    `state`: `delivered`, `failed` (final), or `pending` (not final yet, or an answer the hub cannot read:
    never taken for delivered). `failover`: `{"channel", "status"}` when an SMS failover was used.
    """

    state: str
    reason: str | None = None
    error_code: str | None = None
    detail: str = ""
    failover: dict[str, str] | None = None
    completed_at: str | None = None


# Failover fields of the lookup answer: the docs list "failover info" without the names in the pages read.
# Assumed (UNCONFIRMED): an object `failoverInfo` with `type` (SMS/LMS) and a result `statusCode`/`statusName`
# (SENS SMS's own result: `statusName` success | fail, `status` READY | PROCESSING | COMPLETED).
FAILOVER_FIELDS = ("failoverInfo", "failover")


def _failover_result(answer: dict[str, Any]) -> dict[str, str] | None:
    info = next((answer[k] for k in FAILOVER_FIELDS if isinstance(answer.get(k), dict)), None)
    if info is None:
        return None
    channel = str(info.get("type") or "sms").lower()
    name = str(info.get("statusName") or "").lower()
    state = str(info.get("status") or "").upper()
    if name == "success" and state in ("", "COMPLETED"):
        status = "delivered"
    elif name == "fail":
        status = "failed"
    else:
        status = "pending"
    return {"channel": channel if channel in ("sms", "lms") else "sms", "status": status}


def parse_result(answer: Any) -> MessageResult:
    """One message's delivery result from a lookup answer; anything unreadable stays `pending`."""
    if not isinstance(answer, dict) or not isinstance(answer.get("messageId"), str):
        return MessageResult("pending", "result_unreadable", detail="not a message result")
    request_code = answer.get("requestStatusCode")
    if request_code not in (None, ACCEPTED):
        return MessageResult("pending", "result_unreadable", detail=f"requestStatusCode {request_code}")
    code = answer.get("messageStatusCode")
    if code is None or code == "":
        return MessageResult("pending", "result_pending", detail=str(answer.get("messageStatusName") or ""))
    if not isinstance(code, str) or not re.fullmatch(r"[A-Z0-9]{1,8}", code):
        return MessageResult("pending", "result_unreadable", detail="messageStatusCode is not a code")
    detail = ": ".join(str(answer[k]) for k in ("messageStatusName", "messageStatusDesc") if answer.get(k))[:300]
    completed = str(answer["completeTime"]) if answer.get("completeTime") else None
    name = str(answer.get("messageStatusName") or "").lower()
    if code == DELIVERED:
        if name not in ("", "success"):  # a contradiction: not taken for delivered
            return MessageResult("pending", "result_unreadable", detail=f"{code} with {name}")
        return MessageResult("delivered", error_code=code, detail=detail, completed_at=completed)
    failover = _failover_result(answer) if answer.get("useSmsFailover") is not False else None
    if failover is not None and failover["status"] == "pending":
        return MessageResult("pending", "failover_pending", code, detail, failover)
    if failover is not None and failover["status"] == "delivered":
        return MessageResult("delivered", "sms_failover", code, detail, failover, completed)
    return MessageResult("failed", "kakao_not_delivered", code, detail, failover, completed)


def _error_info(response: requests.Response) -> tuple[str, str]:
    """(errorCode, message and details) from the API Gateway envelope `{"error": {...}}` or a flat body."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else body
    if not isinstance(error, dict):
        return "", ""
    detail = ": ".join(str(error[k]) for k in ("message", "errorMessage", "details") if error.get(k))
    return str(error.get("errorCode") or ""), detail[:300]


def request_error(response: requests.Response) -> ProviderError:
    """The error of a whole SENS call; every recipient of that call shares it."""
    status = response.status_code
    vendor_code, detail = _error_info(response)
    if status in (401, 403):
        code = "authentication_failed" if status == 401 else "permission_denied"
        return IntegrationCredentialsError(
            PROVIDER, code, status_code=status, detail=detail or "access key, secret key or permission refused"
        )
    if status == 404:
        return IntegrationCredentialsError(PROVIDER, "service_not_found", status_code=404, detail=detail)
    if status == 429 or status >= 500:
        return error_for_status(PROVIDER, response, "rate_limited" if status == 429 else f"http_{status}", detail)
    return _fail("bad_request" if status == 400 else f"http_{status}", f"{vendor_code} {detail}".strip(), status=status)


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
        raise _fail("invalid_response", reason="kakao_unknown_outcome", status=response.status_code)
    request_id = body.get("requestId")
    return messages, request_id if isinstance(request_id, str) and request_id else None


def _outcome(answer: dict[str, Any], status: int, request_id: str | None = None) -> SendReceipt | ProviderError:
    code = str(answer.get("requestStatusCode") or "")
    if code == ACCEPTED:
        return AcceptedAlimTalk(provider_message_id=answer.get("messageId"), request_id=request_id)
    detail = ": ".join(str(answer[k]) for k in ("requestStatusName", "requestStatusDesc") if answer.get(k))
    return _fail(code or "unknown_status", detail, reason="kakao_rejected", status=status)


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
            outcomes.append(_fail("no_message_status", reason="kakao_unknown_outcome", status=response.status_code))
        else:
            free.remove(index)
            outcomes.append(_outcome(answers[index], response.status_code, request_id))
    return outcomes


def _need(credentials: dict[str, Any], *names: str) -> list[str]:
    missing = [name for name in names if not credentials.get(name)]
    if missing:
        raise IntegrationCredentialsError(PROVIDER, "missing_setting", detail=f"not set: {', '.join(missing)}")
    return [str(credentials[name]) for name in names]


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
        """A signed call; signed over the exact path and query that go on the wire, with a fresh timestamp."""
        access_key, secret_key, service_id = _need(credentials, "access_key_id", "secret_key", "service_id")
        path = f"/alimtalk/v2/services/{quote(service_id, safe=':')}/{resource}"
        url = self._endpoints.SENS_BASE.rstrip("/") + path + (f"?{query}" if query else "")
        wire = urlsplit(url)
        timestamp, uri = str(int(self._clock() * 1000)), wire.path + (f"?{wire.query}" if wire.query else "")
        signature = sign(method, uri, timestamp, access_key, secret_key)
        headers = {"x-ncp-apigw-timestamp": timestamp, "x-ncp-iam-access-key": access_key}
        headers["x-ncp-apigw-signature-v2"] = signature
        if body is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        return PreparedCall(method, url, headers, body)

    def fetch_template(self, credentials: dict[str, Any]) -> dict[str, Any]:
        """The approved template (text, buttons, variables) for the settings; raises if unusable."""
        channel_id, template_code = _need(credentials, "channel_id", "template_code")
        query = f"channelId={quote(channel_id, safe='')}&templateCode={quote(template_code, safe='')}"
        response = self.execute(self._call("GET", credentials, "templates", query))
        if response.status_code == 400:  # e.g. a channel that is not in this Biz Message service
            raise _fail("template_not_found", _error_info(response)[1], status=400)
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
            (sender_number,) = _need(credentials, "sms_from")
            message["useSmsFailover"] = True
            message["failoverConfig"] = failover_config(message["content"], notification.title, sender_number)
        return message

    def _send_call(self, credentials: dict[str, Any], messages: list[dict[str, Any]]) -> PreparedCall:
        channel_id, template_code = _need(credentials, "channel_id", "template_code")
        body = {"plusFriendId": channel_id, "templateCode": template_code, "messages": messages}
        return self._call("POST", credentials, "messages", body=body)

    def build_request(
        self, notification: Notification, destination: Destination, credentials: dict[str, Any]
    ) -> PreparedCall:
        return self._send_call(credentials, [self.build_message(notification, destination, credentials)])

    def parse_response(self, response: requests.Response) -> SendReceipt:
        answers, request_id = _answered(response)
        if not answers or not isinstance(answers[0], dict):
            raise _fail("no_message_status", reason="kakao_unknown_outcome", status=response.status_code)
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
            (sender_number,) = _need(credentials, "sms_from")
            # SENS has no documented call to check a sender number: a wrong one shows as failed failovers.
            described += f"; SMS failover from {sender_number} (must be a sender number registered in SENS)"
        return described
