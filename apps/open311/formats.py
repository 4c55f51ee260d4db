"""XML and JSON output of Open311 documents.

A document is plain data: a root name and either a list of items (services, service
requests, errors) or one object (a service definition, the discovery file). XML is built
with ``xml.etree`` (schemaless, no namespace, declaration with UTF-8); JSON is the
mechanical mapping of that XML, the root element dropped and repeated elements as arrays.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree as ET  # we only build XML here, never parse input

from django.http import HttpResponse
from django.utils import timezone

from apps.open311.errors import ErrorItem, Open311Error

XML = "xml"
JSON = "json"
DEFAULT_FORMAT = XML  # the format every GeoReport v2 server must offer
CONTENT_TYPES = {XML: "text/xml; charset=utf-8", JSON: "application/json; charset=utf-8"}
MIME_TYPES = {XML: "text/xml", JSON: "application/json"}

# The element name of one entry of each list, by the name of the list.
ITEM_TAGS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "notes": "note",
}

# Characters XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/FFFF).
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Document:
    root: str
    body: list[dict[str, Any]] | dict[str, Any]


def format_from_suffix(suffix: str | None) -> str:
    """The output format named by the path suffix (``.json``/``.xml``); XML without one."""
    if suffix is None or suffix == "":
        return DEFAULT_FORMAT
    name = suffix.lower()
    if name not in CONTENT_TYPES:
        raise Open311Error(400, f"Unsupported format '{suffix[:20]}'; use .xml or .json.")
    return name


def w3_datetime(value: datetime | None) -> str | None:
    """A w3 datetime with its offset, in the site's time zone (``Z`` for UTC)."""
    if value is None:
        return None
    local = timezone.localtime(value)
    text = local.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def clean_text(text: str) -> str:
    return _NOT_XML_CHAR.sub("", text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def _scalar_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")  # never 1e-05 in XML
    return str(value)


def _fill(element: ET.Element, value: Any, name: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _fill(ET.SubElement(element, key), item, key)
    elif isinstance(value, list):
        tag = ITEM_TAGS[name]
        for item in value:
            _fill(ET.SubElement(element, tag), item, tag)
    else:
        element.text = _scalar_text(value)


def to_xml(document: Document) -> bytes:
    root = ET.Element(document.root)
    _fill(root, _clean(document.body), document.root)
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode("utf-8")


def to_json(document: Document) -> bytes:
    return json.dumps(_clean(document.body), ensure_ascii=False).encode("utf-8")


def render(document: Document, fmt: str, status: int = 200) -> HttpResponse:
    content = to_xml(document) if fmt == XML else to_json(document)
    return HttpResponse(content, status=status, content_type=CONTENT_TYPES[fmt])


def errors_document(errors: list[ErrorItem]) -> Document:
    return Document("errors", [{"code": error.code, "description": error.description} for error in errors])


def render_error(error: Open311Error, fmt: str) -> HttpResponse:
    response = render(errors_document(error.errors), fmt, status=error.status)
    for header, value in error.headers.items():
        response[header] = value
    return response
