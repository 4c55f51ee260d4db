from __future__ import annotations

import copy
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.http import QueryDict
from django_filters import FilterSet
from django_filters import fields as filter_fields
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.request import Request

from apps.core.exceptions import BadRequest


class _ShallowCopiedFields(dict):
    """A filter form's fields, copied shallowly into each form. Django deep-copies every
    field with its widget, validators and choices for each form, in case a form changes
    them; a filter form only validates and renders them, and the copying was about a tenth
    of a filtered list's CPU time (bench/concerns.py). A field holding a queryset is still
    deep-copied, as Django does, so that no form shares another's fetched rows."""

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, forms.Field]:
        return {
            name: copy.deepcopy(field, memo) if hasattr(field, "queryset") else copy.copy(field)
            for name, field in self.items()
        }


# Field classes whose clean() of an omitted value is exactly to_python(None) ('' or None):
# no custom clean, no typed or queryset empty value. Exact classes, not subclasses.
_PLAIN_FIELDS = frozenset(
    {
        forms.CharField,
        forms.ChoiceField,
        filter_fields.ChoiceField,
        forms.NullBooleanField,
        forms.DateTimeField,
        filter_fields.IsoDateTimeField,
        forms.DateField,
        forms.IntegerField,
    }
)


class _CleansGivenFields:
    """A filter form that cleans only the parameters given. An optional field of a plain
    class (_PLAIN_FIELDS) whose widget finds nothing in the query string cleans to what its
    to_python makes of nothing, as Field.clean would, without the per-field machinery: a
    list request names one or two of a dozen filters. (A select-multiple never reports its
    value omitted, so those fields are always cleaned.)"""

    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]
    data: Any
    files: Any

    def _clean_fields(self) -> None:
        given = {}
        for name, field in self.fields.items():
            if (
                type(field) not in _PLAIN_FIELDS
                or field.required
                or field.disabled
                or hasattr(self, f"clean_{name}")
                or not field.widget.value_omitted_from_data(self.data, self.files, self.add_prefix(name))  # type: ignore[attr-defined]
            ):
                given[name] = field
            else:
                self.cleaned_data[name] = field.to_python(None)
        fields, self.fields = self.fields, given
        try:
            super()._clean_fields()  # type: ignore[misc]
        finally:
            self.fields = fields


class ApiFilterSet(FilterSet):
    """A FilterSet without django-filter's per-request rebuilding: its filters are copied
    shallowly (django-filter deep-copies each, querysets included), its form class is built
    once per FilterSet class and its form's fields are copied shallowly. All depend on the
    declarations only; together they were a fifth of a concern list request's CPU time
    (bench/concerns.py)."""

    def __init__(
        self, data: Any = None, queryset: QuerySet | None = None, *, request: Any = None, prefix: str | None = None
    ) -> None:
        declared = type(self).base_filters
        self.base_filters = {}  # what FilterSet.__init__ deep-copies
        try:
            super().__init__(data, queryset, request=request, prefix=prefix)
        finally:
            del self.base_filters
        self.filters = {name: copy.copy(declared_filter) for name, declared_filter in declared.items()}
        for copied in self.filters.values():
            copied.model = self.queryset.model
            copied.parent = self
            if getattr(copied, "_method", None) is not None:
                copied.method = copied._method  # a FilterMethod bound to the copy, not the declaration

    def get_form_class(self) -> type:
        cls = type(self)
        form_class = cls.__dict__.get("_form_class")
        if form_class is None:
            declared = super().get_form_class()
            form_class = type(declared.__name__, (_CleansGivenFields, declared), {})
            form_class.base_fields = _ShallowCopiedFields(declared.base_fields)
            cls._form_class = form_class
        return form_class


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


def _given(params: QueryDict) -> QueryDict:
    """The query parameters without empty values: ``?status=`` (an HTML form's empty select)
    means no filter, as an empty ``q`` or ``limit`` does, not an invalid choice."""
    given = QueryDict(mutable=True)
    for name, values in params.lists():
        kept = [value for value in values if value != ""]
        if kept:
            given.setlist(name, kept)
    return given


class StrictFilterBackend(DjangoFilterBackend):
    """A bad filter value is a 400 naming the parameter, never a silently ignored filter."""

    def get_filterset_kwargs(self, request: Request, queryset: QuerySet, view: Any) -> dict[str, Any]:
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        kwargs["data"] = _given(kwargs["data"])
        return kwargs

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        filterset = self.validated_filterset(request, queryset, view)
        return queryset if filterset is None else filterset.qs

    def validated_filterset(self, request: Request, queryset: QuerySet, view: Any) -> FilterSet | None:
        """The view's filterset with the request's parameters, valid (else BadRequest)."""
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return None
        if not filterset.is_valid():
            details = {name: [str(message) for message in messages] for name, messages in filterset.errors.items()}
            raise BadRequest("Invalid query parameters.", details)
        unparsed = _unparsed_booleans(filterset)
        if unparsed:
            raise BadRequest("Invalid query parameters.", unparsed)
        return filterset
