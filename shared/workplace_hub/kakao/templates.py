"""AlimTalk templates: reading the approved template SENS returns, and filling it for one recipient.

Kakao delivers only text equal to the approved template with its `#{variables}` filled, so the hub stores
the template it fetched when the admin verified the settings (`credentials["template"]`) and renders every
message from it. Docs: https://api.ncloud-docs.com/docs/en/sens-alimtalk-template-get.
"""

from __future__ import annotations

import re
from typing import Any

from workplace_hub.errors import ProviderError
from workplace_hub.kakao.sens import fail
from workplace_hub.providers.messenger import Destination, Notification

CONTENT_MAX = 1000  # AlimTalk text limit, characters
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
        raise fail("template_not_found", f"no template {template_code} on the channel")
    inspection = str(found.get("templateInspectionStatus") or found.get("inspectionStatus") or "")
    state = str(found.get("templateStatus") or "")
    if state in STOPPED or (inspection not in APPROVED and not (not inspection and state == "ACTIVE")):
        status = "/".join(s for s in (inspection, state) if s) or "unknown"
        raise fail("template_not_approved", f"template {template_code} is not approved (status {status})")
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


def _mismatch(detail: str) -> ProviderError:
    return fail("template_variable_unknown", detail, reason="kakao_template_mismatch")


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
