from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class Status(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    IN_PROGRESS = "in_progress", "In progress"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    EMERGENCY = "emergency", "Emergency"


OPEN_STATUSES = (Status.SUBMITTED, Status.IN_PROGRESS)


def is_overdue(status: str, estimated_resolution: datetime | None) -> bool:
    """Still open past its estimated resolution."""
    return bool(status in OPEN_STATUSES and estimated_resolution and estimated_resolution < timezone.now())


# Allowed moves of the workflow; staying in the same status only adds a message.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.SUBMITTED: frozenset({Status.IN_PROGRESS}),
    Status.IN_PROGRESS: frozenset({Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.IN_PROGRESS}),
    Status.CLOSED: frozenset(),
}

# The category SLA is for medium priority; the others scale it.
SLA_FACTORS: dict[str, float] = {
    Priority.LOW: 2.0,
    Priority.MEDIUM: 1.0,
    Priority.HIGH: 0.5,
    Priority.EMERGENCY: 0.125,
}


class Category(models.Model):
    """A kind of concern; also an Open311 service."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    group = models.CharField(max_length=100, blank=True)
    keywords = models.JSONField(default=list, blank=True)
    sla_hours = models.PositiveIntegerField(default=72, help_text="Hours to resolve at medium priority.")
    active = models.BooleanField(default=True)
    # Open311 service-definition attributes: [{code, datatype, required, description, values}]
    attributes = models.JSONField(default=list, blank=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name

    def sla_for(self, priority: str) -> timedelta:
        return timedelta(hours=self.sla_hours * SLA_FACTORS.get(priority, 1.0))


class ActiveConcernManager(models.Manager["Concern"]):
    def get_queryset(self) -> models.QuerySet[Concern]:
        return super().get_queryset().filter(deleted_at__isnull=True)


class Concern(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tracking_number = models.CharField(max_length=20, unique=True)
    title = models.CharField(max_length=100)
    description = models.TextField(max_length=2000)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="concerns")
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SUBMITTED)
    location = models.CharField(max_length=255, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    contact_name = models.CharField(max_length=100, blank=True)
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=30, blank=True)
    anonymous = models.BooleanField(default=False)
    source = models.CharField(max_length=20, default="api")
    # Answers to the category's service-definition attributes (Open311 attribute[code]):
    # code -> the value, or the list of keys of a multivaluelist.
    attributes = models.JSONField(default=dict, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="concerns"
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_concerns",
        limit_choices_to={"role__in": ["staff", "administrator"]},
    )
    internal_notes = models.TextField(blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)
    last_updated = models.DateTimeField(default=timezone.now)
    estimated_resolution = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    duplicates = models.ManyToManyField(
        "self", through="DuplicateLink", symmetrical=False, related_name="duplicated_by", blank=True
    )

    objects = ActiveConcernManager()
    all_objects = models.Manager()  # noqa: DJ012 (a manager, not a field)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        base_manager_name = "all_objects"
        indexes = [
            models.Index(fields=["-submitted_at", "-id"], name="concern_submitted_idx"),
            models.Index(fields=["status", "category", "-submitted_at"], name="concern_status_cat_idx"),
            models.Index(fields=["category", "-submitted_at"], name="concern_cat_idx"),
            models.Index(fields=["priority", "-submitted_at"], name="concern_priority_idx"),
            models.Index(fields=["assigned_to", "-submitted_at"], name="concern_assignee_idx"),
            models.Index(fields=["submitted_by", "-submitted_at"], name="concern_owner_idx"),
            models.Index(fields=["status", "estimated_resolution"], name="concern_overdue_idx"),
            models.Index(fields=["category", "latitude", "longitude"], name="concern_geo_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.tracking_number} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_overdue(self) -> bool:
        return is_overdue(self.status, self.estimated_resolution)


class ConcernUpdate(models.Model):
    """One entry of a concern's public timeline."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    concern = models.ForeignKey(Concern, on_delete=models.CASCADE, related_name="updates")
    timestamp = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=12, choices=Status.choices)
    message = models.TextField(blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What the timeline shows as the author; kept even if the account is deleted.
    updated_by_name = models.CharField(max_length=150, default="system")

    class Meta:
        ordering = ["timestamp", "id"]
        indexes = [models.Index(fields=["concern", "timestamp"], name="update_concern_idx")]

    def __str__(self) -> str:
        return f"{self.concern_id} {self.status} at {self.timestamp:%Y-%m-%d %H:%M}"


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"concerns/{instance.concern_id}/{filename}"


class Attachment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    concern = models.ForeignKey(Concern, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=300)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    uploaded_at = models.DateTimeField(default=timezone.now)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.filename

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class DuplicateLink(models.Model):
    """A newer concern that looks like an open older one (same category, nearby or similar text)."""

    concern = models.ForeignKey(Concern, on_delete=models.CASCADE, related_name="duplicate_links")
    duplicate_of = models.ForeignKey(Concern, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=20)  # "nearby" or "similar_text"
    distance_m = models.FloatField(null=True, blank=True)
    similarity = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["concern", "duplicate_of"], name="duplicate_link_unique")]

    def __str__(self) -> str:
        return f"{self.concern_id} ~ {self.duplicate_of_id} ({self.reason})"


class TrackingSequence(models.Model):
    """The last tracking number handed out in a year; its row lock serialises creates."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last_value = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last_value}"
