"""KakaoTalk AlimTalk through NAVER Cloud Platform SENS (providers.md §5).

Docs: https://api.ncloud-docs.com/docs/en/sens-alimtalk-send, .../sens-alimtalk-template-get and
.../common-ncpapi (signature v2). Kakao delivers only text equal to the approved template with its
`#{variables}` filled, so the hub stores the template it fetched when the admin verified the settings
(`credentials["template"]`) and renders every message from it. SENS has no idempotency key: never
repeat a call whose outcome is unknown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable
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
from workplace_hub.providers.base import Destination, Notification, PreparedCall, Sender, SendReceipt, error_for_status

PROVIDER = "kakao"
MAX_MESSAGES = 100  # per request [C SENS-DOC]
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


def _answered(response: requests.Response) -> list[Any]:
    """The per-message statuses of a 202, or an error that applies to the whole call."""
    if response.status_code not in (200, 202):
        raise request_error(response)
    try:
        messages = response.json().get("messages")
    except (ValueError, AttributeError):
        messages = None
    if not isinstance(messages, list):
        # Accepted but unreadable: resending could deliver twice (SENS has no idempotency key).
        raise _fail("invalid_response", reason="kakao_unknown_outcome", status=response.status_code)
    return messages


def _outcome(answer: dict[str, Any], status: int) -> SendReceipt | ProviderError:
    code = str(answer.get("requestStatusCode") or "")
    if code == ACCEPTED:
        return SendReceipt(provider_message_id=answer.get("messageId"))
    detail = ": ".join(str(answer[k]) for k in ("requestStatusName", "requestStatusDesc") if answer.get(k))
    return _fail(code or "unknown_status", detail, reason="kakao_rejected", status=status)


def read_statuses(response: requests.Response, sent: list[dict[str, Any]]) -> list[SendReceipt | ProviderError]:
    """One outcome per sent message, matched by position and by `to` (and countryCode when echoed)."""
    answers = _answered(response)

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
            outcomes.append(_outcome(answers[index], response.status_code))
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
        return {"countryCode": country_code, "to": to, **render(template, notification, destination)}

    def _send_call(self, credentials: dict[str, Any], messages: list[dict[str, Any]]) -> PreparedCall:
        channel_id, template_code = _need(credentials, "channel_id", "template_code")
        body = {"plusFriendId": channel_id, "templateCode": template_code, "messages": messages}
        return self._call("POST", credentials, "messages", body=body)

    def build_request(
        self, notification: Notification, destination: Destination, credentials: dict[str, Any]
    ) -> PreparedCall:
        return self._send_call(credentials, [self.build_message(notification, destination, credentials)])

    def parse_response(self, response: requests.Response) -> SendReceipt:
        answers = _answered(response)
        if not answers or not isinstance(answers[0], dict):
            raise _fail("no_message_status", reason="kakao_unknown_outcome", status=response.status_code)
        outcome = _outcome(answers[0], response.status_code)
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

    def verify(self, credentials: dict[str, Any]) -> str:
        template = self._fillable_template(credentials)
        variables = ", ".join(template["variables"]) or "none"
        return f"template {template['template_code']} ({template['name']}): approved, variables: {variables}"
