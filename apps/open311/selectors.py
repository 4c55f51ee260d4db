"""Reads behind the Open311 endpoints: services (active categories), their definitions and
service requests (concerns that are not deleted)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from apps.concerns.models import OPEN_STATUSES, Attachment, Category, Concern, ConcernUpdate, Status
from apps.concerns.selectors import TRACKING_NUMBER

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
LIST_DATATYPES = ("singlevaluelist", "multivaluelist")

OPEN = "open"
CLOSED = "closed"
CLOSED_STATUSES = (Status.RESOLVED, Status.CLOSED)


@dataclass(frozen=True)
class AttributeValue:
    key: str
    name: str


@dataclass(frozen=True)
class ServiceAttribute:
    """One attribute of a service definition, normalised from ``Category.attributes``."""

    code: str
    datatype: str
    required: bool
    variable: bool
    description: str
    datatype_description: str | None
    order: int
    values: tuple[AttributeValue, ...]


@dataclass(frozen=True)
class RequestFilters:
    """What GET requests asks for. ``ids`` overrides every other filter (spec)."""

    ids: tuple[str, ...] | None
    service_codes: tuple[str, ...]
    statuses: tuple[str, ...]
    start: datetime
    end: datetime
    page: int
    page_size: int


def service_list() -> QuerySet[Category]:
    return Category.objects.filter(active=True)


def service_get(*, service_code: str) -> Category | None:
    """An active category by its code: retired categories are no longer offered."""
    return Category.objects.filter(code=service_code, active=True).first()


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"true", "1", "yes"}


def _values(raw: Any) -> tuple[AttributeValue, ...]:
    values: list[AttributeValue] = []
    seen: set[str] = set()
    for entry in raw if isinstance(raw, list) else []:
        if isinstance(entry, dict) and entry.get("key") not in (None, ""):
            key = str(entry["key"])
            if key not in seen:
                seen.add(key)
                values.append(AttributeValue(key=key, name=str(entry.get("name") or key)))
    return tuple(values)


def service_attributes(*, category: Category) -> list[ServiceAttribute]:
    """The category's attributes in presentation order, numbered 1..n. Entries the admin
    stored without a code are skipped; an unknown datatype is treated as ``string``."""
    candidates: list[tuple[int, int, dict[str, Any]]] = []
    seen: set[str] = set()
    raw_list = category.attributes if isinstance(category.attributes, list) else []
    for index, raw in enumerate(raw_list):
        if not isinstance(raw, dict) or raw.get("code") in (None, ""):
            continue
        code = str(raw["code"])
        if code in seen:
            continue
        seen.add(code)
        order = raw.get("order")
        rank = order if isinstance(order, int) and not isinstance(order, bool) and order > 0 else index + 1
        candidates.append((rank, index, raw))
    attributes: list[ServiceAttribute] = []
    for position, (_, _, raw) in enumerate(sorted(candidates, key=lambda item: (item[0], item[1])), start=1):
        datatype = str(raw.get("datatype") or "string").lower()
        if datatype not in DATATYPES:
            datatype = "string"
        variable = _flag(raw.get("variable"), True)
        attributes.append(
            ServiceAttribute(
                code=str(raw["code"]),
                datatype=datatype,
                required=variable and _flag(raw.get("required"), False),
                variable=variable,
                description=str(raw.get("description") or ""),
                datatype_description=(str(raw["datatype_description"]) if raw.get("datatype_description") else None),
                order=position,
                values=_values(raw.get("values")) if datatype in LIST_DATATYPES else (),
            )
        )
    return attributes


def service_request_queryset(*, extensions: bool = False) -> QuerySet[Concern]:
    """Concerns as Open311 shows them: category joined, the first images and the latest
    public note fetched in constant queries; contact data and internal notes not loaded."""
    latest_note = (
        ConcernUpdate.objects.filter(concern=OuterRef("pk"))
        .exclude(message="")
        .order_by("-timestamp", "-id")
        .values("message")[:1]
    )
    images = Attachment.objects.filter(content_type__startswith="image/").order_by("uploaded_at", "id")
    queryset = (
        Concern.objects.select_related("category")
        .defer("contact_name", "contact_email", "contact_phone", "internal_notes")
        .annotate(open311_status_notes=Subquery(latest_note))
        .prefetch_related(Prefetch("attachments", queryset=images, to_attr="open311_images"))
    )
    if extensions:
        queryset = queryset.prefetch_related("updates")
    return queryset


def service_request_list(*, filters: RequestFilters, extensions: bool = False) -> list[Concern]:
    queryset = service_request_queryset(extensions=extensions)
    if filters.ids is not None:
        numbers = [number.upper() for number in filters.ids if TRACKING_NUMBER.match(number)]
        queryset = queryset.filter(tracking_number__in=numbers)
    else:
        queryset = queryset.filter(submitted_at__gte=filters.start, submitted_at__lte=filters.end)
        if filters.service_codes:
            queryset = queryset.filter(category__code__in=filters.service_codes)
        if filters.statuses and set(filters.statuses) != {OPEN, CLOSED}:
            wanted = OPEN_STATUSES if OPEN in filters.statuses else CLOSED_STATUSES
            queryset = queryset.filter(status__in=wanted)
    offset = (filters.page - 1) * filters.page_size
    return list(queryset.order_by("-submitted_at", "-id")[offset : offset + filters.page_size])


def service_request_get(*, service_request_id: str, extensions: bool = False) -> Concern | None:
    if not TRACKING_NUMBER.match(service_request_id):
        return None
    return service_request_queryset(extensions=extensions).filter(tracking_number=service_request_id.upper()).first()


def service_request_id_for_token(*, token: str) -> str | None:
    """Tokens are concern ids: requests are created synchronously, so every token already
    has its service_request_id."""
    try:
        pk = uuid.UUID(token)
    except ValueError:
        return None
    return Concern.objects.filter(pk=pk).values_list("tracking_number", flat=True).first()
