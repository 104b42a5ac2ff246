"""Which integration has which fields, derived values, platform credentials and copy-paste URLs."""

from __future__ import annotations

from typing import Any

from workplace_hub.catalog import Integration, oauth_callback_path
from workplace_hub.integration_settings.fields import FieldSpec
from workplace_hub.integration_settings.google import GOOGLE_CALENDAR, GOOGLE_CHAT
from workplace_hub.integration_settings.kakao import KAKAO, KAKAO_DERIVED
from workplace_hub.integration_settings.line import LINE
from workplace_hub.integration_settings.naver_works import NAVER_WORKS, NAVER_WORKS_CALENDAR
from workplace_hub.integration_settings.slack import SLACK

FIELD_SPECS: dict[Integration, list[FieldSpec]] = {
    Integration.SLACK: SLACK,
    Integration.GOOGLE_CHAT: GOOGLE_CHAT,
    Integration.KAKAO: KAKAO,
    Integration.LINE: LINE,
    Integration.NAVER_WORKS: NAVER_WORKS,
    Integration.NAVER_WORKS_CALENDAR: NAVER_WORKS_CALENDAR,
    Integration.GOOGLE_CALENDAR: GOOGLE_CALENDAR,
}

# Settings the hub derives from the provider (shown, never typed in): ignored when an admin sends them back.
DERIVED_FIELDS: dict[Integration, frozenset[str]] = {Integration.KAKAO: KAKAO_DERIVED}

# Collabo companies may run NAVER WORKS on the platform's credentials instead of their own.
PLATFORM_CAPABLE = (Integration.NAVER_WORKS, Integration.NAVER_WORKS_CALENDAR)
CREDENTIALS_SOURCE = "credentials_source"

# Paths of the hub's own endpoints that admins paste into provider consoles.
READ_ONLY_URLS: dict[Integration, dict[str, str]] = {
    Integration.LINE: {"callback_url": oauth_callback_path("line"), "webhook_url": "/webhooks/line/{company_id}"},
    Integration.NAVER_WORKS_CALENDAR: {"redirect_url": oauth_callback_path("naver_works")},
    Integration.GOOGLE_CALENDAR: {"redirect_url": oauth_callback_path("google")},
}


def active_specs(integration: Integration, values: dict[str, Any]) -> list[FieldSpec]:
    """The fields that apply to these values (e.g. API 2.0's, not 1.0's)."""
    return [spec for spec in FIELD_SPECS[integration] if spec.when(values)]
