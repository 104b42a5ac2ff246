"""One linking flow per provider in a real headless Chromium: the browser opens the authorization URL the hub
gave the employee, follows the provider's (sandbox) redirect to the hub's callback, and shows the page.

LINE in Japanese (with the friend QR code), Google Workspace in Korean, NAVER WORKS in English: the language
comes from the browser itself (`--lang` and its Accept-Language). A screenshot of each page is kept in the
test's tmp dir.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from infra.sandbox import SandboxClient
from tests.integration.helpers import Api
from tests.integration.linking import (
    FRIEND_LINK_URL,
    LINKED_TITLE,
    authorize_url,
    enable_google_calendar,
    enable_line_login,
    enable_works_calendar,
    google_user_signs_in,
    line_user_logs_in,
    my_links,
    new_line_user_id,
    new_works_calendar_tenant,
    register_workspace_id,
    works_user_signs_in,
)

pytestmark = pytest.mark.integration


def open_in_browser(driver: Any, url: str, callback_prefix: str, screenshot: Path) -> Any:
    """Open `url`, wait (bounded) for the hub's page with its #result, screenshot it; the #result element."""
    driver.get(url)
    WebDriverWait(driver, 15).until(lambda d: d.current_url.startswith(callback_prefix))
    result = WebDriverWait(driver, 15).until(expected_conditions.presence_of_element_located((By.ID, "result")))
    assert driver.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 5000  # a rendered page, not an empty canvas
    return result


def test_line_in_a_browser_in_japanese_with_the_friend_qr_code(
    stack: Any, admin: Api, member: Api, sandbox: SandboxClient, chromium: Callable[[str], Any], tmp_path: Path
) -> None:
    # GIVEN LINE configured, and the employee signing in on LINE without adding the Official Account
    login = enable_line_login(stack, admin, sandbox)
    line_user_logs_in(sandbox, login, new_line_user_id(), friend=False)
    url = authorize_url(member, "line")
    driver = chromium("ja")

    # WHEN their (Japanese) browser opens the authorization URL
    result = open_in_browser(driver, url, login.callback_url, tmp_path / "line.png")

    # THEN LINE sent it to the hub's callback, which shows "linked" in Japanese
    assert result.get_attribute("data-result") == "linked"
    assert driver.title == LINKED_TITLE["ja"]
    assert driver.find_element(By.TAG_NAME, "h1").text == LINKED_TITLE["ja"]
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ja"
    # AND the QR code of the company's channel is drawn, with the friend link next to it
    qr = driver.find_element(By.CSS_SELECTOR, ".qr svg")
    assert qr.is_displayed() and qr.size["width"] >= 100 and qr.size["height"] >= 100
    assert driver.find_element(By.ID, "friend-link").get_attribute("href") == FRIEND_LINK_URL
    assert driver.find_element(By.ID, "friend").get_attribute("data-friend") == "no"
    # AND the page's one inline style applies under its Content-Security-Policy (allowed by its hash)
    assert driver.find_element(By.ID, "friend-link").value_of_css_property("background-color") == "rgba(6, 199, 85, 1)"
    assert qr.size["width"] == 192  # .qr svg{width:12rem}, not the SVG's own 132
    # AND the link is stored
    assert my_links(member)["line"] == {"state": "linked", "friend": False}


def test_google_in_a_browser_in_korean(
    stack: Any,
    company_id: str,
    admin: Api,
    member: Api,
    sandbox: SandboxClient,
    chromium: Callable[[str], Any],
    tmp_path: Path,
) -> None:
    # GIVEN google_calendar (user consent) for the company domain, taro's Google Workspace ID registered
    domain = f"{company_id}.example"
    enable_google_calendar(stack, admin, sandbox, domain)
    register_workspace_id(admin, member.user_id, f"taro@{domain}")
    google_user_signs_in(sandbox, f"taro@{domain}", domain)
    url = authorize_url(member, "google")
    driver = chromium("ko")

    # WHEN his (Korean) browser opens the authorization URL
    result = open_in_browser(driver, url, stack.api_url + "/oauth/google/callback", tmp_path / "google.png")

    # THEN Google sent it to the hub's callback, which shows "linked" in Korean
    assert result.get_attribute("data-result") == "linked"
    assert driver.title == LINKED_TITLE["ko"]
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ko"
    assert "Google Workspace" in result.text
    # AND no QR code (that is LINE's), and the consent is stored
    assert driver.find_elements(By.TAG_NAME, "svg") == []
    assert my_links(member)["google_calendar"] == {"state": "linked"}


def test_naver_works_in_a_browser_in_english_then_the_calendars_are_listed(
    stack: Any, admin: Api, member: Api, sandbox: SandboxClient, chromium: Callable[[str], Any], tmp_path: Path
) -> None:
    # GIVEN naver_works_calendar configured, and the employee signing in on NAVER WORKS with two calendars
    tenant = new_works_calendar_tenant(stack, sandbox, [member.user_id])
    enable_works_calendar(admin, tenant)
    calendars = [{"calendarId": "cal-a", "calendarName": "Work"}, {"calendarId": "cal-b", "calendarName": "Home"}]
    works_user_signs_in(sandbox, tenant, member.user_id, calendars=calendars)
    url = authorize_url(member, "naver_works")
    driver = chromium("en-US")

    # WHEN their (English) browser opens the authorization URL
    result = open_in_browser(driver, url, tenant.redirect_url, tmp_path / "naver_works.png")

    # THEN NAVER WORKS sent it to the hub's callback, which shows "linked" in English
    assert result.get_attribute("data-result") == "linked"
    assert driver.title == LINKED_TITLE["en"]
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert "NAVER WORKS" in result.text
    # AND the employee's calendars can now be listed
    listed = member.get("/me/calendars")
    assert listed.status_code == 200, listed.text
    assert [c["name"] for c in listed.json()["naver_works"]] == ["Work", "Home"]


def test_a_replayed_callback_in_a_browser_shows_the_error_page_in_its_language(
    stack: Any, admin: Api, member: Api, sandbox: SandboxClient, chromium: Callable[[str], Any], tmp_path: Path
) -> None:
    # GIVEN an employee who linked LINE in their (Korean) browser
    login = enable_line_login(stack, admin, sandbox)
    line_user_logs_in(sandbox, login, new_line_user_id())
    driver = chromium("ko")
    open_in_browser(driver, authorize_url(member, "line"), login.callback_url, tmp_path / "line-linked.png")
    callback = driver.current_url

    # WHEN the browser reloads the callback page
    driver.get(callback)
    result = WebDriverWait(driver, 15).until(expected_conditions.presence_of_element_located((By.ID, "result")))

    # THEN it shows the failure in Korean: already used, with what to do next
    assert (result.get_attribute("data-result"), result.get_attribute("data-reason")) == ("failed", "state_used")
    assert driver.title == "연동하지 못했습니다"
    assert "다음 단계" in driver.find_element(By.TAG_NAME, "main").text
