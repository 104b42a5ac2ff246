"""AlimTalk delivery results: what the message lookup API says of each message (providers.md §9.1).

The send answer only says SENS accepted a message (`A000`); whether Kakao delivered it
(`messageStatusCode` `0000`) comes later, through the lookup API. Anything the hub cannot read stays
`pending`, never taken for delivered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ACCEPTED = "A000"  # requestStatusCode of an accepted message; anything else is a per-message failure
DELIVERED = "0000"  # messageStatusCode of a message Kakao delivered; anything else: not delivered


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
