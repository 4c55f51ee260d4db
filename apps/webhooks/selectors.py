from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from apps.core.permissions import user_has
from apps.webhooks.models import Attempt, Delivery, Endpoint


def endpoint_list(*, user: Any) -> QuerySet[Endpoint]:
    """Endpoints belong to their creator; administrators see all."""
    endpoints = Endpoint.objects.select_related("owner")
    return endpoints if user_has(user, "webhooks.view_all") else endpoints.filter(owner=user)


def delivery_list(*, endpoint: Endpoint) -> QuerySet[Delivery]:
    return (
        Delivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .prefetch_related(Prefetch("attempts", queryset=Attempt.objects.order_by("attempted_at", "id")))
    )
