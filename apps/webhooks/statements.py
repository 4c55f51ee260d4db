"""A worker's two hot writes on PostgreSQL, each one statement: claim-and-load, record-success.

Done with the ORM in transactions, one delivery cost a worker about a dozen round trips
(BEGIN, SET LOCAL, claim, select, COMMIT, then the same again for the outcome), and most of
its CPU went to building those queries (bench/webhooks_throughput.py --profile). Each step
here is one statement built once from the models' own fields. Outside a transaction it is
its own transaction, and ``set_config(..., is_local => true)`` inside it turns off waiting
for the WAL flush for just that commit: a worker's bookkeeping lost in a database crash
only means the delivery is sent again, which at-least-once allows (the outbox rows, written
by the publisher, keep full durability). Inside a caller's transaction the setting is left
alone, so it cannot leak into the caller's commit.

Other databases take the ORM path in services, with the same effect.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import connection
from django.db.models import Model

from apps.webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint, Event

ASYNC_COMMIT = "set_config('synchronous_commit', 'off', true) IS NOT NULL"


def available() -> bool:
    return connection.vendor == "postgresql"


def _async_commit() -> str:
    return "TRUE" if connection.in_atomic_block else ASYNC_COMMIT


def _column(model: type[Model], name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def _columns(model: type[Model], alias: str) -> str:
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields)


@lru_cache(maxsize=2)
def _claim_sql(commit_condition: str) -> str:
    quote = connection.ops.quote_name
    lease, status, due = (_column(Delivery, name) for name in ("lease_until", "status", "next_attempt_at"))
    # Identifiers only from the models' metadata, every value a parameter.
    return (
        f"WITH d AS (UPDATE {quote(Delivery._meta.db_table)} SET {lease} = %s "  # noqa: S608
        f"WHERE {_column(Delivery, 'id')} = %s AND {status} = %s AND {due} <= %s "
        f"AND ({lease} IS NULL OR {lease} < %s) AND {commit_condition} "
        "RETURNING *) "
        f"SELECT {_columns(Delivery, 'd')}, {_columns(Endpoint, 'e')}, {_columns(Event, 'v')} FROM d "
        f"JOIN {quote(Endpoint._meta.db_table)} e ON e.{_column(Endpoint, 'id')} = d.{_column(Delivery, 'endpoint')} "
        f"JOIN {quote(Event._meta.db_table)} v ON v.{_column(Event, 'id')} = d.{_column(Delivery, 'event')}"
    )


def _instance(model: type[Model], values: list[Any]) -> Model:
    """A model instance from raw column values, converted as the ORM's own queries do."""
    row = []
    for field, value in zip(model._meta.concrete_fields, values, strict=True):
        column = field.get_col(model._meta.db_table)
        for converter in (*connection.ops.get_db_converters(column), *column.get_db_converters(connection)):
            value = converter(value, column, connection)
        row.append(value)
    return model.from_db(connection.alias, None, row)


def delivery_claim(*, delivery_id: uuid.UUID, now: datetime, lease: datetime) -> Delivery | None:
    """Lease the delivery if it is due and nobody holds it; it comes back with its endpoint and
    event loaded. None when it is not to be sent now."""
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(_async_commit()), [lease, delivery_id, DeliveryStatus.PENDING, now, now])
        row = cursor.fetchone()
    if row is None:
        return None
    sizes = [len(model._meta.concrete_fields) for model in (Delivery, Endpoint)]
    delivery = _instance(Delivery, list(row[: sizes[0]]))
    delivery.endpoint = _instance(Endpoint, list(row[sizes[0] : sizes[0] + sizes[1]]))  # type: ignore[attr-defined]
    delivery.event = _instance(Event, list(row[sizes[0] + sizes[1] :]))  # type: ignore[attr-defined]
    return delivery  # type: ignore[return-value]


def delivery_record(*, delivery: Delivery, attempt: Attempt, changes: dict[str, Any]) -> None:
    """Insert the attempt and apply ``changes`` to the delivery, atomically."""
    quote = connection.ops.quote_name
    inserted = [field for field in Attempt._meta.concrete_fields if not field.primary_key]
    values = _inserted_values(attempt, inserted)
    fields = [Delivery._meta.get_field(name) for name in changes]
    values += [field.get_db_prep_save(changes[field.name], connection) for field in fields]  # type: ignore[union-attr]
    sql = (
        f"WITH a AS (INSERT INTO {quote(Attempt._meta.db_table)} "  # noqa: S608 (as above)
        f"({', '.join(quote(field.column) for field in inserted)}) "
        f"VALUES ({', '.join(['%s'] * len(inserted))})) "
        f"UPDATE {quote(Delivery._meta.db_table)} "
        f"SET {', '.join(f'{quote(field.column)} = %s' for field in fields)} "  # type: ignore[union-attr]
        f"WHERE {_column(Delivery, 'id')} = %s AND {_async_commit()}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, delivery.pk])


@lru_cache(maxsize=1)
def _outbox_sql() -> str:
    quote = connection.ops.quote_name
    event_fields, delivery_fields = _outbox_fields()
    events = f"e.{_column(Endpoint, 'events')}"
    # apps.webhooks.catalog.matches in SQL: '*', the event itself, or a 'prefix.*' it starts with.
    matching = (
        f"CASE WHEN jsonb_typeof({events}) = 'array' THEN ({events} ? %s OR {events} ? '*' OR EXISTS ("  # noqa: S608
        f"SELECT 1 FROM jsonb_array_elements_text({events}) AS p(pattern) "
        "WHERE right(p.pattern, 2) = '.*' AND starts_with(%s, left(p.pattern, -1)))) ELSE FALSE END"
    )
    return (
        f"WITH v AS (INSERT INTO {quote(Event._meta.db_table)} "  # noqa: S608 - identifiers from the models
        f"({', '.join(quote(field.column) for field in event_fields)}) "
        f"VALUES ({', '.join(['%s'] * len(event_fields))})) "
        f"INSERT INTO {quote(Delivery._meta.db_table)} ({_column(Delivery, 'id')}, {_column(Delivery, 'endpoint')}, "
        f"{', '.join(quote(field.column) for field in delivery_fields)}) "
        f"SELECT gen_random_uuid(), e.{_column(Endpoint, 'id')}, {', '.join(['%s'] * len(delivery_fields))} "
        f"FROM {quote(Endpoint._meta.db_table)} e WHERE e.{_column(Endpoint, 'active')} AND {matching} "
        f"RETURNING {_column(Delivery, 'id')}"
    )


@lru_cache(maxsize=1)
def _outbox_fields() -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    delivery_fields = tuple(field for field in Delivery._meta.concrete_fields if field.name not in ("id", "endpoint"))
    return tuple(Event._meta.concrete_fields), delivery_fields


def _inserted_values(instance: Model, fields: Iterable[Any]) -> list[Any]:
    """The parameters an INSERT of ``instance`` gives ``fields``, as the ORM's own INSERT."""
    return [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]


def event_record(*, record: Event, delivery: Delivery) -> list[uuid.UUID]:
    """Insert ``record`` and, for every active endpoint subscribed to its type, a delivery
    like ``delivery`` (its own id, that endpoint): one statement instead of an INSERT, a
    SELECT of the endpoints and a bulk INSERT. The ids of the deliveries made."""
    event_fields, delivery_fields = _outbox_fields()
    values = _inserted_values(record, event_fields) + _inserted_values(delivery, delivery_fields)
    with connection.cursor() as cursor:
        cursor.execute(_outbox_sql(), [*values, record.type, record.type])
        return [row[0] for row in cursor.fetchall()]
