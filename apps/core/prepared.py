"""Lookups of a fixed shape compiled to SQL once per database connection, not per request.

Building a queryset and compiling it (joins, deferred columns, annotations) cost about as
much CPU as everything else in a concern detail request (bench/concerns.py), although only
the looked-up value ever changes. A PreparedLookup builds and compiles its queryset once
with a marker value, remembers where the marker sits among the parameters, and afterwards
runs that SQL with the caller's value in its place, turning the rows into model instances
as the ORM's own iterable does (select_related instances, annotations and
prefetch_related lookups included).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model, QuerySet, prefetch_related_objects
from django.db.models.query import get_related_populators
from django.db.models.sql.compiler import SQLCompiler

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    position: int  # of the marker among params
    compiler: SQLCompiler  # holds what turns a row into instances (select, klass_info)
    prefetch: tuple[Any, ...]  # the queryset's prefetch_related lookups


class PreparedLookup(Generic[M]):
    """``lookup(value)``: the instances ``build(value)`` would yield, from SQL compiled once.

    ``build`` must use ``value`` exactly once, as the parameter of a lookup on ``field``
    (e.g. ``filter(tracking_number=value)``), and otherwise depend on nothing that changes
    between calls. ``marker`` is a value of that field's type that no caller passes. The
    compiled SQL is kept per connection object, so per thread and database alias."""

    def __init__(
        self, *, field: Field, marker: Any, build: Callable[[Any], QuerySet[M]], using: str = DEFAULT_DB_ALIAS
    ) -> None:
        self.field = field
        self.marker = marker
        self.build = build
        self.using = using
        self._compiled: weakref.WeakKeyDictionary[BaseDatabaseWrapper, _Compiled] = weakref.WeakKeyDictionary()

    def __call__(self, value: Any) -> list[M]:
        connection = connections[self.using]
        compiled = self._compiled.get(connection)
        if compiled is None:
            compiled = self._compiled[connection] = self._compile(connection)
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
        return _Compiled(sql, tuple(params), positions[0], compiler, tuple(queryset._prefetch_related_lookups))

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
