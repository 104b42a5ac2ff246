"""What the console asks the API: `GET /me` (who is signed in) and, in `GET /me/links`, which messengers the
company has on and the LINE Official Account's friend link (for the QR code)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.aws import HubStack
from tests.unit.test_api_requests import api_services, http_event
from workplace_hub.api import create_app
from workplace_hub.workplace_jwt import InvalidTokenError

COMPANY = "acme"
MEMBER = "taro.yamada@acme.example"
LINE_SETTINGS = {
    "login_channel_id": "1234567890",
    "login_channel_secret": "0123456789abcdef0123456789abcdef",
    "channel_access_token": "lineCAT-abcdefghijklmnopqrstuvwxyz",
    "channel_secret": "fedcba9876543210fedcba9876543210",
    "friend_link_url": "https://lin.ee/WpHub01",
}


class Tokens:
    """Stands in for the JWT check: the bearer value is the claims as JSON ("bad": refused)."""

    def verify(self, authorization: str | None) -> dict[str, Any]:
        value = (authorization or "").removeprefix("Bearer ")
        if value == "bad":
            raise InvalidTokenError("invalid token: ExpiredSignatureError")
        return json.loads(value)


@pytest.fixture
def api(stack: HubStack) -> Callable[..., tuple[int, Any]]:
    app = create_app(api_services(stack, Tokens()))

    def call(method: str, path: str, body: Any = None, **claims: Any) -> tuple[int, Any]:
        token = "bad" if claims.pop("bad", False) else json.dumps({"company_id": COMPANY, **claims})
        event = http_event(method, path, json.dumps(body) if body is not None else None)
        event["headers"]["authorization"] = f"Bearer {token}"
        answer = app.resolve(event, None)
        return answer["statusCode"], json.loads(answer["body"] or "null")

    return call


def test_me_says_who_the_token_is_for(api: Callable[..., tuple[int, Any]]) -> None:
    status, me = api("GET", "/me", sub=MEMBER, role="member")

    assert status == 200
    assert me == {"user_id": MEMBER, "company_id": COMPANY, "role": "member", "name": None, "company_name": None}


def test_me_passes_workplaces_display_names_through_as_they_are_and_bounded(
    api: Callable[..., tuple[int, Any]],
) -> None:
    status, me = api(
        "GET", "/me", sub=MEMBER, role="admin", name="<script>x</script>山田", company_name="株式会社" + "ア" * 300
    )

    assert status == 200
    assert me["name"] == "<script>x</script>山田"  # data: the console shows it as text
    assert me["company_name"] == ("株式会社" + "ア" * 300)[:200]
    assert api("GET", "/me", sub=MEMBER, role="member", name=["not", "text"])[1]["name"] is None


def test_me_refuses_a_token_the_check_refuses(api: Callable[..., tuple[int, Any]]) -> None:
    assert api("GET", "/me", bad=True)[0] == 401
    assert api("GET", "/me", sub=MEMBER, role="owner")[0] == 401


def test_my_links_say_which_messengers_the_company_has_on_and_its_line_friend_link(
    api: Callable[..., tuple[int, Any]],
) -> None:
    # GIVEN nothing on
    _, before = api("GET", "/me/links", sub=MEMBER, role="member")
    assert before["channels"] == {m: False for m in ("naver_works", "kakao", "slack", "google_chat", "line")}
    assert before["line_friend_link_url"] is None

    # WHEN the admin turns LINE on
    status, _ = api(
        "PUT", "/admin/integrations/line", {"enabled": True, "settings": LINE_SETTINGS}, sub="a@acme", role="admin"
    )
    assert status == 200

    # THEN the employee is offered LINE, with its friend link
    _, after = api("GET", "/me/links", sub=MEMBER, role="member")
    assert after["channels"]["line"] is True and after["channels"]["slack"] is False
    assert after["line_friend_link_url"] == LINE_SETTINGS["friend_link_url"]

    # AND once LINE is off again, no friend link is offered
    api("DELETE", "/admin/integrations/line", sub="a@acme", role="admin")
    _, off = api("GET", "/me/links", sub=MEMBER, role="member")
    assert off["channels"]["line"] is False and off["line_friend_link_url"] is None


def test_my_links_read_the_companys_settings_once(stack: HubStack, api: Callable[..., tuple[int, Any]]) -> None:
    queries: list[str] = []
    stack.dynamodb.meta.client.meta.events.register(
        "before-parameter-build.dynamodb.Query", lambda params, **_: queries.append(params["TableName"])
    )

    status, _ = api("GET", "/me/links", sub=MEMBER, role="member")

    # (The settings table is read by a Query of the company's partition: one for the link states and the channels.)
    assert status == 200
    assert sum(1 for table in queries if "settings" in table) == 1, queries
