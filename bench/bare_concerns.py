"""Bare twins of the concerns API for bench/concerns.py: plain Django views, one SQL statement
each through connection.cursor(), the same JSON shape as the API's staff answers.

They run in their own server: ``gunicorn 'bench.bare_concerns:wsgi()'`` loads the production
settings (DJANGO_SETTINGS_MODULE, as the app's server does) with two changes, MIDDLEWARE = []
and ROOT_URLCONF = bench.concerns_urls (the twins only). No authentication, rate limit,
ORM, serializer or count: the floor a Python view serving the same JSON stands on.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.http import HttpRequest, HttpResponse

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

LIST_COLUMNS = """
    c.id, c.tracking_number, c.title, c.description, cat.code, c.priority, c.status, c.location,
    c.latitude, c.longitude, c.submitted_at, c.last_updated, c.estimated_resolution,
    (c.status IN ('submitted', 'in_progress') AND c.estimated_resolution < now()) AS overdue,
    u.username, c.anonymous
"""
LIST_KEYS = (
    "id", "tracking_number", "title", "description", "category", "priority", "status", "location",
    "latitude", "longitude", "submitted_at", "last_updated", "estimated_resolution", "overdue",
    "assigned_to", "anonymous",
)  # fmt: skip
LIST_SQL = f"""
SELECT {LIST_COLUMNS}
FROM concerns_concern AS c
JOIN concerns_category AS cat ON cat.id = c.category_id
LEFT JOIN accounts_user AS u ON u.id = c.assigned_to_id
WHERE c.deleted_at IS NULL {{where}}
ORDER BY c.submitted_at DESC, c.id DESC
LIMIT %s OFFSET %s
"""
SEARCH = (
    "to_tsvector('english'::regconfig, COALESCE(c.title, '') || ' ' || COALESCE(c.description, ''))"
    " @@ plainto_tsquery('english'::regconfig, %s)"
)

DETAIL_SQL = f"""
SELECT {LIST_COLUMNS},
    c.contact_email, c.contact_phone, c.contact_name, c.internal_notes, s.username, c.source, c.attributes,
    (SELECT coalesce(json_agg(json_build_object(
                'id', x.id, 'timestamp', x.timestamp, 'status', x.status, 'message', x.message,
                'updated_by', x.updated_by_name) ORDER BY x.timestamp, x.id), '[]')
     FROM concerns_concernupdate AS x WHERE x.concern_id = c.id),
    (SELECT coalesce(json_agg(json_build_object(
                'id', a.id, 'filename', a.filename, 'content_type', a.content_type,
                'url', '/api/v1/concerns/' || a.concern_id || '/attachments/' || a.id, 'size', a.size,
                'uploaded_at', a.uploaded_at) ORDER BY a.uploaded_at, a.id), '[]')
     FROM concerns_attachment AS a WHERE a.concern_id = c.id),
    (SELECT coalesce(json_agg(json_build_object(
                'id', d.duplicate_of_id, 'tracking_number', o.tracking_number, 'title', o.title,
                'reason', d.reason, 'distance_m', d.distance_m, 'similarity', d.similarity)), '[]')
     FROM concerns_duplicatelink AS d JOIN concerns_concern AS o ON o.id = d.duplicate_of_id
     WHERE d.concern_id = c.id)
FROM concerns_concern AS c
JOIN concerns_category AS cat ON cat.id = c.category_id
LEFT JOIN accounts_user AS u ON u.id = c.assigned_to_id
LEFT JOIN accounts_user AS s ON s.id = c.submitted_by_id
WHERE c.deleted_at IS NULL AND c.tracking_number = %s
"""


def iso(value: Any) -> Any:
    """As DRF writes datetimes (ISO 8601, UTC as Z); UUIDs as strings."""
    if isinstance(value, datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def answer(data: Any, status: int = 200, **extra: Any) -> HttpResponse:
    body = {"success": status < 400, "data": data, **extra}
    body["metadata"] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "request_id": f"req_{uuid.uuid4().hex}",
        "version": "v1",
    }
    return HttpResponse(json.dumps(body), status=status, content_type="application/json")


def concern_list(request: HttpRequest) -> HttpResponse:
    params = request.GET
    limit = min(max(int(params.get("limit") or DEFAULT_LIMIT), 1), MAX_LIMIT)
    offset = max(int(params.get("offset") or 0), 0)
    where, args = [], []
    if "status" in params:
        where.append("c.status = %s")
        args.append(params["status"])
    if "category" in params:
        where.append("c.category_id = (SELECT id FROM concerns_category WHERE code = %s)")
        args.append(params["category"])
    if params.get("q"):
        where.append(SEARCH)
        args.append(params["q"])
    statement = LIST_SQL.format(where="".join(f" AND {condition}" for condition in where))
    with connection.cursor() as cursor:
        cursor.execute(statement, [*args, limit, offset])
        rows = [dict(zip(LIST_KEYS, map(iso, row), strict=True)) for row in cursor.fetchall()]
    total = offset + len(rows)  # the shape of the app's pagination; the twin does not count
    pagination = {
        "page": offset // limit + 1,
        "per_page": limit,
        "total": total,
        "pages": -(-total // limit),
    }
    return answer({"concerns": rows}, pagination=pagination)


def concern_detail(request: HttpRequest, tracking_number: str) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute(DETAIL_SQL, [tracking_number.upper()])
        row = cursor.fetchone()
    if row is None:
        return answer({"code": "NOT_FOUND"}, status=404)
    data = dict(zip(LIST_KEYS[:-2], map(iso, row), strict=False))
    assignee, anonymous = row[len(LIST_KEYS) - 2 : len(LIST_KEYS)]
    email, phone, name, notes, submitter, source, attributes, updates, attachments, duplicates = row[len(LIST_KEYS) :]
    data["created_at"] = data["submitted_at"]
    data["updates"] = with_z(updates, "timestamp")
    data["attachments"] = with_z(attachments, "uploaded_at")
    data["attributes"] = json.loads(attributes)  # Django's cursor leaves jsonb as text, as JSONField does
    data["anonymous"] = anonymous
    data["assigned_to"] = assignee
    data["contact"] = {"email": email, "phone": phone, "name": name}
    data["internal_notes"] = notes
    data["submitted_by"] = submitter
    data["source"] = source
    data["possible_duplicates"] = duplicates
    return answer(data)


def with_z(entries: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    """PostgreSQL's JSON writes UTC as +00:00, DRF as Z."""
    for entry in entries:
        if entry[field].endswith("+00:00"):
            entry[field] = entry[field][:-6] + "Z"
    return entries


def wsgi() -> WSGIHandler:
    """The twins' WSGI application: production settings without middleware or site URLs."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "citizenai.settings.production")
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")  # kept connections, as citizenai/wsgi.py
    import django
    from django.conf import settings

    settings.MIDDLEWARE = []
    settings.ROOT_URLCONF = "bench.concerns_urls"
    django.setup(set_prefix=False)
    return WSGIHandler()
