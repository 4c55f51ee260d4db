"""A concern's timeline, attachments and possible duplicates read with the concern itself.

Prefetched, they cost three more queries per concern detail, about half its CPU time
(bench/concerns.py). On PostgreSQL each comes instead as one JSON array from a correlated
subquery of the concern's own query, and its rows become model instances in the very
prefetch caches ``prefetch_related`` would fill, so every reader (serializers, templates,
Open311, the chat tracker) sees what it always saw. Other databases keep prefetch_related.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connection
from django.db.models import JSONField, Model, Prefetch, QuerySet
from django.db.models.expressions import RawSQL

from apps.concerns.models import Attachment, Concern, ConcernUpdate, DuplicateLink

# related name -> (model, columns of a related row to bring along, as "relation__field")
RELATED: dict[str, tuple[type[Model], tuple[str, ...]]] = {
    "updates": (ConcernUpdate, ()),
    "attachments": (Attachment, ()),
    "duplicate_links": (DuplicateLink, ("duplicate_of__tracking_number", "duplicate_of__title")),
}


def _rows(name: str) -> str:
    return f"inlined_{name}"


@functools.cache
def _json_rows_sql(name: str) -> str:
    """SELECT of one JSON array of the concern's related rows, correlated to the outer query's
    concern. Written once from the models' metadata: built with the ORM's expressions
    (JSONObject of every field) it cost more to resolve and compile on every request than
    the queries it saves."""
    model, extra = RELATED[name]
    quote = connection.ops.quote_name
    fields = model._meta.concrete_fields
    pairs = [f"'{field.attname}', r.{quote(field.column)}" for field in fields]
    joins = []
    for path in extra:
        relation, column = path.split("__", 1)
        foreign_key = model._meta.get_field(relation)
        target = foreign_key.related_model._meta
        alias = f"j_{relation}"
        join = (
            f"LEFT JOIN {quote(target.db_table)} {alias} "
            f"ON {alias}.{quote(target.pk.column)} = r.{quote(foreign_key.column)}"
        )
        if join not in joins:
            joins.append(join)
        pairs.append(f"'{path}', {alias}.{quote(target.get_field(column).column)}")
    order = ", ".join(
        f"r.{quote(model._meta.get_field(term.lstrip('-')).column)}{' DESC' if term.startswith('-') else ''}"
        for term in (model._meta.ordering or [model._meta.pk.name])
    )
    concern = Concern._meta
    link = model._meta.get_field("concern").column
    # Identifiers only from the models' metadata; nothing from a request.
    return (
        f"SELECT jsonb_agg(jsonb_build_object({', '.join(pairs)}) ORDER BY {order}) "  # noqa: S608
        f"FROM {quote(model._meta.db_table)} r {' '.join(joins)} "
        f"WHERE r.{quote(link)} = {quote(concern.db_table)}.{quote(concern.pk.column)}"
    )


def inlining() -> bool:
    return connection.vendor == "postgresql"


def with_related_rows(concerns: QuerySet[Concern]) -> QuerySet[Concern]:
    """The concerns with their related rows attached: inlined on PostgreSQL (call
    ``related_rows_loaded`` on each concern read), prefetched elsewhere."""
    if not inlining():
        duplicates = DuplicateLink.objects.select_related("duplicate_of").only(
            *(field.attname for field in DuplicateLink._meta.concrete_fields), *RELATED["duplicate_links"][1]
        )
        return concerns.prefetch_related("updates", "attachments", Prefetch("duplicate_links", queryset=duplicates))
    sql = {name: _json_rows_sql(name) for name in RELATED}  # static: see _json_rows_sql
    return concerns.annotate(**{_rows(name): RawSQL(sql[name], (), JSONField()) for name in RELATED})  # noqa: S611


def related_rows_loaded(concern: Concern) -> Concern:
    """Turns the inlined JSON rows into the prefetch caches (a no-op for a prefetched concern)."""
    caches = concern.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, (model, extra) in RELATED.items():
        rows = concern.__dict__.pop(_rows(name), False)
        if rows is False:  # not inlined: prefetched
            continue
        related = getattr(concern, name).all()
        related._result_cache = [_instance(model, row, extra) for row in rows or []]
        related._prefetch_done = True
        caches[name] = related
    return concern


def _instance(model: type[Model], row: dict[str, Any], extra: tuple[str, ...]) -> Model:
    """A row as the ORM would have loaded it: each JSON value through its field's to_python
    (ISO timestamps to aware datetimes, UUID strings to UUIDs); "relation__field" columns
    become the related instance, with only those fields loaded."""
    fields = model._meta.concrete_fields
    instance = model.from_db(connection.alias, None, [field.to_python(row[field.attname]) for field in fields])
    relations: dict[str, dict[str, Any]] = {}
    for path in extra:
        relation, name = path.split("__", 1)
        relations.setdefault(relation, {})[name] = row[path]
    for relation, values in relations.items():
        foreign_key = model._meta.get_field(relation)
        target = foreign_key.related_model
        loaded = {"pk": getattr(instance, foreign_key.attname)} | {
            name: target._meta.get_field(name).to_python(value) for name, value in values.items()
        }
        names = [target._meta.pk.attname if name == "pk" else name for name in loaded]
        setattr(instance, relation, target.from_db(connection.alias, names, list(loaded.values())))
    return instance
