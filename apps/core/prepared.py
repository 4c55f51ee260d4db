"""Queries of a fixed shape compiled to SQL once per process, not per request.

Building a queryset and compiling it (joins, deferred columns, annotations) cost about as
much CPU as everything else in a concern detail request (bench/concerns.py), although only
the looked-up value ever changes. A PreparedLookup builds and compiles its queryset once
with a marker value, remembers where the marker sits among the parameters, and afterwards
runs that SQL with the caller's value in its place, turning the rows into model instances
as the ORM's own iterable does (select_related instances, annotations and
prefetch_related lookups included). PreparedShapes does the same for values_list() pages of
one shape (which filters, how many values), with Markers standing in for several values.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model, QuerySet, prefetch_related_objects
from django.db.models.query import get_related_populators
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError
from django.utils.connection import ConnectionProxy

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    position: int  # of the marker among params
    compiler: SQLCompiler  # holds what turns a row into instances (select, klass_info)
    prefetch: tuple[Any, ...]  # the queryset's prefetch_related lookups
    for_update: bool  # select_for_update(): Django refuses autocommit only when compiling


class PreparedLookup(Generic[M]):
    """``lookup(value)``: the instances ``build(value)`` would yield, from SQL compiled once.

    ``build`` must use ``value`` exactly once, as the parameter of a lookup on ``field``
    (e.g. ``filter(tracking_number=value)``), and otherwise depend on nothing that changes
    between calls. ``marker`` is a value of that field's type that no caller passes. The
    compiled SQL serves every thread of the process (see _detached)."""

    def __init__(
        self, *, field: Field, marker: Any, build: Callable[[Any], QuerySet[M]], using: str = DEFAULT_DB_ALIAS
    ) -> None:
        self.field = field
        self.marker = marker
        self.build = build
        self.using = using
        self._compiled: _Compiled | None = None

    def __call__(self, value: Any) -> list[M]:
        connection = connections[self.using]
        compiled = self._compiled
        if compiled is None:  # two threads may both compile the first time: the same SQL
            compiled = self._compiled = self._compile(connection)
        elif compiled.for_update and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        params = list(compiled.params)
        params[compiled.position] = self.field.get_db_prep_value(value, connection)
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        instances = self._instances(compiled.compiler, rows, self.using)
        if compiled.prefetch:
            prefetch_related_objects(instances, *compiled.prefetch)
        return instances

    def _compile(self, connection: BaseDatabaseWrapper) -> _Compiled:
        queryset = self.build(self.marker).using(self.using)
        compiler = queryset.query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        marker = self.field.get_db_prep_value(self.marker, connection)
        positions = [index for index, param in enumerate(params) if param == marker]
        if len(positions) != 1:
            raise ValueError(f"The marker must be a parameter exactly once, found {len(positions)} times.")
        prefetch = tuple(queryset._prefetch_related_lookups)
        for_update = queryset.query.select_for_update
        return _Compiled(sql, tuple(params), positions[0], _detached(compiler, self.using), prefetch, for_update)

    @staticmethod
    def _instances(compiler: SQLCompiler, rows: list[tuple[Any, ...]], db: str) -> list[M]:
        """As django.db.models.query.ModelIterable turns rows into instances."""
        select, klass_info, annotations = compiler.select, compiler.klass_info, compiler.annotation_col_map
        model: type[M] = klass_info["model"]
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        names = [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(klass_info, select, db)
        instances = []
        for row in compiler.results_iter([rows]):
            instance = model.from_db(db, names, row[start:end])
            for populator in populators:
                populator.populate(row, instance)
            for name, position in (annotations or {}).items():
                setattr(instance, name, row[position])
            instances.append(instance)
        return instances


class Unmarkable(Exception):
    """A value that cannot stand for a parameter (its value shapes the SQL, or it has no marker)."""


class Markers:
    """Stand-ins for a request's parameter values, of the same types: built with markers, a
    queryset compiles to SQL whose marker parameters can take any later request's values.
    The n-th marker is the same in every request; ``Markers(1)`` hands out a second, different
    set, which PreparedShapes compiles too to see which parameters really are the values."""

    _INT_BASE = -(2**62)
    _EPOCH = datetime(1, 1, 1, tzinfo=UTC)
    _UUID_BASE = 0xC17E_0000_0000_0000 << 64  # no uuid4: its version digit would be 4

    def __init__(self, generation: int = 0) -> None:
        self.generation = generation
        self.values: dict[Any, Any] = {}  # marker -> the value it stands for
        self.order: list[Any] = []  # the markers, in the order handed out

    def mark(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return type(value)(self.mark(item) for item in value)
        n, g = len(self.order), self.generation
        marker: Any
        if isinstance(value, bool) or value is None:
            raise Unmarkable(value)  # True == 1: no marker could be told apart
        if isinstance(value, str):
            marker = f"\x00marker{n}\x00" + "~" * g  # of another length in each generation
        elif isinstance(value, int):
            marker = self._INT_BASE - n - g * 2**40
        elif isinstance(value, datetime) and value.tzinfo is not None:
            marker = self._EPOCH + timedelta(days=g * 100, seconds=n)
        elif isinstance(value, uuid.UUID):
            marker = uuid.UUID(int=self._UUID_BASE | g << 64 | n)
        else:
            raise Unmarkable(value)
        self.values[marker] = value
        self.order.append(marker)
        return marker


@dataclass(frozen=True)
class _Template:
    sql: str
    params: tuple[Any, ...]
    compiler: SQLCompiler


_UNPREPARABLE = object()
Marked = TypeVar("Marked")


class PreparedShapes:
    """Rows of querysets by shape: SQL compiled once per shape and connection, then reused
    with each request's values in place of the markers (see Markers).

    ``rows(shape, mark, build)``: ``shape`` names everything about the request that shapes
    the SQL (which filters, how many values each, ordering, page); ``mark(markers)`` stands
    markers in for the request's values (Unmarkable if one cannot be) and ``build(marked)``
    makes the queryset from them. The first time a shape is seen it is built and compiled
    twice, with two sets of markers: the SQL must be the same and the parameters must differ
    exactly where the markers are, each marker unchanged. Otherwise a filter transformed,
    combined or dropped a value, the shape is unpreparable and ``rows`` answers None (the
    caller builds the query itself) from then on. The rows are the tuples of a values_list()
    queryset, after the database converters. The shapes kept are the most recently used
    ``size``, shared by every thread of the process (see _detached)."""

    def __init__(self, *, size: int = 256, using: str = DEFAULT_DB_ALIAS) -> None:
        self.size = size
        self.using = using
        self._shapes: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def rows(
        self,
        shape: Hashable,
        mark: Callable[[Markers], Marked],
        build: Callable[[Marked], QuerySet[Any]],
    ) -> list[tuple[Any, ...]] | None:
        connection = connections[self.using]
        markers = Markers()
        marked = mark(markers)
        with self._lock:
            template = self._shapes.get(shape)
            if template is not None:
                self._shapes.move_to_end(shape)
        if template is None:
            twin = Markers(1)
            twin_build = build(mark(twin)).using(self.using)
            template = self._compile(build(marked).using(self.using), markers, twin_build, twin, connection)
            with self._lock:
                self._shapes[shape] = template
                if len(self._shapes) > self.size:
                    self._shapes.popitem(last=False)
        if template is _UNPREPARABLE:
            return None
        values = markers.values
        params = [values.get(param, param) if _hashable(param) else param for param in template.params]
        with connection.cursor() as cursor:
            cursor.execute(template.sql, params)
            found = cursor.fetchall()
        return list(template.compiler.results_iter([found], tuple_expected=True))

    def _compile(
        self,
        queryset: QuerySet[Any],
        markers: Markers,
        twin_queryset: QuerySet[Any],
        twin: Markers,
        connection: BaseDatabaseWrapper,
    ) -> Any:
        query = queryset.query
        if list(queryset._fields) != [*query.extra_select, *query.values_select, *query.annotation_select]:
            return _UNPREPARABLE  # rows that the ORM would reorder: only plain values_list() is supported
        compiler = query.get_compiler(connection=connection)
        try:
            sql, params = compiler.as_sql()
            twin_sql, twin_params = twin_queryset.query.get_compiler(connection=connection).as_sql()
        except (EmptyResultSet, FullResultSet):  # a marker decided the WHERE clause: the ORM answers
            return _UNPREPARABLE
        if sql != twin_sql or len(params) != len(twin_params):
            return _UNPREPARABLE
        counterpart = dict(zip(markers.order, twin.order, strict=True))
        used = set()
        for param, twin_param in zip(params, twin_params, strict=True):
            if _hashable(param) and param in counterpart:
                if not (_hashable(twin_param) and twin_param == counterpart[param]):
                    return _UNPREPARABLE
                used.add(param)
            elif param != twin_param or (_hashable(twin_param) and twin_param in twin.values):
                return _UNPREPARABLE  # a value transformed (e.g. %marker%), or not a value at all
        if used != set(markers.values):
            return _UNPREPARABLE  # a value dropped: it decided something the SQL does not show
        return _Template(sql, tuple(params), _detached(compiler, self.using))


def _detached(compiler: SQLCompiler, using: str) -> SQLCompiler:
    """A compiler kept to turn rows into values and instances in any thread. It refers to
    its connection only for converters (``connection.ops``), so it gets a proxy to whichever
    thread's connection asks, as ``django.db.connection`` is: kept with the thread's own
    connection object it would keep that alive after its thread ended, and a server that
    makes a thread per request (Django under ASGI) would compile for every request."""
    compiler.connection = ConnectionProxy(connections, using)
    return compiler


def _hashable(value: Any) -> bool:
    return isinstance(value, str | int | datetime | uuid.UUID)
