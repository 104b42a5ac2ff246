"""The web console (GET /console/) in a real headless Chromium on the local stack: an admin configures Slack and
LINE, verifies them and routes an item to both; an employee links Slack and gets a test message in the sandbox;
the admin sees the delivery and replays a failure. Members cannot open admin pages, an expired token shows the
sign-in page, names with markup show as text, every input has a label and the pages work from the keyboard.

The Japanese pages are screenshotted into test-artifacts/console/ (kept after the run; `make browser` installs
fonts-noto-cjk so they are readable; without it the test still runs and the characters show as boxes).
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from infra.sandbox import SandboxClient
from infra.template import ROOT
from tests.integration.helpers import Api, enable_slack, new_member_id, notification, ok, slack_posts, user
from tests.integration.linking import FRIEND_LINK_URL
from tests.integration.messengers import new_line_channel

pytestmark = pytest.mark.integration

ARTIFACTS = ROOT / "test-artifacts" / "console"
WAIT = 20  # seconds a page may take to show what the test waits for (a bound, not an assertion)


def has_cjk_font() -> bool:
    try:
        found = subprocess.run(["fc-list", ":lang=ja", "family"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(found.stdout.strip())


def screenshot(driver: Any, name: str) -> Path:
    """Keep a screenshot of the whole page (from its top) as a test artifact; the window keeps its size."""
    if not has_cjk_font():
        warnings.warn(
            "no CJK font: the Japanese screenshots show boxes (make browser installs fonts-noto-cjk)", stacklevel=2
        )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], min(max(height + 140, size["height"]), 4000))
    driver.execute_script("window.scrollTo(0, 0)")
    try:
        assert driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(size["width"], size["height"])
    assert path.stat().st_size > 5000  # a rendered page, not an empty canvas
    return path


def console_url(stack: Any, token: str, route: str = "") -> str:
    return f"{stack.api_url}/console/{route}#token={token}"


def wait(driver: Any, condition: Callable[[Any], Any]) -> Any:
    # A card is drawn anew after each save or verify: an element found just before may be gone; look again.
    return WebDriverWait(driver, WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def page_ready(driver: Any, route: str) -> WebElement:
    """Wait for the route's page to be drawn (its container says data-ready)."""
    return wait(
        driver,
        lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, f"#page-{route}[data-ready='true']")), None),
    )


def go(driver: Any, route: str) -> WebElement:
    driver.execute_script("window.location.hash = arguments[0]", f"#/{route}")
    return page_ready(driver, route)


def sign_in(driver: Any, stack: Any, token: str, route: str) -> WebElement:
    driver.get(console_url(stack, token))
    wait(driver, lambda d: d.find_element(By.ID, "header").is_displayed() or d.find_elements(By.ID, "signin"))
    return go(driver, route)


def fill(scope: WebElement, name: str, value: str) -> None:
    element = scope.find_element(By.NAME, name)
    element.clear()
    element.send_keys(value)


def card_state(driver: Any, integration: str, state: str) -> bool:
    card = driver.find_element(By.ID, f"integration-{integration}")
    return card.get_attribute("data-state") == state


def send_event(stack: Any, event: dict[str, Any]) -> None:
    sqs = boto3.client(
        "sqs",
        endpoint_url=stack.aws_endpoint_url,
        region_name="ap-northeast-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    (queue,) = [url for url in sqs.list_queues()["QueueUrls"] if "WorkplaceEventsQueue" in url]
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event, ensure_ascii=False))


def unlabelled_controls(driver: Any) -> list[str]:
    """Every visible input, select and textarea without a label (label[for], a wrapping label or aria-label)."""
    return driver.execute_script(
        """
        return Array.from(document.querySelectorAll('input, select, textarea'))
          .filter((el) => el.type !== 'hidden')
          .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.getAttribute('aria-labelledby'))
          .map((el) => el.outerHTML.slice(0, 120));
        """
    )


# ------------------------------------------------------------------------------------------- the whole flow


def test_an_admin_sets_up_slack_and_line_and_an_employee_links_slack_and_gets_a_test_message(
    stack: Any, company_id: str, admin: Api, member: Api, sandbox: SandboxClient, chromium: Callable[[str], Any]
) -> None:
    # GIVEN a Slack workspace with taro in it, and a LINE Official Account, in the sandbox
    slack_token = "xoxb-" + f"{uuid.uuid4().int % 10**12:012d}-" + uuid.uuid4().hex
    taro_slack = new_member_id()
    sandbox.add_slack_workspace(slack_token, team="Acme", members=[taro_slack])
    line = new_line_channel(sandbox, [])
    line_settings = line.settings(friend_link_url=FRIEND_LINK_URL)
    admin_token = stack.token(company_id, admin.user_id, "admin", name="管理 花子", company_name="株式会社アクメ")
    driver = chromium("ja")

    # WHEN the admin opens the console from WORKPLACE (the token in the fragment)
    page = sign_in(driver, stack, admin_token, "integrations")

    # THEN the token has left the address bar for sessionStorage, and the header says who is signed in
    assert "token" not in driver.current_url
    assert driver.execute_script("return sessionStorage.getItem('workplace-hub-token')") == admin_token
    assert driver.find_element(By.ID, "who-company").text == "株式会社アクメ"
    assert driver.find_element(By.ID, "who-role").get_attribute("data-role") == "admin"
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ja"
    assert driver.find_element(By.ID, "nav-integrations").text == "サービス連携設定"
    # AND all seven integrations are there, each in its own element
    for integration in (
        "naver_works",
        "kakao",
        "slack",
        "google_chat",
        "line",
        "naver_works_calendar",
        "google_calendar",
    ):
        assert page.find_element(By.ID, f"integration-{integration}")

    # WHEN the admin turns Slack on with its bot token, saves, and verifies
    slack = driver.find_element(By.ID, "integration-slack")
    slack.find_element(By.NAME, "enabled").click()
    fill(slack, "bot_token", slack_token)
    slack.find_element(By.CSS_SELECTOR, "button.save").click()
    wait(
        driver,
        lambda d: (
            card_state(d, "slack", "unverified")
            and d.find_element(By.ID, "integration-slack").get_attribute("data-enabled") == "true"
        ),
    )
    driver.find_element(By.CSS_SELECTOR, "#integration-slack button.verify").click()
    wait(driver, lambda d: card_state(d, "slack", "ok"))

    # THEN the secret is shown masked and never filled back
    bot_token = driver.find_element(By.CSS_SELECTOR, "#integration-slack [name='bot_token']")
    assert bot_token.get_attribute("value") == ""
    assert bot_token.get_attribute("placeholder").startswith("********")
    assert slack_token not in driver.page_source
    assert admin_token not in driver.page_source  # nor the sign-in token, which lives in sessionStorage only

    # WHEN a LINE secret is mistyped, the API's refusal shows next to that field
    line_card = driver.find_element(By.ID, "integration-line")
    line_card.find_element(By.NAME, "enabled").click()
    for name, value in line_settings.items():
        fill(line_card, name, value)
    fill(line_card, "channel_secret", "not-hex")
    line_card.find_element(By.CSS_SELECTOR, "button.save").click()
    error = wait(
        driver,
        lambda d: next(
            (e for e in d.find_elements(By.CSS_SELECTOR, "#integration-line .field-error") if e.is_displayed()), None
        ),
    )
    channel_secret = driver.find_element(By.CSS_SELECTOR, "#integration-line [name='channel_secret']")
    assert error.get_attribute("id") in channel_secret.get_attribute("aria-describedby").split()
    assert "settings.channel_secret" in error.text

    # WHEN the admin corrects it, saves and verifies LINE
    line_card = driver.find_element(By.ID, "integration-line")
    fill(line_card, "channel_secret", line_settings["channel_secret"])
    line_card.find_element(By.CSS_SELECTOR, "button.save").click()
    wait(driver, lambda d: d.find_element(By.ID, "integration-line").get_attribute("data-configured") == "true")
    driver.find_element(By.CSS_SELECTOR, "#integration-line button.verify").click()
    wait(driver, lambda d: card_state(d, "line", "ok"))

    # THEN the URLs to paste into LINE's consoles are shown read-only, for this company
    webhook = driver.find_element(By.CSS_SELECTOR, "#integration-line input[name='webhook_url']")
    assert webhook.get_attribute("readonly") is not None
    assert webhook.get_attribute("value") == f"{stack.api_url}/webhooks/line/{company_id}"
    assert ok(admin.get("/admin/integrations/line"))["status"]["state"] == "ok"
    screenshot(driver, "admin-integrations-ja")

    # WHEN the admin routes 決裁依頼 to Slack and LINE on 通知管理 (Google Chat is off: shown disabled, with why)
    matrix = go(driver, "notifications")
    assert matrix.find_element(By.NAME, "approval.requested:google_chat").get_attribute("disabled") is not None
    assert matrix.find_element(By.ID, "reason-google_chat").text
    matrix.find_element(By.NAME, "approval.requested:slack").click()
    matrix.find_element(By.NAME, "approval.requested:line").click()
    matrix.find_element(By.CSS_SELECTOR, "button.save").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#page-notifications .message.ok"))

    # THEN the API has that routing
    assert ok(admin.get("/admin/notification-settings"))["items"]["approval.requested"] == ["slack", "line"]
    screenshot(driver, "admin-notifications-ja")

    # WHEN taro opens his 個人設定 on a phone-width screen, enters his Slack member ID and sends a test message
    phone = chromium("ja")
    phone.set_window_size(390, 844)
    mine = sign_in(phone, stack, stack.token(company_id, member.user_id, "member"), "me")
    fill(mine, "slack_member_id", taro_slack)
    mine.find_element(By.CSS_SELECTOR, "#form-slack_member_id button[type='submit']").click()
    wait(phone, lambda d: d.find_element(By.CSS_SELECTOR, "#me-slack .badge").get_attribute("data-state") == "linked")
    phone.find_element(By.ID, "test-slack").click()
    wait(phone, lambda d: d.find_element(By.ID, "test-result-slack").get_attribute("data-result") == "sent")

    # THEN the test message arrived in the sandbox's Slack, to taro
    posts = slack_posts(sandbox, slack_token)
    assert [p["body"]["channel"] for p in posts] == [taro_slack]
    # AND the LINE section offers linking and the company's friend QR code with its link
    qr = phone.find_element(By.CSS_SELECTOR, "#me-line svg.qr")
    assert qr.is_displayed() and qr.size["width"] >= 100
    assert phone.find_element(By.ID, "friend-link").get_attribute("href") == FRIEND_LINK_URL
    assert phone.find_element(By.ID, "authorize-line").is_displayed()
    # AND nothing is wider than the phone's screen
    assert phone.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "employee-my-settings-ja-phone")


def test_the_admin_sees_the_delivery_and_replays_a_failure_after_a_dry_run(
    stack: Any,
    company_id: str,
    admin: Api,
    member: Api,
    api_as: Callable[..., Api],
    sandbox: SandboxClient,
    chromium: Callable[[str], Any],
) -> None:
    # GIVEN Slack routed; taro linked, hanako with a member ID the workspace does not have: hers fails
    taro_slack, hanako_slack = new_member_id(), new_member_id()
    token = enable_slack(admin, sandbox, [taro_slack, hanako_slack])
    ok(admin.put("/admin/notification-settings", {"items": {"approval.requested": ["slack"]}}))
    hanako = api_as(company_id, user(company_id, "hanako"))
    ok(member.put("/me/links", {"slack_member_id": taro_slack}))
    ok(hanako.put("/me/links", {"slack_member_id": new_member_id()}))
    event = notification(company_id, [{"user_id": member.user_id}, {"user_id": hanako.user_id}])
    send_event(stack, event)
    driver = chromium("ja")
    sign_in(driver, stack, stack.token(company_id, admin.user_id, "admin"), "deliveries")

    # WHEN the admin filters the delivery log by the event
    filters = driver.find_element(By.ID, "delivery-filters")

    def rows_settled(d: Any) -> list[WebElement] | None:
        fill(d.find_element(By.ID, "delivery-filters"), "event_id", event["event_id"])
        d.find_element(By.CSS_SELECTOR, "#delivery-filters button[type='submit']").click()
        time.sleep(0.3)  # polling pace only; the condition decides
        rows = d.find_elements(By.CSS_SELECTOR, "#deliveries tbody tr[data-status]")
        statuses = sorted(r.get_attribute("data-status") for r in rows)
        return rows if statuses == ["failed", "sent"] else None

    assert filters
    wait(driver, rows_settled)

    # THEN taro's is sent and hanako's failed, with the reason
    failed = driver.find_element(By.CSS_SELECTOR, "#deliveries tr[data-status='failed']")
    assert hanako.user_id in failed.text and "needs_relink" in failed.text

    # WHEN hanako fixes her link, and the admin checks the replay (dry run) of the Slack failures
    ok(hanako.put("/me/links", {"slack_member_id": hanako_slack}))
    go(driver, "deliveries")
    failures = driver.find_element(By.ID, "failure-filters")
    fill(failures, "channel", "slack")
    replay = failures.find_element(By.CSS_SELECTOR, "button.replay")
    assert replay.get_attribute("disabled") is not None  # no replay before a dry run
    failures.find_element(By.CSS_SELECTOR, "button.dry-run").click()
    wait(driver, lambda d: "1" in d.find_element(By.ID, "replay-message").text)
    assert ok(admin.get("/admin/failures"))["failures"][0]["status"] == "failed"  # the dry run changed nothing
    screenshot(driver, "admin-deliveries-ja")

    # AND replays it
    replay.click()
    wait(driver, lambda d: "再送しました" in d.find_element(By.ID, "replay-message").text)

    # THEN hanako's delivery goes out, to her new member ID
    wait(driver, lambda _: any(p["body"]["channel"] == hanako_slack for p in slack_posts(sandbox, token)))


def test_the_forms_follow_the_api_version_the_auth_mode_and_the_collabo_credentials(
    stack: Any, company_id: str, admin: Api, chromium: Callable[[str], Any], tmp_path: Path
) -> None:
    # GIVEN a WORKPLACE Collabo company: NAVER WORKS runs on the platform's credentials
    ok(admin.put("/admin/company", {"product": "collabo"}))
    driver = chromium("ja")
    page = sign_in(driver, stack, stack.token(company_id, admin.user_id, "admin"), "integrations")
    works = page.find_element(By.ID, "integration-naver_works")

    def shown(card: WebElement, name: str) -> bool:
        return card.find_element(By.NAME, name).is_displayed()

    # THEN the console says so and offers only the bot to replace
    assert works.find_element(By.CSS_SELECTOR, ".platform-state").get_attribute("data-source") == "platform"
    assert shown(works, "bot_id") and not shown(works, "client_id") and not shown(works, "api_version")

    # WHEN the admin switches to the company's own credentials, then to API 1.0
    Select(works.find_element(By.NAME, "credentials_source")).select_by_value("company")
    assert shown(works, "client_id") and shown(works, "private_key") and not shown(works, "api_id")
    Select(works.find_element(By.NAME, "api_version")).select_by_value("1.0")

    # THEN the 1.0 fields replace the 2.0 ones
    assert shown(works, "api_id") and shown(works, "server_list_private_key")
    assert not shown(works, "client_id") and not shown(works, "private_key")

    # WHEN the Google Calendar auth mode is domain-wide delegation and the key file is uploaded
    google = page.find_element(By.ID, "integration-google_calendar")
    assert shown(google, "oauth_client_json") and not shown(google, "service_account_json")
    Select(google.find_element(By.NAME, "auth_mode")).select_by_value("domain_wide_delegation")
    key_file = tmp_path / "service-account.json"
    key_file.write_text('{"type": "service_account"}')
    upload = google.find_element(By.CSS_SELECTOR, "[data-setting='service_account_json'] input[type='file']")
    upload.send_keys(str(key_file))

    # THEN its text is in the field the API names, ready to save
    assert not shown(google, "oauth_client_json") and shown(google, "verify_subject")
    wait(driver, lambda _: google.find_element(By.NAME, "service_account_json").get_attribute("value"))
    assert google.find_element(By.NAME, "service_account_json").get_attribute("value") == key_file.read_text()


# ------------------------------------------------------------------------------------------- who may see what


def test_a_member_cannot_open_admin_pages_and_the_api_refuses_them_anyway(
    stack: Any, company_id: str, member: Api, chromium: Callable[[str], Any]
) -> None:
    driver = chromium("en")
    sign_in(driver, stack, stack.token(company_id, member.user_id, "member"), "me")

    # WHEN a member goes to the integrations page by its address
    page = go(driver, "integrations")

    # THEN the console says it is for admins, shows no admin menu, and no integration
    assert page.find_element(By.ID, "admin-only").is_displayed()
    assert not driver.find_elements(By.ID, "nav-integrations")
    assert not driver.find_elements(By.CSS_SELECTOR, "[id^='integration-']")
    assert driver.find_element(By.ID, "who-role").get_attribute("data-role") == "member"
    # AND the API refuses the member whatever a page shows
    assert member.get("/admin/integrations").status_code == 403
    assert member.put("/admin/notification-settings", {"items": {}}).status_code == 403


@pytest.mark.parametrize("lang", ["ja", "ko", "en"])
def test_an_expired_token_shows_the_sign_in_page(
    stack: Any, company_id: str, member: Api, chromium: Callable[[str], Any], lang: str
) -> None:
    expired = stack.token(company_id, member.user_id, "member", exp=int(time.time()) - 3600)
    driver = chromium(lang)

    driver.get(console_url(stack, expired))

    signin = wait(driver, lambda d: next(iter(d.find_elements(By.ID, "signin")), None))
    assert "WORKPLACE" in signin.find_element(By.TAG_NAME, "h1").text
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang
    assert not driver.find_element(By.ID, "header").is_displayed()
    assert driver.execute_script("return sessionStorage.getItem('workplace-hub-token')") is None
    assert "token" not in driver.current_url


def test_a_missing_token_or_one_the_api_refuses_shows_the_sign_in_page(
    stack: Any, company_id: str, member: Api, chromium: Callable[[str], Any]
) -> None:
    driver = chromium("ja")
    driver.get(f"{stack.api_url}/console/")
    wait(driver, lambda d: d.find_elements(By.ID, "signin"))

    # A token that has not expired but is not WORKPLACE's: the console asks the API, which refuses it
    forged = stack.token(company_id, member.user_id, "member", iss="https://stranger.example")
    driver.get(console_url(stack, forged))
    driver.refresh()
    wait(driver, lambda d: d.find_elements(By.ID, "signin"))


def test_names_with_markup_render_as_text(
    stack: Any, company_id: str, admin: Api, api_as: Callable[..., Api], chromium: Callable[[str], Any]
) -> None:
    # GIVEN a company and an admin whose names carry markup, and an employee whose user ID does
    company_name = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
    name = "<b>太郎</b><script>window.pwned=3</script>"
    employee = api_as(company_id, f"<script>window.pwned=4</script>@{company_id}.example")
    ok(employee.put("/me/links", {"slack_member_id": new_member_id()}))
    driver = chromium("ja")

    # WHEN the admin opens the employees page
    token = stack.token(company_id, admin.user_id, "admin", name=name, company_name=company_name)
    page = sign_in(driver, stack, token, "employees")

    # THEN every name shows as the characters it is, and none of it ran
    assert driver.find_element(By.ID, "who-company").text == company_name
    assert driver.find_element(By.ID, "who-user").text == name
    assert employee.user_id in [cell.text for cell in page.find_elements(By.CSS_SELECTOR, "th.user")]
    assert driver.execute_script("return window.pwned") is None
    assert driver.execute_script("return document.querySelectorAll('script').length") == 2  # the console's own
    assert not driver.find_elements(By.CSS_SELECTOR, "main img, header img, header b")
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018


# ------------------------------------------------------------------------------------------- accessibility


def test_every_input_has_a_label_on_every_page(
    stack: Any, company_id: str, admin: Api, member: Api, chromium: Callable[[str], Any]
) -> None:
    ok(member.put("/me/links", {"slack_member_id": new_member_id()}))  # a row on the employees page
    driver = chromium("ja")
    sign_in(driver, stack, stack.token(company_id, admin.user_id, "admin"), "integrations")
    for route in ("integrations", "notifications", "employees", "deliveries", "me", "my-deliveries"):
        go(driver, route)
        assert unlabelled_controls(driver) == [], route


def test_the_console_is_usable_with_the_keyboard_alone(
    stack: Any, company_id: str, admin: Api, sandbox: SandboxClient, chromium: Callable[[str], Any]
) -> None:
    # GIVEN Slack on
    enable_slack(admin, sandbox, [new_member_id()])
    driver = chromium("ja")
    sign_in(driver, stack, stack.token(company_id, admin.user_id, "admin"), "integrations")
    body = driver.find_element(By.TAG_NAME, "body")

    def focused() -> WebElement:
        return driver.switch_to.active_element

    def press(key: str) -> None:
        # Key presses through the actions API (to whatever has the focus), as a keyboard sends them.
        ActionChains(driver).send_keys(key).perform()

    def tab_to(matches: Callable[[WebElement], bool], limit: int = 400) -> WebElement:
        for _ in range(limit):
            press(Keys.TAB)
            if matches(focused()):
                return focused()
        raise AssertionError("never reached by Tab")

    # WHEN the admin tabs from the top of the page to 通知管理 in the menu and presses Enter
    body.click()
    tab_to(lambda e: e.get_attribute("id") == "nav-notifications")
    press(Keys.ENTER)
    page_ready(driver, "notifications")

    # AND tabs to the Slack box of 決裁依頼, ticks it with Space, tabs to 保存 and presses Enter
    tab_to(lambda e: e.get_attribute("name") == "approval.requested:slack")
    press(Keys.SPACE)
    tab_to(lambda e: "save" in (e.get_attribute("class") or ""))
    press(Keys.ENTER)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#page-notifications .message.ok"))

    # THEN it is saved
    assert ok(admin.get("/admin/notification-settings"))["items"]["approval.requested"] == ["slack"]
    # AND the focused element is always visibly outlined
    assert focused().value_of_css_property("outline-style") != "none"
