"""The pages the hub serves (the end of every linking flow) run no script, load nothing, cannot be framed or
sniffed: Content-Security-Policy, X-Frame-Options and X-Content-Type-Options on every HTML answer."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest

from workplace_hub.api.linking import LinkingApiServices, create_linking_app
from workplace_hub.linking.pages import LOCALES, Page, failed_page, linked_page

PAGES = {
    "linked": lambda locale: linked_page(locale, "google"),
    "linked, LINE friend needed (QR code)": lambda locale: linked_page(
        locale, "line", friend_link_url="https://lin.ee/abcdefg"
    ),
    "linked, LINE friend already": lambda locale: linked_page(
        locale, "line", friend_link_url="https://lin.ee/abcdefg", is_friend=True
    ),
    "failed": lambda locale: failed_page(locale, "state_invalid"),
    "failed, unknown reason": lambda locale: failed_page(locale, "<script>", status=502),
}


class Linking:
    def __init__(self, page: Page) -> None:
        self.page = page

    def complete(self, provider: str, query: dict[str, str], locale: str) -> Page:
        return self.page


def callback(page: Page) -> dict[str, Any]:
    app = create_linking_app(LinkingApiServices(None, Linking(page), None))  # type: ignore[arg-type]
    event = {
        "version": "2.0",
        "routeKey": "GET /oauth/{provider}/callback",
        "rawPath": "/oauth/line/callback",
        "rawQueryString": "state=x&code=y",
        "queryStringParameters": {"state": "x", "code": "y"},
        "pathParameters": {"provider": "line"},
        "headers": {"accept-language": "ja"},
        "requestContext": {
            "http": {"method": "GET", "path": "/oauth/line/callback", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "req-1",
            "routeKey": "GET /oauth/{provider}/callback",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    return app.resolve(event, None)


def directives(policy: str) -> dict[str, str]:
    return {part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2] for part in policy.split(";") if part.strip()}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", PAGES)
def test_every_page_is_sent_with_a_policy_that_allows_only_its_own_style(name: str, locale: str) -> None:
    # GIVEN each page the callback can show
    page = PAGES[name](locale)

    # WHEN the callback answers with it
    answer = callback(page)
    headers = {key.lower(): value for key, value in answer["headers"].items()}

    # THEN it is HTML that can be neither framed nor sniffed into something else
    assert answer["statusCode"] == page.status
    assert headers["content-type"].startswith("text/html")
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    # AND its policy loads nothing and runs nothing: no script source, no 'unsafe-inline', no framing
    policy = directives(headers["content-security-policy"])
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "script-src" not in policy and "unsafe" not in headers["content-security-policy"]
    # AND the one inline <style> is allowed by its hash, so the page still looks as designed
    body = answer["body"]
    styles = re.findall(r"<style>(.*?)</style>", body, re.DOTALL)
    assert len(styles) == 1
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
    assert policy["style-src"] == f"'sha256-{digest}'"
    # AND nothing in the page needs more: no script, no style attribute, no event handler, nothing loaded
    assert "<script" not in body.lower()
    assert not re.search(r"\sstyle=", body) and not re.search(r"\son[a-z]+=", body)
    assert not re.search(r"<(img|link|iframe|object|embed)\b", body)
