"""NAVER Cloud Platform SENS, as every AlimTalk call uses it: signature v2, the signed call, phone numbers
in SENS's form, and the errors of a whole call.

Docs: https://api.ncloud-docs.com/docs/en/common-ncpapi (signature v2) and .../sens-alimtalk-send.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from workplace_hub.errors import IntegrationCredentialsError, PermanentProviderError, ProviderError
from workplace_hub.providers.messenger import PreparedCall, error_for_status

PROVIDER = "kakao"
# Country calling codes accepted (E.164 codes are prefix-free, so the longest match is the only one).
COUNTRY_CODES = frozenset(
    {"82", "81", "1", "86", "852", "886", "65", "66", "84", "63", "62", "60", "44", "49", "33", "61", "64"}
)


def sign(method: str, uri_with_query: str, timestamp_ms: int | str, access_key: str, secret_key: str) -> str:
    """NCP API Gateway signature v2: Base64(HMAC-SHA256(secret, "METHOD URI\\nTIMESTAMP\\nACCESS_KEY"))."""
    message = f"{method} {uri_with_query}\n{timestamp_ms}\n{access_key}"
    return base64.b64encode(hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).digest()).decode()


def signed_call(
    base_url: str,
    clock: Callable[[], float],
    method: str,
    credentials: dict[str, Any],
    resource: str,
    query: str = "",
    body: Any = None,
) -> PreparedCall:
    """An AlimTalk API call, signed over the exact path and query that go on the wire, with a fresh timestamp."""
    access_key, secret_key, service_id = need(credentials, "access_key_id", "secret_key", "service_id")
    path = f"/alimtalk/v2/services/{quote(service_id, safe=':')}/{resource}"
    url = base_url.rstrip("/") + path + (f"?{query}" if query else "")
    wire = urlsplit(url)
    timestamp, uri = str(int(clock() * 1000)), wire.path + (f"?{wire.query}" if wire.query else "")
    signature = sign(method, uri, timestamp, access_key, secret_key)
    headers = {"x-ncp-apigw-timestamp": timestamp, "x-ncp-iam-access-key": access_key}
    headers["x-ncp-apigw-signature-v2"] = signature
    if body is not None:
        headers["Content-Type"] = "application/json; charset=utf-8"
    return PreparedCall(method, url, headers, body)


def need(credentials: dict[str, Any], *names: str) -> list[str]:
    """The named settings, in order; IntegrationCredentialsError naming those that are not set."""
    missing = [name for name in names if not credentials.get(name)]
    if missing:
        raise IntegrationCredentialsError(PROVIDER, "missing_setting", detail=f"not set: {', '.join(missing)}")
    return [str(credentials[name]) for name in names]


def fail(code: str, detail: str = "", *, reason: str | None = None, status: int | None = None) -> ProviderError:
    """A permanent error of this provider (the recipient's, or the whole call's)."""
    return PermanentProviderError(PROVIDER, code, status_code=status, detail=detail, reason=reason)


def to_sens_number(phone: str) -> tuple[str, str]:
    """E.164 → (countryCode, to): `+821012345678` → ("82", "01012345678"); others keep national digits."""
    compact = re.sub(r"[\s().-]", "", phone or "")
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", compact):
        raise fail("invalid_phone", "not an E.164 phone number", reason="phone_unsupported")
    digits = compact[1:]
    code = next((digits[:n] for n in (3, 2, 1) if digits[:n] in COUNTRY_CODES), None)
    if code is None:
        raise fail("country_unsupported", "the phone's country code is not supported", reason="phone_unsupported")
    national = digits[len(code) :]
    if code == "82" and not national.startswith("0"):
        national = "0" + national  # Korean numbers go in domestic form, with their trunk 0
    return code, national


def error_info(response: requests.Response) -> tuple[str, str]:
    """(errorCode, message and details) from the API Gateway envelope `{"error": {...}}` or a flat body."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else body
    if not isinstance(error, dict):
        return "", ""
    detail = ": ".join(str(error[k]) for k in ("message", "errorMessage", "details") if error.get(k))
    return str(error.get("errorCode") or ""), detail[:300]


def request_error(response: requests.Response) -> ProviderError:
    """The error of a whole SENS call; every recipient of that call shares it."""
    status = response.status_code
    vendor_code, detail = error_info(response)
    if status in (401, 403):
        code = "authentication_failed" if status == 401 else "permission_denied"
        return IntegrationCredentialsError(
            PROVIDER, code, status_code=status, detail=detail or "access key, secret key or permission refused"
        )
    if status == 404:
        return IntegrationCredentialsError(PROVIDER, "service_not_found", status_code=404, detail=detail)
    if status == 429 or status >= 500:
        return error_for_status(PROVIDER, response, "rate_limited" if status == 429 else f"http_{status}", detail)
    return fail("bad_request" if status == 400 else f"http_{status}", f"{vendor_code} {detail}".strip(), status=status)
