"""The citizen pages: report a problem, confirmation, public tracking and "my concerns"."""

from __future__ import annotations

import io
import random
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.concerns import services
from apps.concerns.models import Category, Concern, Status
from conftest import make_user

pytestmark = pytest.mark.django_db

FIELDS = [
    "category",
    "title",
    "description",
    "location",
    "latitude",
    "longitude",
    "photos",
    "contact_name",
    "contact_email",
    "contact_phone",
    "anonymous",
]


class ElementsById(HTMLParser):
    """Attributes of every element that has an id, and the text inside those elements."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: dict[str, dict[str, str | None]] = {}
        self.texts: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        element_id = values.get("id")
        if element_id:
            self.elements[element_id] = values
            self.texts.setdefault(element_id, "")
        if tag not in {"input", "br", "img", "meta", "link", "hr"}:
            self._open.append((tag, element_id))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                del self._open[index:]
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id:
                self.texts[element_id] += data


def png_bytes(size: tuple[int, int] = (8, 8), noise: bool = False) -> bytes:
    image = Image.new("RGB", size, (200, 40, 40))
    if noise:
        image = Image.frombytes("RGB", size, random.Random(7).randbytes(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def photo(name: str = "pothole.png", content: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content if content is not None else png_bytes(), content_type="image/png")


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> Iterator[None]:
    settings.MEDIA_ROOT = tmp_path / "media"
    yield


@pytest.fixture
def roads() -> Category:
    return Category.objects.get(code="roads")


def valid_data(category: Category, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "category": str(category.pk),
        "title": "Deep pothole on Elm Street",
        "description": "About 40 cm wide, right lane, just after the bus stop.",
        "location": "Elm Street 14",
        "latitude": "52.370210",
        "longitude": "4.895170",
        "contact_name": "Robin Resident",
        "contact_email": "robin@example.org",
        "contact_phone": "+31 20 555 0101",
    }
    data.update(overrides)
    return data


def create_concern(category: Category, **kwargs: Any) -> Concern:
    fields: dict[str, Any] = {
        "title": "Broken street light",
        "description": "The lamp in front of number 8 is dark.",
        "category": category,
        "location": "Maple Avenue 8",
        "contact": {"name": "Secret Name", "email": "secret-contact@example.org", "phone": "+31 6 1234 5678"},
        "source": "web",
    }
    fields.update(kwargs)
    return services.concern_create(**fields)


# --- the form --------------------------------------------------------------------------------


def test_form_renders_every_field_with_a_label(client: Client) -> None:
    response = client.get("/concerns/new/")
    assert response.status_code == 200
    html = response.content.decode()
    for name in FIELDS:
        assert f'<label for="id_{name}"' in html, name
    page = ElementsById(html)
    assert 'enctype="multipart/form-data"' in html
    assert "csrfmiddlewaretoken" in html
    photos = page.elements["id_photos"]
    assert "multiple" in photos
    assert "image/png" in (photos["accept"] or "")
    # help text is tied to its input
    assert page.elements["id_title"]["aria-describedby"] == "id_title_helptext"
    assert "id_title_helptext" in page.elements
    # only active categories are offered
    assert "Roads and potholes" in html
    # the location button is progressive enhancement: hidden until the script shows it
    assert re.search(r"<button[^>]*data-geolocate[^>]*hidden", html)
    assert "js/concerns.js" in html


def test_inactive_categories_are_not_offered(client: Client) -> None:
    Category.objects.filter(code="noise").update(active=False)
    html = client.get("/concerns/new/").content.decode()
    assert "Roads and potholes" in html
    assert ">Noise<" not in html


def test_signed_in_user_gets_contact_prefilled(client: Client) -> None:
    user = make_user("robin", Role.CITIZEN, first_name="Robin", last_name="Resident")
    client.force_login(user)
    page = ElementsById(client.get("/concerns/new/").content.decode())
    assert page.elements["id_contact_email"]["value"] == "robin@example.org"
    assert page.elements["id_contact_name"]["value"] == "Robin Resident"


def test_valid_submission_creates_the_concern_and_redirects_to_the_confirmation(
    client: Client, roads: Category
) -> None:
    response = client.post("/concerns/new/", {**valid_data(roads), "photos": [photo(), photo("second.png")]})

    assert response.status_code == 302
    concern = Concern.objects.get()
    assert response["Location"] == f"/concerns/submitted/{concern.tracking_number}/"
    assert re.fullmatch(r"TRK-\d{4}-\d{6}", concern.tracking_number)
    assert concern.title == "Deep pothole on Elm Street"
    assert concern.category == roads
    assert concern.source == "web"
    assert concern.submitted_by is None
    assert concern.status == Status.SUBMITTED
    assert concern.contact_email == "robin@example.org"
    assert concern.latitude == pytest.approx(52.37021)
    attachments = list(concern.attachments.all())
    assert [a.content_type for a in attachments] == ["image/png", "image/png"]
    assert [a.filename for a in attachments] == ["pothole.png", "second.png"]
    assert concern.updates.count() == 1

    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert ElementsById(html).texts["tracking-number"].strip() == concern.tracking_number
    assert f'href="/concerns/track/{concern.tracking_number}/"' in html


def test_signed_in_submission_belongs_to_the_user(client: Client, roads: Category) -> None:
    user = make_user("robin", Role.CITIZEN)
    client.force_login(user)
    response = client.post("/concerns/new/", valid_data(roads, anonymous="on", latitude="", longitude=""))
    assert response.status_code == 302
    concern = Concern.objects.get()
    assert concern.submitted_by == user
    assert concern.anonymous is True
    assert concern.latitude is None


def test_coordinates_alone_are_enough_for_the_location(client: Client, roads: Category) -> None:
    response = client.post("/concerns/new/", valid_data(roads, location=""))
    assert response.status_code == 302


def test_invalid_fields_rerender_with_errors_next_to_them(client: Client, roads: Category) -> None:
    data = valid_data(roads, title="", contact_email="not-an-email", location="", longitude="", latitude="91")
    response = client.post("/concerns/new/", data)

    assert response.status_code == 400
    assert not Concern.objects.exists()
    page = ElementsById(response.content.decode())
    for name in ("title", "contact_email", "latitude", "location"):
        element = page.elements[f"id_{name}"]
        assert element.get("aria-invalid") == "true", name
        assert f"id_{name}_error" in (element.get("aria-describedby") or "").split(), name
        assert f"id_{name}_error" in page.elements, name
    assert "This field is required." in page.texts["id_title_error"]
    assert "valid email" in page.texts["id_contact_email_error"]
    assert "less than or equal to 90" in page.texts["id_latitude_error"]
    assert "Tell us where" in page.texts["id_location_error"]
    assert page.elements["id_description"].get("aria-invalid") is None
    # what was typed is kept
    assert page.elements["id_contact_phone"]["value"] == "+31 20 555 0101"
    # an error summary links to the fields
    assert 'href="#id_title"' in response.content.decode()


def test_latitude_without_longitude_is_refused(client: Client, roads: Category) -> None:
    response = client.post("/concerns/new/", valid_data(roads, longitude=""))
    assert response.status_code == 400
    assert "both latitude and longitude" in ElementsById(response.content.decode()).texts["id_longitude_error"]


def test_a_text_file_named_png_is_rejected_next_to_the_photos(client: Client, roads: Category) -> None:
    fake = SimpleUploadedFile("pothole.png", b"just some text, not an image\n" * 10, content_type="image/png")
    response = client.post("/concerns/new/", {**valid_data(roads), "photos": [fake]})

    assert response.status_code == 400
    assert not Concern.objects.exists()
    page = ElementsById(response.content.decode())
    assert "not a JPEG, PNG, WebP or PDF" in page.texts["id_photos_error"]
    assert "id_photos_error" in (page.elements["id_photos"].get("aria-describedby") or "")
    # the other fields keep their values
    assert page.elements["id_title"]["value"] == "Deep pothole on Elm Street"


def test_an_oversized_photo_is_rejected(client: Client, roads: Category, settings: Any) -> None:
    settings.ATTACHMENT_MAX_BYTES = 2048
    big = png_bytes((96, 96), noise=True)
    assert len(big) > 2048
    response = client.post("/concerns/new/", {**valid_data(roads), "photos": [photo(content=big)]})
    assert response.status_code == 400
    assert "larger than" in ElementsById(response.content.decode()).texts["id_photos_error"]
    assert not Concern.objects.exists()


def test_csrf_is_enforced(roads: Category) -> None:
    client = Client(enforce_csrf_checks=True)
    refused = client.post("/concerns/new/", valid_data(roads))
    assert refused.status_code == 403
    assert not Concern.objects.exists()

    client.get("/concerns/new/")
    token = client.cookies["csrftoken"].value
    accepted = client.post("/concerns/new/", {**valid_data(roads), "csrfmiddlewaretoken": token})
    assert accepted.status_code == 302
    assert Concern.objects.count() == 1


def test_signed_out_submissions_are_rate_limited(client: Client, roads: Category, settings: Any) -> None:
    settings.RATE_LIMIT_ENABLED = True
    settings.RATE_LIMITS_PER_MINUTE = {**settings.RATE_LIMITS_PER_MINUTE, "anonymous": 1}
    assert client.post("/concerns/new/", valid_data(roads)).status_code == 302
    second = client.post("/concerns/new/", valid_data(roads))
    assert second.status_code == 429
    assert Concern.objects.count() == 1


# --- tracking --------------------------------------------------------------------------------


def test_tracking_page_shows_the_public_timeline_but_never_contact_data(client: Client, roads: Category) -> None:
    submitter = make_user("robin-submitter", Role.CITIZEN)
    staff = make_user("sam-assignee", Role.STAFF)
    concern = create_concern(roads, submitted_by=submitter, files=[photo()])
    services.concern_update(
        concern=concern,
        actor=staff,
        status=Status.IN_PROGRESS,
        message="A crew is scheduled for Thursday.",
        internal_notes="Caller is a known complainer; internal only.",
        assigned_to=staff,
    )

    response = client.get(f"/concerns/track/{concern.tracking_number}/")

    assert response.status_code == 200
    html = response.content.decode()
    page = ElementsById(html)
    assert "Broken street light" in html
    assert "Roads and potholes" in html
    assert "In progress" in page.texts["concern-status"]
    assert "Concern received." in html
    assert "A crew is scheduled for Thursday." in html
    assert "Expected resolution" in html
    for secret in (
        "secret-contact@example.org",
        "Secret Name",
        "1234 5678",
        "known complainer",
        "robin-submitter",  # the submitter's username
        "sam-assignee",  # the assignee
    ):
        assert secret not in html, secret
    attachment = concern.attachments.get()
    src = reverse("concern-attachment-file", args=[concern.tracking_number, attachment.pk])
    assert f'src="{src}"' in html
    image = client.get(src)
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"


def test_tracking_numbers_are_case_insensitive(client: Client, roads: Category) -> None:
    concern = create_concern(roads)
    response = client.get(f"/concerns/track/{concern.tracking_number.lower()}/")
    assert response.status_code == 302
    assert response["Location"] == f"/concerns/track/{concern.tracking_number}/"


@pytest.mark.parametrize("number", ["TRK-2020-999999", "nonsense"])
def test_unknown_tracking_number_is_a_friendly_404(client: Client, number: str) -> None:
    response = client.get(f"/concerns/track/{number}/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "We could not find that concern" in html
    assert 'name="tracking_number"' in html


def test_unknown_confirmation_page_is_404(client: Client) -> None:
    assert client.get("/concerns/submitted/TRK-2020-999999/").status_code == 404


def test_track_form_goes_to_the_tracking_page(client: Client) -> None:
    page = client.get("/concerns/track/")
    assert page.status_code == 200
    assert '<label for="id_tracking_number"' in page.content.decode()

    found = client.get("/concerns/track/", {"tracking_number": " trk-2025-000042 "})
    assert found.status_code == 302
    assert found["Location"] == "/concerns/track/TRK-2025-000042/"

    wrong = client.get("/concerns/track/", {"tracking_number": "12345"})
    assert wrong.status_code == 400
    assert "not a tracking number" in ElementsById(wrong.content.decode()).texts["id_tracking_number_error"]


def test_deleted_concerns_are_not_tracked(client: Client, roads: Category) -> None:
    concern = create_concern(roads)
    services.concern_delete(concern=concern, actor=make_user("ada", Role.ADMINISTRATOR))
    assert client.get(f"/concerns/track/{concern.tracking_number}/").status_code == 404


# --- my concerns -----------------------------------------------------------------------------


def test_my_concerns_requires_sign_in(client: Client) -> None:
    response = client.get("/concerns/mine/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert "next=/concerns/mine/" in response["Location"]


@pytest.mark.parametrize("role", [Role.CITIZEN, Role.STAFF])
def test_my_concerns_lists_only_the_users_own(client: Client, roads: Category, role: str) -> None:
    me: User = make_user("me", role)
    other = make_user("other", Role.CITIZEN)
    mine = create_concern(roads, title="My pothole report", submitted_by=me)
    theirs = create_concern(roads, title="Their pothole report", submitted_by=other)
    anonymous_visitor = create_concern(roads, title="Walk-in report")

    client.force_login(me)
    response = client.get("/concerns/mine/")

    assert response.status_code == 200
    html = response.content.decode()
    assert mine.tracking_number in html
    assert f'href="/concerns/track/{mine.tracking_number}/"' in html
    assert "Submitted" in html
    assert theirs.tracking_number not in html
    assert anonymous_visitor.tracking_number not in html


def test_my_concerns_when_there_are_none(client: Client) -> None:
    client.force_login(make_user("me", Role.CITIZEN))
    response = client.get("/concerns/mine/")
    assert response.status_code == 200
    assert "You have not reported any problems yet." in response.content.decode()


def test_home_page_links_to_the_concern_pages(client: Client) -> None:
    html = client.get("/").content.decode()
    assert 'href="/concerns/new/"' in html
    assert 'href="/concerns/track/"' in html
    assert 'href="/concerns/mine/"' not in html
    client.force_login(make_user("me", Role.CITIZEN))
    assert 'href="/concerns/mine/"' in client.get("/").content.decode()


def test_the_concerns_address_itself_leads_to_the_form(client: Client) -> None:
    response = client.get("/concerns/")
    assert response.status_code == 302 and response["Location"] == "/concerns/new/"
