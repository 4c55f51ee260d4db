"""Reads for concerns, and who may see how much of one."""

from __future__ import annotations

import re
import uuid
from enum import Enum
from typing import Any

from django.db.models import Prefetch, QuerySet

from apps.concerns.models import Category, Concern, DuplicateLink
from apps.core.permissions import user_has

TRACKING_NUMBER = re.compile(r"^TRK-\d{4}-\d{6,}$", re.IGNORECASE)


class View(Enum):
    """How much of a concern a caller sees."""

    PUBLIC = "public"  # no contact, internal notes, assignee or duplicates
    OWNER = "owner"  # the submitter: everything but internal notes and duplicates
    STAFF = "staff"  # everything


def concern_view_for(*, concern: Concern, user: Any) -> View:
    if user_has(user, "concerns.view_all"):
        return View.STAFF
    if user is not None and user.is_authenticated and concern.submitted_by_id == user.pk:
        return View.OWNER
    return View.PUBLIC


def category_list(*, active_only: bool = True) -> QuerySet[Category]:
    categories = Category.objects.all()
    return categories.filter(active=True) if active_only else categories


def category_get(*, code: str) -> Category | None:
    return Category.objects.filter(code=code).first()


def concern_list(*, user: Any) -> QuerySet[Concern]:
    """Concerns the user may list: all for staff, their own for everyone else."""
    concerns = Concern.objects.select_related("category", "assigned_to", "submitted_by")
    if user_has(user, "concerns.view_all"):
        return concerns
    return concerns.filter(submitted_by=user)


def concern_detail_queryset() -> QuerySet[Concern]:
    return Concern.objects.select_related("category", "assigned_to", "submitted_by").prefetch_related(
        "updates",
        "attachments",
        Prefetch(
            "duplicate_links",
            queryset=DuplicateLink.objects.select_related("duplicate_of"),
        ),
    )


def concern_get(*, identifier: str) -> Concern | None:
    """By UUID or tracking number."""
    concerns = concern_detail_queryset()
    if TRACKING_NUMBER.match(identifier):
        return concerns.filter(tracking_number=identifier.upper()).first()
    try:
        pk = uuid.UUID(identifier)
    except ValueError:
        return None
    return concerns.filter(pk=pk).first()


def concern_get_public(*, tracking_number: str) -> Concern | None:
    if not TRACKING_NUMBER.match(tracking_number):
        return None
    return concern_detail_queryset().filter(tracking_number=tracking_number.upper()).first()
