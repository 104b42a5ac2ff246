"""NAVER WORKS notifications through the local stack: bot messages (API 2.0 and legacy 1.0), tokens, retries,
failures, bot provisioning and replacement, verify, and Collabo companies on the platform's credentials.

Each test registers its own tenant (app, service account, bots, users) in the sandbox NAVER WORKS fake and
configures NAVER WORKS through the settings API as the company's admin. The recipients' WORKPLACE user IDs are
their NAVER WORKS user IDs (the contract), so they are registered as users of the tenant.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import boto3
import pytest
import requests
from aws_lambda_powertools.utilities import parameters

from infra.local_stack import LocalStack
from infra.sandbox import SandboxClient
from tests.integration.conftest import Api, notification, wait_for
from tests.integration.helpers import deliveries, ok, user, wait_for_deliveries
from tests.integration.messengers import (
    enable_naver_works,
    integration_status,
    new_works_tenant,
    outcomes,
    route,
    wait_until_idle,
    works_delivered,
    works_message_requests,
    works_token_requests,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def admin(api_as: Callable[..., Api], company_id: str) -> Api:
    return api_as(company_id, user(company_id, "admin"), "admin")


def staff(company_id: str, *names: str) -> list[str]:
    return [user(company_id, name) for name in names]


def expected_content(event: dict[str, Any]) -> dict[str, str]:
    """The link message the hub sends for an event in Japanese."""
    message = event["message"]
    return {
        "type": "link",
        "contentText": f"{message['title']}\n{message['body']}",
        "linkText": "WORKPLACEで開く",
        "link": message["url"],
    }


# ------------------------------------------------------------------------------------------- delivered


def test_each_recipient_gets_a_link_message_from_the_company_bot(
    company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a tenant with taro and hanako, NAVER WORKS configured with its first bot, the item routed to it
    taro, hanako = staff(company_id, "taro", "hanako")
    tenant = new_works_tenant(sandbox, users=[taro, hanako])
    bot = tenant.bots[0]
    enable_naver_works(admin, tenant.settings(bot_id=bot))

    # WHEN a notification goes to both
    event = notification(company_id, [{"user_id": taro}, {"user_id": hanako}])
    send_event(event)
    found = wait_for_deliveries(admin, event["event_id"], 2)

    # THEN both are sent at the first attempt
    assert outcomes(found) == {taro: ("sent", None), hanako: ("sent", None)}
    assert {r["attempts"] for r in found.values()} == {1}
    # AND each got one link message from the company's bot, with the title, body and WORKPLACE link
    delivered = works_delivered(sandbox, tenant)
    assert sorted((m["api"], m["bot_id"], m["user_id"]) for m in delivered) == [
        ("2.0", bot, hanako),
        ("2.0", bot, taro),
    ]
    assert all(m["content"] == expected_content(event) for m in delivered), delivered
    # AND the calls used the API 2.0 path with a bearer token
    calls = works_message_requests(sandbox, bot)
    assert [c["status"] for c in calls] == [201, 201]
    assert all(c["headers"].get("Authorization", "").startswith("Bearer ") for c in calls)


def test_one_token_exchange_serves_several_events(
    company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a configured tenant with two users, and no token issued so far
    people = staff(company_id, "taro", "hanako")
    tenant = new_works_tenant(sandbox, users=people)
    enable_naver_works(admin, tenant.settings(bot_id=tenant.bots[0]))
    assert works_token_requests(sandbox, tenant) == []

    # WHEN three notifications for both arrive
    events = [notification(company_id, [{"user_id": u} for u in people]) for _ in range(3)]
    for event in events:
        send_event(event)
    for event in events:
        assert {r["status"] for r in wait_for_deliveries(admin, event["event_id"], 2).values()} == {"sent"}

    # THEN six messages went out on ONE token exchange
    assert len(works_delivered(sandbox, tenant)) == 6
    (grant,) = works_token_requests(sandbox, tenant)
    assert grant["status"] == 200 and grant["body"]["scope"] == "bot"


def test_an_expired_token_is_renewed_once_and_the_message_sent(
    company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a configured tenant whose token the hub got for a first notification
    (taro,) = staff(company_id, "taro")
    tenant = new_works_tenant(sandbox, users=[taro])
    bot = tenant.bots[0]
    enable_naver_works(admin, tenant.settings(bot_id=bot))
    first = notification(company_id, [{"user_id": taro}])
    send_event(first)
    assert wait_for_deliveries(admin, first["event_id"], 1)[(taro, "naver_works")]["status"] == "sent"
    assert len(works_token_requests(sandbox, tenant)) == 1

    # WHEN the token expires at NAVER WORKS and another notification arrives
    assert sandbox.control("naver_works", "expire_tokens", {"domain_id": tenant.domain_id})["expired"] == 1
    second = notification(company_id, [{"user_id": taro}])
    send_event(second)
    record = wait_for_deliveries(admin, second["event_id"], 1)[(taro, "naver_works")]

    # THEN it is sent at its first attempt, after one 401 and one new token
    assert (record["status"], record["attempts"]) == ("sent", 1)
    assert [c["status"] for c in works_message_requests(sandbox, bot)] == [201, 401, 201]
    assert [g["status"] for g in works_token_requests(sandbox, tenant)] == [200, 200]
    assert len(works_delivered(sandbox, tenant)) == 2
    # AND the integration is not put in error
    assert integration_status(admin, "naver_works")["state"] != "error"


def test_a_429_is_retried_later_and_neither_dropped_nor_duplicated(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a configured tenant; NAVER WORKS answers TOO_MANY_REQUESTS (reset in 1 s) to the next message for taro
    taro, hanako = staff(company_id, "taro", "hanako")
    tenant = new_works_tenant(sandbox, users=[taro, hanako])
    bot = tenant.bots[0]
    enable_naver_works(admin, tenant.settings(bot_id=bot))
    sandbox.add_fault("naver_works", "rate_limited", times=1, match={"api": "message", "user_id": taro}, retry_after=1)

    # WHEN a notification for taro and hanako arrives
    event = notification(company_id, [{"user_id": taro}, {"user_id": hanako}])
    send_event(event)
    found = wait_for_deliveries(admin, event["event_id"], 2, timeout=15)

    # THEN both are sent at the second attempt, about a second after the 429: taro's second try, hanako's first
    # (the job stopped at the 429 before claiming her)
    assert outcomes(found) == {taro: ("sent", None), hanako: ("sent", None)}
    assert {user: r["attempts"] for (user, _), r in found.items()} == {taro: 2, hanako: 1}
    calls = works_message_requests(sandbox, bot)
    taro_calls = [c for c in calls if c["path"].endswith(f"/users/{quote(taro, safe='')}/messages")]
    hanako_calls = [c for c in calls if c["path"].endswith(f"/users/{quote(hanako, safe='')}/messages")]
    assert [c["status"] for c in taro_calls] == [429, 201]
    assert 0.9 <= taro_calls[1]["at"] - taro_calls[0]["at"] <= 6.0
    # AND hanako, after taro in the same job, was not tried during the rate limit but once after it
    assert [c["status"] for c in hanako_calls] == [201]
    assert hanako_calls[0]["at"] >= taro_calls[1]["at"]
    # AND each of them received it exactly once
    wait_until_idle(stack, "SendNaverWorksQueue")
    assert sorted(m["user_id"] for m in works_delivered(sandbox, tenant)) == sorted([taro, hanako])


# ------------------------------------------------------------------------------------------- failures


def test_a_user_unknown_to_naver_works_fails_with_the_reason_and_is_not_retried(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a tenant that has taro but no jiro
    taro, jiro = staff(company_id, "taro", "jiro")
    tenant = new_works_tenant(sandbox, users=[taro])
    bot = tenant.bots[0]
    enable_naver_works(admin, tenant.settings(bot_id=bot))

    # WHEN a notification goes to both
    event = notification(company_id, [{"user_id": taro}, {"user_id": jiro}])
    send_event(event)
    found = wait_for_deliveries(admin, event["event_id"], 2)

    # THEN taro's is sent and jiro's failed because NAVER WORKS does not know him
    assert found[(taro, "naver_works")]["status"] == "sent"
    record = found[(jiro, "naver_works")]
    assert (record["status"], record["reason"], record["error_code"]) == (
        "failed",
        "naver_works_user_not_found",
        "NOT_FOUND",
    )
    # AND it was not retried, and the integration is not blamed
    wait_until_idle(stack, "SendNaverWorksQueue")
    assert len(works_message_requests(sandbox, bot)) == 2
    assert integration_status(admin, "naver_works")["state"] != "error"


# ------------------------------------------------------------------------------------------- bots and verify


def test_saving_without_a_bot_id_provisions_a_bot_that_later_sends_use(
    company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a tenant, and an admin who leaves bot_id empty
    (taro,) = staff(company_id, "taro")
    tenant = new_works_tenant(sandbox, users=[taro], bots=0)

    # WHEN the admin saves the settings
    saved = enable_naver_works(admin, tenant.settings())

    # THEN the hub created a bot in the tenant, added it to the domain, and shows its bot_id
    (created,) = [r for r in sandbox.requests("naver_works") if r["path"] == "/works/api/v1.0/bots"]
    assert created["status"] == 201 and created["body"]["administrators"] == [tenant.admin_email]
    bot_id = str(created["response"]["botId"])
    assert saved["settings"]["bot_id"] == bot_id and saved["configured"] is True
    domain_calls = [r for r in sandbox.requests("naver_works") if r["path"].endswith(f"/domains/{tenant.domain_id}")]
    assert [(r["path"], r["status"]) for r in domain_calls] == [
        (f"/works/api/v1.0/bots/{bot_id}/domains/{tenant.domain_id}", 201)
    ]
    assert ok(admin.get("/admin/integrations/naver_works"))["settings"]["bot_id"] == bot_id

    # WHEN a notification arrives
    event = notification(company_id, [{"user_id": taro}])
    send_event(event)

    # THEN it is sent from the provisioned bot
    assert wait_for_deliveries(admin, event["event_id"], 1)[(taro, "naver_works")]["status"] == "sent"
    assert [(m["bot_id"], m["user_id"]) for m in works_delivered(sandbox, tenant)] == [(bot_id, taro)]


def test_a_provisioned_bot_shows_the_hubs_own_640_png_or_the_admins_picture(
    stack: LocalStack, company_id: str, admin: Api, sandbox: SandboxClient
) -> None:
    # GIVEN a tenant, and an admin who leaves bot_id empty
    tenant = new_works_tenant(sandbox, users=[], bots=0)

    # WHEN the admin saves the settings
    enable_naver_works(admin, tenant.settings())

    # THEN the bot was created with the hub's own picture, which the hub serves as a 640x640 PNG without a token
    (created,) = [r for r in sandbox.requests("naver_works") if r["path"] == "/works/api/v1.0/bots"]
    photo_url = created["body"]["photoUrl"]
    assert photo_url == f"{stack.api_url}/assets/naver-works-bot.png"
    photo = requests.get(photo_url, timeout=5)
    assert photo.status_code == 200 and photo.headers["Content-Type"] == "image/png"
    assert photo.content[:8] == b"\x89PNG\r\n\x1a\n" and photo.content[12:16] == b"IHDR"
    assert struct.unpack(">II", photo.content[16:24]) == (640, 640)

    # WHEN another admin gives a picture of their own, and one that is not HTTPS
    other = new_works_tenant(sandbox, users=[], bots=0)
    own = "https://cdn.acme.example/our-bot.png"
    enable_naver_works(admin, other.settings(bot_photo_url=own))
    refused = admin.put(
        "/admin/integrations/naver_works",
        {"enabled": True, "settings": other.settings(bot_photo_url="http://cdn.acme.example/our-bot.png")},
    )

    # THEN the first is used, the second refused naming the field
    last = [r for r in sandbox.requests("naver_works") if r["path"] == "/works/api/v1.0/bots"][-1]
    assert last["body"]["photoUrl"] == own
    assert refused.status_code in (400, 422) and "bot_photo_url" in refused.text


def test_a_replaced_bot_id_is_used_for_later_sends(
    company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN NAVER WORKS configured with the tenant's first bot, as verify confirms
    (taro,) = staff(company_id, "taro")
    tenant = new_works_tenant(sandbox, users=[taro])
    old_bot, new_bot = tenant.bots
    enable_naver_works(admin, tenant.settings(bot_id=old_bot))
    assert f"({old_bot})" in ok(admin.post("/admin/integrations/naver_works/verify"))["status"]["detail"]

    # WHEN the admin replaces bot_id (secrets left out: they are kept) and a notification arrives
    form = {k: v for k, v in tenant.settings(bot_id=new_bot).items() if k not in ("client_secret", "private_key")}
    replaced = ok(admin.put("/admin/integrations/naver_works", {"enabled": True, "settings": form}))
    event = notification(company_id, [{"user_id": taro}])
    send_event(event)

    # THEN the settings show the new bot, and the message comes from it, not from the old one
    assert replaced["settings"]["bot_id"] == new_bot
    assert wait_for_deliveries(admin, event["event_id"], 1)[(taro, "naver_works")]["status"] == "sent"
    assert [(m["bot_id"], m["user_id"]) for m in works_delivered(sandbox, tenant)] == [(new_bot, taro)]
    assert works_message_requests(sandbox, old_bot) == []


def test_verify_issues_a_token_and_reads_the_bot_and_fails_with_a_wrong_client_secret(
    admin: Api, sandbox: SandboxClient
) -> None:
    # GIVEN NAVER WORKS configured with valid credentials
    tenant = new_works_tenant(sandbox, users=[])
    bot = tenant.bots[0]
    ok(admin.put("/admin/integrations/naver_works", {"enabled": True, "settings": tenant.settings(bot_id=bot)}))

    # WHEN the admin verifies them
    verified = ok(admin.post("/admin/integrations/naver_works/verify"))

    # THEN the hub got a token and read the bot, and the status is ok naming it
    assert verified["status"]["state"] == "ok"
    assert verified["status"]["detail"] == f"bot WORKPLACE bot {bot} ({bot})"
    assert [g["status"] for g in works_token_requests(sandbox, tenant)] == [200]
    reads = [r for r in sandbox.requests("naver_works") if r["method"] == "GET" and r["path"].endswith(f"/bots/{bot}")]
    assert [r["status"] for r in reads] == [200]

    # WHEN the admin saves a wrong client secret and verifies again
    ok(
        admin.put(
            "/admin/integrations/naver_works",
            {"enabled": True, "settings": tenant.settings(bot_id=bot, client_secret="wrongClientSecret01")},
        )
    )
    refused = ok(admin.post("/admin/integrations/naver_works/verify"))

    # THEN the status is error with the token endpoint's code, and it stays so
    assert (refused["status"]["state"], refused["status"]["code"]) == ("error", "invalid_client")
    assert "wrongClientSecret01" not in json.dumps(refused)
    assert integration_status(admin, "naver_works")["code"] == "invalid_client"


# ------------------------------------------------------------------------------------------- API 1.0


def test_an_api_1_0_tenant_delivers_through_the_legacy_push_with_the_consumer_key(
    company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a legacy tenant configured with its API 1.0 fields
    (taro,) = staff(company_id, "taro")
    tenant = new_works_tenant(sandbox, users=[taro])
    bot = tenant.bots[0]
    saved = enable_naver_works(admin, tenant.legacy_settings(bot_id=bot))
    assert saved["configured"] is True and saved["settings"]["api_version"] == "1.0"

    # WHEN a notification arrives
    event = notification(company_id, [{"user_id": taro}])
    send_event(event)
    record = wait_for_deliveries(admin, event["event_id"], 1)[(taro, "naver_works")]

    # THEN it is sent through the 1.0 push endpoint with the server token and the consumerKey header
    assert record["status"] == "sent"
    calls = [r for r in sandbox.requests("naver_works") if "/message/push" in r["path"]]
    assert [(c["path"], c["status"]) for c in calls] == [
        (f"/works/legacy/r/{tenant.api_id}/message/v1/bot/{bot}/message/push", 200)
    ]
    (push,) = calls
    assert push["headers"].get("consumerKey") == tenant.consumer_key
    assert push["body"] == {"accountId": taro, "content": expected_content(event)}
    grants = [r for r in sandbox.requests("naver_works") if r["path"] == f"/works/auth/b/{tenant.api_id}/server/token"]
    assert [g["status"] for g in grants] == [200]
    # AND nothing went through API 2.0
    assert works_token_requests(sandbox, tenant) == [] and works_message_requests(sandbox, bot) == []
    assert [(m["api"], m["user_id"]) for m in works_delivered(sandbox, tenant)] == [("1.0", taro)]


def test_a_spent_api_1_0_daily_quota_postpones_the_rest_until_the_reset_and_says_so(
    stack: LocalStack, sqs: Any, company_id: str, admin: Api, sandbox: SandboxClient, send_event: Callable[[Any], None]
) -> None:
    # GIVEN a legacy tenant with one push left today
    taro, hanako, jiro = staff(company_id, "taro", "hanako", "jiro")
    tenant = new_works_tenant(sandbox, users=[taro, hanako, jiro])
    enable_naver_works(admin, tenant.legacy_settings(bot_id=tenant.bots[0]))
    sandbox.control("naver_works", "legacy_quota", {"domain_id": tenant.domain_id, "quota": 1})

    # WHEN a notification for the three arrives
    event = notification(company_id, [{"user_id": u} for u in (taro, hanako, jiro)])
    send_event(event)

    # THEN the first is sent; the others wait for the quota's reset (not failed), and their records say why
    found = wait_for_deliveries(admin, event["event_id"], 3, statuses=frozenset({"sent", "retrying"}))
    assert outcomes(found) == {
        taro: ("sent", None),
        hanako: ("retrying", "daily_quota_reached"),
        jiro: ("retrying", "daily_quota_reached"),
    }
    # AND NAVER WORKS was asked once more, not once per waiting recipient
    pushes = [r["status"] for r in sandbox.requests("naver_works") if "/message/push" in r["path"]]
    assert pushes == [200, 429]

    # WHEN the quota is reset at 00:00 JST and the job comes back
    sandbox.control("naver_works", "legacy_quota", {"domain_id": tenant.domain_id, "reset": True})
    job = {k: event[k] for k in ("company_id", "event_id", "item", "message", "recipients")}
    sqs.send_message(
        QueueUrl=stack.queues["SendNaverWorksQueue"], MessageBody=json.dumps({**job, "channel": "naver_works"})
    )

    # THEN the one push left goes to the next recipient and the last keeps waiting; Taro is not sent twice
    def hanako_sent() -> dict[str, tuple[str, str | None]] | None:
        now = outcomes({(r["user_id"], r["channel"]): r for r in deliveries(admin, event["event_id"])})
        return now if now[hanako][0] == "sent" and now[jiro][0] == "retrying" else None

    assert wait_for(hanako_sent, timeout=20)[jiro] == ("retrying", "daily_quota_reached")
    delivered = [m["user_id"] for m in works_delivered(sandbox, tenant)]
    assert sorted(delivered) == sorted([taro, hanako])


# ------------------------------------------------------------------------------------------- Collabo


@pytest.fixture
def platform_secret(stack: LocalStack) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Write the Collabo platform credentials into the stack's secret (restored afterwards)."""
    client = boto3.client("secretsmanager", endpoint_url=stack.aws_endpoint_url)
    arn = stack.resolver.refs["PlatformSecret"]
    previous = client.get_secret_value(SecretId=arn)["SecretString"]

    def put(value: dict[str, Any]) -> None:
        client.put_secret_value(SecretId=arn, SecretString=json.dumps(value))
        parameters.clear_caches()  # the functions run in this process and cache the secret for 5 minutes

    yield put
    client.put_secret_value(SecretId=arn, SecretString=previous)
    parameters.clear_caches()


def collabo_company(admin: Api) -> None:
    assert ok(admin.put("/admin/company", {"product": "collabo"}))["product"] == "collabo"
    route(admin, "naver_works")


def test_a_collabo_company_without_settings_of_its_own_delivers_with_the_platform_credentials(
    company_id: str,
    admin: Api,
    sandbox: SandboxClient,
    send_event: Callable[[Any], None],
    platform_secret: Callable[[dict[str, Any]], None],
) -> None:
    # GIVEN the platform's NAVER WORKS tenant and credentials, and a Collabo company with none of its own
    (taro,) = staff(company_id, "taro")
    platform = new_works_tenant(sandbox, users=[taro])
    platform_secret({"naver_works": platform.settings(bot_id=platform.bots[0]), "naver_works_calendar": {}})
    collabo_company(admin)

    # WHEN a Collabo notification arrives
    event = notification(company_id, [{"user_id": taro}], product="collabo")
    send_event(event)

    # THEN it is sent from the platform's bot on a token of the platform's app
    record = wait_for_deliveries(admin, event["event_id"], 1, timeout=6)[(taro, "naver_works")]
    assert record["status"] == "sent"
    assert [(m["bot_id"], m["user_id"]) for m in works_delivered(sandbox, platform)] == [(platform.bots[0], taro)]
    assert len(works_token_requests(sandbox, platform)) == 1


def test_a_collabo_admins_replacement_bot_id_is_used_with_the_platform_credentials(
    company_id: str,
    admin: Api,
    sandbox: SandboxClient,
    send_event: Callable[[Any], None],
    platform_secret: Callable[[dict[str, Any]], None],
) -> None:
    # GIVEN the platform's credentials and a Collabo company whose admin replaced the bot with another one
    (taro,) = staff(company_id, "taro")
    platform = new_works_tenant(sandbox, users=[taro])
    platform_bot, own_bot = platform.bots
    platform_secret({"naver_works": platform.settings(bot_id=platform_bot), "naver_works_calendar": {}})
    collabo_company(admin)
    replaced = admin.put("/admin/integrations/naver_works", {"enabled": True, "settings": {"bot_id": own_bot}})

    # WHEN a Collabo notification arrives
    event = notification(company_id, [{"user_id": taro}], product="collabo")
    send_event(event)
    found = wait_for_deliveries(admin, event["event_id"], 1, timeout=6)

    # THEN the admin's bot is shown and used, still on the platform's credentials
    view = ok(replaced)
    assert view["settings"] == {"credentials_source": "platform", "bot_id": own_bot}
    assert found[(taro, "naver_works")]["status"] == "sent"
    assert [(m["bot_id"], m["user_id"]) for m in works_delivered(sandbox, platform)] == [(own_bot, taro)]
    assert works_message_requests(sandbox, platform_bot) == []
    assert deliveries(admin, event["event_id"])[0]["attempts"] == 1
