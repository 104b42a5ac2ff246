"""Malformed requests through the local stack's gateway: path parameters decoded once (as an HTTP API
decodes them), bodies other than application/json refused with 415, and the pages' security headers."""

from __future__ import annotations

import pytest
import requests

from infra.local_stack import LocalStack
from tests.integration.helpers import Api, ok

pytestmark = pytest.mark.integration


def test_an_encoded_user_id_in_the_path_addresses_the_same_employee(admin: Api) -> None:
    # GIVEN an employee whose WORKPLACE user ID is an e-mail address
    user_id = f"taro.yamada@{admin.company_id}.example"

    # WHEN the admin sets their 連携ID once with "@" and once with it percent-encoded, as clients encode it
    ok(admin.put(f"/admin/users/{user_id}/links", {"google_workspace_id": "taro@acme.example"}))
    saved = ok(
        admin.put(f"/admin/users/{user_id.replace('@', '%40')}/links", {"google_workspace_id": "t@acme.example"})
    )

    # THEN both reached the one employee: no second one named with the escape
    assert saved["user_id"] == user_id
    assert [e["user_id"] for e in ok(admin.get("/admin/links"))["employees"]] == [user_id]


def test_a_non_ascii_user_id_can_be_addressed(admin: Api) -> None:
    saved = ok(
        admin.put("/admin/users/%E5%B1%B1%E7%94%B0%E5%A4%AA%E9%83%8E/links", {"google_workspace_id": "t@acme.example"})
    )
    assert saved["user_id"] == "山田太郎"
    assert [e["user_id"] for e in ok(admin.get("/admin/links"))["employees"]] == ["山田太郎"]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json-patch+json", b'{"product": "collabo"}'),
        (
            "multipart/form-data; boundary=X",
            b'--X\r\nContent-Disposition: form-data; name="product"\r\n\r\ncollabo\r\n--X--\r\n',
        ),
        ("application/x-www-form-urlencoded", b"product=collabo"),  # what curl -d sends
    ],
    ids=["json-patch", "multipart", "form"],
)
def test_a_body_that_is_not_application_json_is_refused_with_415_and_not_saved(
    admin: Api, content_type: str, body: bytes
) -> None:
    answer = admin.session.put(
        admin.base + "/admin/company", data=body, headers={"Content-Type": content_type}, timeout=10
    )
    assert answer.status_code == 415
    assert answer.json() == {"error": "unsupported_media_type", "message": "the body must be application/json"}
    assert ok(admin.get("/admin/company"))["product"] == "workplace"


def test_the_callback_page_and_the_api_answers_carry_the_security_headers(stack: LocalStack, admin: Api) -> None:
    # GIVEN a callback with a state the hub never issued: its failure page
    page = requests.get(f"{stack.api_url}/oauth/google/callback?state=forged&code=x", timeout=10)

    # THEN the page is HTML that runs no script, loads nothing and cannot be framed or sniffed
    assert page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none'; style-src 'sha256-") and "frame-ancestors 'none'" in policy
    assert "script" not in policy and "unsafe" not in policy
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"

    # AND a JSON answer is not to be sniffed or framed either
    answer = admin.get("/admin/company")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
