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


def test_the_widget_is_usable_from_the_keyboard_and_announces_answers_once(tmp_path):
    """Enter sends (Shift+Enter is a new line); while the answer streams the log is
    aria-busy, so a screen reader reads the finished answer, not every partial one; after a
    reload the messages carry no stray blank lines."""
    from playwright.sync_api import sync_playwright

    with live_site(tmp_path, ("load_demo",)) as url, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.goto(url + "/assistant/")
            field = page.get_by_label("Your message")
            field.fill("What are your")
            field.press("Shift+Enter")
            assert field.input_value() == "What are your\n"  # a new line, nothing sent
            field.press_sequentially("office hours?")
            busy: list[str | None] = []
            page.expose_function("noteBusy", lambda value: busy.append(value))
            page.evaluate(
                """() => new MutationObserver(() => window.noteBusy(
                       document.querySelector('[data-chat-log]').getAttribute('aria-busy')))
                     .observe(document.querySelector('[data-chat-log]'), {childList: true, subtree: true,
                              characterData: true, attributes: true, attributeFilter: ['aria-busy']})"""
            )
            field.press("Enter")
            page.wait_for_selector("text=Answer complete.", timeout=20000)
            assert "true" in busy and busy[-1] is None  # busy while streaming, not after
            assert page.evaluate("document.activeElement.id") == "chat-message"
            page.reload()
            items = page.locator("[data-chat-log] li")
            texts = [items.nth(i).text_content() for i in range(items.count())]
            assert texts[0] == "Assistant: Hello! How can I help you today?"
            assert texts[1] == "You said: What are your\noffice hours?"
            assert texts[2].startswith("Assistant: ") and "8:30" in texts[2]
        finally:
            browser.close()


def test_a_socket_that_goes_silent_does_not_leave_the_widget_waiting(tmp_path):
    """A socket that opens but never greets (a stalled proxy): after a while the widget
    carries on over Server-Sent Events instead of showing "answering…" forever."""
    from playwright.sync_api import sync_playwright

    with live_site(tmp_path, ("load_demo",)) as url, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.clock.install()
            page.route_web_socket("**/api/v1/ws/**", lambda ws: None)  # accepted, never a frame
            page.goto(url + "/assistant/")
            page.get_by_label("Your message").fill("What are your office hours?")
            page.get_by_role("button", name="Send").click()
            page.clock.run_for(11000)  # past the greeting timeout
            page.wait_for_selector("text=Answer complete.", timeout=20000)
            assert "8:30" in page.locator("[data-chat-log]").inner_text()
        finally:
            browser.close()


def test_the_chat_panel_on_other_pages_follows_the_conversation(tmp_path):
    """Asked on the home page, the panel on the report form shows the same conversation."""
    from playwright.sync_api import sync_playwright

    with live_site(tmp_path, ("load_demo",)) as url, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.goto(url + "/")
            page.locator("[data-chat-panel] > summary").click()
            field = page.locator("#chat-panel-message")
            field.fill("What are your office hours?")
            field.press("Enter")
            page.wait_for_selector("[data-chat-panel] >> text=Answer complete.", timeout=20000)
            assert "8:30" in page.locator("[data-chat-panel] [data-chat-log]").inner_text()
            page.goto(url + "/concerns/new/")
            page.locator("[data-chat-panel] > summary").click()
            log = page.locator("[data-chat-panel] [data-chat-log]")
            log.get_by_text("What are your office hours?").wait_for(timeout=10000)
            assert "8:30" in log.inner_text()
            page.goto(url + "/assistant/")  # the assistant page has the same conversation
            assert "What are your office hours?" in page.locator("[data-chat-log]").inner_text()
        finally:
            browser.close()
