"""Helpers shared by the concerns tests (not a test module itself)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from apps.accounts.models import User
from apps.concerns import services
from apps.concerns.models import Attachment, Category, Concern, ConcernUpdate
from apps.core.events import event_subscribe, event_unsubscribe

CONCERNS = "/api/v1/concerns"

# The create example of seed 001 (SDK usage), with the optional fields of its request body.
SEED_BODY: dict[str, Any] = {
    "title": "Broken street light",
    "description": "Street light on Main St is not working",
    "category": "infrastructure",
    "priority": "high",
    "location": "Main St and 3rd Ave",
    "contact": {"email": "resident@example.org", "phone": "+1 555 0100", "name": "Robin Resident"},
    "anonymous": False,
}

CONCERN_KEYS = {
    "id",
    "tracking_number",
    "title",
    "description",
    "category",
    "priority",
    "status",
    "location",
    "latitude",
    "longitude",
    "submitted_at",
    "last_updated",
    "estimated_resolution",
    "overdue",
    "created_at",
    "updates",
    "attachments",
}
PRIVATE_KEYS = {
    "contact",
    "internal_notes",
    "assigned_to",
    "possible_duplicates",
    "submitted_by",
    "anonymous",
    "attributes",
}


def concern_url(identifier: Any) -> str:
    return f"{CONCERNS}/{identifier}"


def attachments_url(identifier: Any) -> str:
    return f"{CONCERNS}/{identifier}/attachments"


# -- envelope assertions ---------------------------------------------------------------------


def assert_ok(response: Any, status: int = 200) -> Any:
    """The ``data`` member of a success envelope."""
    assert response.status_code == status, (response.status_code, response.content[:800])
    body = response.json()
    assert body["success"] is True
    assert set(body["metadata"]) >= {"timestamp", "request_id", "version"}
    return body["data"]


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The error object of an error envelope, after checking status, code and shape."""
    assert response.status_code == status, (response.status_code, response.content[:800])
    body = response.json()
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body["error"]
    assert body["error"]["message"]
    return body["error"]


def assert_field_error(response: Any, field: str, status: int = 422) -> dict[str, Any]:
    """A VALIDATION_ERROR whose details name ``field`` with at least one message."""
    error = assert_error(response, status, "VALIDATION_ERROR")
    details = error["details"]
    assert field in details, details
    assert isinstance(details[field], list) and details[field], details
    assert all(isinstance(text, str) and text for text in details[field]), details
    return details


# -- data --------------------------------------------------------------------------------------


def category(code: str = "infrastructure") -> Category:
    return Category.objects.get(code=code)


def make_concern(*, submitted_by: User | None = None, category_code: str = "infrastructure", **fields: Any) -> Concern:
    values: dict[str, Any] = {
        "title": "Cracked pavement",
        "description": "A slab of the pavement is cracked and lifting.",
        "category": category(category_code),
        "submitted_by": submitted_by,
    }
    values.update(fields)
    return services.concern_create(**values)


def counts() -> tuple[int, int, int, int]:
    """Rows of every concern table that a create writes, plus the stored files."""
    return (
        Concern.all_objects.count(),
        ConcernUpdate.objects.count(),
        Attachment.objects.count(),
        len(media_files()),
    )


def media_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    if not root.exists():
        return []
    return sorted(path for path in root.rglob("*") if path.is_file())


# -- files -----------------------------------------------------------------------------------


def image_bytes(fmt: str, size: tuple[int, int] = (8, 6), color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def jpeg_bytes() -> bytes:
    return image_bytes("JPEG")


def png_bytes(size: tuple[int, int] = (8, 6)) -> bytes:
    return image_bytes("PNG", size)


def webp_bytes() -> bytes:
    return image_bytes("WEBP")


PDF_BYTES = (
    b"%PDF-1.4\n"
    b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n"
    b"%%EOF\n"
)


def upload(name: str, content: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


# -- events ----------------------------------------------------------------------------------


@contextmanager
def recorded_events() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every event published inside the block, as (name, data)."""
    events: list[tuple[str, dict[str, Any]]] = []

    def subscriber(event: str, data: dict[str, Any]) -> None:
        events.append((event, dict(data)))

    event_subscribe(subscriber)
    try:
        yield events
    finally:
        event_unsubscribe(subscriber)
