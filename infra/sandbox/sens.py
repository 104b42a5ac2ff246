"""Fake of NAVER Cloud Platform SENS AlimTalk (KakaoTalk): send messages and look up templates.

Contract: providers.md §5 (shared provider reference) and https://api.ncloud-docs.com/docs/en/sens-alimtalk-send,
https://api.ncloud-docs.com/docs/en/sens-alimtalk-template-get, https://api.ncloud-docs.com/docs/en/common-ncpapi.
The hub's SENS_BASE is `{sandbox}/sens`.

API (under `/sens`):

    POST /alimtalk/v2/services/{serviceId}/messages     202 with one requestStatusCode per message
    GET  /alimtalk/v2/services/{serviceId}/messages?requestId=...[&nextToken=]
                                                        200 every message of one request with its delivery
                                                        result, 20 a page (`nextToken` for the next; C-3p);
                                                        an unknown requestId: 404 with an empty body (C-3p)
    GET  /alimtalk/v2/services/{serviceId}/messages/{messageId}   200 one message's result (404 unknown)
    GET  /alimtalk/v2/services/{serviceId}/templates?channelId=%40ch[&templateCode=][&templateName=]
         [&pageSize=1..100][&pageIndex=0..]             200 with a JSON list of templates

Checks, in the order API Gateway and SENS apply them:

    401  a signature header missing, unknown access key, timestamp not within 5 minutes, or a
         signature that does not match METHOD + path + query as received (API Gateway envelope
         `{"error": {"errorCode": "200", "message": "Authentication Failed", ...}}`)
    404  unknown service ID;  403  service ID of another project (access key)
    429  the per-service rate limit (generous by default) or a `rate_limited` fault
    400  body not a JSON object, plusFriendId not a channel of the project, templateCode not a
         template of that channel or not approved, messages empty or more than 100 (send);
         channelId missing or not a channel of the project (template lookup); no requestId (message lookup)

Two codes per message, as SENS has them (providers.md §9.1). The send answer only says whether the request
took the message: `requestStatusCode` `A000`, or (a message without a usable `to` or `content`) `E400` with
requestStatusName "fail" (SENS's request-failure codes are UNCONFIRMED: E400 is this fake's own). Whether
Kakao delivered it is the `messageStatusCode` the lookup shows, once the message's processing time is over
(before: no messageStatusCode, `messageStatusName: "processing"`). The result codes are Kakao's dealer codes
(UNCONFIRMED as SENS's list), `messageStatusName` "success" / "fail":

    0000  delivered                        3014  content longer than 1,000 chars
    3016  content does not match the template   3027  buttons do not match the template
    3019  not a KakaoTalk user (`non_kakao_numbers`)  or any code an `outcomes` entry sets

SMS failover (`useSmsFailover: true` with `failoverConfig`): when the AlimTalk is not delivered, the lookup
shows `failoverInfo` {type, from, status, statusName, requestTime, completeTime} (field names UNCONFIRMED:
the docs list failover info without them in the pages read): `statusName` "success" when `from` is one of
the project's `sender_numbers`, else "fail"; an `outcomes` entry may set it ("success", "fail", "processing").

Control API (`/_sandbox/sens/...`):

    POST projects {"access_key", "secret_key", "service_id", "channels": {"@ch": {"templates": [
        {"templateCode", "templateName", "content", "buttons": [...], "inspectionStatus": "APR"|"REQ"|"REJ"}]}},
        "non_kakao_numbers": ["01000000000", ...], "sender_numbers": ["0212345678", ...],
        "processing_seconds": 0}                             -> {"service_id", "base_url", "channels"}
    POST outcomes {"to": "01012345678", "code": "3019", "desc": "...", "processing_seconds": 5,
        "failover": "success"|"fail"|"processing"}          the result of later messages to `to` (code "0000":
                                                             delivered); `null` code: the default rules
    GET  messages                                            -> {"messages": [accepted messages]}

Fault kinds: rate_limited (429), server_error (5xx), invalid_auth (401), malformed (200 with a body that is
not the answer), timeout; match on `access_key`, `service_id`, `operation` ("send", "lookup" or "templates").

The shared server hands fakes the parsed query only; the signature is checked against the raw query when
the request carries it (`Request.raw_query`), else against the query re-encoded canonically (every reserved
character percent-encoded, e.g. `@` as `%40`, in the order received).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import string
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, unquote

from infra.sandbox.base import (
    ControlError,
    FakeProvider,
    RateLimiter,
    Request,
    Response,
    json_response,
    retry_after_seconds,
)

PREFIX = "/sens"
ROUTE = re.compile(r"^/sens/alimtalk/v2/services/([^/]+)/(messages|templates)(?:/([^/]+))?$")
LOOKUP_PAGE = 20
MAX_MESSAGES = 100
MAX_CONTENT = 1000
MAX_SKEW_MS = 5 * 60 * 1000
VARIABLE = re.compile(r"#\{[^{}]*\}")
BUTTON_FIELDS = ("type", "name", "linkMobile", "linkPc", "schemeIos", "schemeAndroid")
LINK_FIELDS = BUTTON_FIELDS[2:]
INSPECTION_STATUSES = ("APR", "REQ", "REJ", "REG")
KST = timezone(timedelta(hours=9))

REQUEST_TEXT = {"A000": ("success", "성공"), "E400": ("fail", "요청 오류 (invalid recipient number or content)")}
STATUS_TEXT = {
    "0000": ("success", "성공"),
    "3014": ("fail", "메시지 길이 제한 오류 (content exceeds 1,000 characters)"),
    "3016": ("fail", "메시지 내용이 템플릿과 일치하지 않음 (content does not match the template)"),
    "3019": ("fail", "카카오톡 사용자가 아님 (not a KakaoTalk user)"),
    "3027": ("fail", "메시지 버튼이 템플릿과 일치하지 않음 (buttons do not match the template)"),
}


def sign(method: str, uri_with_query: str, timestamp: str, access_key: str, secret_key: str) -> str:
    """NCP API Gateway signature v2 (providers.md §5.1)."""
    message = f"{method} {uri_with_query}\n{timestamp}\n{access_key}"
    return base64.b64encode(hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).digest()).decode()


def pattern(template_text: str) -> re.Pattern[str]:
    """A regex for the text with every `#{...}` free: the literal text must be identical."""
    parts = VARIABLE.split(template_text)
    return re.compile("(.*?)".join(re.escape(part) for part in parts), re.DOTALL)


def filled(template_text: str, text: Any) -> bool:
    """True when `text` is `template_text` with its variables replaced (none left as `#{...}`)."""
    if not isinstance(text, str):
        return False
    match = pattern(template_text).fullmatch(text)
    return match is not None and not any(VARIABLE.fullmatch(value) for value in match.groups())


@dataclass
class Template:
    code: str
    name: str
    content: str
    buttons: list[dict[str, str]]
    inspection_status: str
    created: str

    def as_json(self, channel_id: str) -> dict[str, Any]:
        """The template as the lookup answers it (field names beyond the first ones UNCONFIRMED)."""
        return {
            "createTime": self.created,
            "updateTime": self.created,
            "channelId": channel_id,
            "templateCode": self.code,
            "templateName": self.name,
            "categoryCode": "999999",
            "categoryName": "기타",
            "messageType": "BA",
            "emphasizeType": "NONE",
            "content": self.content,
            "comments": [],
            "templateInspectionStatus": self.inspection_status,
            "templateStatus": "ACTIVE" if self.inspection_status == "APR" else "READY",
            "buttons": [{"order": i, **button} for i, button in enumerate(self.buttons, start=1)],
        }

    def buttons_match(self, buttons: Any) -> bool:
        """Same number, type and name; links equal to the registered ones with variables filled."""
        if not self.buttons:
            return buttons in (None, [])
        if not isinstance(buttons, list) or len(buttons) != len(self.buttons):
            return False
        for sent, registered in zip(buttons, self.buttons, strict=True):
            if not isinstance(sent, dict) or any(sent.get(k) != registered.get(k) for k in ("type", "name")):
                return False
            for key in LINK_FIELDS:
                if key in registered and not filled(registered[key], sent.get(key)):
                    return False
        return True


@dataclass
class Project:
    access_key: str
    secret_key: str
    service_id: str
    channels: dict[str, dict[str, Template]]
    non_kakao_numbers: set[str] = field(default_factory=set)
    sender_numbers: set[str] = field(default_factory=set)
    processing_seconds: float = 0.0


@dataclass
class Outcome:
    """The delivery result set for messages to one number (control API `outcomes`)."""

    code: str | None = None
    desc: str | None = None
    processing_seconds: float | None = None
    failover: str | None = None


@dataclass
class Sent:
    """A message SENS accepted, and what the lookup will say of it."""

    service_id: str
    request_id: str
    request_time: str
    channel_id: str
    template_code: str
    message: dict[str, Any]
    message_id: str
    code: str
    desc: str
    ready_at: float
    failover: str | None  # "success" / "fail" / "processing" when the message carries a failover

    def view(self, now: float) -> dict[str, Any]:
        """The lookup's answer for it (field names beyond the documented first ones UNCONFIRMED)."""
        answer: dict[str, Any] = {
            "requestId": self.request_id,
            "messageId": self.message_id,
            "requestTime": self.request_time,
            "plusFriendId": self.channel_id,
            "templateCode": self.template_code,
            "countryCode": str(self.message.get("countryCode") or "82"),
            "to": self.message.get("to"),
            "content": self.message.get("content"),
            "requestStatusCode": "A000",
            "requestStatusName": "success",
            "requestStatusDesc": "성공",
            "useSmsFailover": self.failover is not None,
        }
        if now < self.ready_at:
            answer["messageStatusName"] = "processing"
            return answer
        complete = datetime.fromtimestamp(self.ready_at, KST).strftime("%Y-%m-%dT%H:%M:%S")
        name = "success" if self.code == "0000" else "fail"
        answer.update(
            messageStatusCode=self.code, messageStatusName=name, messageStatusDesc=self.desc, completeTime=complete
        )
        if self.failover is not None and self.code != "0000":
            config = self.message.get("failoverConfig") if isinstance(self.message.get("failoverConfig"), dict) else {}
            info = {"type": str(config.get("type") or "SMS"), "from": config.get("from"), "requestTime": complete}
            if self.failover == "processing":
                info.update(status="PROCESSING", statusName="processing")
            else:
                info.update(status="COMPLETED", statusName=self.failover, completeTime=complete)
            answer["failoverInfo"] = info
        return answer


def _error(status: int, code: str, message: str, details: str, headers: dict[str, str] | None = None) -> Response:
    """The API Gateway error envelope (used here for SENS errors too; their real bodies are UNCONFIRMED)."""
    return json_response(status, {"error": {"errorCode": code, "message": message, "details": details}}, headers)


def retry_headers(wait: float | None) -> dict[str, str]:
    """A Retry-After header (whole seconds, at least 1); SENS sending one at all is UNCONFIRMED."""
    return {"Retry-After": retry_after_seconds(wait or 1)}


def _auth_failed() -> Response:
    return _error(401, "200", "Authentication Failed", "Invalid authentication information.")


def _bad_request(details: str) -> Response:
    return _error(400, "400", "Bad Request", details)


def _now_kst() -> str:
    """SENS's requestTime form, e.g. 2025-03-10T09:00:00.000 (Korean time; the zone is UNCONFIRMED)."""
    return datetime.now(KST).isoformat(timespec="milliseconds")[:-6]


class SensFake(FakeProvider):
    """SENS AlimTalk fake; projects (keys, service ID, channels, templates) come from the control API."""

    name = "sens"
    prefix = PREFIX
    match_keys = frozenset({"access_key", "service_id", "operation"})
    fault_kinds = frozenset({"rate_limited", "server_error", "invalid_auth", "malformed"})

    def __init__(self) -> None:
        # SENS publishes no throughput limit (UNCONFIRMED): a generous per-service bucket.
        super().__init__(RateLimiter(burst=100, per_second=50.0))
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._projects: dict[str, Project] = {}  # by access key
            self._accepted: list[dict[str, Any]] = []
            self._sent: dict[str, Sent] = {}  # by messageId
            self._requests: dict[str, list[str]] = {}  # requestId → its messageIds
            self._outcomes: dict[str, Outcome] = {}  # by recipient number
        self.limiter.reset()

    # --- control API -------------------------------------------------------------------------------

    def control(self, action: str, method: str, data: dict[str, Any], base_url: str) -> dict[str, Any]:
        if method == "POST" and action == "projects":
            return self._add_project(data, base_url)
        if method == "POST" and action == "outcomes":
            return self._set_outcome(data)
        if method == "GET" and action == "messages":
            with self._lock:
                return {"messages": [dict(m) for m in self._accepted]}
        return super().control(action, method, data, base_url)

    def _add_project(self, data: dict[str, Any], base_url: str) -> dict[str, Any]:
        for name in ("access_key", "secret_key", "service_id"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise ControlError(f"{name} is required")
        channels = data.get("channels") or {}
        if not isinstance(channels, dict) or not all(isinstance(c, str) and c.startswith("@") for c in channels):
            raise ControlError('channels must be an object keyed by channel IDs starting with "@"')
        numbers = data.get("non_kakao_numbers") or []
        if not isinstance(numbers, list) or not all(isinstance(n, str) and n.isdigit() for n in numbers):
            raise ControlError("non_kakao_numbers must be a list of digit strings")
        senders = data.get("sender_numbers") or []
        if not isinstance(senders, list) or not all(isinstance(n, str) and n.isdigit() for n in senders):
            raise ControlError("sender_numbers must be a list of digit strings")
        processing = data.get("processing_seconds", 0)
        if not isinstance(processing, (int, float)) or processing < 0:
            raise ControlError("processing_seconds must be a number >= 0")
        parsed = {channel: self._templates(spec) for channel, spec in channels.items()}
        project = Project(
            data["access_key"],
            data["secret_key"],
            data["service_id"],
            parsed,
            set(numbers),
            set(senders),
            float(processing),
        )
        with self._lock:
            other = next((p for p in self._projects.values() if p.service_id == project.service_id), None)
            if other is not None and other.access_key != project.access_key:
                raise ControlError("service_id belongs to another project", 409)
            self._projects[project.access_key] = project
        return {"service_id": project.service_id, "base_url": f"{base_url}{PREFIX}", "channels": sorted(parsed)}

    def _set_outcome(self, data: dict[str, Any]) -> dict[str, Any]:
        to = data.get("to")
        if not isinstance(to, str) or not to.isdigit():
            raise ControlError("to must be a digit string")
        code, processing, failover = data.get("code"), data.get("processing_seconds"), data.get("failover")
        if code is not None and (not isinstance(code, str) or not re.fullmatch(r"[0-9A-Z]{4}", code)):
            raise ControlError("code must be a 4-character result code or null")
        if processing is not None and (not isinstance(processing, (int, float)) or processing < 0):
            raise ControlError("processing_seconds must be a number >= 0")
        if failover not in (None, "success", "fail", "processing"):
            raise ControlError('failover must be "success", "fail" or "processing"')
        desc = data.get("desc")
        outcome = Outcome(code, str(desc) if desc else None, processing, failover)
        with self._lock:
            self._outcomes[to] = outcome
        return {"to": to, "code": code}

    @staticmethod
    def _templates(spec: Any) -> dict[str, Template]:
        templates = spec.get("templates") if isinstance(spec, dict) else None
        if not isinstance(templates, list):
            raise ControlError("each channel needs a templates list")
        created = _now_kst()
        result: dict[str, Template] = {}
        for item in templates:
            if not isinstance(item, dict) or not all(
                isinstance(item.get(k), str) and item[k] for k in ("templateCode", "content")
            ):
                raise ControlError("a template needs templateCode and content")
            status = item.get("inspectionStatus", "APR")
            if status not in INSPECTION_STATUSES:
                raise ControlError(f"inspectionStatus must be one of {list(INSPECTION_STATUSES)}")
            buttons = item.get("buttons") or []
            if not isinstance(buttons, list) or not all(
                isinstance(b, dict) and isinstance(b.get("type"), str) and isinstance(b.get("name"), str)
                for b in buttons
            ):
                raise ControlError("buttons must be objects with type and name")
            clean = [{k: str(b[k]) for k in BUTTON_FIELDS if b.get(k)} for b in buttons]
            code = item["templateCode"]
            result[code] = Template(
                code, str(item.get("templateName") or code), item["content"], clean, status, created
            )
        return result

    # --- request parsing -----------------------------------------------------------------------------

    def fault_attrs(self, request: Request) -> dict[str, str]:
        attrs: dict[str, str] = {}
        route = ROUTE.match(request.path)
        if route:
            attrs["service_id"] = unquote(route.group(1))
            if route.group(2) == "templates":
                attrs["operation"] = "templates"
            else:
                attrs["operation"] = "send" if request.method == "POST" else "lookup"
        access_key = request.header("x-ncp-iam-access-key")
        if access_key:
            attrs["access_key"] = access_key
        return attrs

    @staticmethod
    def _signed_uri(request: Request) -> str:
        raw = getattr(request, "raw_query", None)
        if raw is None:
            raw = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in request.query.items())
        return request.path + (f"?{raw}" if raw else "")

    def _authenticate(self, request: Request) -> Project | None:
        """API Gateway's check of the three signature headers; None when it fails."""
        timestamp = request.header("x-ncp-apigw-timestamp") or ""
        access_key = request.header("x-ncp-iam-access-key") or ""
        signature = request.header("x-ncp-apigw-signature-v2") or ""
        with self._lock:
            project = self._projects.get(access_key)
        if project is None or not timestamp.isdigit() or not signature:
            return None
        if abs(int(time.time() * 1000) - int(timestamp)) >= MAX_SKEW_MS:
            return None
        expected = sign(request.method, self._signed_uri(request), timestamp, access_key, project.secret_key)
        return project if hmac.compare_digest(expected.encode(), signature.encode()) else None

    # --- API -----------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        route = ROUTE.match(request.path)
        if route is None:
            return _error(404, "404", "Not Found", f"no SENS API at {request.path}")
        project = self._authenticate(request)
        if project is None:
            return _auth_failed()
        service_id, resource, message_id = unquote(route.group(1)), route.group(2), route.group(3)
        if service_id != project.service_id:
            with self._lock:
                known = any(p.service_id == service_id for p in self._projects.values())
            if known:
                return _error(403, "403", "Forbidden", "the access key has no permission on this service")
            return _error(404, "404", "Not Found", f"service {service_id} not found")
        sending = resource == "messages" and message_id is None and request.method == "POST"
        if not sending and (request.method != "GET" or (resource == "templates" and message_id is not None)):
            return _error(405, "405", "Method Not Allowed", "use POST to send, GET to look up")
        wait = self.limiter.take(service_id)
        if wait:
            return _error(429, "429", "Too Many Requests", "rate limit exceeded", retry_headers(wait))
        if sending:
            return self._send(project, request)
        if resource == "messages":
            return self._message_lookup(project, request, message_id)
        return self._lookup(project, request)

    def _message_lookup(self, project: Project, request: Request, message_id: str | None) -> Response:
        """Delivery results: one message, or every message of a request (20 a page)."""
        now = time.time()
        with self._lock:
            if message_id is not None:
                sent = self._sent.get(unquote(message_id))
                if sent is None or sent.service_id != project.service_id:
                    return _error(404, "404", "Not Found", "no such message")
                return json_response(200, sent.view(now))
            request_id = request.query.get("requestId")
            if not request_id:
                return _bad_request("requestId is required (time windows are not supported by this fake)")
            ids = self._requests.get(request_id)
            found = [self._sent[i] for i in ids or [] if self._sent[i].service_id == project.service_id]
        if not found:
            return Response(404, b"", {})
        try:
            start = int(request.query.get("nextToken") or 0)
        except ValueError:
            return _bad_request("nextToken is not one this API returned")
        page = found[start : start + LOOKUP_PAGE]
        body: dict[str, Any] = {
            "requestId": request_id,
            "statusCode": "200",
            "statusName": "success",
            "messages": [sent.view(now) for sent in page],
        }
        if start + LOOKUP_PAGE < len(found):
            body["nextToken"] = str(start + LOOKUP_PAGE)
        return json_response(200, body)

    def _lookup(self, project: Project, request: Request) -> Response:
        channel_id = request.query.get("channelId")
        if not channel_id:
            return _bad_request("channelId is required")
        templates = project.channels.get(channel_id)
        if templates is None:
            return _bad_request(f"channelId {channel_id} is not a channel of this service")
        found = [
            t
            for t in templates.values()
            if request.query.get("templateCode") in (None, t.code) and request.query.get("templateName", "") in t.name
        ]
        try:
            size = min(100, max(1, int(request.query.get("pageSize", 100))))
            index = max(0, int(request.query.get("pageIndex", 0)))
        except ValueError:
            return _bad_request("pageSize and pageIndex must be integers")
        page = found[index * size : (index + 1) * size]
        return json_response(200, [t.as_json(channel_id) for t in page])

    def _send(self, project: Project, request: Request) -> Response:
        try:
            body = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _bad_request("body must be JSON")
        if not isinstance(body, dict):
            return _bad_request("body must be a JSON object")
        channel_id, code, messages = body.get("plusFriendId"), body.get("templateCode"), body.get("messages")
        templates = project.channels.get(channel_id) if isinstance(channel_id, str) else None
        if templates is None:
            return _bad_request(f"plusFriendId {channel_id} is not a channel of this service")
        template = templates.get(code) if isinstance(code, str) else None
        if template is None:
            return _bad_request(f"templateCode {code} is not a template of {channel_id}")
        if template.inspection_status != "APR":
            return _bad_request(f"template {code} is not approved")
        if not isinstance(messages, list) or not messages:
            return _bad_request("messages must be a non-empty list")
        if len(messages) > MAX_MESSAGES:
            return _bad_request(f"messages size must be <= {MAX_MESSAGES}")
        answers = [self._answer(m) for m in messages]
        now = time.time()
        request_id = f"RAKA-{int(now * 1000)}-{random.randint(1000, 9999)}-{random.randint(10**7, 10**8 - 1)}-"
        request_id += "".join(random.choices(string.ascii_letters, k=8))
        request_time = _now_kst()
        with self._lock:
            for message, answer in zip(messages, answers, strict=True):
                if answer["requestStatusCode"] != "A000":
                    continue
                self._accepted.append(
                    {"plusFriendId": channel_id, "templateCode": code, **message, "messageId": answer["messageId"]}
                )
                sent = self._result(project, template, message, now)
                sent.request_id, sent.request_time, sent.message_id = request_id, request_time, answer["messageId"]
                sent.channel_id, sent.template_code = str(channel_id), str(code)
                self._sent[sent.message_id] = sent
                self._requests.setdefault(request_id, []).append(sent.message_id)
        payload = {
            "requestId": request_id,
            "requestTime": request_time,
            "statusCode": "202",
            "statusName": "success",
            "messages": answers,
        }
        return json_response(202, payload)

    @staticmethod
    def _request_status(message: Any) -> str:
        """Only what the request itself can refuse: a message without a usable number or text."""
        if not isinstance(message, dict):
            return "E400"
        to, content = message.get("to"), message.get("content")
        if not isinstance(to, str) or not re.fullmatch(r"[0-9]{8,15}", to) or not isinstance(content, str):
            return "E400"
        return "A000"

    @staticmethod
    def _delivery_code(message: dict[str, Any], project: Project, template: Template) -> str:
        content = message.get("content")
        if isinstance(content, str) and len(content) > MAX_CONTENT:
            return "3014"
        if not filled(template.content, content):
            return "3016"
        if not template.buttons_match(message.get("buttons")):
            return "3027"
        return "3019" if message.get("to") in project.non_kakao_numbers else "0000"

    def _result(self, project: Project, template: Template, message: dict[str, Any], now: float) -> Sent:
        """What the lookup will report of an accepted message (the caller holds the lock)."""
        outcome = self._outcomes.get(str(message.get("to")), Outcome())
        code = outcome.code or self._delivery_code(message, project, template)
        desc = outcome.desc or STATUS_TEXT.get(code, ("fail", "전송 실패 (not delivered)"))[1]
        processing = outcome.processing_seconds
        ready_at = now + (project.processing_seconds if processing is None else processing)
        failover = None
        if message.get("useSmsFailover") is True:
            config = message.get("failoverConfig") if isinstance(message.get("failoverConfig"), dict) else {}
            registered = str(config.get("from") or "") in project.sender_numbers
            failover = outcome.failover or ("success" if registered else "fail")
        return Sent(project.service_id, "", "", "", "", dict(message), "", code, desc, ready_at, failover)

    def _answer(self, message: Any) -> dict[str, Any]:
        status = self._request_status(message)
        name, desc = REQUEST_TEXT[status]
        source = message if isinstance(message, dict) else {}
        return {
            "messageId": str(uuid.uuid4()),
            "to": source.get("to"),
            "countryCode": str(source.get("countryCode") or "82"),
            "content": source.get("content"),
            "requestStatusCode": status,
            "requestStatusName": name,
            "requestStatusDesc": desc,
            "useSmsFailover": bool(source.get("useSmsFailover", False)),
        }

    # --- faults --------------------------------------------------------------------------------------

    def fault_response(self, kind: str, options: dict[str, Any]) -> Response:
        if kind == "rate_limited":
            return _error(429, "429", "Too Many Requests", "rate limit exceeded", retry_headers(options["retry_after"]))
        if kind == "server_error":
            status = options["status"]
            return _error(status, str(status), "Internal Server Error", "temporary failure, try again")
        if kind == "malformed":
            return Response(200, b"<html>gateway</html>", {"Content-Type": "text/html"})
        return _auth_failed()  # invalid_auth
