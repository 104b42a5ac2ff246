"""AlimTalk's SMS/LMS failover: the text SENS sends by SMS or LMS when Kakao does not deliver."""

from __future__ import annotations

import re
from typing import Any

# SMS holds 90 bytes of EUC-KR (Korean: 2 bytes a character); longer failover text goes as LMS, which holds
# 2,000 bytes and a subject of up to 40 bytes (SENS SMS API; SENS picks LMS itself above 90 bytes, C-3p).
SMS_MAX_BYTES = 90
LMS_MAX_BYTES = 2000
LMS_SUBJECT_MAX_BYTES = 40
SENDER_NUMBER = re.compile(r"0[0-9]{8,10}|1[5-9][0-9]{6}")  # 02-123-4567, 010-..., 1588-xxxx


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
    """Whether the company turned the SMS failover on."""
    return str(credentials.get("sms_failover") or "off") == "on"
