"""A real browser against a real server: report a problem with a photo, then track it.

The server is Daphne in a subprocess with its own migrated database and media directory
(tests/browser.py), so nothing is shared with the test database.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.browser import launch, live_site

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with live_site(tmp_path) as url:
        yield url


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
    from playwright.sync_api import expect, sync_playwright

    title = f"Pothole outside number {uuid.uuid4().hex[:6]}"
    with sync_playwright() as playwright:
        browser = launch(playwright)
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
