from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.request import Request

from apps.core.exceptions import BadRequest


class StrictFilterBackend(DjangoFilterBackend):
    """A bad filter value is a 400 naming the parameter, never a silently ignored filter."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            details = {name: [str(message) for message in messages] for name, messages in filterset.errors.items()}
            raise BadRequest("Invalid query parameters.", details)
        return filterset.qs
