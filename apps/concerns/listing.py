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
import hashlib
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
# Query parameters that page or order a list but do not change which concerns are in it.
NOT_FILTERS = frozenset({"limit", "offset", "page", "per_page", "cursor", "sort", "order"})


class ConcernListing:
    """``filterset`` (valid) over selectors.concern_list_of(owner_id=owner_id), the concerns
    a caller may list: all (None, staff) or their own. The owner is a marked value too, so
    every citizen's list of one shape shares its SQL."""

    def __init__(self, *, filterset: ConcernFilterSet, owner_id: Any | None) -> None:
        self.filterset = filterset
        self.owner_id = owner_id

    @cached_property
    def concerns(self) -> QuerySet[Concern]:
        """The filtered, ordered concerns (model queryset): for counts and cursor pages."""
        return self.filterset.qs

    def total(self) -> int:
        """How many concerns the list holds, as selectors.concern_count keeps it per filtered
        set: exact for small lists, else at most COUNT_CACHE_SECONDS old."""
        text_search = bool(self.filterset.form.cleaned_data.get("q"))
        return selectors.concern_count(
            concerns=lambda: self.concerns, cache_key=self._count_key(), text_search=text_search
        )

    def _count_key(self) -> str:
        """Names the filtered set: whose concerns and the filters given. A filter whose
        meaning depends on the caller (``assigned_to=me``) adds the caller."""
        params = self.filterset.data
        scope = "all" if self.owner_id is None else f"own:{self.owner_id}"
        if params.get("assigned_to") == "me":
            scope += f":me:{self.filterset.request.user.pk}"
        filters = sorted((name, sorted(params.getlist(name))) for name in params if name not in NOT_FILTERS)
        digest = hashlib.sha256(repr((scope, filters)).encode()).hexdigest()[:40]
        return f"concerns:list-total:{digest}"

    def page(self, offset: int, limit: int) -> list[ConcernRow]:
        found = self._prepared_page(offset, limit)
        if found is None:
            return list(selectors.concern_rows(self.concerns)[offset : offset + limit])
        return [ConcernRow._make(row) for row in found]

    def _prepared_page(self, offset: int, limit: int) -> list[tuple[Any, ...]] | None:
        cleaned = self.filterset.form.cleaned_data
        shape: list[Hashable] = ["all" if self.owner_id is None else "own", offset, limit]
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

        def mark(markers: Markers) -> tuple[Any, dict[str, Any]]:
            owner = None if self.owner_id is None else markers.mark(self.owner_id)
            return owner, {**cleaned, **{name: markers.mark(cleaned[name]) for name in parameters}}

        try:
            return _shapes.rows(tuple(shape), mark, lambda marked: self._marked_page(*marked, offset, limit))
        except Unmarkable:
            return None

    def _marked_page(self, owner: Any, marked: dict[str, Any], offset: int, limit: int) -> QuerySet[Concern]:
        """The page's rows queryset, built from the marked values instead of the request's."""
        filterset = copy.copy(self.filterset)
        filterset.queryset = selectors.concern_list_of(owner_id=owner)
        filterset.__dict__.pop("_qs", None)
        form = copy.copy(filterset.form)
        form.cleaned_data = marked
        filterset._form = form  # what FilterSet.form returns; the form is valid, so never cleaned again
        return selectors.concern_rows(filterset.qs)[offset : offset + limit]
