"""The admin console's fields: `FieldSpec`, the size limits, the validators every vendor shares, masking.

Secret fields are sealed with the company's key before they are stored and are only ever shown masked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from workplace_hub.email_address import email_problem

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


def always(_: dict[str, Any]) -> bool:
    return True


def pattern(regex: str, message: str) -> Validator:
    """A validator that accepts a value the whole of which matches `regex`, else says `message`."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(message)
        return value

    return check


def https_url(hosts: tuple[str, ...] = ()) -> Validator:
    """A validator of https:// URLs, on one of `hosts` (or a subdomain) when given."""

    def check(value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("must be an https:// URL")
        if hosts and not any(parts.hostname == h or parts.hostname.endswith("." + h) for h in hosts):
            raise ValueError(f"must be a link on {' or '.join(hosts)}")
        return value

    return check


def bounded(check: Validator, max_length: int) -> Validator:
    """`check`, after refusing values longer than `max_length` characters."""

    def bounded_check(value: str) -> str:
        if len(value) > max_length:
            raise ValueError(f"must be at most {max_length} characters")
        return check(value)

    return bounded_check


def rsa_private_key_pem(value: str) -> str:
    """An unencrypted RSA private key in PEM, normalised to end with one newline."""
    value = value.strip() + "\n"
    if "-----BEGIN" not in value:
        raise ValueError("must be a PEM private key (-----BEGIN PRIVATE KEY-----)")
    # cryptography only when a key is checked: the router reads settings and never gets here.
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(value.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("is not a readable unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("must be an RSA private key")
    return value


hostname = pattern(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", "must be a domain name")
opaque = pattern(r"\S{4,512}", "must be 4-512 characters without spaces")
digits = pattern(r"[0-9]{1,32}", "must be digits only")


def email(value: str) -> str:
    problem = email_problem(value)
    if problem:
        raise ValueError(problem)
    return value


@dataclass(frozen=True)
class FieldSpec:
    """One admin-console field of an integration."""

    name: str
    validate: Validator
    secret: bool = False
    required: bool = True  # to enable the integration
    show_tail: bool = True  # secrets: may the mask end with the last 4 characters?
    when: Condition = always
    max_length: int = FIELD_MAX_LENGTH  # characters; longer values are refused (413) before `validate` runs
    # Filled in by the provider's on_save hook when left empty (a NAVER WORKS bot the hub provisions):
    # not needed to turn the integration on, but needed before it counts as configured.
    derivable: bool = False
    # Required only when the other values make it so (AlimTalk's sms_from once sms_failover is "on").
    required_when: Condition | None = None

    def needed(self, values: dict[str, Any]) -> bool:
        return self.required or (self.required_when is not None and self.required_when(values))


def mask(spec: FieldSpec, plaintext: str) -> str:
    """A secret as the API shows it: never the value, at most its last 4 characters."""
    if spec.show_tail and len(plaintext) >= 16 and "\n" not in plaintext:
        return MASK + plaintext[-4:]
    return MASK
