"""Our models as Open311 documents (plain data that ``formats`` writes as XML or JSON).

Service requests are built field by field from what the public may see: contact data,
internal notes, the assignee and the submitter never appear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.urls import reverse

from apps.concerns.models import OPEN_STATUSES, Category, Concern, ConcernUpdate, Status
from apps.open311.formats import MIME_TYPES, Document, w3_datetime
from apps.open311.selectors import CLOSED, LIST_DATATYPES, OPEN, ServiceAttribute, service_attributes

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this server's discovery document or service-definition format last changed.
# Categories carry no modification time, so edits to them cannot move it.
DISCOVERY_CHANGESET = "2026-11-23T00:00:00Z"

DATATYPE_DESCRIPTIONS = {
    "string": "A single line of text.",
    "number": "A number, such as 12 or 3.5.",
    "datetime": "An ISO 8601 date and time, such as 2024-05-01T14:30:00Z.",
    "text": "Free text; line breaks are allowed.",
    "singlevaluelist": "Choose one of the values; send its key.",
    "multivaluelist": "Choose one or more of the values; send their keys as attribute[code][]=key.",
}

AbsoluteUri = Callable[[str], str]


def open311_status(status: str) -> str:
    return OPEN if status in OPEN_STATUSES else CLOSED


def detailed_status(status: str) -> str:
    """Our own status in the extension's upper-case vocabulary, e.g. ``IN_PROGRESS``."""
    return status.upper()


def _keywords(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(word) for word in value if str(word).strip())
    return str(value or "")


def service_item(category: Category) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.description,
        "metadata": bool(service_attributes(category=category)),
        "type": "realtime",
        "keywords": _keywords(category.keywords),
        "group": category.group,
    }


def services_document(categories: Iterable[Category]) -> Document:
    return Document("services", [service_item(category) for category in categories])


def _attribute_item(attribute: ServiceAttribute) -> dict[str, Any]:
    item: dict[str, Any] = {
        "variable": attribute.variable,
        "code": attribute.code,
        "datatype": attribute.datatype,
        "required": attribute.required,
        "datatype_description": attribute.datatype_description or DATATYPE_DESCRIPTIONS[attribute.datatype],
        "order": attribute.order,
        "description": attribute.description,
    }
    if attribute.datatype in LIST_DATATYPES:
        item["values"] = [{"key": value.key, "name": value.name} for value in attribute.values]
    return item


def service_definition_document(category: Category, attributes: list[ServiceAttribute]) -> Document:
    return Document(
        "service_definition",
        {"service_code": category.code, "attributes": [_attribute_item(attribute) for attribute in attributes]},
    )


def _media_url(concern: Concern, absolute_uri: AbsoluteUri) -> str | None:
    images = getattr(concern, "open311_images", None)
    if images is None:
        images = [attachment for attachment in concern.attachments.all() if attachment.is_image]
    if not images:
        return None
    return absolute_uri(reverse("concern-attachment-file", args=[concern.pk, images[0].pk]))


def _note_type(update: ConcernUpdate, previous: str | None) -> str:
    if previous is None:
        return "submitted"
    if update.status == previous:
        return "activity"
    if previous == Status.RESOLVED and update.status == Status.IN_PROGRESS:
        return "reopened"
    return str(update.status)


def notes(concern: Concern) -> list[dict[str, Any]]:
    """The public timeline as extension notes ``{datetime, description, type}``."""
    items: list[dict[str, Any]] = []
    previous: str | None = None
    for update in concern.updates.all():
        items.append(
            {
                "datetime": w3_datetime(update.timestamp),
                "description": update.message,
                "type": _note_type(update, previous),
            }
        )
        previous = update.status
    return items


def service_request_item(concern: Concern, absolute_uri: AbsoluteUri, *, extensions: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {
        "service_request_id": concern.tracking_number,
        "status": open311_status(concern.status),
        "status_notes": getattr(concern, "open311_status_notes", None) or None,
        "service_name": concern.category.name,
        "service_code": concern.category.code,
        "description": concern.description,
        "agency_responsible": None,
        "service_notice": None,
        "requested_datetime": w3_datetime(concern.submitted_at),
        "updated_datetime": w3_datetime(concern.last_updated),
        "expected_datetime": w3_datetime(concern.estimated_resolution),
        "address": concern.location or None,
        "address_id": None,
        "zipcode": None,
        "lat": concern.latitude,
        "long": concern.longitude,
        "media_url": _media_url(concern, absolute_uri),
    }
    if extensions:
        item["detailed_status"] = detailed_status(concern.status)
        item["notes"] = notes(concern)
    return item


def service_requests_document(
    concerns: Iterable[Concern], absolute_uri: AbsoluteUri, *, extensions: bool = False
) -> Document:
    return Document(
        "service_requests",
        [service_request_item(concern, absolute_uri, extensions=extensions) for concern in concerns],
    )


def created_document(concern: Concern) -> Document:
    """POST answer: the id straight away (we create synchronously, so no token)."""
    return Document(
        "service_requests",
        [{"service_request_id": concern.tracking_number, "service_notice": None, "account_id": None}],
    )


def token_document(*, token: str, service_request_id: str) -> Document:
    return Document("service_requests", [{"service_request_id": service_request_id, "token": token}])


def discovery_document(*, endpoint_url: str, key_service: str, contact: str, production: bool) -> Document:
    return Document(
        "discovery",
        {
            "changeset": DISCOVERY_CHANGESET,
            "contact": contact,
            "key_service": key_service,
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": endpoint_url,
                    "changeset": DISCOVERY_CHANGESET,
                    "type": "production" if production else "test",
                    "formats": [MIME_TYPES["xml"], MIME_TYPES["json"]],
                }
            ],
        },
    )
