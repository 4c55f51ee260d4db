"""A real browser on the citizen chat page: the answer streams in over the WebSocket."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers import fresh_database, manage, running_servers, server_env

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_asking_the_city_in_a_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is required (make system-deps)"
    with fresh_database() as database_url:
        env = server_env(DATABASE_URL=database_url, VAR_DIR=str(tmp_path))
        manage(env, "migrate", "--noinput")
        manage(env, "load_demo")
        with running_servers(env, count=1) as (server,), sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page()
                page.goto(server.url + "/assistant/")
                page.get_by_label("Your message").fill("What are your office hours?")
                page.get_by_role("button", name="Send").click()
                page.wait_for_selector("text=Answer complete.", timeout=20000)
                log = page.locator("[data-chat-log]").inner_text()
                assert "What are your office hours?" in log
                assert "8:30" in log
                # Without a reload the conversation is stored: the server-rendered page shows it.
                page.reload()
                assert "8:30" in page.locator("[data-chat-log]").inner_text()
            finally:
                browser.close()
