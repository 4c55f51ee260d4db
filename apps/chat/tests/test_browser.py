"""A real browser on the citizen chat page: the answer streams in over the WebSocket."""

from __future__ import annotations

import pytest

from tests.browser import launch, live_site

pytestmark = pytest.mark.slow


def test_asking_the_city_in_a_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    with live_site(tmp_path, ("load_demo",)) as url, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.goto(url + "/assistant/")
            page.get_by_label("Your message").fill("What are your office hours?")
            page.get_by_role("button", name="Send").click()
            page.wait_for_selector("text=Answer complete.", timeout=20000)
            log = page.locator("[data-chat-log]").inner_text()
            assert "What are your office hours?" in log
            assert "8:30" in log
            # The conversation is stored: after a reload the server-rendered page shows it.
            page.reload()
            assert "8:30" in page.locator("[data-chat-log]").inner_text()
        finally:
            browser.close()
