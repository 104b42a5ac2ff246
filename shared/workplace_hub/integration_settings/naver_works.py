"""NAVER WORKS' settings, for the bot and for calendars: API 2.0 (service account) or the legacy 1.0 server API."""

from __future__ import annotations

from typing import Any

from workplace_hub.integration_settings.fields import (
    PEM_MAX_LENGTH,
    FieldSpec,
    bounded,
    digits,
    email,
    https_url,
    opaque,
    pattern,
    rsa_private_key_pem,
)


def _v2(values: dict[str, Any]) -> bool:
    return values.get("api_version", "2.0") == "2.0"


def _v1(values: dict[str, Any]) -> bool:
    return values.get("api_version") == "1.0"


def _service_account(value: str) -> str:
    """`xxxxx.serviceaccount@domain`, no spaces. (Was the regex `\\S+\\.serviceaccount@\\S+`, quadratic on
    repeats of its middle; this is the same check in linear time.)"""
    marker = ".serviceaccount@"
    if any(character.isspace() for character in value) or marker not in value[1:-1]:
        raise ValueError("must look like xxxxx.serviceaccount@domain")
    return value


_COMMON = [
    FieldSpec("api_version", pattern(r"2\.0|1\.0", 'must be "2.0" or "1.0"')),
    FieldSpec("domain_id", digits),
    FieldSpec("admin_email", email),
    # API 2.0: service account (providers.md §4.2)
    FieldSpec("client_id", opaque, when=_v2),
    FieldSpec("client_secret", opaque, secret=True, when=_v2),
    FieldSpec("service_account", _service_account, when=_v2),
    FieldSpec("private_key", rsa_private_key_pem, secret=True, show_tail=False, when=_v2, max_length=PEM_MAX_LENGTH),
    # API 1.0: legacy server API (providers.md §4.7)
    FieldSpec("api_id", opaque, when=_v1),
    FieldSpec("server_api_consumer_key", opaque, secret=True, when=_v1),
    FieldSpec("server_list_id", opaque, when=_v1),
    FieldSpec(
        "server_list_private_key",
        rsa_private_key_pem,
        secret=True,
        show_tail=False,
        when=_v1,
        max_length=PEM_MAX_LENGTH,
    ),
]

NAVER_WORKS = [
    *_COMMON,
    FieldSpec("bot_id", digits, derivable=True),
    # The picture of a bot the hub creates (default: the hub's own 640x640 PNG at its public URL).
    FieldSpec("bot_photo_url", bounded(https_url(), 1000), required=False, when=_v2),
]

NAVER_WORKS_CALENDAR = [
    *_COMMON,
    # Personal calendars need each employee's authorization through an OAuth client (API 2.0 only: the
    # 1.0 server API writes default calendars, and 1.0 has no employee authorization the hub supports).
    FieldSpec("user_oauth_client_id", opaque, required=False, when=_v2),
    FieldSpec("user_oauth_client_secret", opaque, secret=True, required=False, when=_v2),
]
