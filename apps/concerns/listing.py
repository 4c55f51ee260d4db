"""The concern list a request asks for: its pages, from SQL prepared once per shape.

Building a filtered list's queryset and compiling it took about a quarter of the CPU time of
a list request (bench/concerns.py), although two requests with the same filters differ only
in their values. Where the filters allow it (ConcernFilterSet.PARAMETERS and .SHAPING), a
page is read through apps.core.prepared.PreparedShapes: the query is built once per shape
with markers for the values and reused with each request's values. Any other filter, a text
search that looks like a tracking number, a cursor or a count takes the ordinary way.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable
from functools import cached_property
from typing import Any

from django.db.models import QuerySet
from django_filters.constants import EMPTY_VALUES

from apps.concerns import selectors
from apps.concerns.filtersets import ConcernFilterSet
from apps.concerns.models import Concern
from apps.concerns.selectors import ConcernRow
from apps.core.prepared import Markers, PreparedShapes, Unmarkable

_shapes = PreparedShapes(size=256)


class ConcernListing:
    """``filterset`` (valid) over the concerns a caller may list; ``scope`` names that set
    (e.g. "all" for staff, "own:<user id>"), as the base query's own parameters are not
    marked and so belong to the shape."""

    def __init__(self, *, filterset: ConcernFilterSet, scope: str) -> None:
        self.filterset = filterset
        self.scope = scope

    @cached_property
    def concerns(self) -> QuerySet[Concern]:
        """The filtered, ordered concerns (model queryset): for counts and cursor pages."""
        return self.filterset.qs

    def page(self, offset: int, limit: int) -> list[ConcernRow]:
        found = self._prepared_page(offset, limit)
        if found is None:
            return list(selectors.concern_rows(self.concerns)[offset : offset + limit])
        return [ConcernRow._make(row) for row in found]

    def _prepared_page(self, offset: int, limit: int) -> list[tuple[Any, ...]] | None:
        cleaned = self.filterset.form.cleaned_data
        shape: list[Hashable] = [self.scope, offset, limit]
        parameters = []
        for name in sorted(cleaned):
            value = cleaned[name]
            if value in EMPTY_VALUES:
                continue
            if name in ConcernFilterSet.SHAPING:
                shape.append((name, value))
            elif name in ConcernFilterSet.PARAMETERS and self.filterset.preparable(name, value):
                parameters.append(name)
                shape.append((name, len(value) if isinstance(value, list) else None))
            else:
                return None

        def mark(markers: Markers) -> dict[str, Any]:
            return {**cleaned, **{name: markers.mark(cleaned[name]) for name in parameters}}

        try:
            return _shapes.rows(tuple(shape), mark, lambda marked: self._marked_page(marked, offset, limit))
        except Unmarkable:
            return None

    def _marked_page(self, marked: dict[str, Any], offset: int, limit: int) -> QuerySet[Concern]:
        """The page's rows queryset, built from the marked values instead of the request's."""
        filterset = copy.copy(self.filterset)
        filterset.__dict__.pop("_qs", None)
        form = copy.copy(filterset.form)
        form.cleaned_data = marked
        filterset._form = form  # what FilterSet.form returns; the form is valid, so never cleaned again
        return selectors.concern_rows(filterset.qs)[offset : offset + limit]
