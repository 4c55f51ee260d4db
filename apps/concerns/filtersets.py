"""One FilterSet for the concerns API and the staff pages."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import django_filters
from django import forms
from django.conf import settings
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field

from apps.concerns.models import OPEN_STATUSES, Category, Concern, Priority, Status
from apps.concerns.selectors import TRACKING_NUMBER, category_ids_by_code
from apps.core.filters import ApiFilterSet

SORT_FIELDS = {
    "submitted_at": "submitted_at",
    "created_at": "submitted_at",
    "last_updated": "last_updated",
    "estimated_resolution": "estimated_resolution",
    "tracking_number": "tracking_number",
    "priority": "priority",
    "status": "status",
    "title": "title",
}
# Priority and status sort by severity and workflow order, not alphabetically.
RANKED_FIELDS = {
    "priority": [Priority.LOW, Priority.MEDIUM, Priority.HIGH, Priority.EMERGENCY],
    "status": [Status.SUBMITTED, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED],
}
DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CategoryCodesField(forms.MultipleChoiceField):
    """Category codes, checked against selectors.category_ids_by_code() (cached) rather than
    a query per request; cleans to the categories' ids. The choices, labelled with names,
    are read from the database only when a form is rendered."""

    def clean(self, value: Any) -> list[int]:
        if not value:  # no category asked for: no need of the map
            return super().clean(value)
        self.ids = category_ids_by_code(codes=value)
        return [self.ids[code] for code in super().clean(value)]

    def valid_value(self, value: Any) -> bool:
        return value in self.ids


def category_choices() -> list[tuple[str, str]]:
    return list(Category.objects.order_by("name").values_list("code", "name"))


# The item schema: drf-spectacular makes a multiple-choice filter an array of it itself.
@extend_schema_field({"type": "string", "description": "Category codes"})
class CategoryCodeFilter(django_filters.MultipleChoiceFilter):
    """Categories by code, e.g. ``?category=roads``; repeat the parameter for several."""

    field_class = CategoryCodesField

    def filter(self, qs: QuerySet, value: list[int]) -> QuerySet:
        # On the key itself: the query needs no join on the categories, and the composite
        # indexes on category_id apply.
        return qs.filter(category_id__in=value) if value else qs


class ConcernFilterSet(ApiFilterSet):
    # distinct=False: these are columns of the concern itself (or a many-to-one key), so no
    # row can repeat; django-filter's default DISTINCT would defeat the indexed ordering.
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, distinct=False)
    category = CategoryCodeFilter(choices=category_choices, field_name="category_id", distinct=False)
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices, distinct=False)
    assigned_to = django_filters.CharFilter(method="filter_assigned_to", max_length=150)
    start_date = django_filters.IsoDateTimeFilter(field_name="submitted_at", lookup_expr="gte")
    end_date = django_filters.IsoDateTimeFilter(method="filter_until")
    submitted_after = django_filters.IsoDateTimeFilter(field_name="submitted_at", lookup_expr="gte")
    submitted_before = django_filters.IsoDateTimeFilter(method="filter_until")
    overdue = django_filters.BooleanFilter(method="filter_overdue")
    q = django_filters.CharFilter(method="filter_text", max_length=200)
    search = django_filters.CharFilter(method="filter_text", max_length=200)  # the name most APIs use for q
    sort = django_filters.ChoiceFilter(choices=[(key, key) for key in SORT_FIELDS], method="filter_noop")
    order = django_filters.ChoiceFilter(choices=[("asc", "asc"), ("desc", "desc")], method="filter_noop")

    class Meta:
        model = Concern
        fields: list[str] = []

    # For apps.concerns.listing, which compiles a list's SQL once per shape: the filters whose
    # values reach the SQL only as parameters, unchanged (see ``preparable``), and those whose
    # values shape it. A request using any other filter is built the ordinary way; a filter
    # belongs here only if its method neither transforms its value nor reads the clock or
    # the caller.
    PARAMETERS = frozenset({"status", "priority", "category", "start_date", "submitted_after", "q"})
    SHAPING = frozenset({"sort", "order"})

    def preparable(self, name: str, value: Any) -> bool:
        """Whether ``value`` takes the path a marker would: filter_text strips and branches."""
        if name == "q":
            return value == value.strip() and not TRACKING_NUMBER.match(value)
        return True

    def filter_noop(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        return queryset  # applied in `qs` together with the ordering

    def filter_until(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        """An end date without a time includes that whole day."""
        if DATE_ONLY.match(str(self.data.get(name, "")).strip()):
            return queryset.filter(submitted_at__lt=value + timedelta(days=1))
        return queryset.filter(submitted_at__lte=value)

    def filter_assigned_to(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "none":
            return queryset.filter(assigned_to__isnull=True)
        if value == "me":
            user = getattr(self.request, "user", None)
            return queryset.filter(assigned_to=user) if user and user.is_authenticated else queryset.none()
        return queryset.filter(assigned_to__username=value)

    def filter_overdue(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        overdue = Q(status__in=OPEN_STATUSES, estimated_resolution__lt=timezone.now())
        if value is None:
            return queryset
        return queryset.filter(overdue) if value else queryset.exclude(overdue)

    def filter_text(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        if TRACKING_NUMBER.match(value):  # on both backends, through the unique index
            return queryset.filter(tracking_number=value.upper())
        if settings.IS_POSTGRES:
            from django.contrib.postgres.search import SearchQuery, SearchVector

            # Compiles to the expression of the GIN index created in migration 0002,
            # to_tsvector('english'::regconfig, COALESCE(title, '') || ' ' || COALESCE(description, '')),
            # so PostgreSQL can use the index. alias(), not annotate(): the vector is only
            # filtered on, never selected (that would compute it again for every row returned).
            vector = SearchVector("title", "description", config="english")
            return queryset.alias(search=vector).filter(search=SearchQuery(value, config="english"))
        terms = value.split()[:8]
        condition = Q()
        for term in terms:
            condition &= Q(title__icontains=term) | Q(description__icontains=term) | Q(tracking_number__iexact=term)
        return queryset.filter(condition)

    @property
    def qs(self) -> QuerySet:
        queryset = super().qs
        data = self.form.cleaned_data if hasattr(self.form, "cleaned_data") else {}
        field = SORT_FIELDS.get(data.get("sort") or "submitted_at", "submitted_at")
        descending = (data.get("order") or "desc") == "desc"
        prefix = "-" if descending else ""
        if field in RANKED_FIELDS:
            rank = Case(
                *(When(**{field: value}, then=Value(index)) for index, value in enumerate(RANKED_FIELDS[field])),
                output_field=IntegerField(),
            )
            queryset = queryset.alias(sort_rank=rank)  # ordered by, never selected
            field = "sort_rank"
        return queryset.order_by(f"{prefix}{field}", f"{prefix}id")
