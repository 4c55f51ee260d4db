"""Reads for concerns, and who may see how much of one."""

from __future__ import annotations

import functools
import logging
import re
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from datetime import datetime
from enum import Enum
from typing import Any, NamedTuple

from django.core.cache import cache
from django.db import connections, transaction
from django.db.models import QuerySet
from django.db.models.query import ValuesListIterable

from apps.concerns.inlined import related_rows_loaded, with_related_rows
from apps.concerns.models import Category, Concern, DuplicateLink, is_overdue
from apps.core.cache import cache_forget, cache_read_through, cache_tolerant
from apps.core.permissions import user_has
from apps.core.prepared import PreparedLookup

TRACKING_NUMBER = re.compile(r"^TRK-\d{4}-\d{6,}$", re.IGNORECASE)

# A list total of at least this many concerns is counted at most every COUNT_CACHE_SECONDS
# per set of filters: counting hundreds of thousands of rows costs tens to hundreds of
# milliseconds on PostgreSQL; smaller counts are cheap through the indexes and stay live.
COUNT_CACHE_MIN_ROWS = 10_000
# The same for a list filtered by full-text search (``q``): each match costs a visit to the
# table (a GIN index answers no count on its own), so a few hundred cost milliseconds.
TEXT_COUNT_CACHE_MIN_ROWS = 500
COUNT_CACHE_SECONDS = 10
# This process's copies of the shared counts, used while they are fresh: (total, counted at).
_fresh_counts: dict[str, tuple[int, float]] = {}
FRESH_COUNTS_MAX = 512

logger = logging.getLogger(__name__)


class View(Enum):
    """How much of a concern a caller sees."""

    PUBLIC = "public"  # no contact, internal notes, assignee or duplicates
    OWNER = "owner"  # the submitter: everything but internal notes and duplicates
    STAFF = "staff"  # everything


def concern_view_for(*, concern: Concern, user: Any) -> View:
    if user_has(user, "concerns.view_all"):
        return View.STAFF
    if user is not None and user.is_authenticated and concern.submitted_by_id == user.pk:
        return View.OWNER
    return View.PUBLIC


def category_list(*, active_only: bool = True) -> QuerySet[Category]:
    categories = Category.objects.all()
    return categories.filter(active=True) if active_only else categories


CATEGORY_IDS_KEY = "concerns:category-ids"
# Bounds how long a change made behind the application's back (QuerySet.update(), a data
# migration: no signals) can go unseen; signals.py forgets the map on every save and delete.
CATEGORY_IDS_SECONDS = 60
# Each process also keeps the map this long, sparing the shared cache a round trip per
# filtered list. A code it does not know sends it to the shared map at once, so a new
# category can be filtered on everywhere at once; a renamed category's old code may go on
# naming it in other processes for this long.
CATEGORY_IDS_LOCAL_SECONDS = 10
_local_category_ids: tuple[dict[str, int], float] = ({}, 0.0)


def category_ids_by_code(*, codes: Collection[str] = ()) -> dict[str, int]:
    """The id of every category (active or not: old concerns keep theirs) by its code, from
    this process's copy while it is fresh and knows every one of ``codes``, else from the
    cache (a read-through entry, see apps.core.cache); a filtered concern list checks its
    codes here instead of in a query."""
    global _local_category_ids
    ids, read_at = _local_category_ids
    if ids and time.time() - read_at < CATEGORY_IDS_LOCAL_SECONDS and all(code in ids for code in codes):
        return ids
    ids = cache_read_through(
        CATEGORY_IDS_KEY,
        lambda: dict(Category.objects.values_list("code", "id")),
        CATEGORY_IDS_SECONDS,
        what="categories",
    )
    _local_category_ids = (ids or {}, time.time())
    return ids or {}


def category_ids_forget_here() -> None:
    """This process's copy only (the tests start each test without one)."""
    global _local_category_ids
    _local_category_ids = ({}, 0.0)


def category_ids_forget() -> None:
    """Here, and everywhere now and again after commit."""
    category_ids_forget_here()
    cache_forget([CATEGORY_IDS_KEY], what="categories")


def category_get(*, code: str) -> Category | None:
    return Category.objects.filter(code=code).first()


def concern_list(*, user: Any) -> QuerySet[Concern]:
    """Concerns the user may list: all for staff, their own for everyone else."""
    if user is None or not user.is_authenticated:
        return Concern.objects.none()
    return concern_list_of(owner_id=concern_list_owner(user=user))


def concern_list_owner(*, user: Any) -> Any | None:
    """Whose concerns the (signed-in) user may list: None for all (staff), else their own id."""
    return None if user_has(user, "concerns.view_all") else user.pk


def concern_list_of(*, owner_id: Any | None) -> QuerySet[Concern]:
    """All concerns (``owner_id`` None) or those an owner submitted."""
    # The list rows show the category and the assignee, never the submitter: no join on it.
    concerns = Concern.objects.select_related("category", "assigned_to")
    return concerns if owner_id is None else concerns.filter(submitted_by_id=owner_id)


class ConcernRow(NamedTuple):
    """What a row of a concern list shows (and its cursor reads), loaded as a tuple: building
    a model instance per row cost more than the rest of a page (bench/concerns.py)."""

    id: uuid.UUID
    tracking_number: str
    title: str
    description: str
    category_code: str
    priority: str
    status: str
    location: str
    latitude: float | None
    longitude: float | None
    submitted_at: datetime
    last_updated: datetime
    estimated_resolution: datetime | None
    anonymous: bool
    assigned_to_username: str | None

    @property
    def pk(self) -> uuid.UUID:
        return self.id

    @property
    def is_overdue(self) -> bool:
        return is_overdue(self.status, self.estimated_resolution)

    @classmethod
    def of(cls, concern: Concern) -> ConcernRow:
        """The row of a concern already loaded (with its category and assignee)."""
        assignee = concern.assigned_to.username if concern.assigned_to_id is not None else None
        values = {name: getattr(concern, name) for name in ConcernRow._fields if name not in _RELATED}
        return cls(**values, category_code=concern.category.code, assigned_to_username=assignee)


# The columns of ConcernRow, in its order, as the ORM names them.
_RELATED = {"category_code": "category__code", "assigned_to_username": "assigned_to__username"}
ROW_COLUMNS = tuple(_RELATED.get(name, name) for name in ConcernRow._fields)


class _RowIterable(ValuesListIterable):
    def __iter__(self) -> Iterator[ConcernRow]:  # type: ignore[override]
        make = ConcernRow._make
        for values in super().__iter__():
            yield make(values)


def concern_rows(concerns: QuerySet[Concern]) -> QuerySet[Concern]:
    """``concerns`` (filtered and ordered as the caller likes) yielding ConcernRow tuples.
    It still counts, filters, orders and slices as a queryset; an annotation made before
    this is not part of the rows (use alias() to order by one)."""
    rows = concerns.values_list(*ROW_COLUMNS)
    rows._iterable_class = _RowIterable  # as values_list(named=True) does, with our tuple
    return rows


def concern_count(*, concerns: Callable[[], QuerySet[Concern]], cache_key: str, text_search: bool = False) -> int:
    """The number of the concerns ``concerns()`` gives (called only to count): exact, or if
    it is COUNT_CACHE_MIN_ROWS or more (TEXT_COUNT_CACHE_MIN_ROWS for a ``text_search``), as
    counted at most COUNT_CACHE_SECONDS ago (twice that at the very most, while it is
    recounted).

    A count of that many or more is kept under ``cache_key`` (which must name the
    filtered set) with the time it was taken; nothing invalidates it. Once it is older than
    COUNT_CACHE_SECONDS one request recounts while the others go on answering with it, so
    that a busy list is not counted by every worker at once; if that recount has not landed
    within another COUNT_CACHE_SECONDS the entry is gone and the next request counts. Each
    process also keeps the counts it saw for as long as they are fresh, which spares the
    cache a round trip. Without the cache every request counts."""
    fresh = _fresh_counts.get(cache_key)
    if fresh is not None and time.time() - fresh[1] < COUNT_CACHE_SECONDS:
        return fresh[0]
    try:
        cached = cache.get(cache_key)
        if cached is not None:
            total, counted_at = cached
            if time.time() - counted_at < COUNT_CACHE_SECONDS:
                _keep_fresh(cache_key, total, counted_at)
                return int(total)
            if not cache.add(f"{cache_key}:recount", 1, COUNT_CACHE_SECONDS):
                return int(total)  # another request is recounting it
    except Exception as exc:  # any backend: its outage is health's to report, not the list's
        logger.warning("Concern counts cannot reach the cache (%s); counting", type(exc).__name__)
        return _counted(concerns())
    counted_at = time.time()
    total = _counted(concerns())
    if total >= (TEXT_COUNT_CACHE_MIN_ROWS if text_search else COUNT_CACHE_MIN_ROWS):
        _keep_fresh(cache_key, total, counted_at)
        cache_tolerant(
            lambda: cache.set(cache_key, (total, counted_at), 2 * COUNT_CACHE_SECONDS),
            default=None,
            what="concern counts",
        )
    return total


SERIAL_COUNT = "SELECT set_config('max_parallel_workers_per_gather', '0', true), set_config('jit', 'off', true)"


def _counted(concerns: QuerySet[Concern]) -> int:
    """COUNT(*) of ``concerns``; on PostgreSQL without parallel workers or JIT compilation. A
    large count (a text search matching 100,000 concerns takes about 130 ms) would otherwise
    take every core for its duration and JIT-compile for tens of milliseconds, stalling the
    other requests; on one core it delays only the request that recounts."""
    connection = connections[concerns.db]
    if connection.vendor != "postgresql":
        return concerns.count()
    with transaction.atomic(using=concerns.db), connection.cursor() as cursor:
        cursor.execute(SERIAL_COUNT)
        return concerns.count()


def _keep_fresh(cache_key: str, total: int, counted_at: float) -> None:
    if len(_fresh_counts) >= FRESH_COUNTS_MAX:
        _fresh_counts.clear()
    _fresh_counts[cache_key] = (int(total), counted_at)


@functools.cache
def _detail_columns() -> tuple[str, ...]:
    """Every column of the concern and its category; of its two users only the username,
    which is all a concern shows of them (the rest, the password hash among it, is neither
    read nor sent, and cost more to select and load than the concern itself)."""
    return (
        *(field.name for field in Concern._meta.concrete_fields),
        *(f"category__{field.name}" for field in Category._meta.concrete_fields),
        "assigned_to__username",
        "submitted_by__username",
    )


def concern_detail_queryset() -> QuerySet[Concern]:
    """A concern with everything its detail shows (read it with _first, which finishes it)."""
    related = Concern.objects.select_related("category", "assigned_to", "submitted_by").only(*_detail_columns())
    return with_related_rows(related)


# The detail of one concern by either key, compiled once (see apps.core.prepared).
_by_tracking_number = PreparedLookup(
    field=Concern._meta.get_field("tracking_number"),
    marker="TRK-0000-MARKER",
    build=lambda value: concern_detail_queryset().filter(tracking_number=value).order_by()[:1],
)
_by_pk = PreparedLookup(
    field=Concern._meta.pk,
    marker=uuid.UUID(int=0),
    build=lambda value: concern_detail_queryset().filter(pk=value).order_by()[:1],
)


def _first(found: list[Concern]) -> Concern | None:
    return related_rows_loaded(found[0]) if found else None


def concern_get(*, identifier: str) -> Concern | None:
    """By UUID or tracking number."""
    if TRACKING_NUMBER.match(identifier):
        return _first(_by_tracking_number(identifier.upper()))
    try:
        pk = uuid.UUID(identifier)
    except ValueError:
        return None
    return _first(_by_pk(pk))


def concern_get_public(*, tracking_number: str) -> Concern | None:
    if not TRACKING_NUMBER.match(tracking_number):
        return None
    return _first(_by_tracking_number(tracking_number.upper()))


def duplicate_links_to(*, concern: Concern) -> QuerySet[DuplicateLink]:
    """The links of newer, not deleted concerns that look like this one, oldest first."""
    return (
        DuplicateLink.objects.filter(duplicate_of=concern, concern__deleted_at__isnull=True)
        .select_related("concern")
        .order_by("created_at")
    )
