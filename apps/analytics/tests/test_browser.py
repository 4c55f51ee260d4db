"""A real browser against a real server: a staff member signs in and sees the dashboard's
charts. Daphne runs in a subprocess with its own migrated SQLite database; Chromium is
Debian's, and if it is missing the test fails rather than skips."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
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
now = timezone.now()
roads = Category.objects.get(code="roads")
for day in range(6):
    for n in range(day + 1):
        at = now - timedelta(days=day, minutes=n)
        Concern.objects.create(tracking_number=f"TRK-2099-{{day:03d}}{{n:03d}}", title=f"Pothole {{day}}-{{n}}",
                               description="x", category=roads, submitted_at=at,
                               estimated_resolution=at + timedelta(days=2))
        conversation = Conversation.objects.create(created_at=at, updated_at=at)
        Message.objects.create(conversation=conversation, role="user", content="hi", sentiment="positive",
                               created_at=at)
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    database = Path(f"/tmp/citizenai-analytics-browser-{uuid.uuid4().hex}.sqlite3")  # noqa: S108 (unique name)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "PYTEST_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "citizenai.settings.base",
            "DATABASE_URL": f"sqlite:///{database}",
            "VAR_DIR": str(tmp_path / "var"),
            "MEDIA_ROOT": str(tmp_path / "media"),
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
        }
    )
    run_manage(env, "migrate", "--noinput")
    run_manage(env, "shell", "-c", SEED)
    port = free_port()
    log = tmp_path / "daphne.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "citizenai.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"daphne exited with {process.returncode}:\n{log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{base}/accounts/sign-in/", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"daphne did not answer within 60 s:\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)


def test_staff_signs_in_and_sees_the_charts(server: str) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"Debian chromium is required at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
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
