"""Offset/page pagination with the envelope's ``pagination`` block, and keyset cursors.

Lists take ``limit``/``offset`` or ``page``/``per_page``. Views whose lists grow without
bound set ``cursor_field`` and also accept ``cursor`` (opaque base64 JSON as in seed 002),
answering with ``next_cursor``, ``prev_cursor`` and ``has_more``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import UTC, datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.exceptions import BadRequest
from apps.core.parsers import json_loads

# The databases take OFFSET as a 64-bit integer; a larger one fails in the query as a 500,
# so offsets (and the pages that imply them) are bounded well below that.
MAX_OFFSET = 2**31 - 1


def positive_int_param(
    request: Request, name: str, default: int, *, minimum: int = 1, maximum: int | None = None
) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(details={name: [f"Must be an integer, got {raw!r}."]}) from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise BadRequest(details={name: [f"Must be {bound}."]})
    return value


def encode_cursor(timestamp: datetime, pk: Any, direction: str) -> str:
    raw = json.dumps({"t": timestamp.isoformat(), "i": str(pk), "d": direction})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json_loads(base64.urlsafe_b64decode(padded.encode()).decode())
        timestamp = parse_datetime(payload["t"])
        if timestamp is not None:
            # In UTC, as every cursor is made: a hand-made offset PostgreSQL cannot take (over
            # ±15:59) or a naive time would otherwise reach the query.
            timestamp = timestamp.astimezone(UTC) if timestamp.tzinfo is not None else None
        pk = str(payload["i"])
        # str() so that a non-string direction is rejected below instead of failing the set lookup.
        direction = str(payload.get("d", "next"))
    except (ValueError, KeyError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError):
        timestamp = None
    if timestamp is None or direction not in {"next", "prev"}:
        raise BadRequest(details={"cursor": ["Invalid cursor."]})
    return timestamp, pk, direction


PAGE_SIZES = ("limit", "per_page", "page_size")


class EnvelopePagination(BasePagination):
    default_limit = 20
    max_limit = 100

    def __init__(self) -> None:
        self.mode = "offset"
        self.pagination: dict[str, Any] = {}
        self.result_key: str | None = None

    # -- DRF interface -------------------------------------------------------------------
    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list:
        self.result_key = getattr(view, "result_key", None)
        default = getattr(view, "default_limit", self.default_limit)
        maximum = getattr(view, "max_limit", self.max_limit)
        cursor_field = getattr(view, "cursor_field", None)
        if cursor_field and "cursor" in request.query_params:
            return self._paginate_cursor(queryset, request, cursor_field, default, maximum)
        return self._paginate_offset(queryset, request, default, maximum)

    def get_paginated_response(self, data: list) -> Response:
        payload: Any = {self.result_key: data} if self.result_key else data
        response = Response(payload)
        response.envelope_extra = {"pagination": self.pagination}
        return response

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return schema

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        def integer(name: str, description: str) -> dict[str, Any]:
            return {
                "name": name,
                "required": False,
                "in": "query",
                "description": description,
                "schema": {"type": "integer", "minimum": 0},
            }

        parameters = [
            integer("limit", "Number of results to return."),
            integer("offset", "Number of results to skip."),
            integer("page", "Page number, 1-based (with per_page)."),
            integer("per_page", "Results per page (with page)."),
            integer("page_size", "Results per page, as per_page (seed 003)."),
        ]
        if getattr(view, "cursor_field", None):
            parameters.append(
                {
                    "name": "cursor",
                    "required": False,
                    "in": "query",
                    "description": "Opaque cursor from next_cursor/prev_cursor; empty for the first page.",
                    "schema": {"type": "string"},
                }
            )
        return parameters

    # -- offset / page -------------------------------------------------------------------
    def _paginate_offset(self, queryset: QuerySet, request: Request, default: int, maximum: int) -> list:
        page, limit, offset = self._offset_window(request, default, maximum)
        self._offset_pagination(page, limit, queryset.count())
        return list(queryset[offset : offset + limit])

    @staticmethod
    def _offset_window(request: Request, default: int, maximum: int) -> tuple[int, int, int]:
        """(page, limit, offset). The size is ``limit``, ``per_page`` or seed 003's
        ``page_size``; the start ``offset`` or ``page``. Any mix is honoured (``?page=2&limit=10``)
        unless two of them disagree, which is a 400 naming both, never a silent choice."""
        params = request.query_params
        limit = EnvelopePagination._page_size(request, default, maximum)
        if "page" in params and "offset" in params:
            raise BadRequest(details={name: ["Give page or offset, not both."] for name in ("page", "offset")})
        if "page" in params:
            page = positive_int_param(request, "page", 1, maximum=MAX_OFFSET // limit + 1)
            return page, limit, (page - 1) * limit
        offset = positive_int_param(request, "offset", 0, minimum=0, maximum=MAX_OFFSET)
        return offset // limit + 1, limit, offset

    @staticmethod
    def _page_size(request: Request, default: int, maximum: int) -> int:
        """``limit``, ``per_page`` or ``page_size``; two that disagree are a 400 naming both."""
        params = request.query_params
        sizes = {
            name: positive_int_param(request, name, default, maximum=maximum) for name in PAGE_SIZES if name in params
        }
        if len(set(sizes.values())) > 1:
            raise BadRequest(details={name: ["Give one page size: limit, per_page or page_size."] for name in sizes})
        return next(iter(sizes.values()), default)

    def _offset_pagination(self, page: int, limit: int, total: int) -> None:
        self.pagination = {
            "page": page,
            "per_page": limit,
            "total": total,
            "pages": math.ceil(total / limit) if total else 0,
        }

    # -- keyset cursor -------------------------------------------------------------------
    def _paginate_cursor(self, queryset: QuerySet, request: Request, field: str, default: int, maximum: int) -> list:
        starts = [name for name in ("offset", "page") if name in request.query_params]
        if starts:  # the cursor says where the page starts: a second start would be ignored
            raise BadRequest(details={name: ["Give cursor or this, not both."] for name in ["cursor", *starts]})
        limit = self._page_size(request, default, maximum)
        raw = request.query_params.get("cursor", "")
        direction = "next"
        if raw:
            timestamp, pk, direction = decode_cursor(raw)
            pk_value = self._coerce_pk(queryset, pk)
            before = Q(**{f"{field}__lt": timestamp}) | Q(**{field: timestamp, "pk__lt": pk_value})
            after = Q(**{f"{field}__gt": timestamp}) | Q(**{field: timestamp, "pk__gt": pk_value})
            queryset = queryset.filter(before if direction == "next" else after)
        ordering = (f"-{field}", "-pk") if direction == "next" else (field, "pk")
        rows = list(queryset.order_by(*ordering)[: limit + 1])
        has_more = len(rows) > limit
        rows = rows[:limit]
        if direction == "prev":
            rows.reverse()
        first, last = (rows[0], rows[-1]) if rows else (None, None)
        if direction == "next":
            next_cursor = encode_cursor(getattr(last, field), last.pk, "next") if has_more else None
            prev_cursor = encode_cursor(getattr(first, field), first.pk, "prev") if raw and first else None
        else:
            next_cursor = encode_cursor(getattr(last, field), last.pk, "next") if last else None
            prev_cursor = encode_cursor(getattr(first, field), first.pk, "prev") if has_more else None
        self.pagination = {
            "per_page": limit,
            "next_cursor": next_cursor,
            "prev_cursor": prev_cursor,
            "has_more": has_more,
        }
        return rows

    @staticmethod
    def _coerce_pk(queryset: QuerySet, pk: str) -> Any:
        try:
            return queryset.model._meta.pk.to_python(pk)
        except Exception:
            raise BadRequest(details={"cursor": ["Invalid cursor."]}) from None
