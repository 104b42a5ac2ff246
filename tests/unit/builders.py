"""Small builders for events, messages, SQS records and HTTP responses used by the unit and contract tests.

Each builder returns the contract's example (workplace-events.md) and takes keyword overrides, so a
test states only what it is about.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import requests
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from requests.structures import CaseInsensitiveDict

from workplace_hub.providers.messenger import Destination, Notification

COMPANY = "acme"
EVENT_ID = "evt-2026-11-28-000123"
TARO = "taro.yamada@acme.example"
HANAKO = "hanako.sato@acme.example"

# Credentials and addresses that must never show up in logs, reprs or error messages.
SLACK_TOKEN = "xoxb-1111111111-2222222222-SECRETslackTOKEN"
SLACK_MEMBER_ID = "U024BE7LH"
WEBHOOK_KEY = "AIzaSECRETwebhookKEY"
WEBHOOK_TOKEN = "SECRETwebhookTOKEN%3D"
WEBHOOK_URL = f"https://chat.googleapis.com/v1/spaces/AAAA1234/messages?key={WEBHOOK_KEY}&token={WEBHOOK_TOKEN}"


def recipient(user_id: str = TARO, **overrides: Any) -> dict[str, Any]:
    """One entry of `recipients` (only user_id is required by the contract)."""
    return {"user_id": user_id, **overrides}


def message(**overrides: Any) -> dict[str, Any]:
    """The `message` object of a notification."""
    return {
        "title": "決裁依頼: 出張申請 (大阪)",
        "body": "鈴木 一郎 さんから決裁依頼が届きました。",
        "url": "https://acme.workplace.example/approvals/8812",
        **overrides,
    }


def notification_event(**overrides: Any) -> dict[str, Any]:
    """The contract's `type: notification` example."""
    document: dict[str, Any] = {
        "version": "1",
        "event_id": EVENT_ID,
        "company_id": COMPANY,
        "type": "notification",
        "occurred_at": "2026-11-28T09:15:00+09:00",
        "item": "approval.requested",
        "recipients": [
            recipient(TARO, name="山田 太郎", phone="+819012345678", locale="ja"),
            recipient(HANAKO, name="佐藤 花子", locale="ja"),
        ],
        "message": message(),
    }
    document.update(overrides)
    return document


def absence(**overrides: Any) -> dict[str, Any]:
    """The `absence` object of the contract's `absence.upserted` example."""
    return {
        "absence_id": "abs-5531",
        "user_id": TARO,
        "kind": "vacation",
        "title": "年次休暇",
        "all_day": True,
        "start": "2026-12-01",
        "end": "2026-12-02",
        "timezone": "Asia/Tokyo",
        "calendars": [
            {"provider": "naver_works"},
            {"provider": "naver_works", "calendar_id": "c-77f0"},
            {"provider": "google"},
        ],
        **overrides,
    }


def absence_upserted_event(**absence_overrides: Any) -> dict[str, Any]:
    """The contract's `type: absence.upserted` example."""
    return {
        "version": "1",
        "event_id": "evt-2026-11-28-000124",
        "company_id": COMPANY,
        "type": "absence.upserted",
        "occurred_at": "2026-11-28T09:20:00+09:00",
        "absence": absence(**absence_overrides),
    }


def absence_cancelled_event(**overrides: Any) -> dict[str, Any]:
    """The contract's `type: absence.cancelled` example."""
    return {
        "version": "1",
        "event_id": "evt-2026-11-28-000125",
        "company_id": COMPANY,
        "type": "absence.cancelled",
        "occurred_at": "2026-11-28T10:00:00+09:00",
        "absence": {"absence_id": "abs-5531", "user_id": TARO},
        **overrides,
    }


def without(document: dict[str, Any], dotted_path: str) -> dict[str, Any]:
    """A deep copy of `document` with one (possibly nested, e.g. `message.title`) key removed."""
    result = copy.deepcopy(document)
    *parents, last = dotted_path.split(".")
    target = result
    for part in parents:
        target = target[part]
    del target[last]
    return result


def body(document: Any) -> str:
    """An SQS message body: the document as compact JSON."""
    return json.dumps(document, ensure_ascii=False)


def send_job(**overrides: Any) -> dict[str, Any]:
    """A router → worker send job for one Slack recipient (jobs.SendJob as JSON)."""
    return {
        "company_id": COMPANY,
        "event_id": EVENT_ID,
        "item": "approval.requested",
        "channel": "slack",
        "message": message(),
        "recipients": [recipient(TARO, name="山田 太郎", locale="ja")],
        **overrides,
    }


def sqs_record(
    record_body: str,
    *,
    receive_count: int = 1,
    receipt_handle: str = "receipt-handle-1",
    message_id: str = "message-1",
) -> SQSRecord:
    """One SQS record as Lambda hands it to a record handler."""
    return SQSRecord(
        {
            "messageId": message_id,
            "receiptHandle": receipt_handle,
            "body": record_body,
            "attributes": {
                "ApproximateReceiveCount": str(receive_count),
                "SentTimestamp": "1764289200000",
                "SenderId": "AIDAEXAMPLE",
                "ApproximateFirstReceiveTimestamp": "1764289200001",
            },
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:ap-northeast-1:123456789012:queue",
            "awsRegion": "ap-northeast-1",
        }
    )


def http_response(
    status_code: int,
    json_body: Any = None,
    *,
    text: str | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """A `requests.Response` built by hand (no HTTP): JSON body, or raw text when `text` is given."""
    response = requests.Response()
    response.status_code = status_code
    if text is not None:
        response._content = text.encode()
    elif json_body is not None:
        response._content = json.dumps(json_body).encode()
        response.headers["Content-Type"] = "application/json; charset=utf-8"
    else:
        response._content = b""
    response.headers = CaseInsensitiveDict({**response.headers, **(headers or {})})
    response.encoding = "utf-8"
    return response


def notification(**overrides: Any) -> Notification:
    """What a sender is asked to say."""
    values: dict[str, Any] = {
        "event_id": EVENT_ID,
        "item": "approval.requested",
        "title": "決裁依頼: 出張申請 (大阪)",
        "body": "鈴木 一郎 さんから決裁依頼が届きました。",
        "url": "https://acme.workplace.example/approvals/8812",
        "locale": "ja",
    }
    values.update(overrides)
    return Notification(**values)


def destination(address: str = SLACK_MEMBER_ID, user_id: str = TARO, **overrides: Any) -> Destination:
    """Who a sender delivers to."""
    return Destination(user_id=user_id, address=address, **overrides)


@cache
def rsa_private_key_pem(bits: int = 2048) -> str:
    """A fresh unencrypted PKCS#8 RSA private key (generated once per test session)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@cache
def ec_private_key_pem() -> str:
    """An unencrypted PKCS#8 EC private key (a readable PEM that is not RSA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def google_oauth_client_json(**web_overrides: Any) -> str:
    """An OAuth client file as downloaded from Google Cloud (a "web" client)."""
    web = {
        "client_id": "1234567890-abc.apps.googleusercontent.com",
        "project_id": "acme-hub",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "client_secret": "GOCSPX-SECRETclientSECRET",
        "redirect_uris": ["https://hub.example/oauth/google/callback"],
    }
    web.update(web_overrides)
    return json.dumps({"web": {k: v for k, v in web.items() if v is not None}})
