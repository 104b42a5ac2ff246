"""Admin integration settings: field validation, secrets (sealed, kept, masked) and Collabo defaults."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.unit.builders import SLACK_TOKEN, ec_private_key_pem, google_oauth_client_json, rsa_private_key_pem
from workplace_hub.catalog import Integration
from workplace_hub.crypto import Keyring
from workplace_hub.errors import SettingsValidationError
from workplace_hub.integration_settings.admin import apply_update, public_view
from workplace_hub.integration_settings.effective import (
    effective,
    is_configured,
    open_credentials,
    secret_purpose,
    uses_platform_credentials,
)
from workplace_hub.integration_settings.fields import MASK, mask
from workplace_hub.integration_settings.specs import FIELD_SPECS
from workplace_hub.storage.settings import CompanySettings, StoredIntegration

HUB_URL = "https://hub.example/"

KAKAO_OK = {
    "access_key_id": "ABCDEFGH12345678",
    "secret_key": "SECRETkey0123456789abcdefWXYZ",
    "channel_id": "@acmechannel",
    "service_id": "ncp:kkobizmsg:kr:1234567:sens",
    "template_code": "APPROVAL01",
}
LINE_OK = {
    "login_channel_id": "1234567890",
    "login_channel_secret": "0123456789abcdef0123456789abcdef",
    "channel_access_token": "SECRETchannelAccessToken0123456789+/=",
    "channel_secret": "fedcba9876543210fedcba9876543210",
    "friend_link_url": "https://lin.ee/AbCdEfG",
}


def works_v2(**overrides: Any) -> dict[str, Any]:
    """NAVER WORKS API 2.0 settings (service account), valid."""
    return {
        "api_version": "2.0",
        "domain_id": "10000001",
        "admin_email": "admin@acme.example",
        "client_id": "clientIdABC123",
        "client_secret": "SECRETclientSecretXYZ",
        "service_account": "ab1cd.serviceaccount@acme.example",
        "private_key": rsa_private_key_pem(),
        "bot_id": "2000001",
        **overrides,
    }


def works_v1(**overrides: Any) -> dict[str, Any]:
    """NAVER WORKS API 1.0 settings (legacy server API), valid."""
    return {
        "api_version": "1.0",
        "domain_id": "10000001",
        "admin_email": "admin@acme.example",
        "api_id": "apiIdABC123",
        "server_api_consumer_key": "SECRETconsumerKey123",
        "server_list_id": "serverList01",
        "server_list_private_key": rsa_private_key_pem(),
        "bot_id": "2000001",
        **overrides,
    }


def valid_settings(integration: Integration) -> dict[str, Any]:
    """A complete, valid settings document for each integration."""
    return {
        Integration.SLACK: {"bot_token": SLACK_TOKEN},
        Integration.GOOGLE_CHAT: {},
        Integration.KAKAO: dict(KAKAO_OK),
        Integration.LINE: dict(LINE_OK),
        Integration.NAVER_WORKS: works_v2(),
        Integration.NAVER_WORKS_CALENDAR: {
            key: value for key, value in works_v2(user_oauth_client_id="userClient01").items() if key != "bot_id"
        },
        Integration.GOOGLE_CALENDAR: {
            "oauth_client_json": google_oauth_client_json(),
            "company_domain": "acme.example",
        },
    }[integration]


def company(product: str = "workplace", *stored: StoredIntegration) -> CompanySettings:
    return CompanySettings("acme", product, {s.integration: s for s in stored})


def refusal(
    keyring: Keyring,
    integration: Integration,
    submitted: dict[str, Any],
    *,
    enabled: bool = True,
    current: CompanySettings | None = None,
) -> SettingsValidationError:
    """The error apply_update raises (fails the test if the update is accepted)."""
    with pytest.raises(SettingsValidationError) as raised:
        apply_update(current or company(), integration, enabled, submitted, keyring)
    error = raised.value
    assert str(error) == f"{error.field}: {error.message}"
    return error


def opened(keyring: Keyring, stored: StoredIntegration, name: str) -> str:
    return keyring.open("acme", secret_purpose(stored.integration, name), stored.sealed_secrets[name])


# ---------------------------------------------------------------- valid settings


@pytest.mark.parametrize("integration", list(Integration))
def test_apply_update_valid_settings_enabled_with_secrets_sealed(keyring: Keyring, integration: Integration) -> None:
    # GIVEN a complete, valid settings document
    submitted = valid_settings(integration)

    # WHEN an admin turns the integration on with it
    stored = apply_update(company(), integration, True, submitted, keyring)

    # THEN secret fields are sealed (and open to what was sent), the others stored plainly
    secret_names = {spec.name for spec in FIELD_SPECS[integration] if spec.secret}
    assert stored.enabled is True
    assert set(stored.sealed_secrets) == secret_names & set(submitted)
    assert not secret_names & set(stored.settings)
    for name in stored.sealed_secrets:
        plaintext = opened(keyring, stored, name)
        if name == "oauth_client_json":
            assert json.loads(plaintext) == json.loads(submitted[name])
        else:
            assert plaintext.strip() == submitted[name].strip()
        assert submitted[name] not in stored.sealed_secrets[name]
    defaults = {"api_version": "2.0", "auth_mode": "user_consent"}  # variants filled in when not sent
    for name, value in stored.settings.items():
        assert value == submitted.get(name, defaults.get(name))
    assert is_configured(company("workplace", stored), integration)


def test_apply_update_google_oauth_client_json_stored_compact(keyring: Keyring) -> None:
    # GIVEN the OAuth client file, pretty-printed as Google's download is
    pretty = '{\n  "web": {"client_id": "1.apps", "client_secret": "S3CRET", "auth_uri": "https://a.example/auth",'
    pretty += ' "token_uri": "https://a.example/token"}\n}'

    # WHEN it is stored
    stored = apply_update(company(), Integration.GOOGLE_CALENDAR, False, {"oauth_client_json": pretty}, keyring)

    # THEN the sealed value is the same document as compact JSON
    assert opened(keyring, stored, "oauth_client_json") == (
        '{"web":{"client_id":"1.apps","client_secret":"S3CRET","auth_uri":"https://a.example/auth",'
        '"token_uri":"https://a.example/token"}}'
    )


def test_apply_update_plain_values_trimmed(keyring: Keyring) -> None:
    # GIVEN plain values pasted with surrounding spaces
    submitted = {**KAKAO_OK, "channel_id": "  @acmechannel ", "template_code": "APPROVAL01\n"}

    # WHEN they are stored
    stored = apply_update(company(), Integration.KAKAO, True, submitted, keyring)

    # THEN they are trimmed
    assert (stored.settings["channel_id"], stored.settings["template_code"]) == ("@acmechannel", "APPROVAL01")


def test_apply_update_naver_works_v1_fields_accepted(keyring: Keyring) -> None:
    # GIVEN NAVER WORKS API 1.0 settings
    # WHEN they are stored
    stored = apply_update(company(), Integration.NAVER_WORKS, True, works_v1(), keyring)

    # THEN the 1.0 secrets are sealed and the PEM key opens as a readable key
    assert set(stored.sealed_secrets) == {"server_api_consumer_key", "server_list_private_key"}
    assert stored.settings["api_version"] == "1.0"
    pem = opened(keyring, stored, "server_list_private_key")
    assert isinstance(serialization.load_pem_private_key(pem.encode(), password=None), rsa.RSAPrivateKey)


def test_apply_update_naver_works_api_version_defaults_to_2(keyring: Keyring) -> None:
    # GIVEN 2.0 settings without api_version
    submitted = {k: v for k, v in works_v2().items() if k != "api_version"}

    # WHEN they are stored
    stored = apply_update(company(), Integration.NAVER_WORKS, True, submitted, keyring)

    # THEN api_version 2.0 is recorded
    assert stored.settings["api_version"] == "2.0"


# ---------------------------------------------------------------- field validation


BAD_VALUES = [
    (Integration.SLACK, "bot_token", "xoxp-1111111111-2222222222-usertoken", "xoxb-"),
    (Integration.SLACK, "bot_token", "xoxb-short", "xoxb-"),
    (Integration.SLACK, "bot_token", "Bearer xoxb-1111111111-2222222222", "xoxb-"),
    (Integration.KAKAO, "channel_id", "acmechannel", "@"),
    (Integration.KAKAO, "channel_id", "@", "@"),
    (Integration.KAKAO, "service_id", "ncp:sens:kr:1234567:sens", "ncp:kkobizmsg"),
    (Integration.KAKAO, "service_id", "ncp:kkobizmsg:kr:abc:sens", "ncp:kkobizmsg"),
    (Integration.KAKAO, "access_key_id", "short", "access key"),
    (Integration.KAKAO, "secret_key", "short-secret", "secret key"),
    (Integration.KAKAO, "template_code", "T" * 31, "template code"),
    (Integration.LINE, "login_channel_id", "12345", "10-digit"),
    (Integration.LINE, "login_channel_secret", "0123456789abcdef0123456789abcde", "32 hex"),
    (Integration.LINE, "login_channel_secret", "0123456789ABCDEF0123456789ABCDEF", "32 hex"),
    (Integration.LINE, "channel_secret", "zz23456789abcdef0123456789abcdef", "32 hex"),
    (Integration.LINE, "channel_access_token", "tooShort", "channel access token"),
    (Integration.LINE, "friend_link_url", "http://lin.ee/AbCdEfG", "https://"),
    (Integration.LINE, "friend_link_url", "https://evil.example/AbCdEfG", "lin.ee"),
    (Integration.LINE, "friend_link_url", "https://lin.ee.evil.example/AbCdEfG", "lin.ee"),
    (Integration.NAVER_WORKS, "domain_id", "acme", "digits"),
    (Integration.NAVER_WORKS, "admin_email", "admin.acme.example", "e-mail"),
    (Integration.NAVER_WORKS, "service_account", "robot@acme.example", "serviceaccount"),
    (Integration.NAVER_WORKS, "private_key", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "PEM"),
    (
        Integration.NAVER_WORKS,
        "private_key",
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----",
        "readable",
    ),
    (Integration.NAVER_WORKS, "bot_id", "bot-1", "digits"),
    (Integration.GOOGLE_CALENDAR, "oauth_client_json", "client_id=abc", "not JSON"),
    (Integration.GOOGLE_CALENDAR, "oauth_client_json", '{"installed": {"client_id": "x"}}', '"web"'),
    (Integration.GOOGLE_CALENDAR, "oauth_client_json", "[1, 2]", '"web"'),
    (
        Integration.GOOGLE_CALENDAR,
        "oauth_client_json",
        google_oauth_client_json(client_secret=None),
        "web.client_secret",
    ),
    (
        Integration.GOOGLE_CALENDAR,
        "oauth_client_json",
        google_oauth_client_json(token_uri="http://oauth2.googleapis.com/token"),
        "web.token_uri",
    ),
    (Integration.GOOGLE_CALENDAR, "company_domain", "acme", "domain"),
    (Integration.GOOGLE_CALENDAR, "company_domain", "https://acme.example", "domain"),
]


@pytest.mark.parametrize(
    ("integration", "field", "value", "hint"),
    BAD_VALUES,
    ids=[f"{i.value}-{f}-{n}" for n, (i, f, _, _) in enumerate(BAD_VALUES)],
)
def test_apply_update_invalid_value_refused_naming_field(
    keyring: Keyring, integration: Integration, field: str, value: str, hint: str
) -> None:
    # GIVEN otherwise valid settings with one bad value
    submitted = {**valid_settings(integration), field: value}

    # WHEN the admin saves them (even with the integration off)
    error = refusal(keyring, integration, submitted, enabled=False)

    # THEN the error names settings.<field>, explains the rule, and does not echo the value
    assert error.field == f"settings.{field}"
    assert hint in error.message
    if len(value) >= 6:
        assert value not in str(error)


def test_apply_update_naver_works_unknown_api_version_refused(keyring: Keyring) -> None:
    # GIVEN an API version the hub does not speak, with the common fields only
    submitted = {"api_version": "3.0", "domain_id": "10000001", "admin_email": "admin@acme.example", "bot_id": "1"}

    # WHEN / THEN api_version is named
    error = refusal(keyring, Integration.NAVER_WORKS, submitted, enabled=False)
    assert error.field == "settings.api_version"
    assert '"2.0" or "1.0"' in error.message


def test_apply_update_naver_works_ec_private_key_refused_as_not_rsa(keyring: Keyring) -> None:
    # GIVEN a readable PEM private key that is EC, not RSA
    submitted = works_v2(private_key=ec_private_key_pem())

    # WHEN it is saved
    error = refusal(keyring, Integration.NAVER_WORKS, submitted)

    # THEN it is refused as not RSA
    assert error.field == "settings.private_key"
    assert "RSA" in error.message


def test_apply_update_naver_works_encrypted_private_key_refused(keyring: Keyring) -> None:
    # GIVEN a password-protected PEM key (the hub cannot use it unattended)
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    ).decode()

    # WHEN it is saved
    error = refusal(keyring, Integration.NAVER_WORKS, works_v2(private_key=pem))

    # THEN it is refused naming the field
    assert error.field == "settings.private_key"
    assert "unencrypted" in error.message


def test_apply_update_naver_works_v1_private_key_validated(keyring: Keyring) -> None:
    # GIVEN API 1.0 settings with a broken server list key
    submitted = works_v1(server_list_private_key="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")

    # WHEN / THEN the 1.0 key field is named
    assert refusal(keyring, Integration.NAVER_WORKS, submitted).field == "settings.server_list_private_key"


@pytest.mark.parametrize(("version", "foreign_field"), [("1.0", "client_id"), ("2.0", "server_list_id")])
def test_apply_update_naver_works_other_version_field_refused(
    keyring: Keyring, version: str, foreign_field: str
) -> None:
    # GIVEN settings of one API version carrying a field of the other
    base = works_v1() if version == "1.0" else works_v2()
    submitted = {**base, foreign_field: "someValue1"}

    # WHEN / THEN that field is refused as not a setting
    error = refusal(keyring, Integration.NAVER_WORKS, submitted)
    assert error.field == f"settings.{foreign_field}"
    assert "not a setting" in error.message


@pytest.mark.parametrize("value", [123, True, ["xoxb-1"], {"token": "x"}])
def test_apply_update_non_string_value_refused(keyring: Keyring, value: Any) -> None:
    # GIVEN a setting that is not a string
    # WHEN / THEN it is refused naming the field
    error = refusal(keyring, Integration.SLACK, {"bot_token": value})
    assert error.field == "settings.bot_token"
    assert "string" in error.message


def test_apply_update_unknown_field_refused(keyring: Keyring) -> None:
    # GIVEN a field Slack does not have
    submitted = {"bot_token": SLACK_TOKEN, "signing_secret": "abc"}

    # WHEN / THEN it is refused by name
    error = refusal(keyring, Integration.SLACK, submitted)
    assert error.field == "settings.signing_secret"
    assert "not a setting of slack" in error.message


def test_apply_update_google_chat_has_no_settings(keyring: Keyring) -> None:
    # GIVEN a company-level webhook sent to Google Chat (webhooks are per employee)
    # WHEN / THEN the field is refused
    error = refusal(keyring, Integration.GOOGLE_CHAT, {"webhook_url": "https://chat.googleapis.com/v1/spaces/A"})
    assert error.field == "settings.webhook_url"


# ---------------------------------------------------------------- required fields


REQUIRED = [
    (Integration.SLACK, "bot_token"),
    (Integration.KAKAO, "channel_id"),
    (Integration.KAKAO, "secret_key"),
    (Integration.LINE, "channel_secret"),
    (Integration.LINE, "friend_link_url"),
    (Integration.NAVER_WORKS, "private_key"),
    (Integration.NAVER_WORKS, "client_secret"),
    (Integration.NAVER_WORKS_CALENDAR, "service_account"),
    (Integration.GOOGLE_CALENDAR, "oauth_client_json"),
    (Integration.GOOGLE_CALENDAR, "company_domain"),
]


@pytest.mark.parametrize(("integration", "field"), REQUIRED)
def test_apply_update_enable_with_missing_required_field_refused_naming_it(
    keyring: Keyring, integration: Integration, field: str
) -> None:
    # GIVEN valid settings missing one required field
    submitted = {k: v for k, v in valid_settings(integration).items() if k != field}

    # WHEN the admin turns the integration on
    error = refusal(keyring, integration, submitted, enabled=True)

    # THEN the error names the missing field
    assert error.field == f"settings.{field}"
    assert "required" in error.message


@pytest.mark.parametrize(("integration", "field"), REQUIRED)
def test_apply_update_disabled_with_missing_field_saved_unconfigured(
    keyring: Keyring, integration: Integration, field: str
) -> None:
    # GIVEN the same incomplete settings
    submitted = {k: v for k, v in valid_settings(integration).items() if k != field}

    # WHEN they are saved with the integration off
    stored = apply_update(company(), integration, False, submitted, keyring)

    # THEN they are kept as a draft that does not count as configured
    assert stored.enabled is False
    assert field not in stored.settings
    assert field not in stored.sealed_secrets
    assert not is_configured(company("workplace", stored), integration)


def test_apply_update_naver_works_without_bot_id_enabled_but_not_configured(keyring: Keyring) -> None:
    # GIVEN NAVER WORKS 2.0 credentials without a bot (the hub provisions one when the admin saves)
    submitted = {k: v for k, v in works_v2().items() if k != "bot_id"}

    # WHEN the admin turns it on
    stored = apply_update(company(), Integration.NAVER_WORKS, True, submitted, keyring)

    # THEN it may be on, but it only counts as configured once a bot_id is stored
    assert stored.enabled is True
    assert "bot_id" not in stored.settings
    assert not is_configured(company("workplace", stored), Integration.NAVER_WORKS)
    with_bot = replace(stored, settings={**stored.settings, "bot_id": "2000001"})
    assert is_configured(company("workplace", with_bot), Integration.NAVER_WORKS)


def test_apply_update_naver_works_v1_missing_v1_field_refused(keyring: Keyring) -> None:
    # GIVEN 1.0 settings without the consumer key
    submitted = {k: v for k, v in works_v1().items() if k != "server_api_consumer_key"}

    # WHEN / THEN enabling names the 1.0 field (not a 2.0 one)
    assert refusal(keyring, Integration.NAVER_WORKS, submitted).field == "settings.server_api_consumer_key"


def test_apply_update_calendar_optional_personal_oauth_fields_not_required(keyring: Keyring) -> None:
    # GIVEN calendar settings without the optional personal-calendar OAuth client
    submitted = {
        k: v for k, v in valid_settings(Integration.NAVER_WORKS_CALENDAR).items() if not k.startswith("user_oauth")
    }

    # WHEN / THEN it can be turned on
    assert apply_update(company(), Integration.NAVER_WORKS_CALENDAR, True, submitted, keyring).enabled


# ---------------------------------------------------------------- keeping secrets


@pytest.fixture
def slack_company(keyring: Keyring) -> CompanySettings:
    """acme with Slack on and a stored bot token."""
    return company("workplace", apply_update(company(), Integration.SLACK, True, {"bot_token": SLACK_TOKEN}, keyring))


def test_apply_update_secret_omitted_keeps_stored_value(keyring: Keyring, slack_company: CompanySettings) -> None:
    # GIVEN a stored bot token
    before = slack_company.integrations[Integration.SLACK].sealed_secrets["bot_token"]

    # WHEN the admin saves again without the secret
    stored = apply_update(slack_company, Integration.SLACK, True, {}, keyring)

    # THEN the sealed token is kept as it was
    assert stored.sealed_secrets["bot_token"] == before


@pytest.mark.parametrize("masked", [MASK, MASK + SLACK_TOKEN[-4:]])
def test_apply_update_secret_sent_back_masked_keeps_stored_value(
    keyring: Keyring, slack_company: CompanySettings, masked: str
) -> None:
    # GIVEN the masked form the API showed
    before = slack_company.integrations[Integration.SLACK].sealed_secrets["bot_token"]

    # WHEN the admin saves it back unchanged
    stored = apply_update(slack_company, Integration.SLACK, True, {"bot_token": masked}, keyring)

    # THEN the stored token is kept (the mask is never stored as the token)
    assert stored.sealed_secrets["bot_token"] == before
    assert opened(keyring, stored, "bot_token") == SLACK_TOKEN


def test_apply_update_new_secret_replaces_stored_value(keyring: Keyring, slack_company: CompanySettings) -> None:
    # GIVEN a stored bot token
    new_token = "xoxb-9999999999-8888888888-NEWtoken"

    # WHEN the admin sends a new one
    stored = apply_update(slack_company, Integration.SLACK, True, {"bot_token": new_token}, keyring)

    # THEN the new token is what opens
    assert opened(keyring, stored, "bot_token") == new_token


def test_apply_update_empty_secret_clears_it(keyring: Keyring, slack_company: CompanySettings) -> None:
    # GIVEN a stored bot token
    # WHEN the admin empties the field and turns Slack off
    stored = apply_update(slack_company, Integration.SLACK, False, {"bot_token": ""}, keyring)

    # THEN the token is gone; turning Slack on that way is refused
    assert "bot_token" not in stored.sealed_secrets
    assert refusal(keyring, Integration.SLACK, {"bot_token": ""}, current=slack_company).field == "settings.bot_token"


def test_apply_update_omitted_plain_field_cleared(keyring: Keyring) -> None:
    # GIVEN stored Kakao settings
    current = company("workplace", apply_update(company(), Integration.KAKAO, True, dict(KAKAO_OK), keyring))

    # WHEN the admin PUTs them without template_code, turned off
    submitted = {k: v for k, v in KAKAO_OK.items() if k != "template_code"}
    stored = apply_update(current, Integration.KAKAO, False, submitted, keyring)

    # THEN template_code is cleared (PUT replaces plain fields) while the omitted-secret rule is separate
    assert "template_code" not in stored.settings
    assert "secret_key" in stored.sealed_secrets


# ---------------------------------------------------------------- masking


def _secret_specs() -> list[Any]:
    return [(integration, spec) for integration, specs in FIELD_SPECS.items() for spec in specs if spec.secret]


@pytest.mark.parametrize(
    ("integration", "spec"), _secret_specs(), ids=[f"{i.value}-{s.name}" for i, s in _secret_specs()]
)
@pytest.mark.parametrize("value", ["a", "abcd", "0123456789abcde", "0123456789abcdefSECRETTAIL", "x" * 400])
def test_mask_secret_never_shows_more_than_last_four(integration: Integration, spec: Any, value: str) -> None:
    # GIVEN any secret value of any secret field
    # WHEN it is masked
    shown = mask(spec, value)

    # THEN only the mask and at most the last 4 characters appear, and short values show nothing
    assert shown.startswith(MASK)
    tail = shown[len(MASK) :]
    assert len(tail) <= 4
    assert value.endswith(tail)
    if len(value) < 16:
        assert shown == MASK


@pytest.mark.parametrize(
    ("integration", "field", "value"),
    [
        (Integration.NAVER_WORKS, "private_key", rsa_private_key_pem()),
        (Integration.NAVER_WORKS, "server_list_private_key", rsa_private_key_pem()),
        (Integration.GOOGLE_CALENDAR, "oauth_client_json", google_oauth_client_json()),
    ],
)
def test_mask_pem_and_json_show_nothing(integration: Integration, field: str, value: str) -> None:
    # GIVEN a PEM key or a JSON client file
    spec = next(s for s in FIELD_SPECS[integration] if s.name == field)

    # WHEN it is masked
    # THEN not even a tail is shown
    assert mask(spec, value) == MASK


def test_mask_multiline_value_shows_nothing() -> None:
    # GIVEN a long multi-line value in a field that may show a tail
    spec = FIELD_SPECS[Integration.SLACK][0]

    # WHEN / THEN nothing of it is shown
    assert mask(spec, "line-one-long-enough\nline-two") == MASK


def test_public_view_secrets_masked_and_urls_read_only(keyring: Keyring) -> None:
    # GIVEN LINE, fully configured
    stored = apply_update(company(), Integration.LINE, True, dict(LINE_OK), keyring)

    # WHEN the admin reads it
    view = public_view(company("workplace", stored), Integration.LINE, keyring, HUB_URL)

    # THEN secrets are masked, plain values shown, copy-paste URLs built from the hub URL and company
    assert view["settings"]["channel_access_token"] == MASK + LINE_OK["channel_access_token"][-4:]
    assert view["settings"]["channel_secret"] == MASK + LINE_OK["channel_secret"][-4:]
    assert view["settings"]["login_channel_id"] == LINE_OK["login_channel_id"]
    for name in ("channel_access_token", "channel_secret", "login_channel_secret"):
        assert LINE_OK[name][:-4] not in str(view)
    assert view["read_only"] == {
        "callback_url": "https://hub.example/oauth/line/callback",
        "webhook_url": "https://hub.example/webhooks/line/acme",
    }
    assert (view["enabled"], view["configured"], view["status"]) == (True, True, {"state": "unverified"})


def test_public_view_pem_and_json_masked_completely(keyring: Keyring) -> None:
    # GIVEN NAVER WORKS with a PEM key and Google Calendar with a client file
    works = apply_update(company(), Integration.NAVER_WORKS, True, works_v2(), keyring)
    calendar = apply_update(
        company(), Integration.GOOGLE_CALENDAR, True, valid_settings(Integration.GOOGLE_CALENDAR), keyring
    )
    current = company("workplace", works, calendar)

    # WHEN the admin reads them
    works_view = public_view(current, Integration.NAVER_WORKS, keyring, HUB_URL)
    calendar_view = public_view(current, Integration.GOOGLE_CALENDAR, keyring, HUB_URL)

    # THEN the PEM and the JSON show only the mask
    assert works_view["settings"]["private_key"] == MASK
    assert calendar_view["settings"]["oauth_client_json"] == MASK
    assert "PRIVATE KEY" not in str(works_view)
    assert "GOCSPX" not in str(calendar_view)


def test_open_credentials_returns_plain_and_opened_secrets(keyring: Keyring) -> None:
    # GIVEN Kakao stored with one sealed secret
    stored = apply_update(company(), Integration.KAKAO, True, dict(KAKAO_OK), keyring)

    # WHEN a sender opens the credentials
    credentials = open_credentials(company("workplace", stored), Integration.KAKAO, keyring)

    # THEN it gets every value in clear
    assert credentials == KAKAO_OK


# ---------------------------------------------------------------- WORKPLACE Collabo


@pytest.mark.parametrize("integration", [Integration.NAVER_WORKS, Integration.NAVER_WORKS_CALENDAR])
def test_effective_collabo_naver_works_on_with_platform_credentials(integration: Integration) -> None:
    # GIVEN a Collabo company that never configured NAVER WORKS
    collabo = company("collabo")

    # WHEN its effective settings are read
    current = effective(collabo, integration)

    # THEN NAVER WORKS is on, on the platform's credentials, and counts as configured
    assert current.enabled is True
    assert current.settings == {"credentials_source": "platform"}
    assert uses_platform_credentials(collabo, integration)
    assert is_configured(collabo, integration)


@pytest.mark.parametrize("integration", [Integration.SLACK, Integration.LINE, Integration.GOOGLE_CALENDAR])
def test_effective_collabo_other_integrations_off(integration: Integration) -> None:
    # GIVEN a Collabo company
    # WHEN / THEN only NAVER WORKS is on by default
    assert effective(company("collabo"), integration).enabled is False
    assert not uses_platform_credentials(company("collabo"), integration)


def test_effective_non_collabo_naver_works_off_and_unconfigured() -> None:
    # GIVEN a plain WORKPLACE company
    # WHEN / THEN NAVER WORKS is off and not configured
    assert effective(company(), Integration.NAVER_WORKS).enabled is False
    assert not is_configured(company(), Integration.NAVER_WORKS)
    assert not uses_platform_credentials(company(), Integration.NAVER_WORKS)


def test_apply_update_collabo_platform_bot_id_replaceable(keyring: Keyring) -> None:
    # GIVEN a Collabo company on platform credentials
    # WHEN the admin replaces only the bot
    stored = apply_update(company("collabo"), Integration.NAVER_WORKS, True, {"bot_id": " 3000001 "}, keyring)

    # THEN the bot is stored next to the platform marker, with no secrets
    assert stored.settings == {"credentials_source": "platform", "bot_id": "3000001"}
    assert stored.sealed_secrets == {}
    assert stored.enabled is True


def test_apply_update_collabo_platform_can_be_turned_off(keyring: Keyring) -> None:
    # GIVEN a Collabo company
    # WHEN the admin turns NAVER WORKS off
    stored = apply_update(company("collabo"), Integration.NAVER_WORKS, False, {}, keyring)

    # THEN it is off and still on the platform source
    assert stored.enabled is False
    assert stored.settings == {"credentials_source": "platform"}
    assert effective(company("collabo", stored), Integration.NAVER_WORKS).enabled is False


@pytest.mark.parametrize(
    ("integration", "field"),
    [
        (Integration.NAVER_WORKS, "client_id"),
        (Integration.NAVER_WORKS, "private_key"),
        (Integration.NAVER_WORKS_CALENDAR, "bot_id"),
        (Integration.NAVER_WORKS_CALENDAR, "user_oauth_client_id"),
    ],
)
def test_apply_update_collabo_platform_other_fields_refused(
    keyring: Keyring, integration: Integration, field: str
) -> None:
    # GIVEN a Collabo company on platform credentials
    # WHEN the admin sends a field other than NAVER WORKS' bot_id
    error = refusal(keyring, integration, {field: "value123"}, current=company("collabo"))

    # THEN it is refused, naming the field and the platform rule
    assert error.field == f"settings.{field}"
    assert "platform" in error.message


def test_apply_update_collabo_platform_bad_bot_id_refused(keyring: Keyring) -> None:
    # GIVEN a Collabo company
    # WHEN the admin sends a bot id that is not digits
    # THEN it is refused naming bot_id
    assert refusal(keyring, Integration.NAVER_WORKS, {"bot_id": "bot"}, current=company("collabo")).field == (
        "settings.bot_id"
    )


def test_apply_update_collabo_company_credentials_validated_and_marked(keyring: Keyring) -> None:
    # GIVEN a Collabo company switching to its own credentials
    submitted = {**works_v2(), "credentials_source": "company"}

    # WHEN they are saved
    stored = apply_update(company("collabo"), Integration.NAVER_WORKS, True, submitted, keyring)

    # THEN they are validated like anyone's and marked as the company's
    assert stored.settings["credentials_source"] == "company"
    assert set(stored.sealed_secrets) == {"client_secret", "private_key"}
    current = company("collabo", stored)
    assert not uses_platform_credentials(current, Integration.NAVER_WORKS)
    assert is_configured(current, Integration.NAVER_WORKS)


def test_apply_update_collabo_company_credentials_required_when_enabled(keyring: Keyring) -> None:
    # GIVEN a Collabo company switching to its own credentials without a private key
    submitted = {k: v for k, v in works_v2(credentials_source="company").items() if k != "private_key"}

    # WHEN / THEN enabling is refused naming the key
    error = refusal(keyring, Integration.NAVER_WORKS, submitted, current=company("collabo"))
    assert error.field == "settings.private_key"


def test_apply_update_collabo_company_source_kept_on_next_save(keyring: Keyring) -> None:
    # GIVEN a Collabo company already on its own credentials
    first = apply_update(
        company("collabo"), Integration.NAVER_WORKS, True, works_v2(credentials_source="company"), keyring
    )

    # WHEN the admin saves again without credentials_source (secrets omitted)
    again = apply_update(
        company("collabo", first),
        Integration.NAVER_WORKS,
        True,
        {k: v for k, v in works_v2().items() if k not in ("private_key", "client_secret")},
        keyring,
    )

    # THEN it stays on the company's credentials with the stored secrets
    assert again.settings["credentials_source"] == "company"
    assert again.sealed_secrets == first.sealed_secrets


def test_apply_update_collabo_unknown_credentials_source_refused(keyring: Keyring) -> None:
    # GIVEN a Collabo company
    # WHEN the admin sends a credentials source that does not exist
    error = refusal(keyring, Integration.NAVER_WORKS, {"credentials_source": "partner"}, current=company("collabo"))

    # THEN it is refused naming credentials_source
    assert error.field == "settings.credentials_source"


@pytest.mark.parametrize("integration", [Integration.NAVER_WORKS, Integration.NAVER_WORKS_CALENDAR, Integration.SLACK])
def test_apply_update_non_collabo_platform_credentials_refused(keyring: Keyring, integration: Integration) -> None:
    # GIVEN a plain WORKPLACE company
    # WHEN the admin asks for the platform credentials
    error = refusal(keyring, integration, {"credentials_source": "platform"})

    # THEN it is refused: they are only for Collabo
    assert error.field == "settings.credentials_source"
    assert "Collabo" in error.message


def test_apply_update_non_collabo_company_source_accepted_and_not_stored(keyring: Keyring) -> None:
    # GIVEN a plain WORKPLACE company sending credentials_source "company" explicitly
    # WHEN it saves its own NAVER WORKS credentials
    stored = apply_update(company(), Integration.NAVER_WORKS, True, works_v2(credentials_source="company"), keyring)

    # THEN the save works and no platform marker is stored
    assert "credentials_source" not in stored.settings


def test_effective_collabo_stored_integration_wins_over_default(keyring: Keyring) -> None:
    # GIVEN a Collabo company whose admin turned NAVER WORKS off
    stored = replace(effective(company("collabo"), Integration.NAVER_WORKS), enabled=False)

    # WHEN / THEN the stored choice applies, not the default
    assert effective(company("collabo", stored), Integration.NAVER_WORKS).enabled is False


def test_kakao_sms_failover_needs_a_sender_number_and_keeps_its_digits(keyring: Keyring) -> None:
    # GIVEN failover on without a sender number: refused, naming the missing field
    with pytest.raises(SettingsValidationError) as caught:
        apply_update(company(), Integration.KAKAO, True, {**KAKAO_OK, "sms_failover": "on"}, keyring)
    assert caught.value.field == "settings.sms_from"
    # WHEN given one in the usual written form
    submitted = {**KAKAO_OK, "sms_failover": "on", "sms_from": "02-1234-5678"}
    stored = apply_update(company(), Integration.KAKAO, True, submitted, keyring)
    # THEN it is stored as SENS takes it, and off (the default) needs none
    assert stored.settings["sms_from"] == "0212345678" and stored.settings["sms_failover"] == "on"
    assert apply_update(company(), Integration.KAKAO, True, {**KAKAO_OK, "sms_failover": "off"}, keyring).enabled


@pytest.mark.parametrize("value", ["12345", "+82-2-1234-5678", "0212345678901", "010-abcd-5678"])
def test_kakao_sms_from_must_be_a_korean_sender_number(keyring: Keyring, value: str) -> None:
    submitted = {**KAKAO_OK, "sms_failover": "on", "sms_from": value}
    with pytest.raises(SettingsValidationError) as caught:
        apply_update(company(), Integration.KAKAO, True, submitted, keyring)
    assert caught.value.field == "settings.sms_from"
