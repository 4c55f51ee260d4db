from __future__ import annotations

from rest_framework import serializers

from apps.core.serializers import StrictSerializer, TextField
from apps.webhooks.models import Attempt, Delivery, Endpoint


class EndpointSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username")

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "url",
            "events",
            "description",
            "active",
            "disabled_reason",
            "owner",
            "created_at",
            "updated_at",
        ]


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField()

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class EndpointCreateSerializer(StrictSerializer):
    url = serializers.URLField(max_length=2000)
    events = serializers.ListField(child=TextField(max_length=60), min_length=1, max_length=50)
    secret = TextField(min_length=16, max_length=200, required=False)
    description = TextField(max_length=200, required=False, allow_blank=True, default="")


class EndpointUpdateSerializer(StrictSerializer):
    url = serializers.URLField(max_length=2000, required=False)
    events = serializers.ListField(child=TextField(max_length=60), min_length=1, max_length=50, required=False)
    description = TextField(max_length=200, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)


class RotateSecretSerializer(StrictSerializer):
    secret = TextField(min_length=16, max_length=200, required=False)


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = ["attempted_at", "status_code", "latency_ms", "response_excerpt", "error"]


class DeliverySerializer(serializers.ModelSerializer):
    event = serializers.CharField(source="event.type")
    event_id = serializers.UUIDField(source="event.id")
    webhook_id = serializers.CharField(source="message_id")
    attempts = AttemptSerializer(many=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "webhook_id",
            "event",
            "event_id",
            "status",
            "attempt_count",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "completed_at",
            "attempts",
        ]
