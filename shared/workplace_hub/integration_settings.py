"""What an admin can configure per integration: fields, validation, secrets, masking, Collabo defaults.

Each integration is a list of `FieldSpec`s (the admin console's fields). Secret fields are sealed with
the company's key before they are stored and are only ever shown masked. A PUT that omits a secret
field (or sends back its masked form) keeps the stored value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from workplace_hub.catalog import Integration, oauth_callback_path
from workplace_hub.email_address import email_problem
from workplace_hub.errors import SettingsValidationError, ValueTooLargeError
from workplace_hub.storage.settings import CompanySettings, StoredIntegration

if TYPE_CHECKING:  # the router reads settings without opening a secret: no cryptography at its cold start
    from workplace_hub.crypto import Keyring

MASK = "********"

# Sizes, checked before any validator reads a value (so none of them, regex or parser, ever sees more): a
# plain field or token, a PEM private key, an uploaded JSON key file; and one integration's settings in all,
# which keeps its settings item (sealed secrets grow by a third) well under DynamoDB's 400 KB.
FIELD_MAX_LENGTH = 512
URL_MAX_LENGTH = 2048
PEM_MAX_LENGTH = 16 * 1024
JSON_FILE_MAX_LENGTH = 64 * 1024
SETTINGS_MAX_BYTES = 192 * 1024

Validator = Callable[[str], str]
Condition = Callable[[dict[str, Any]], bool]


def _always(_: dict[str, Any]) -> bool:
    return True


def _pattern(regex: str, message: str) -> Validator:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(message)
        return value

    return check


def _https_url(hosts: tuple[str, ...] = ()) -> Validator:
    def check(value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("must be an https:// URL")
        if hosts and not any(parts.hostname == h or parts.hostname.endswith("." + h) for h in hosts):
            raise ValueError(f"must be a link on {' or '.join(hosts)}")
        return value

    return check


def _bounded(check: Validator, max_length: int) -> Validator:
    def bounded(value: str) -> str:
        if len(value) > max_length:
            raise ValueError(f"must be at most {max_length} characters")
        return check(value)

    return bounded


def _rsa_private_key_pem(value: str) -> str:
    value = value.strip() + "\n"
    if "-----BEGIN" not in value:
        raise ValueError("must be a PEM private key (-----BEGIN PRIVATE KEY-----)")
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(value.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("is not a readable unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("must be an RSA private key")
    return value


def _google_oauth_client_json(value: str) -> str:
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


_hostname = _pattern(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", "must be a domain name")


def _email(value: str) -> str:
    problem = email_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _service_account(value: str) -> str:
    """`xxxxx.serviceaccount@domain`, no spaces. (Was the regex `\\S+\\.serviceaccount@\\S+`, quadratic on
    repeats of its middle; this is the same check in linear time.)"""
    marker = ".serviceaccount@"
    if any(character.isspace() for character in value) or marker not in value[1:-1]:
        raise ValueError("must look like xxxxx.serviceaccount@domain")
    return value


_opaque = _pattern(r"\S{4,512}", "must be 4-512 characters without spaces")
_digits = _pattern(r"[0-9]{1,32}", "must be digits only")


@dataclass(frozen=True)
class FieldSpec:
    """One admin-console field of an integration."""

    name: str
    validate: Validator
    secret: bool = False
    required: bool = True  # to enable the integration
    show_tail: bool = True  # secrets: may the mask end with the last 4 characters?
    when: Condition = _always
    max_length: int = FIELD_MAX_LENGTH  # characters; longer values are refused (413) before `validate` runs
    # Filled in by the provider's on_save hook when left empty (a NAVER WORKS bot the hub provisions):
    # not needed to turn the integration on, but needed before it counts as configured.
    derivable: bool = False
    # Required only when the other values make it so (AlimTalk's sms_from once sms_failover is "on").
    required_when: Condition | None = None

    def needed(self, values: dict[str, Any]) -> bool:
        return self.required or (self.required_when is not None and self.required_when(values))


def _sms_failover(values: dict[str, Any]) -> bool:
    return values.get("sms_failover") == "on"


def _sender_number(value: str) -> str:
    """A Korean sender number as SENS takes it (digits only): 02-123-4567, 010-1234-5678, 1588-1234."""
    digits = re.sub(r"[\s-]", "", value)
    if not re.fullmatch(r"0[0-9]{8,10}|1[5-9][0-9]{6}", digits):
        raise ValueError("must be a Korean sender number registered in SENS, e.g. 0212345678 or 15881234")
    return digits


def _v2(values: dict[str, Any]) -> bool:
    return values.get("api_version", "2.0") == "2.0"


def _v1(values: dict[str, Any]) -> bool:
    return values.get("api_version") == "1.0"


def _consent(values: dict[str, Any]) -> bool:
    return values.get("auth_mode", "user_consent") == "user_consent"


def _delegation(values: dict[str, Any]) -> bool:
    return values.get("auth_mode") == "domain_wide_delegation"


def _google_service_account_json(value: str) -> str:
    from workplace_hub.google.oauth import validate_service_account_json

    return validate_service_account_json(value)


_WORKS_COMMON = [
    FieldSpec("api_version", _pattern(r"2\.0|1\.0", 'must be "2.0" or "1.0"')),
    FieldSpec("domain_id", _digits),
    FieldSpec("admin_email", _email),
    # API 2.0: service account (providers.md §4.2)
    FieldSpec("client_id", _opaque, when=_v2),
    FieldSpec("client_secret", _opaque, secret=True, when=_v2),
    FieldSpec(
        "service_account",
        _service_account,
        when=_v2,
    ),
    FieldSpec("private_key", _rsa_private_key_pem, secret=True, show_tail=False, when=_v2, max_length=PEM_MAX_LENGTH),
    # API 1.0: legacy server API (providers.md §4.7)
    FieldSpec("api_id", _opaque, when=_v1),
    FieldSpec("server_api_consumer_key", _opaque, secret=True, when=_v1),
    FieldSpec("server_list_id", _opaque, when=_v1),
    FieldSpec(
        "server_list_private_key",
        _rsa_private_key_pem,
        secret=True,
        show_tail=False,
        when=_v1,
        max_length=PEM_MAX_LENGTH,
    ),
]

FIELD_SPECS: dict[Integration, list[FieldSpec]] = {
    Integration.SLACK: [
        FieldSpec(
            "bot_token",
            _pattern(r"xoxb-[0-9A-Za-z-]{10,}", "must be a bot token starting with xoxb-"),
            secret=True,
        ),
    ],
    Integration.GOOGLE_CHAT: [],
    Integration.KAKAO: [
        FieldSpec("access_key_id", _pattern(r"[A-Za-z0-9]{8,64}", "must be an NCP access key ID")),
        FieldSpec("secret_key", _pattern(r"[A-Za-z0-9]{16,128}", "must be an NCP secret key"), secret=True),
        FieldSpec("channel_id", _pattern(r"@\S{1,64}", "must be the Kakao channel ID starting with @")),
        FieldSpec(
            "service_id",
            _pattern(
                r"ncp:kkobizmsg:[a-z]{2}:[0-9]+:[A-Za-z0-9_-]+",
                "must look like ncp:kkobizmsg:kr:1234567:name",
            ),
        ),
        FieldSpec("template_code", _pattern(r"[A-Za-z0-9_-]{1,30}", "must be the approved template code")),
        # SENS sends an SMS/LMS (the same text) when Kakao does not deliver the AlimTalk: "off" by default.
        FieldSpec("sms_failover", _pattern(r"on|off", 'must be "on" or "off"'), required=False),
        # The sender number registered in SENS: required when sms_failover is "on".
        FieldSpec("sms_from", _sender_number, required=False, required_when=_sms_failover),
    ],
    Integration.LINE: [
        FieldSpec("login_channel_id", _pattern(r"[0-9]{10}", "must be the 10-digit LINE Login channel ID")),
        FieldSpec("login_channel_secret", _pattern(r"[0-9a-f]{32}", "must be 32 hex characters"), secret=True),
        FieldSpec("channel_access_token", _pattern(r"\S{20,512}", "must be a channel access token"), secret=True),
        FieldSpec("channel_secret", _pattern(r"[0-9a-f]{32}", "must be 32 hex characters"), secret=True),
        FieldSpec("friend_link_url", _https_url(("lin.ee", "line.me")), max_length=URL_MAX_LENGTH),
    ],
    Integration.NAVER_WORKS: [
        *_WORKS_COMMON,
        FieldSpec("bot_id", _digits, derivable=True),
        # The picture of a bot the hub creates (default: the hub's own 640x640 PNG at its public URL).
        FieldSpec("bot_photo_url", _bounded(_https_url(), 1000), required=False, when=_v2),
    ],
    Integration.NAVER_WORKS_CALENDAR: [
        *_WORKS_COMMON,
        # Personal calendars need each employee's authorization through an OAuth client (API 2.0 only: the
        # 1.0 server API writes default calendars, and 1.0 has no employee authorization the hub supports).
        FieldSpec("user_oauth_client_id", _opaque, required=False, when=_v2),
        FieldSpec("user_oauth_client_secret", _opaque, secret=True, required=False, when=_v2),
    ],
    Integration.GOOGLE_CALENDAR: [
        FieldSpec(
            "auth_mode",
            _pattern(r"user_consent|domain_wide_delegation", 'must be "user_consent" or "domain_wide_delegation"'),
            required=False,
        ),
        FieldSpec("company_domain", _hostname),
        # Each employee consents through the company's OAuth client (the seed's flow) ...
        FieldSpec(
            "oauth_client_json",
            _google_oauth_client_json,
            secret=True,
            show_tail=False,
            when=_consent,
            max_length=JSON_FILE_MAX_LENGTH,
        ),
        # ... or the admin delegates domain-wide to a service account; verify then acts as verify_subject.
        FieldSpec(
            "service_account_json",
            _google_service_account_json,
            secret=True,
            show_tail=False,
            when=_delegation,
            max_length=JSON_FILE_MAX_LENGTH,
        ),
        FieldSpec("verify_subject", _email, required=False, when=_delegation),
        # How absences show to colleagues: busy (default) or free; Google's visibility (default: the
        # calendar's default); "on" writes timed absences as Google's native out-of-office events.
        FieldSpec("event_show_as", _pattern(r"busy|free", 'must be "busy" or "free"'), required=False),
        FieldSpec(
            "event_visibility",
            _pattern(r"default|public|private|confidential", "must be default, public, private or confidential"),
            required=False,
        ),
        FieldSpec("out_of_office_events", _pattern(r"on|off", 'must be "on" or "off"'), required=False),
    ],
}

# Settings the hub derives from the provider (shown, never typed in): ignored when an admin sends them back.
DERIVED_FIELDS: dict[Integration, frozenset[str]] = {Integration.KAKAO: frozenset({"template"})}

# Collabo companies may run NAVER WORKS on the platform's credentials instead of their own.
PLATFORM_CAPABLE = (Integration.NAVER_WORKS, Integration.NAVER_WORKS_CALENDAR)
CREDENTIALS_SOURCE = "credentials_source"

# Paths of the hub's own endpoints that admins paste into provider consoles.
READ_ONLY_URLS: dict[Integration, dict[str, str]] = {
    Integration.LINE: {"callback_url": oauth_callback_path("line"), "webhook_url": "/webhooks/line/{company_id}"},
    Integration.NAVER_WORKS_CALENDAR: {"redirect_url": oauth_callback_path("naver_works")},
    Integration.GOOGLE_CALENDAR: {"redirect_url": oauth_callback_path("google")},
}


def mask(spec: FieldSpec, plaintext: str) -> str:
    """A secret as the API shows it: never the value, at most its last 4 characters."""
    if spec.show_tail and len(plaintext) >= 16 and "\n" not in plaintext:
        return MASK + plaintext[-4:]
    return MASK


def active_specs(integration: Integration, values: dict[str, Any]) -> list[FieldSpec]:
    return [spec for spec in FIELD_SPECS[integration] if spec.when(values)]


def uses_platform_credentials(company: CompanySettings, integration: Integration) -> bool:
    """True when this Collabo company runs NAVER WORKS on the platform credentials."""
    if integration not in PLATFORM_CAPABLE or not company.is_collabo:
        return False
    stored = company.integrations.get(integration)
    return stored is None or stored.settings.get(CREDENTIALS_SOURCE, "platform") == "platform"


def effective(company: CompanySettings, integration: Integration) -> StoredIntegration:
    """The integration as it applies now, with the Collabo default (on, platform credentials)."""
    stored = company.integrations.get(integration)
    if stored is not None:
        return stored
    status = company.statuses.get(integration)
    if integration in PLATFORM_CAPABLE and company.is_collabo:
        return StoredIntegration(integration, enabled=True, settings={CREDENTIALS_SOURCE: "platform"}, status=status)
    return StoredIntegration(integration, status=status)


def is_configured(company: CompanySettings, integration: Integration) -> bool:
    if uses_platform_credentials(company, integration):
        return True
    stored = effective(company, integration)
    present = set(stored.settings) | set(stored.sealed_secrets)
    return all(
        spec.name in present for spec in active_specs(integration, stored.settings) if spec.needed(stored.settings)
    )


def apply_update(
    company: CompanySettings,
    integration: Integration,
    enabled: bool,
    submitted: dict[str, Any],
    keyring: Keyring,
) -> StoredIntegration:
    """Validate an admin's PUT and return what to store; raises SettingsValidationError naming the field."""
    current = effective(company, integration)
    derived = DERIVED_FIELDS.get(integration, frozenset())
    submitted = {name: value for name, value in submitted.items() if name not in derived}
    _check_size(integration, submitted)
    source = submitted.pop(CREDENTIALS_SOURCE, None)
    if integration in PLATFORM_CAPABLE and company.is_collabo:
        source = source or current.settings.get(CREDENTIALS_SOURCE, "platform")
        if source not in ("platform", "company"):
            raise SettingsValidationError(f"settings.{CREDENTIALS_SOURCE}", 'must be "platform" or "company"')
        if source == "platform":
            return _platform_update(integration, enabled, submitted)
    elif source not in (None, "company"):
        raise SettingsValidationError(
            f"settings.{CREDENTIALS_SOURCE}", "platform credentials are only for WORKPLACE Collabo companies"
        )

    variant = {
        "api_version": submitted.get("api_version", current.settings.get("api_version", "2.0")),
        "auth_mode": submitted.get("auth_mode", current.settings.get("auth_mode", "user_consent")),
    }
    specs = {spec.name: spec for spec in active_specs(integration, variant)}
    for name in submitted:
        if name not in specs:
            raise SettingsValidationError(f"settings.{name}", f"is not a setting of {integration.value}")

    plain: dict[str, Any] = {}
    sealed: dict[str, str] = {}
    for name, spec in specs.items():
        value = variant[name] if name in variant else submitted.get(name)
        if spec.secret and (value is None or (isinstance(value, str) and value.startswith(MASK))):
            if name in current.sealed_secrets:
                sealed[name] = current.sealed_secrets[name]
            continue
        if value is None:
            continue  # PUT replaces the plain fields: an omitted one is cleared
        if not isinstance(value, str):
            raise SettingsValidationError(f"settings.{name}", "must be a string")
        if len(value) > spec.max_length:
            raise ValueTooLargeError(f"settings.{name}", spec.max_length)
        value = value.strip() if not spec.secret else value
        if value == "":
            continue  # an empty value clears the field
        try:
            normalized = spec.validate(value)
        except ValueError as exc:
            raise SettingsValidationError(f"settings.{name}", str(exc)) from None
        if spec.secret:
            sealed[name] = keyring.seal(company.company_id, secret_purpose(integration, name), normalized)
        else:
            plain[name] = normalized
    if integration in PLATFORM_CAPABLE and company.is_collabo:
        plain[CREDENTIALS_SOURCE] = "company"
    if enabled:
        present = set(plain) | set(sealed)
        for spec in specs.values():
            if spec.needed(plain) and not spec.derivable and spec.name not in present:
                raise SettingsValidationError(f"settings.{spec.name}", f"is required to turn on {integration.value}")
    return StoredIntegration(integration, enabled=enabled, settings=plain, sealed_secrets=sealed)


def _check_size(integration: Integration, submitted: dict[str, Any]) -> None:
    """Sizes first, before any validator: each value within its field's max_length (a name that is no field:
    FIELD_MAX_LENGTH), all of them within SETTINGS_MAX_BYTES, names within 64 characters (an unknown name is
    echoed in the answer's `field`)."""
    limits = {spec.name: spec.max_length for spec in FIELD_SPECS[integration]}
    total = 0
    for name, value in submitted.items():
        if len(name) > 64:
            raise SettingsValidationError("settings", "has a setting name longer than 64 characters")
        if not isinstance(value, str):
            continue
        limit = limits.get(name, FIELD_MAX_LENGTH)
        if len(value) > limit:
            raise ValueTooLargeError(f"settings.{name}", limit)
        total += len(name) + len(value.encode("utf-8", "surrogatepass"))
    if total > SETTINGS_MAX_BYTES:
        raise ValueTooLargeError("settings", SETTINGS_MAX_BYTES, "bytes in all")


def _platform_update(integration: Integration, enabled: bool, submitted: dict[str, Any]) -> StoredIntegration:
    settings: dict[str, Any] = {CREDENTIALS_SOURCE: "platform"}
    for name, value in submitted.items():
        if name != "bot_id" or integration != Integration.NAVER_WORKS:
            raise SettingsValidationError(
                f"settings.{name}",
                'cannot be set while credentials_source is "platform" (only bot_id can be replaced)',
            )
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise SettingsValidationError("settings.bot_id", "must be a string")
        if len(value) > FIELD_MAX_LENGTH:
            raise ValueTooLargeError("settings.bot_id", FIELD_MAX_LENGTH)
        try:
            settings["bot_id"] = _digits(value.strip())
        except ValueError as exc:
            raise SettingsValidationError("settings.bot_id", str(exc)) from None
    return StoredIntegration(integration, enabled=enabled, settings=settings)


def secret_purpose(integration: Integration, field_name: str) -> str:
    """Associated data that binds a sealed secret to its integration and field."""
    return f"integration:{integration.value}:{field_name}"


def open_credentials(company: CompanySettings, integration: Integration, keyring: Keyring) -> dict[str, Any]:
    """Plain settings plus opened secrets, for a sender or a verification call. Never log the result."""
    stored = effective(company, integration)
    values: dict[str, Any] = dict(stored.settings)
    for name, sealed in stored.sealed_secrets.items():
        values[name] = keyring.open(company.company_id, secret_purpose(integration, name), sealed)
    return values


def resolve_credentials(
    company: CompanySettings,
    integration: Integration,
    keyring: Keyring,
    platform_credentials: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """What a provider call needs: the company's opened settings, or for a Collabo company on platform
    credentials the platform's (with the admin's replacement bot_id). Never log the result."""
    if not uses_platform_credentials(company, integration):
        return open_credentials(company, integration, keyring)
    credentials = dict(platform_credentials().get(integration.value, {}))
    overrides = effective(company, integration).settings
    credentials.update({name: value for name, value in overrides.items() if name != CREDENTIALS_SOURCE})
    return credentials


def public_view(
    company: CompanySettings, integration: Integration, keyring: Keyring, hub_public_url: str
) -> dict[str, Any]:
    """The integration as the admin API shows it: secrets masked, copy-paste URLs included."""
    stored = effective(company, integration)
    specs = {spec.name: spec for spec in FIELD_SPECS[integration]}
    settings: dict[str, Any] = dict(stored.settings)
    for name, sealed in stored.sealed_secrets.items():
        plaintext = keyring.open(company.company_id, secret_purpose(integration, name), sealed)
        settings[name] = mask(specs[name], plaintext) if name in specs else MASK
    read_only = {
        name: hub_public_url.rstrip("/") + path.format(company_id=company.company_id)
        for name, path in READ_ONLY_URLS.get(integration, {}).items()
    }
    return {
        "integration": integration.value,
        "kind": integration.kind,
        "enabled": stored.enabled,
        "configured": is_configured(company, integration),
        "status": stored.status or {"state": "unverified"},
        "settings": settings,
        "read_only": read_only,
    }
