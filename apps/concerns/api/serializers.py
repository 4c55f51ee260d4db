from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from apps.concerns.models import Attachment, Category, Concern, ConcernUpdate, Priority, Status
from apps.concerns.selectors import View
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


class TimelineSerializer(serializers.ModelSerializer):
    updated_by = serializers.CharField(source="updated_by_name")

    class Meta:
        model = ConcernUpdate
        fields = ["id", "timestamp", "status", "message", "updated_by"]


class AttachmentSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = ["id", "filename", "content_type", "url", "size", "uploaded_at"]

    def get_url(self, attachment: Attachment) -> str:
        path = reverse("concern-attachment-file", args=[attachment.concern_id, attachment.id])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class ConcernListSerializer(serializers.ModelSerializer):
    """One row of GET /concerns (seed 001), for owners and staff."""

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


class ConcernStaffListSerializer(ConcernListSerializer):
    assigned_to = serializers.CharField(source="assigned_to.username", default=None)
    anonymous = serializers.BooleanField()

    class Meta(ConcernListSerializer.Meta):
        fields = [*ConcernListSerializer.Meta.fields, "assigned_to", "anonymous"]


SUBMITTER_LABEL = "submitter"


def concern_detail(concern: Concern, view: View, request: Any = None) -> dict[str, Any]:
    """The concern as this caller may see it (see selectors.View)."""
    data: dict[str, Any] = dict(ConcernListSerializer(concern).data)
    data["created_at"] = data["submitted_at"]
    updates = list(concern.updates.all())
    data["updates"] = TimelineSerializer(updates, many=True).data
    if view is View.PUBLIC and concern.submitted_by_id is not None:
        # Who submitted a concern is not public (least of all for an anonymous one).
        for entry, update in zip(data["updates"], updates, strict=True):
            if update.updated_by_id == concern.submitted_by_id:
                entry["updated_by"] = SUBMITTER_LABEL
    data["attachments"] = AttachmentSerializer(concern.attachments.all(), many=True, context={"request": request}).data
    if view is View.PUBLIC:
        return data
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
        data["possible_duplicates"] = [
            {
                "id": str(link.duplicate_of_id),
                "tracking_number": link.duplicate_of.tracking_number,
                "title": link.duplicate_of.title,
                "reason": link.reason,
                "distance_m": link.distance_m,
                "similarity": link.similarity,
            }
            for link in concern.duplicate_links.all()
        ]
    return data
