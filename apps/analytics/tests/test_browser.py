"""A real browser against a real server: a staff member signs in and sees the dashboard's
charts. Daphne runs in a subprocess with its own migrated database (tests/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import launch, live_site

pytestmark = pytest.mark.slow

PASSWORD = "a long browser test password 7"

SEED = f"""
from datetime import timedelta
from django.utils import timezone
from apps.accounts.models import User
from apps.chat.models import Conversation, Message
from apps.concerns.models import Category, Concern

user = User(username="dana", email="dana@example.org", role="staff")
user.set_password({PASSWORD!r})
user.save()
now = timezone.localtime()
# Halfway through today in the dashboard's zone, so that no row slips into a seventh day
# when the test runs just after midnight.
today = now.replace(hour=0, minute=0, second=0, microsecond=0)
base = today + (now - today) / 2
roads = Category.objects.get(code="roads")
for day in range(6):
    for n in range(day + 1):
        at = base - timedelta(days=day, microseconds=n)
        Concern.objects.create(tracking_number=f"TRK-2099-{{day:03d}}{{n:03d}}", title=f"Pothole {{day}}-{{n}}",
                               description="x", category=roads, submitted_at=at,
                               estimated_resolution=at + timedelta(days=2))
        conversation = Conversation.objects.create(created_at=at, updated_at=at)
        Message.objects.create(conversation=conversation, role="user", content="hi", sentiment="positive",
                               created_at=at)
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with live_site(tmp_path, ("shell", "-c", SEED)) as url:
        yield url


def test_staff_signs_in_and_sees_the_charts(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.goto(f"{server}/staff/")
            page.wait_for_url(f"{server}/accounts/sign-in/?next=/staff/")
            page.locator("input[name=identifier]").fill("dana")
            page.locator("input[name=password]").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{server}/staff/")
            expect(page.get_by_role("heading", level=1)).to_have_text("Staff dashboard")

            chart = page.locator("svg#chart-conversations")
            expect(chart).to_be_visible()
            bars = chart.locator("rect[data-value]")
            assert bars.count() == 6
            values = sorted(int(v) for v in bars.evaluate_all("rects => rects.map(r => r.dataset.value)"))
            assert values == [1, 2, 3, 4, 5, 6]
            box = chart.bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 50
            expect(page.get_by_role("img", name="Concerns submitted per day", exact=False)).to_be_visible()
            expect(page.locator("svg#chart-sentiment rect[data-series=positive]")).to_have_attribute(
                "data-value", "100"
            )
            expect(page.get_by_text("21", exact=True).first).to_be_visible()  # concerns in the range
            # the triage queue links to the admin
            first = page.locator("table.triage tbody tr th a").first
            assert "/admin/concerns/concern/" in (first.get_attribute("href") or "")
            # the live-counter hook is there, and does not pretend to be live
            assert page.evaluate("typeof window.CitizenAIAnalytics.applyCounters") == "function"
            assert page.evaluate("window.CitizenAIAnalytics.applyCounters({open_concerns: 99})") == 1
            expect(page.locator("[data-counter=open_concerns]")).to_have_text("99")
            # an export link downloads through the session cookie
            with page.expect_download() as info:
                page.get_by_role("link", name="CSV", exact=True).click()
            download = info.value
            assert download.suggested_filename.endswith(".csv")
            assert Path(download.path()).read_text().startswith("section,name,value")
        finally:
            browser.close()
