"""A real browser against a real server: report a problem with a photo, then track it.

The server is daphne in a subprocess on a free port, with its own migrated SQLite database
and media directory, so nothing is shared with the test database. Chromium is Debian's;
if it is missing the test fails rather than skips.
"""

from __future__ import annotations

import io
import os
import re
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
from PIL import Image

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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"daphne exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"daphne did not answer {url} within {timeout:.0f}s:\n{log.read_text()[-4000:]}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    database = Path(f"/tmp/citizenai-browser-{uuid.uuid4().hex}.sqlite3")  # noqa: S108 (unique name)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "citizenai.settings.base",
        "DATABASE_URL": f"sqlite:///{database}",
        "VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-4000:]
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
        wait_for(f"{base}/concerns/new/", process, log)
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


@pytest.fixture
def photo_file(tmp_path: Path) -> Path:
    path = tmp_path / "pothole.png"
    image = Image.new("RGB", (64, 48), (90, 90, 90))
    for x in range(20, 44):
        for y in range(16, 32):
            image.putpixel((x, y), (20, 20, 20))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def test_report_a_problem_with_a_photo_and_track_it(server: str, photo_file: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"Debian chromium is required at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    title = f"Pothole outside number {uuid.uuid4().hex[:6]}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                geolocation={"latitude": 52.370216, "longitude": 4.895168}, permissions=["geolocation"]
            )
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.goto(f"{server}/concerns/new/")
            expect(page.get_by_role("heading", level=1)).to_have_text("Report a problem")

            page.get_by_label("Category").select_option(label="Roads and potholes")
            page.get_by_label("Title").fill(title)
            page.get_by_label("Description").fill("A deep pothole in the right lane; cyclists swerve around it.")
            page.get_by_label("Location", exact=True).fill("Elm Street 14")
            # progressive enhancement: the script shows the button and fills the coordinates
            locate = page.get_by_role("button", name="Use my location")
            expect(locate).to_be_visible()
            locate.click()
            expect(page.get_by_label("Latitude (optional)")).to_have_value("52.370216")
            expect(page.get_by_label("Longitude (optional)")).to_have_value("4.895168")
            page.get_by_label("Photos or documents (optional)").set_input_files(str(photo_file))
            page.get_by_label("E-mail").fill("robin@example.org")
            page.get_by_role("button", name="Send report").click()

            page.wait_for_url(re.compile(r"/concerns/submitted/TRK-\d{4}-\d{6}/$"))
            tracking_number = page.locator("#tracking-number").inner_text().strip()
            assert re.fullmatch(r"TRK-\d{4}-\d{6}", tracking_number)

            page.get_by_role("link", name="Track this concern").click()
            page.wait_for_url(f"{server}/concerns/track/{tracking_number}/")
            expect(page.get_by_role("heading", level=1)).to_have_text(title)
            expect(page.locator("#concern-status")).to_have_text("Submitted")
            expect(page.get_by_text("Roads and potholes")).to_be_visible()
            image = page.get_by_role("img", name=re.compile("Photo 1 of this concern"))
            expect(image).to_be_visible()
            assert image.evaluate("img => img.complete && img.naturalWidth") == 64
            assert "robin@example.org" not in page.content()

            # the lookup form finds it too
            page.goto(f"{server}/concerns/track/")
            page.get_by_label("Tracking number").fill(tracking_number.lower())
            page.get_by_role("button", name="Find my concern").click()
            page.wait_for_url(f"{server}/concerns/track/{tracking_number}/")
            expect(page.locator("#concern-status")).to_have_text("Submitted")
        finally:
            browser.close()
