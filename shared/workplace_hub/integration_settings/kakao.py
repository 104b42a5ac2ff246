"""KakaoTalk AlimTalk's settings: the SENS project, the Kakao channel and template, the SMS failover."""

from __future__ import annotations

import re
from typing import Any

from workplace_hub.integration_settings.fields import FieldSpec, pattern
from workplace_hub.kakao.failover import SENDER_NUMBER


def _sms_failover(values: dict[str, Any]) -> bool:
    return values.get("sms_failover") == "on"


def _sender_number(value: str) -> str:
    """A Korean sender number as SENS takes it (digits only): 02-123-4567, 010-1234-5678, 1588-1234."""
    digits = re.sub(r"[\s-]", "", value)
    if not SENDER_NUMBER.fullmatch(digits):
        raise ValueError("must be a Korean sender number registered in SENS, e.g. 0212345678 or 15881234")
    return digits


KAKAO = [
    FieldSpec("access_key_id", pattern(r"[A-Za-z0-9]{8,64}", "must be an NCP access key ID")),
    FieldSpec("secret_key", pattern(r"[A-Za-z0-9]{16,128}", "must be an NCP secret key"), secret=True),
    FieldSpec("channel_id", pattern(r"@\S{1,64}", "must be the Kakao channel ID starting with @")),
    FieldSpec(
        "service_id",
        pattern(r"ncp:kkobizmsg:[a-z]{2}:[0-9]+:[A-Za-z0-9_-]+", "must look like ncp:kkobizmsg:kr:1234567:name"),
    ),
    FieldSpec("template_code", pattern(r"[A-Za-z0-9_-]{1,30}", "must be the approved template code")),
    # SENS sends an SMS/LMS (the same text) when Kakao does not deliver the AlimTalk: "off" by default.
    FieldSpec("sms_failover", pattern(r"on|off", 'must be "on" or "off"'), required=False),
    # The sender number registered in SENS: required when sms_failover is "on".
    FieldSpec("sms_from", _sender_number, required=False, required_when=_sms_failover),
]

# Settings the hub derives from SENS (shown, never typed in): the approved template it fetched.
KAKAO_DERIVED = frozenset({"template"})
