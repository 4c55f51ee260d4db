from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Endpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)
    description = models.CharField(max_length=200, blank=True)
    # Fernet-encrypted; see secrets_box.
    secret_encrypted = models.TextField()
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    # Start of the current run of failed attempts; cleared by any success.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url


class Event(models.Model):
    """The outbox: every published event, written in the transaction that caused it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=60, db_index=True)
    data = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One event to one endpoint, tried until it succeeds or the schedule runs out."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    # When a task for it was last queued; the sweep re-queues what a lost task left behind.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # A worker holds the delivery until this time while it sends it.
    lease_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx"),
            models.Index(fields=["endpoint", "-created_at"], name="delivery_endpoint_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event.type} → {self.endpoint.url} ({self.status})"

    @property
    def message_id(self) -> str:
        """The Standard Webhooks id: stable across every retry of this delivery."""
        return f"msg_{self.id.hex}"


class Attempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.FloatField(default=0)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} at {self.attempted_at:%Y-%m-%d %H:%M:%S}: {self.status_code or self.error}"
