"""Attachments: real image and PDF files, checked by content, stored through the storage API."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
from django.test import override_settings
from PIL import Image

from apps.accounts.roles import Role
from apps.concerns import services
from apps.concerns.models import Attachment, Concern
from apps.concerns.tests.helpers import (
    CONCERNS,
    PDF_BYTES,
    assert_error,
    assert_field_error,
    assert_ok,
    attachments_url,
    concern_url,
    counts,
    jpeg_bytes,
    make_concern,
    media_files,
    png_bytes,
    upload,
    webp_bytes,
)
from conftest import make_persona

pytestmark = pytest.mark.django_db

FORM = {
    "title": "Broken street light",
    "description": "Street light on Main St is not working",
    "category": "street_lighting",
    "priority": "high",
    "location": "Main St",
    "contact.email": "resident@example.org",
    "anonymous": "false",
}


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def noisy_png(size: int = 64) -> bytes:
    """A PNG that does not compress well: a few KB of real image data."""
    image = Image.frombytes("RGB", (size, size), os.urandom(size * size * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def download(persona: Any, url: str) -> tuple[Any, bytes]:
    # Consuming streaming_content closes the response (the test client wraps it); closing it
    # again would fire request_finished inside the test transaction.
    response = persona.client.get(url)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response, content


class TestCreateWithFiles:
    def test_multipart_create_with_two_files(self, citizen: Any, stranger: Any) -> None:
        photo, pdf = jpeg_bytes(), PDF_BYTES
        body = {**FORM, "attachments": [upload("street.jpg", photo, "image/jpeg"), upload("report.pdf", pdf)]}
        data = assert_ok(citizen.client.post(CONCERNS, body, format="multipart"), 201)
        assert data["title"] == FORM["title"]
        assert data["priority"] == "high"
        assert data["contact"]["email"] == "resident@example.org"
        assert data["anonymous"] is False
        assert len(data["attachments"]) == 2
        by_name = {a["filename"]: a for a in data["attachments"]}
        assert set(by_name) == {"street.jpg", "report.pdf"}
        assert by_name["street.jpg"]["size"] == len(photo)
        assert by_name["report.pdf"]["size"] == len(pdf)
        assert by_name["street.jpg"]["content_type"] == "image/jpeg"
        assert by_name["report.pdf"]["content_type"] == "application/pdf"
        for attachment in data["attachments"]:
            assert {"id", "filename", "url", "size", "uploaded_at"} <= set(attachment)
        assert len(media_files()) == 2

        response, content = download(stranger, by_name["street.jpg"]["url"])
        assert response.status_code == 200
        assert response["Content-Type"] == "image/jpeg"
        assert content == photo
        response, content = download(stranger, by_name["report.pdf"]["url"])
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"].startswith("attachment")
        assert content == pdf

    def test_multipart_contact_spellings(self, citizen: Any) -> None:
        body = {**FORM, "contact[phone]": "555 0100", "contact_name": "Robin", "anonymous": "true"}
        data = assert_ok(citizen.client.post(CONCERNS, body, format="multipart"), 201)
        assert data["anonymous"] is True
        concern = Concern.objects.get(pk=data["id"])
        assert (concern.contact_email, concern.contact_phone, concern.contact_name) == (
            "resident@example.org",
            "555 0100",
            "Robin",
        )

    def test_file_type_comes_from_the_content_not_the_name(self, citizen: Any) -> None:
        body = {**FORM, "attachments": [upload("scan.txt", png_bytes(), "text/plain")]}
        data = assert_ok(citizen.client.post(CONCERNS, body, format="multipart"), 201)
        attachment = Attachment.objects.get(concern_id=data["id"])
        assert attachment.content_type == "image/png"
        assert attachment.file.name.endswith(".png")

    def test_text_file_named_like_a_png_is_415(self, citizen: Any) -> None:
        before = counts()
        body = {**FORM, "attachments": [upload("photo.png", b"just some text, honestly\n" * 20, "image/png")]}
        assert_error(citizen.client.post(CONCERNS, body, format="multipart"), 415, "UNSUPPORTED_MEDIA_TYPE")
        assert counts() == before
        assert media_files() == []

    def test_corrupt_png_is_415(self, citizen: Any) -> None:
        before = counts()
        corrupt = b"\x89PNG\r\n\x1a\n" + os.urandom(400)
        body = {**FORM, "attachments": [upload("photo.png", corrupt, "image/png")]}
        error = assert_error(citizen.client.post(CONCERNS, body, format="multipart"), 415, "UNSUPPORTED_MEDIA_TYPE")
        assert "file" in error["details"]
        assert counts() == before

    def test_truncated_png_is_415(self, citizen: Any) -> None:
        good = noisy_png()
        body = {**FORM, "attachments": [upload("photo.png", good[: len(good) // 2], "image/png")]}
        assert_error(citizen.client.post(CONCERNS, body, format="multipart"), 415, "UNSUPPORTED_MEDIA_TYPE")

    @override_settings(ATTACHMENT_MAX_BYTES=2048)
    def test_file_over_the_limit_is_413(self, citizen: Any) -> None:
        big = noisy_png()
        assert len(big) > 2048
        before = counts()
        body = {**FORM, "attachments": [upload("small.png", png_bytes()), upload("big.png", big)]}
        error = assert_error(citizen.client.post(CONCERNS, body, format="multipart"), 413, "PAYLOAD_TOO_LARGE")
        assert error["details"]["max_bytes"] == 2048
        assert "2048" in error["message"]
        assert counts() == before
        assert media_files() == []

    def test_more_than_ten_files_is_422(self, citizen: Any) -> None:
        before = counts()
        files = [upload(f"p{n}.png", png_bytes()) for n in range(11)]
        response = citizen.client.post(CONCERNS, {**FORM, "attachments": files}, format="multipart")
        assert_field_error(response, "attachments")
        assert counts() == before
        assert media_files() == []

    def test_ten_files_are_fine(self, citizen: Any) -> None:
        files = [upload(f"p{n}.png", png_bytes()) for n in range(10)]
        data = assert_ok(citizen.client.post(CONCERNS, {**FORM, "attachments": files}, format="multipart"), 201)
        assert len(data["attachments"]) == 10
        assert len(media_files()) == 10

    def test_invalid_form_with_valid_files_leaves_nothing(self, citizen: Any) -> None:
        before = counts()
        body = {**FORM, "title": "", "attachments": [upload("p.png", png_bytes())]}
        assert_field_error(citizen.client.post(CONCERNS, body, format="multipart"), "title")
        assert counts() == before
        assert media_files() == []

    def test_one_bad_file_among_good_ones_leaves_nothing(self, citizen: Any) -> None:
        before = counts()
        files = [upload("a.jpg", jpeg_bytes()), upload("b.webp", webp_bytes()), upload("c.png", b"\x00" * 64)]
        response = citizen.client.post(CONCERNS, {**FORM, "attachments": files}, format="multipart")
        assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
        assert counts() == before
        assert media_files() == []


class TestAddAttachment:
    @pytest.fixture
    def concern(self, citizen: Any) -> Concern:
        return make_concern(submitted_by=citizen.user)

    @pytest.mark.parametrize(
        ("name", "content", "content_type"),
        [
            ("photo.jpg", jpeg_bytes(), "image/jpeg"),
            ("photo.png", png_bytes(), "image/png"),
            ("photo.webp", webp_bytes(), "image/webp"),
            ("report.pdf", PDF_BYTES, "application/pdf"),
        ],
    )
    def test_owner_adds_a_file(
        self, citizen: Any, stranger: Any, concern: Concern, name: str, content: bytes, content_type: str
    ) -> None:
        response = citizen.client.post(attachments_url(concern.pk), {"file": upload(name, content)}, format="multipart")
        data = assert_ok(response, 201)
        assert data["filename"] == name
        assert data["size"] == len(content)
        assert data["content_type"] == content_type
        assert set(data) >= {"id", "filename", "url", "size", "uploaded_at"}

        listing = assert_ok(stranger.get(attachments_url(concern.tracking_number)))["attachments"]
        assert [a["id"] for a in listing] == [data["id"]]
        assert listing[0]["url"] == data["url"]
        detail = assert_ok(stranger.get(concern_url(concern.pk)))
        assert [a["id"] for a in detail["attachments"]] == [data["id"]]

        file_response, body = download(stranger, data["url"])
        assert file_response.status_code == 200
        assert file_response["Content-Type"] == content_type
        assert file_response["X-Content-Type-Options"] == "nosniff"
        assert body == content
        stored = Attachment.objects.get(pk=data["id"])
        assert stored.file.name.startswith(f"concerns/{concern.pk}/")
        assert stored.uploaded_by == citizen.user

    def test_staff_adds_a_file(self, staff_member: Any, concern: Concern) -> None:
        response = staff_member.client.post(
            attachments_url(concern.pk), {"file": upload("site.png", png_bytes())}, format="multipart"
        )
        assert assert_ok(response, 201)["filename"] == "site.png"

    def test_unsafe_filename_is_cleaned(self, citizen: Any, concern: Concern) -> None:
        response = citizen.client.post(
            attachments_url(concern.pk), {"file": upload("../../etc/pass wd<>.png", png_bytes())}, format="multipart"
        )
        data = assert_ok(response, 201)
        assert "/" not in data["filename"]
        assert "<" not in data["filename"]
        stored = Attachment.objects.get(pk=data["id"])
        assert ".." not in stored.file.name

    def test_another_citizen_cannot_add(self, concern: Concern) -> None:
        neighbour = make_persona("neighbour", Role.CITIZEN)
        response = neighbour.client.post(
            attachments_url(concern.pk), {"file": upload("p.png", png_bytes())}, format="multipart"
        )
        assert_error(response, 403, "PERMISSION_DENIED")
        assert Attachment.objects.count() == 0
        assert media_files() == []

    def test_stranger_cannot_add(self, stranger: Any, concern: Concern) -> None:
        response = stranger.client.post(
            attachments_url(concern.pk), {"file": upload("p.png", png_bytes())}, format="multipart"
        )
        assert_error(response, 401, "AUTHENTICATION_REQUIRED")
        assert Attachment.objects.count() == 0

    def test_missing_file_is_422(self, citizen: Any, concern: Concern) -> None:
        response = citizen.client.post(attachments_url(concern.pk), {"note": "no file"}, format="multipart")
        assert_field_error(response, "file")

    def test_bad_content_is_415(self, citizen: Any, concern: Concern) -> None:
        response = citizen.client.post(
            attachments_url(concern.pk), {"file": upload("photo.png", b"hello, world" * 10)}, format="multipart"
        )
        assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
        assert Attachment.objects.count() == 0
        assert media_files() == []

    @override_settings(ATTACHMENT_MAX_BYTES=2048)
    def test_too_large_is_413(self, citizen: Any, concern: Concern) -> None:
        response = citizen.client.post(
            attachments_url(concern.pk), {"file": upload("big.png", noisy_png())}, format="multipart"
        )
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        assert media_files() == []

    def test_eleventh_file_is_422(self, citizen: Any, concern: Concern) -> None:
        for n in range(10):
            services.attachment_add(concern=concern, upload=upload(f"p{n}.png", png_bytes()), actor=citizen.user)
        response = citizen.client.post(
            attachments_url(concern.pk), {"file": upload("p10.png", png_bytes())}, format="multipart"
        )
        assert_field_error(response, "file")
        assert Attachment.objects.filter(concern=concern).count() == 10
        assert len(media_files()) == 10

    def test_unknown_concern_is_404(self, citizen: Any) -> None:
        response = citizen.client.post(
            attachments_url("TRK-2000-000001"), {"file": upload("p.png", png_bytes())}, format="multipart"
        )
        assert_error(response, 404, "RESOURCE_NOT_FOUND")

    def test_unknown_attachment_is_404(self, stranger: Any, concern: Concern) -> None:
        url = f"{attachments_url(concern.pk)}/7d3c0a52-4b8e-4f0e-9b1a-8f3f2a8e0c11"
        assert_error(stranger.get(url), 404, "RESOURCE_NOT_FOUND")

    def test_attachment_of_another_concern_is_404(self, citizen: Any, stranger: Any, concern: Concern) -> None:
        attachment = services.attachment_add(concern=concern, upload=upload("p.png", png_bytes()), actor=citizen.user)
        other = make_concern(submitted_by=citizen.user, title="Other")
        assert_error(stranger.get(f"{attachments_url(other.pk)}/{attachment.pk}"), 404, "RESOURCE_NOT_FOUND")

    def test_files_of_a_deleted_concern_are_gone(self, citizen: Any, administrator: Any, concern: Concern) -> None:
        attachment = services.attachment_add(concern=concern, upload=upload("p.png", png_bytes()), actor=citizen.user)
        services.concern_delete(concern=concern, actor=administrator.user)
        url = f"{attachments_url(concern.pk)}/{attachment.pk}"
        assert_error(citizen.get(url), 404, "RESOURCE_NOT_FOUND")
        assert_error(citizen.get(attachments_url(concern.pk)), 404, "RESOURCE_NOT_FOUND")
