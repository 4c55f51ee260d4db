from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from apps.concerns.models import Attachment, Category, Concern, ConcernUpdate, DuplicateLink, Priority, Status
from apps.concerns.selectors import ConcernRow, View, duplicate_links_to
from apps.core.serializers import StrictSerializer, TextField


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["code", "name", "description", "group", "keywords", "sla_hours"]


class ContactSerializer(StrictSerializer):
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    phone = serializers.RegexField(r"^[0-9+() .-]{3,30}$", required=False, allow_blank=True, max_length=30)
    name = TextField(required=False, allow_blank=True, max_length=100)


class ConcernCreateSerializer(StrictSerializer):
    title = TextField(max_length=100)
    description = TextField(max_length=2000)
    category = serializers.SlugRelatedField(slug_field="code", queryset=Category.objects.filter(active=True))
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.MEDIUM)
    location = TextField(max_length=255, required=False, allow_blank=True, default="")
    latitude = serializers.FloatField(required=False, allow_null=True, min_value=-90, max_value=90)
    longitude = serializers.FloatField(required=False, allow_null=True, min_value=-180, max_value=180)
    contact = ContactSerializer(required=False)
    anonymous = serializers.BooleanField(required=False, default=False)
    attachments = serializers.ListField(child=serializers.FileField(), required=False, max_length=10)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if (attrs.get("latitude") is None) != (attrs.get("longitude") is None):
            raise serializers.ValidationError({"longitude": ["Give both latitude and longitude, or neither."]})
        return attrs


class ConcernUpdateSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    message = TextField(max_length=2000, required=False, allow_blank=True, default="")
    estimated_resolution = serializers.DateTimeField(required=False)
    assigned_to = TextField(max_length=150, required=False, allow_null=True, allow_blank=True)
    internal_notes = TextField(max_length=10000, required=False, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if not (set(self.initial_data) & set(self.fields)):
            raise serializers.ValidationError({"non_field_errors": ["Nothing to update."]})
        return attrs


# DRF's own datetime field: the hand-written representations below write datetimes exactly
# as it does (ISO 8601 in the current time zone, UTC as Z).
DATETIME = serializers.DateTimeField()


def datetime_writer() -> Callable[[Any], Any]:
    """DATETIME.to_representation with the current time zone looked up once, not per value."""
    output_format = api_settings.DATETIME_FORMAT
    if not settings.USE_TZ or not isinstance(output_format, str) or output_format.lower() != ISO_8601:
        return DATETIME.to_representation
    zone = timezone.get_current_timezone()

    def write(value: Any) -> Any:
        if not value:
            return None
        if isinstance(value, str):
            return value
        value = value.astimezone(zone) if timezone.is_aware(value) else DATETIME.enforce_timezone(value)
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return write


class DatetimeWriting:
    """``write_datetime``: datetime_writer() made once per serializer, so once per page (the
    rows of a list share one child serializer) instead of once per row."""

    @cached_property
    def write_datetime(self) -> Callable[[Any], Any]:
        return datetime_writer()


def float_or_none(value: Any) -> float | None:
    return float(value) if value is not None else None


# The representations below write out what the declared fields give: DRF's field-by-field
# machinery (a serializer per list, copied fields, get_attribute per field) cost more than
# the rest of a concern detail. The declarations still describe the fields for the schema.


def timeline_entry(update: ConcernUpdate, write: Callable[[Any], Any]) -> dict[str, Any]:
    return {
        "id": str(update.id),
        "timestamp": write(update.timestamp),
        "status": update.status,
        "message": update.message,
        "updated_by": str(update.updated_by_name),
    }


def attachment_entry(attachment: Attachment, write: Callable[[Any], Any], request: Any = None) -> dict[str, Any]:
    path = reverse("concern-attachment-file", args=[attachment.concern_id, attachment.id])
    return {
        "id": str(attachment.id),
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "url": request.build_absolute_uri(path) if request is not None else path,
        "size": int(attachment.size),
        "uploaded_at": write(attachment.uploaded_at),
    }


class TimelineSerializer(DatetimeWriting, serializers.ModelSerializer):
    updated_by = serializers.CharField(source="updated_by_name")

    class Meta:
        model = ConcernUpdate
        fields = ["id", "timestamp", "status", "message", "updated_by"]

    def to_representation(self, update: ConcernUpdate) -> dict[str, Any]:
        return timeline_entry(update, self.write_datetime)


class AttachmentSerializer(DatetimeWriting, serializers.ModelSerializer):
    url = serializers.CharField(read_only=True, help_text="Where to download the file.")

    class Meta:
        model = Attachment
        fields = ["id", "filename", "content_type", "url", "size", "uploaded_at"]

    def to_representation(self, attachment: Attachment) -> dict[str, Any]:
        return attachment_entry(attachment, self.write_datetime, self.context.get("request"))


class ConcernListSerializer(DatetimeWriting, serializers.ModelSerializer):
    """One row of GET /concerns (seed 001), for owners and staff: a selectors.ConcernRow.
    The declarations describe the model's fields for the schema."""

    category = serializers.CharField(source="category.code")
    overdue = serializers.BooleanField(source="is_overdue")

    class Meta:
        model = Concern
        fields = [
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
        ]

    def to_representation(self, concern: ConcernRow) -> dict[str, Any]:
        return concern_row_data(concern, self.write_datetime)


def concern_row_data(concern: ConcernRow, write: Callable[[Any], Any]) -> dict[str, Any]:
    """ConcernListSerializer's representation, in the order of its declared fields."""
    return {
        "id": str(concern.id),
        "tracking_number": concern.tracking_number,
        "title": concern.title,
        "description": concern.description,
        "category": concern.category_code,
        "priority": concern.priority,
        "status": concern.status,
        "location": concern.location,
        "latitude": float_or_none(concern.latitude),
        "longitude": float_or_none(concern.longitude),
        "submitted_at": write(concern.submitted_at),
        "last_updated": write(concern.last_updated),
        "estimated_resolution": write(concern.estimated_resolution),
        "overdue": concern.is_overdue,
    }


class ConcernStaffListSerializer(ConcernListSerializer):
    assigned_to = serializers.CharField(source="assigned_to.username", default=None)
    anonymous = serializers.BooleanField()

    class Meta(ConcernListSerializer.Meta):
        fields = [*ConcernListSerializer.Meta.fields, "assigned_to", "anonymous"]

    def to_representation(self, concern: ConcernRow) -> dict[str, Any]:
        data = super().to_representation(concern)
        data["assigned_to"] = concern.assigned_to_username
        data["anonymous"] = bool(concern.anonymous)
        return data


SUBMITTER_LABEL = "submitter"
STAFF_LABEL = "city staff"  # a member of staff's username is half of their sign-in


def concern_detail(concern: Concern, view: View, request: Any = None) -> dict[str, Any]:
    """The concern as this caller may see it (see selectors.View)."""
    write = datetime_writer()
    data = concern_row_data(ConcernRow.of(concern), write)
    data["created_at"] = data["submitted_at"]
    updates = list(concern.updates.all())
    data["updates"] = [timeline_entry(update, write) for update in updates]
    if view is not View.STAFF:
        # Who submitted a concern is not public (least of all for an anonymous one), and
        # staff usernames are shown to staff only; "system" stays.
        for entry, update in zip(data["updates"], updates, strict=True):
            if update.updated_by_id is None:
                continue
            if update.updated_by_id != concern.submitted_by_id:
                entry["updated_by"] = STAFF_LABEL
            elif view is View.PUBLIC:
                entry["updated_by"] = SUBMITTER_LABEL
    data["attachments"] = [attachment_entry(attachment, write, request) for attachment in concern.attachments.all()]
    if view is View.PUBLIC:
        return data
    data["attributes"] = concern.attributes
    data["anonymous"] = concern.anonymous
    data["assigned_to"] = concern.assigned_to.username if concern.assigned_to else None
    show_contact = view is View.STAFF or not concern.anonymous
    data["contact"] = (
        {"email": concern.contact_email, "phone": concern.contact_phone, "name": concern.contact_name}
        if show_contact
        else None
    )
    if view is View.STAFF:
        data["internal_notes"] = concern.internal_notes
        data["submitted_by"] = concern.submitted_by.username if concern.submitted_by else None
        data["source"] = concern.source
        # Both ways: a link is made from the newer concern, and staff working from the older
        # one must see it too.
        later = duplicate_links_to(concern=concern)
        data["possible_duplicates"] = [
            *(_duplicate_entry(link, link.duplicate_of) for link in concern.duplicate_links.all()),
            *(_duplicate_entry(link, link.concern) for link in later),
        ]
    return data


def _duplicate_entry(link: DuplicateLink, other: Concern) -> dict[str, Any]:
    return {
        "id": str(other.pk),
        "tracking_number": other.tracking_number,
        "title": other.title,
        "reason": link.reason,
        "distance_m": link.distance_m,
        "similarity": link.similarity,
    }
