"""Helpers shared by the Open311 tests (not a test module itself)."""

from __future__ import annotations

import io
import json
import re
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from apps.accounts.models import User
from apps.concerns.models import Category, Concern
from apps.concerns.services import concern_create
from apps.open311.formats import ITEM_TAGS

BASE = "/open311/v2"
FORM = "application/x-www-form-urlencoded"
W3_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]


def url(resource: str, fmt: str = "json", **query: Any) -> str:
    path = f"{BASE}/{resource}.{fmt}" if fmt else f"{BASE}/{resource}"
    return f"{path}?{urlencode(query, doseq=True)}" if query else path


def xml_root(response: Any) -> ET.Element:
    assert response["Content-Type"] == "text/xml; charset=utf-8", response["Content-Type"]
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(response.content)  # noqa: S314 (our own output)


def json_body(response: Any) -> Any:
    assert response["Content-Type"] == "application/json; charset=utf-8", response["Content-Type"]
    return json.loads(response.content)


def spark(element: ET.Element) -> Any:
    """The JSON that the Spark convention makes of an element: lists for list containers,
    objects for elements with children, text otherwise (None when empty)."""
    children = list(element)
    if element.tag in ITEM_TAGS:
        return [spark(child) for child in children]
    if not children:
        return element.text
    return {child.tag: spark(child) for child in children}


def as_text(value: Any) -> Any:
    """JSON values as XML would carry them, to compare the two formats."""
    if isinstance(value, dict):
        return {key: as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_text(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or value == "":
        return None
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value)


def errors_of(response: Any, fmt: str) -> list[dict[str, Any]]:
    """The error list of an Open311 error response, in either format, codes as ints."""
    if fmt == "xml":
        root = xml_root(response)
        assert root.tag == "errors"
        assert all(child.tag == "error" for child in root)
        return [{"code": int(error.findtext("code")), "description": error.findtext("description")} for error in root]
    body = json_body(response)
    assert isinstance(body, list)
    return body


def assert_errors(response: Any, status: int, fmt: str = "json") -> list[dict[str, Any]]:
    assert response.status_code == status, (response.status_code, response.content[:500])
    errors = errors_of(response, fmt)
    assert errors
    for error in errors:
        assert set(error) == {"code", "description"}
        assert isinstance(error["code"], int)
        assert error["description"]
    return errors


def post_form(client: Any, resource: str, data: dict[str, Any], fmt: str = "json", **extra: Any) -> Any:
    return client.post(url(resource, fmt), urlencode(data, doseq=True), content_type=FORM, **extra)


def png_upload(name: str = "photo.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def pdf_upload(name: str = "report.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "application/pdf")


def make_concern(
    *,
    user: User | None = None,
    code: str = "roads",
    description: str = "A pothole in the road",
    contact: dict[str, str] | None = None,
    **fields: Any,
) -> Concern:
    return concern_create(
        title=description[:100],
        description=description,
        category=Category.objects.get(code=code),
        contact=contact,
        submitted_by=user,
        **fields,
    )
