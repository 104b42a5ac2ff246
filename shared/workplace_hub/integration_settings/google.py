"""Google's settings: none for Chat (each employee's webhook is a link); Calendar by consent or delegation."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from workplace_hub.integration_settings.fields import (
    JSON_FILE_MAX_LENGTH,
    FieldSpec,
    email,
    hostname,
    pattern,
)


def _consent(values: dict[str, Any]) -> bool:
    return values.get("auth_mode", "user_consent") == "user_consent"


def _delegation(values: dict[str, Any]) -> bool:
    return values.get("auth_mode") == "domain_wide_delegation"


def _oauth_client_json(value: str) -> str:
    try:
        document = json.loads(value)
    except json.JSONDecodeError:
        raise ValueError("is not JSON (upload the OAuth client file downloaded from Google Cloud)") from None
    client = document.get("web") if isinstance(document, dict) else None
    if not isinstance(client, dict):
        raise ValueError('must be a "web" OAuth client (the file has a top-level "web" key)')
    for name in ("client_id", "client_secret", "auth_uri", "token_uri"):
        if not isinstance(client.get(name), str) or not client[name]:
            raise ValueError(f"web.{name} is missing")
    for name in ("auth_uri", "token_uri"):
        if urlsplit(client[name]).scheme != "https":
            raise ValueError(f"web.{name} must be an https:// URL")
    return json.dumps(document, separators=(",", ":"))


def _service_account_json(value: str) -> str:
    # Imported when a key file is checked: google-auth and cryptography stay out of the router's cold start.
    from workplace_hub.google.delegation import validate_service_account_json

    return validate_service_account_json(value)


GOOGLE_CHAT: list[FieldSpec] = []

GOOGLE_CALENDAR = [
    FieldSpec(
        "auth_mode",
        pattern(r"user_consent|domain_wide_delegation", 'must be "user_consent" or "domain_wide_delegation"'),
        required=False,
    ),
    FieldSpec("company_domain", hostname),
    # Each employee consents through the company's OAuth client (the seed's flow) ...
    FieldSpec(
        "oauth_client_json",
        _oauth_client_json,
        secret=True,
        show_tail=False,
        when=_consent,
        max_length=JSON_FILE_MAX_LENGTH,
    ),
    # ... or the admin delegates domain-wide to a service account; verify then acts as verify_subject.
    FieldSpec(
        "service_account_json",
        _service_account_json,
        secret=True,
        show_tail=False,
        when=_delegation,
        max_length=JSON_FILE_MAX_LENGTH,
    ),
    FieldSpec("verify_subject", email, required=False, when=_delegation),
    # How absences show to colleagues: busy (default) or free; Google's visibility (default: the
    # calendar's default); "on" writes timed absences as Google's native out-of-office events.
    FieldSpec("event_show_as", pattern(r"busy|free", 'must be "busy" or "free"'), required=False),
    FieldSpec(
        "event_visibility",
        pattern(r"default|public|private|confidential", "must be default, public, private or confidential"),
        required=False,
    ),
    FieldSpec("out_of_office_events", pattern(r"on|off", 'must be "on" or "off"'), required=False),
]
