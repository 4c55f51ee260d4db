from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django_filters import FilterSet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.request import Request

from apps.core.exceptions import BadRequest


def _unparsed_booleans(filterset: FilterSet) -> dict[str, list[str]]:
    """Boolean filters whose value was given but not understood. Their NullBooleanField
    turns anything unrecognised (``active=maybe``) into None, which means "no filter", so
    the form is valid and the typo would silently return every row."""
    errors: dict[str, list[str]] = {}
    for name, field in filterset.form.fields.items():
        raw = filterset.data.get(name)
        if (
            isinstance(field, forms.NullBooleanField)
            and raw not in (None, "")
            and filterset.form.cleaned_data.get(name) is None
        ):
            errors[name] = [f"Must be true or false, got {raw!r}."]
    return errors


class StrictFilterBackend(DjangoFilterBackend):
    """A bad filter value is a 400 naming the parameter, never a silently ignored filter."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            details = {name: [str(message) for message in messages] for name, messages in filterset.errors.items()}
            raise BadRequest("Invalid query parameters.", details)
        unparsed = _unparsed_booleans(filterset)
        if unparsed:
            raise BadRequest("Invalid query parameters.", unparsed)
        return filterset.qs
