"""ApiFilterSet's form cleans only the parameters given, and its cleaned data is what
django-filter's own FilterSet gives for the same query string."""

from __future__ import annotations

import django_filters
import pytest
from django.http import QueryDict
from django_filters import FilterSet

from apps.accounts.models import User
from apps.core.filters import ApiFilterSet


class Declared(FilterSet):
    username = django_filters.CharFilter()
    role = django_filters.ChoiceFilter(choices=[("citizen", "citizen"), ("staff", "staff")])
    roles = django_filters.MultipleChoiceFilter(field_name="role", choices=[("citizen", "citizen"), ("staff", "staff")])
    active = django_filters.BooleanFilter(field_name="is_active")
    joined_after = django_filters.IsoDateTimeFilter(field_name="date_joined", lookup_expr="gte")
    joined_on = django_filters.DateFilter(field_name="date_joined__date")
    ids = django_filters.BaseInFilter(field_name="id")  # a CSV field: always cleaned
    typed = django_filters.TypedChoiceFilter(choices=[("1", "one")], coerce=int, empty_value=0, field_name="id")


class Ours(Declared, ApiFilterSet):
    class Meta:
        model = User
        fields: list[str] = []


class Theirs(Declared):
    class Meta:
        model = User
        fields: list[str] = []


@pytest.mark.parametrize(
    "query",
    [
        "",
        "username=alice",
        "role=staff&active=true",
        "roles=citizen&roles=staff&joined_after=2026-01-01T00:00:00Z",
        "joined_on=2026-02-03&ids=1,2",
        "typed=1",
        "role=nobody",
        "joined_after=yesterday",
    ],
)
def test_the_cleaned_data_is_django_filters_own(query: str, db: None) -> None:
    ours, theirs = Ours(QueryDict(query), User.objects.all()), Theirs(QueryDict(query), User.objects.all())
    assert set(ours.form.fields) == set(theirs.form.fields) == set(Declared.base_filters)
    assert ours.is_valid() == theirs.is_valid()
    assert ours.form.cleaned_data == theirs.form.cleaned_data
    assert ours.errors == theirs.errors


def test_omitted_plain_fields_are_not_cleaned(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    cleaned: list[str] = []
    filterset = Ours(QueryDict("username=alice"), User.objects.all())
    for name, field in filterset.form.fields.items():
        real = field.clean
        monkeypatch.setattr(field, "clean", lambda value, name=name, real=real: cleaned.append(name) or real(value))
    assert filterset.is_valid()
    # The given one, the select-multiple, the CSV field and the typed choice (not plain).
    assert sorted(cleaned) == ["ids", "roles", "typed", "username"]
