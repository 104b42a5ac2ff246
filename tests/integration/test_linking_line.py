"""LINE account linking through the local stack: LINE Login (authorize, consent, callback page with the friend QR),
the one-time state (replayed, forged, expired, another company's), consent denied, an expired code, the
integration turned off, and the Messaging API webhook (signature, follow, unfollow) with its effect on deliveries.

Each test registers its own LINE Official Account and LINE Login channel in the sandbox and configures LINE as
the company's admin; the employee's browser is played hop by hop with `requests` (see tests/browser for Chromium).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from infra.sandbox.line_login import signed_webhook, webhook_event
from tests.integration.helpers import Api, captured_logs, deliveries, notification, ok, user, wait_for_deliveries
from tests.integration.linking import (
    FRIEND_LINK_URL,
    LINKED_TITLE,
    admin_links,
    assert_failed,
    authorize_url,
    consent,
    enable_line_login,
    get,
    line_pushes,
    line_user_logs_in,
    link,
    link_line_user,
    my_links,
    new_line_login,
    new_line_user_id,
    open_callback,
    page,
    post_webhook,
    query_of,
    raw_links,
    state_id,
    table,
)
from tests.integration.messengers import route
from workplace_hub.linking.line_webhook import WELCOME

pytestmark = pytest.mark.integration


def line_state(api: Api) -> dict[str, Any]:
    return my_links(api)["line"]


# ------------------------------------------------------------------------------------------- the flow


def test_authorize_gives_the_line_login_url_with_state_nonce_pkce_and_the_hubs_callback(
    stack: LocalStack, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN LINE configured by the admin
    login = enable_line_login(stack, admin, sandbox)
    callback_url = ok(admin.get("/admin/integrations/line"))["read_only"]["callback_url"]

    # WHEN the employee asks where to go, as JSON and as a redirect
    url = authorize_url(member, "line")
    redirect = member.get("/me/links/line/authorize", params={"redirect": "true"}, allow_redirects=False)

    # THEN it is LINE Login's authorize endpoint (the sandbox's) for the company's Login channel
    assert url.startswith(stack.provider_env["LINE_ACCESS_BASE"] + "/oauth2/v2.1/authorize?")
    params = query_of(url)
    assert params["response_type"] == "code"
    assert params["client_id"] == login.channel_id
    # AND the callback is the hub's, the one the admin registers in the LINE console
    assert params["redirect_uri"] == callback_url == stack.api_url + "/oauth/line/callback"
    # AND it asks for profile+openid, offers the Official Account as a friend, and carries state, nonce, PKCE
    assert params["scope"] == "profile openid"
    assert "scope=profile%20openid" in url
    assert params["bot_prompt"] == "aggressive"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["nonce"]) >= 16
    state_part, _, signature = params["state"].partition(".")
    assert state_part and signature
    # AND the redirect form answers 302 to a URL of the same shape with a fresh state, never cached
    assert redirect.status_code == 302, redirect.text
    location = redirect.headers["Location"]
    assert location.startswith(stack.provider_env["LINE_ACCESS_BASE"] + "/oauth2/v2.1/authorize?")
    assert query_of(location)["state"] != params["state"]
    assert query_of(location)["client_id"] == login.channel_id
    assert redirect.headers.get("Cache-Control") == "no-store"


def test_the_employee_links_line_and_sees_the_friend_qr_code_then_the_link_is_stored(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN LINE configured, and an employee who signs in on LINE without adding the Official Account
    login = enable_line_login(stack, admin, sandbox)
    line_user_id = new_line_user_id()
    line_user_logs_in(sandbox, login, line_user_id, friend=False)

    # WHEN the employee goes through authorize → LINE consent → the hub's callback (browser in English)
    with captured_logs() as logs:
        callback = consent(authorize_url(member, "line"))
        response = get(callback, lang="en-US,en;q=0.9")
    shown = page(response)

    # THEN the page says linked, in English, as HTML that is never cached
    assert (shown.status, shown.result) == (200, "linked"), shown.text[:600]
    assert shown.content_type.startswith("text/html")
    assert (shown.lang, shown.title) == ("en", LINKED_TITLE["en"])
    assert response.headers.get("Cache-Control") == "no-store"
    # AND, not being a friend yet, it shows the channel's QR code and the friend link from friend_link_url
    assert shown.friend == "no"
    assert shown.svg_count == 1
    assert shown.friend_link == FRIEND_LINK_URL
    # AND the employee's LINE userId is stored for their company, not yet a friend
    assert line_state(member) == {"state": "linked", "friend": False}
    stored = raw_links(stack, company_id, member.user_id)
    assert stored["line_user_id"] == line_user_id
    assert stored["line_user_key"] == f"{company_id}#{line_user_id}"
    # AND the LINE Login exchange used PKCE and the hub's callback
    (exchange,) = [r for r in sandbox.requests("line_login") if r["path"].endswith("/oauth2/v2.1/token")]
    assert exchange["status"] == 200
    assert exchange["body"]["redirect_uri"] == login.callback_url
    assert len(exchange["body"]["code_verifier"]) >= 43
    # AND nothing secret of the flow was logged: not the code, the state, the callback URL or LINE's tokens
    answer = exchange["response"]
    written = logs.getvalue()
    assert "account linked" in written  # the capture works
    for secret in (query_of(callback)["code"], query_of(callback)["state"], callback):
        assert secret not in written
    for name in ("access_token", "refresh_token", "id_token"):
        assert answer[name] not in written


def test_an_employee_who_adds_the_friend_on_the_consent_page_gets_no_qr_code(
    stack: LocalStack, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN LINE configured, and an employee who adds the Official Account on LINE's consent page
    login = enable_line_login(stack, admin, sandbox)
    line_user_logs_in(sandbox, login, new_line_user_id(), friend=True)

    # WHEN they finish the flow (browser without Accept-Language)
    shown = page(link(member, "line"))

    # THEN the page (Japanese) says linked and already a friend, without a QR code
    assert (shown.result, shown.lang, shown.title) == ("linked", "ja", LINKED_TITLE["ja"])
    assert shown.friend == "yes"
    assert shown.svg_count == 0 and shown.friend_link is None
    # AND the link is stored as a friend
    assert line_state(member) == {"state": "linked", "friend": True}


@pytest.mark.parametrize(
    ("accept_language", "lang"),
    [
        ("ko-KR,ko;q=0.9", "ko"),
        ("en", "en"),
        ("ja-JP", "ja"),
        ("fr-FR, de;q=0.8", "ja"),
        ("fr, en;q=0.3, ko;q=0.7", "ko"),
    ],
)
def test_the_callback_page_speaks_the_browsers_language_japanese_first(
    stack: LocalStack, admin: Api, member: Api, sandbox: SandboxClient, accept_language: str, lang: str
) -> None:
    # GIVEN LINE configured and an employee signing in on LINE
    login = enable_line_login(stack, admin, sandbox)
    line_user_logs_in(sandbox, login, new_line_user_id())

    # WHEN the callback page is shown to a browser asking for these languages
    shown = page(link(member, "line", lang=accept_language))

    # THEN the page is in the first of ja / ko / en the browser accepts (Japanese otherwise)
    assert (shown.result, shown.lang, shown.title) == ("linked", lang, LINKED_TITLE[lang])


# ------------------------------------------------------------------------------------------- the state


def test_a_replayed_callback_shows_state_used_and_changes_nothing(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN an employee who linked LINE, and the callback URL their browser used
    login = enable_line_login(stack, admin, sandbox)
    line_user_id = new_line_user_id()
    line_user_logs_in(sandbox, login, line_user_id)
    callback = consent(authorize_url(member, "line"))
    assert page(get(callback)).result == "linked"
    before = raw_links(stack, company_id, member.user_id)

    # WHEN the same callback is opened again (Korean browser)
    replay = get(callback, lang="ko")

    # THEN an error page says the link was already used, in Korean, with what to do next
    assert_failed(replay, "state_used", lang="ko")
    # AND the stored link is exactly as before, and LINE's token endpoint was not called again
    assert raw_links(stack, company_id, member.user_id) == before
    exchanges = [r for r in sandbox.requests("line_login") if r["path"].endswith("/oauth2/v2.1/token")]
    assert len(exchanges) == 1


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda s: s[:-2] + ("AA" if not s.endswith("AA") else "BB"), id="tampered signature"),
        pytest.param(lambda s: s.partition(".")[0], id="signature removed"),
        pytest.param(lambda s: "x" + s, id="tampered id"),
        pytest.param(lambda s: "", id="empty"),
    ],
)
def test_a_forged_state_shows_state_invalid_and_links_nothing(
    stack: LocalStack,
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    forge: Callable[[str], str],
) -> None:
    # GIVEN an employee at LINE's consent page, with a real code for a real state
    login = enable_line_login(stack, admin, sandbox)
    line_user_logs_in(sandbox, login, new_line_user_id())
    callback = consent(authorize_url(member, "line"))
    params = query_of(callback)

    # WHEN the callback arrives with the state forged
    response = open_callback(login.callback_url, {"code": params["code"], "state": forge(params["state"])})

    # THEN an error page says the link is not valid
    assert_failed(response, "state_invalid", lang="ja")
    # AND nothing was linked, and the code was never exchanged
    assert "line_user_id" not in raw_links(stack, company_id, member.user_id)
    assert not [r for r in sandbox.requests("line_login") if r["path"].endswith("/oauth2/v2.1/token")]


def test_a_state_for_another_provider_is_refused(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN an employee in the LINE flow, with a code and a real LINE state
    login = enable_line_login(stack, admin, sandbox)
    line_user_logs_in(sandbox, login, new_line_user_id())
    params = query_of(consent(authorize_url(member, "line")))

    # WHEN that state is brought to the Google callback
    response = open_callback(stack.api_url + "/oauth/google/callback", params)

    # THEN it is refused as invalid, and no link of any kind was stored
    assert_failed(response, "state_invalid")
    stored = raw_links(stack, company_id, member.user_id)
    assert "line_user_id" not in stored and "google_calendar_tokens" not in stored


def test_an_expired_state_shows_state_expired_and_links_nothing(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN an employee who started the flow, whose state is now older than 10 minutes
    login = enable_line_login(stack, admin, sandbox)
    line_user_logs_in(sandbox, login, new_line_user_id())
    url = authorize_url(member, "line")
    states = table(stack, "OAuthStateTable")
    record = states.get_item(Key={"state_id": state_id(url)})["Item"]
    assert record["company_id"] == company_id and record["user_id"] == member.user_id
    assert 590 <= int(record["expires_at"]) - time.time() <= 600
    states.update_item(
        Key={"state_id": state_id(url)},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": int(time.time()) - 1},
    )

    # WHEN they come back from LINE's consent page
    response = get(consent(url), lang="en")

    # THEN the page says the attempt expired, and nothing was linked or exchanged
    assert_failed(response, "state_expired", lang="en")
    assert "line_user_id" not in raw_links(stack, company_id, member.user_id)
    assert not [r for r in sandbox.requests("line_login") if r["path"].endswith("/oauth2/v2.1/token")]
    # AND the state is gone for good
    assert "Item" not in states.get_item(Key={"state_id": state_id(url)})


def test_a_state_of_company_a_links_only_company_as_employee_whoever_finishes_it(
    stack: LocalStack,
    api_as: Callable[..., Api],
    company_id: str,
    other_company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
) -> None:
    # GIVEN company A (this test's) and company B, both with LINE configured on their own channels
    login_a = enable_line_login(stack, admin, sandbox)
    admin_b = api_as(other_company_id, user(other_company_id, "admin"), "admin")
    member_b = api_as(other_company_id, user(other_company_id, "jiro"), "member")
    enable_line_login(stack, admin_b, sandbox)
    # AND A's employee started the flow, signing in as some LINE user
    line_user_id = new_line_user_id()
    line_user_logs_in(sandbox, login_a, line_user_id)
    callback = consent(authorize_url(member, "line"))

    # WHEN B's employee's browser (with B's WORKPLACE session) opens that callback
    response = get(callback, headers={"Authorization": member_b.session.headers["Authorization"]})

    # THEN the link lands for A's employee in A only (the state says whose flow it is)
    assert page(response).result == "linked"
    assert line_state(member) == {"state": "linked", "friend": False}
    assert line_state(member_b)["state"] == "not_linked"
    assert raw_links(stack, other_company_id, member_b.user_id) == {}
    # AND B's admin sees no employee linked, A's admin sees A's employee
    assert admin_links(admin_b) == {}
    assert admin_links(admin)[member.user_id]["line"]["state"] == "linked"


def test_a_code_from_company_bs_channel_cannot_finish_company_as_flow(
    stack: LocalStack,
    api_as: Callable[..., Api],
    company_id: str,
    other_company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
) -> None:
    # GIVEN companies A and B with their own LINE Login channels, and an employee of each in the flow
    login_a = enable_line_login(stack, admin, sandbox)
    admin_b = api_as(other_company_id, user(other_company_id, "admin"), "admin")
    member_b = api_as(other_company_id, user(other_company_id, "jiro"), "member")
    login_b = enable_line_login(stack, admin_b, sandbox)
    line_user_logs_in(sandbox, login_a, new_line_user_id())
    params_a = query_of(consent(authorize_url(member, "line")))
    line_user_logs_in(sandbox, login_b, new_line_user_id())
    params_b = query_of(consent(authorize_url(member_b, "line")))

    # WHEN A's state arrives with the code B's channel issued
    response = open_callback(login_a.callback_url, {"code": params_b["code"], "state": params_a["state"]})

    # THEN the code is refused (LINE will not give it to A's channel), and neither company gets a link
    assert_failed(response, "code_invalid")
    assert line_state(member)["state"] == "not_linked"
    assert line_state(member_b)["state"] == "not_linked"
    # AND B's own flow was not disturbed: B's state and code still link B's employee, in B
    assert page(open_callback(login_b.callback_url, params_b)).result == "linked"
    assert line_state(member_b)["state"] == "linked"
    assert line_state(member)["state"] == "not_linked"


# ------------------------------------------------------------------------------------------- provider answers


def test_consent_denied_on_line_shows_access_denied(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN an employee who declines on LINE's consent page
    login = enable_line_login(stack, admin, sandbox)
    line_user_logs_in(sandbox, login, new_line_user_id(), consent="deny")

    # WHEN LINE sends them back to the hub
    callback = consent(authorize_url(member, "line"))
    assert query_of(callback)["error"] == "ACCESS_DENIED"
    response = get(callback, lang="ko")

    # THEN the page says access was not granted (Korean), and nothing is linked
    assert_failed(response, "access_denied", lang="ko")
    assert line_state(member)["state"] == "not_linked"


def test_an_expired_code_shows_code_invalid(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN an employee back from LINE whose code expired before the callback was opened
    login = enable_line_login(stack, admin, sandbox)
    line_user_logs_in(sandbox, login, new_line_user_id())
    callback = consent(authorize_url(member, "line"))
    assert sandbox.control("line_login", "expire_codes", {})["expired"] == 1

    # WHEN the callback is opened
    response = get(callback, lang="en")

    # THEN the page says the code was invalid or expired, and nothing is linked
    assert_failed(response, "code_invalid", lang="en")
    assert line_state(member)["state"] == "not_linked"
    (exchange,) = [r for r in sandbox.requests("line_login") if r["path"].endswith("/oauth2/v2.1/token")]
    assert exchange["status"] == 400 and exchange["response"]["error"] == "invalid_grant"


def test_line_turned_off_refuses_to_start_and_a_flow_in_progress_fails_cleanly(
    stack: LocalStack, admin: Api, member: Api, sandbox: SandboxClient
) -> None:
    # GIVEN LINE configured, and an employee half-way through the flow
    login = enable_line_login(stack, admin, sandbox)
    line_user_logs_in(sandbox, login, new_line_user_id())
    callback = consent(authorize_url(member, "line"))

    # WHEN the admin turns LINE off
    ok(admin.put("/admin/integrations/line", {"enabled": False, "settings": login.settings()}))

    # THEN starting the flow answers 409 integration_unavailable (JSON and redirect forms)
    refused = member.get("/me/links/line/authorize")
    assert refused.status_code == 409 and refused.json()["error"] == "integration_unavailable"
    redirect = member.get("/me/links/line/authorize", params={"redirect": "true"}, allow_redirects=False)
    assert redirect.status_code == 409
    # AND the flow in progress ends on a page saying the integration is not available, with no link
    assert_failed(callback_response := get(callback), "integration_unavailable")
    assert callback_response.status_code == 400
    assert line_state(member)["state"] == "not_linked"


def test_a_company_that_never_configured_line_cannot_start(member: Api) -> None:
    # GIVEN a company without LINE
    # WHEN an employee asks to link LINE, or an unknown provider
    refused = member.get("/me/links/line/authorize")
    unknown = member.get("/me/links/facebook/authorize")

    # THEN LINE is a clear 409 and an unknown provider a validation error
    assert refused.status_code == 409 and refused.json()["error"] == "integration_unavailable"
    assert unknown.status_code == 422, unknown.text


def test_authorize_needs_a_workplace_token(stack: LocalStack) -> None:
    # GIVEN no WORKPLACE session
    # WHEN the authorize route is called without a token
    response = get(stack.api_url + "/me/links/line/authorize")

    # THEN it is refused
    assert response.status_code == 401


# ------------------------------------------------------------------------------------------- the webhook


@pytest.fixture
def linked_employee(stack: LocalStack, admin: Api, member: Api, sandbox: SandboxClient) -> tuple[Any, str]:
    """LINE configured, the item routed to LINE, and the member linked (not yet a friend)."""
    login = enable_line_login(stack, admin, sandbox)
    route(admin, "line")
    line_user_id = link_line_user(stack, member, sandbox, login)
    return login, line_user_id


def test_a_webhook_with_a_bad_signature_is_refused_and_stores_nothing(
    stack: LocalStack,
    api_as: Callable[..., Api],
    company_id: str,
    other_company_id: str,
    member: Api,
    sandbox: SandboxClient,
    linked_employee: Any,
) -> None:
    # GIVEN a linked employee who is not yet a friend, and company B with LINE on its own channel
    login, line_user_id = linked_employee
    enable_line_login(stack, api_as(other_company_id, user(other_company_id, "admin"), "admin"), sandbox)
    before = raw_links(stack, company_id, member.user_id)
    body, headers = signed_webhook(login.channel.secret, [{"type": "follow", "userId": line_user_id}])

    # WHEN a follow arrives with a wrong signature, without one, signed with another secret, or altered
    wrong = post_webhook(stack, company_id, body, {**headers, "X-Line-Signature": "bm90IHRoZSBzaWduYXR1cmU="})
    missing = post_webhook(stack, company_id, body, {k: v for k, v in headers.items() if k != "X-Line-Signature"})
    other_body, other_headers = signed_webhook("0" * 32, [{"type": "follow", "userId": line_user_id}])
    other_secret = post_webhook(stack, company_id, other_body, other_headers)
    altered = post_webhook(stack, company_id, body.replace(b"follow", b"unfollow", 1), headers)
    # ... or A's correctly signed webhook is posted to company B's URL, to a company that does not exist, or to
    # one that exists without LINE
    to_b = post_webhook(stack, other_company_id, body, headers)
    nowhere = post_webhook(stack, f"co-{line_user_id[1:11]}", body, headers)
    without_line = api_as(f"co-{line_user_id[11:21]}", user(f"co-{line_user_id[11:21]}", "admin"), "admin")
    ok(without_line.put("/admin/company", {"product": "workplace"}))
    no_line = post_webhook(stack, without_line.company_id, body, headers)

    # THEN each is refused alike (401, the same error body: the answer does not tell who uses LINE), and
    # nothing changed or was sent
    answers = [(r.status_code, r.json()) for r in (wrong, missing, other_secret, altered, to_b, nowhere, no_line)]
    assert answers == [(401, {"error": "signature_invalid", "message": answers[0][1]["message"]})] * 7
    assert raw_links(stack, company_id, member.user_id) == before
    assert line_pushes(sandbox, login) == []
    assert [r for r in sandbox.requests("line") if r["path"].endswith("/push")] == []


def test_follow_marks_the_employee_a_friend_and_pushes_the_completion_message(
    stack: LocalStack, company_id: str, member: Api, sandbox: SandboxClient, linked_employee: Any
) -> None:
    # GIVEN a linked employee who is not yet a friend
    login, line_user_id = linked_employee
    assert line_state(member) == {"state": "linked", "friend": False}

    # WHEN they add the Official Account (LINE posts a signed follow event)
    sandbox.control("line", "friends", {"channel_access_token": login.channel.token, "add": [line_user_id]})
    body, headers = signed_webhook(login.channel.secret, [{"type": "follow", "userId": line_user_id}])
    response = post_webhook(stack, company_id, body, headers)

    # THEN the hub answers 200 and the employee is a friend
    assert response.status_code == 200, response.text
    assert line_state(member) == {"state": "linked", "friend": True}
    # AND LINE got one push of the completion message to them, from the company's channel
    (push,) = line_pushes(sandbox, login, to=line_user_id)
    assert push["status"] == 200
    assert push["body"]["messages"] == [{"type": "text", "text": "\n".join(WELCOME.values())}]
    assert push["response"]["_sandbox"]["delivered_to"] == [line_user_id]

    # WHEN the same webhook comes again
    again = post_webhook(stack, company_id, body, headers)

    # THEN it is acknowledged as already applied: no second push
    assert again.status_code == 200
    pushes = line_pushes(sandbox, login, to=line_user_id)
    assert [p["status"] for p in pushes] == [200]


def test_a_follow_by_someone_who_never_linked_changes_nothing(
    stack: LocalStack, company_id: str, member: Api, sandbox: SandboxClient, linked_employee: Any
) -> None:
    # GIVEN a linked employee, and a LINE user who never linked
    login, _ = linked_employee
    stranger = new_line_user_id()

    # WHEN the stranger follows the Official Account
    body, headers = signed_webhook(login.channel.secret, [{"type": "follow", "userId": stranger}])
    response = post_webhook(stack, company_id, body, headers)

    # THEN the webhook is acknowledged, nobody is sent anything and the employee's link is unchanged
    assert response.status_code == 200
    assert line_pushes(sandbox, login) == []
    assert line_state(member) == {"state": "linked", "friend": False}


def test_unfollow_blocks_the_link_and_deliveries_are_skipped_until_they_follow_again(
    stack: LocalStack,
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    send_event: Callable[[Any], None],
    linked_employee: Any,
) -> None:
    # GIVEN a linked employee who is a friend
    login, line_user_id = linked_employee
    sandbox.control("line", "friends", {"channel_access_token": login.channel.token, "add": [line_user_id]})
    assert (
        post_webhook(
            stack, company_id, *signed_webhook(login.channel.secret, [{"type": "follow", "userId": line_user_id}])
        ).status_code
        == 200
    )

    # WHEN they block the Official Account (unfollow)
    body, headers = signed_webhook(login.channel.secret, [{"type": "unfollow", "userId": line_user_id}])
    assert post_webhook(stack, company_id, body, headers).status_code == 200

    # THEN the admin sees their LINE link blocked, with the reason, and so does the employee
    blocked = admin_links(admin)[member.user_id]["line"]
    assert (blocked["state"], blocked["reason"]) == ("blocked", "line_unfollowed")
    assert line_state(member)["state"] == "blocked"
    # AND a notification routed to LINE is skipped for them with reason line_blocked, and nothing is pushed
    pushes_before = len(line_pushes(sandbox, login))
    event = notification(company_id, [{"user_id": member.user_id}])
    send_event(event)
    record = wait_for_deliveries(admin, event["event_id"], 1)[(member.user_id, "line")]
    assert (record["status"], record["reason"]) == ("skipped", "line_blocked")
    assert len(line_pushes(sandbox, login)) == pushes_before

    # WHEN they follow again
    body, headers = signed_webhook(
        login.channel.secret, [{"type": "follow", "userId": line_user_id, "isUnblocked": True}]
    )
    assert post_webhook(stack, company_id, body, headers).status_code == 200

    # THEN the link is healthy again and the next notification is sent
    assert admin_links(admin)[member.user_id]["line"] == {"state": "linked", "friend": True}
    event = notification(company_id, [{"user_id": member.user_id}])
    send_event(event)
    record = wait_for_deliveries(admin, event["event_id"], 1)[(member.user_id, "line")]
    assert record["status"] == "sent", record
    assert len(deliveries(admin, event["event_id"])) == 1


def test_webhook_events_apply_in_lines_time_order_and_once(
    stack: LocalStack, company_id: str, admin: Api, member: Api, sandbox: SandboxClient, linked_employee: Any
) -> None:
    # GIVEN a linked employee (not yet a friend), and the times of LINE events made now
    login, line_user_id = linked_employee
    sandbox.control("line", "friends", {"channel_access_token": login.channel.token, "add": [line_user_id]})
    now_ms = int(time.time() * 1000)

    def post(*events: dict[str, Any]) -> int:
        return post_webhook(stack, company_id, *signed_webhook(login.channel.secret, list(events))).status_code

    # WHEN a signed unfollow dated 30 days ago (before the employee linked) arrives
    assert post({"type": "unfollow", "userId": line_user_id, "timestamp": now_ms - 30 * 86_400_000}) == 200
    # THEN it changes nothing: the link reads as the linking left it
    assert line_state(member) == {"state": "linked", "friend": False}

    # WHEN they follow, then block the Official Account
    follow = webhook_event({"type": "follow", "userId": line_user_id, "timestamp": now_ms})
    follow_body, follow_headers = signed_webhook(login.channel.secret, [follow])
    assert post_webhook(stack, company_id, follow_body, follow_headers).status_code == 200
    unfollow = webhook_event({"type": "unfollow", "userId": line_user_id, "timestamp": now_ms + 1})
    assert post(unfollow) == 200
    assert line_state(member)["state"] == "blocked"

    # AND the earlier follow is posted again verbatim (a replay), and LINE redelivers the unfollow
    replay = post_webhook(stack, company_id, follow_body, follow_headers)
    redelivery = post({**unfollow, "deliveryContext": {"isRedelivery": True}})

    # THEN both are acknowledged (LINE must not retry) and change nothing: still blocked, one welcome push
    assert (replay.status_code, redelivery) == (200, 200)
    blocked = admin_links(admin)[member.user_id]["line"]
    assert (blocked["state"], blocked["reason"]) == ("blocked", "line_unfollowed")
    assert [p["status"] for p in line_pushes(sandbox, login, to=line_user_id)] == [200]
    # AND the link keeps the latest event applied, the API shows nothing of it
    stored = raw_links(stack, company_id, member.user_id)
    assert (stored["line_event_at"], stored["line_event_ids"]) == (now_ms + 1, [unfollow["webhookEventId"]])
    assert "line_event_at" not in str(admin_links(admin)) + str(my_links(member))

    # WHEN they follow again, later
    assert post({"type": "follow", "userId": line_user_id, "timestamp": now_ms + 2, "isUnblocked": True}) == 200

    # THEN the link is healthy again
    assert line_state(member) == {"state": "linked", "friend": True}


def test_a_signed_webhook_with_malformed_events_is_acknowledged_and_a_malformed_body_refused(
    stack: LocalStack, company_id: str, member: Api, sandbox: SandboxClient, linked_employee: Any
) -> None:
    # GIVEN a linked employee
    login, line_user_id = linked_employee
    before = raw_links(stack, company_id, member.user_id)

    def post_signed(payload: Any) -> requests.Response:
        body = json.dumps(payload).encode()
        signature = base64.b64encode(hmac.new(login.channel.secret.encode(), body, hashlib.sha256).digest())
        headers = {"Content-Type": "application/json", "X-Line-Signature": signature.decode()}
        return post_webhook(stack, company_id, body, headers)

    # WHEN correctly signed webhooks arrive whose events are not event objects
    numbers = post_signed({"destination": "U" + "0" * 32, "events": [1]})
    half = post_signed(
        {"destination": "U" + "0" * 32, "events": [{"type": "unfollow", "source": {"userId": line_user_id}}, None]}
    )
    # THEN LINE gets its 200 (a refusal would only be redelivered), and nothing changed
    assert (numbers.status_code, half.status_code) == (200, 200), numbers.text
    assert raw_links(stack, company_id, member.user_id) == before

    # WHEN the signed body is not a webhook at all
    not_a_list = post_signed({"destination": "U" + "0" * 32, "events": "follow"})
    # THEN it is a 400 with the usual error body, naming the field, and nothing changed
    assert not_a_list.status_code == 400
    assert not_a_list.json()["error"] == "invalid_request" and not_a_list.json()["field"] == "events"
    assert raw_links(stack, company_id, member.user_id) == before
    assert line_pushes(sandbox, login) == []


def test_the_employee_sends_themselves_a_line_test_message(
    stack: LocalStack, member: Api, sandbox: SandboxClient, linked_employee: Any
) -> None:
    # GIVEN a linked employee who is a friend of the Official Account
    login, line_user_id = linked_employee
    sandbox.control("line", "friends", {"channel_access_token": login.channel.token, "add": [line_user_id]})

    # WHEN they ask for a test message on LINE
    answer = ok(member.post("/me/links/line/test"))

    # THEN it was sent, and LINE delivered one push to them with the test text
    assert answer["channel"] == "line" and answer["result"] == "sent", answer
    (push,) = line_pushes(sandbox, login, to=line_user_id)
    assert push["status"] == 200
    assert push["response"]["_sandbox"]["delivered_to"] == [line_user_id]
    assert "WORKPLACE 連携テスト" in str(push["body"]["messages"])
    assert answer["provider_message_id"] == push["response"]["sentMessages"][0]["id"]


def test_the_login_channel_only_accepts_the_hubs_callback(
    stack: LocalStack, sandbox: SandboxClient, admin: Api, member: Api
) -> None:
    # GIVEN a Login channel whose registered callback is somewhere else than the hub's
    login = new_line_login(stack, sandbox)
    sandbox.control(
        "line_login",
        "channels",
        {
            "channel_id": login.channel_id,
            "channel_secret": login.channel.login_channel_secret,
            "callback_urls": ["https://elsewhere.example/callback"],
        },
    )
    ok(admin.put("/admin/integrations/line", {"enabled": True, "settings": login.settings()}))
    line_user_logs_in(sandbox, login, new_line_user_id())

    # WHEN the employee is sent to LINE
    response = get(authorize_url(member, "line"))

    # THEN LINE refuses on its own page (no redirect): the admin must register read_only.callback_url
    assert response.status_code == 400 and "Location" not in response.headers
    assert ok(admin.get("/admin/integrations/line"))["read_only"]["callback_url"] == login.callback_url
