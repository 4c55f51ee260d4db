"""Query and form parameters of Open311 calls. An empty parameter counts as absent
(GeoReport v2, "Optional Arguments"); anything malformed is a 400 naming the parameter."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from django.conf import settings
from django.http import QueryDict
from django.utils.dateparse import parse_datetime

from apps.open311.errors import Open311Error, bad_request, not_found
from apps.open311.selectors import CLOSED, OPEN, RequestFilters

DEFAULT_WINDOW = timedelta(days=90)  # also the widest start_date..end_date span
MAX_PAGE_SIZE = 1000  # "first 1000 requests returned"
MAX_IDS = 1000
MAX_PAGE = 1_000_000
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
# "2010-01-01T00:00:00 02:00": a "+" offset that reached us unencoded in a query string.
_SPACE_OFFSET = re.compile(r"^(.*\d) (\d{2}(?::?\d{2})?)$")

T = TypeVar("T")


class Params(Protocol):
    def get(self, key: str, default: str | None = None) -> str | None: ...

    def getlist(self, key: str) -> list[str]: ...


def value(params: Params, name: str) -> str | None:
    raw = params.get(name)
    if raw is None:
        return None
    raw = raw.strip()
    return raw or None


def values(params: Params, name: str) -> list[str]:
    """A parameter that may be repeated and comma delimited."""
    found: list[str] = []
    for raw in params.getlist(name):
        for part in raw.split(","):
            part = part.strip()
            if part and part not in found:
                found.append(part)
    return found


def refuse_null_characters(*sources: QueryDict) -> None:
    """A NUL character is in no address or description, PostgreSQL refuses to store one in
    text, and the REST API and the web form refuse it too."""
    for source in sources:
        for name, items in source.lists():
            if "\x00" in name or any("\x00" in item for item in items):
                raise bad_request(f"{name.replace(chr(0), '')[:100]}: null characters are not allowed.")


def jurisdiction_check(jurisdiction_id: str | None) -> None:
    """We serve one jurisdiction: the id is optional, but a different one does not exist."""
    if jurisdiction_id is not None and jurisdiction_id.lower() != settings.OPEN311_JURISDICTION_ID.lower():
        raise not_found(f"jurisdiction_id '{jurisdiction_id[:100]}' was not found.")


def flag(params: Params, name: str) -> bool:
    raw = value(params, name)
    if raw is None:
        return False
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise bad_request(f"{name} must be true or false.")


def w3_datetime(name: str, raw: str) -> datetime:
    match = _SPACE_OFFSET.match(raw)
    if match:
        raw = f"{match.group(1)}+{match.group(2)}"
    try:
        parsed = parse_datetime(raw)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise bad_request(
            f"{name} must be a w3 datetime with a time zone, e.g. 2010-01-01T00:00:00Z or 2010-01-01T00:00:00-05:00."
        )
    return parsed


def positive_int(params: Params, name: str, default: int, maximum: int) -> int:
    raw = value(params, name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise bad_request(f"{name} must be a whole number from 1 to {maximum}.")
    return int(raw)


def date_window(params: Params, *, now: datetime) -> tuple[datetime, datetime]:
    """start_date..end_date; missing ends default to a 90-day span (the last 90 days when
    both are missing), and a wider span is refused."""
    start_raw, end_raw = value(params, "start_date"), value(params, "end_date")
    start = w3_datetime("start_date", start_raw) if start_raw else None
    end = w3_datetime("end_date", end_raw) if end_raw else None
    if start is None and end is None:
        return now - DEFAULT_WINDOW, now
    if start is None:
        assert end is not None
        return end - DEFAULT_WINDOW, end
    if end is None:
        return start, start + DEFAULT_WINDOW
    if start > end:
        raise bad_request("start_date must not be after end_date.")
    if end - start > DEFAULT_WINDOW:
        raise bad_request("start_date and end_date may not span more than 90 days.")
    return start, end


def request_filters(params: Params, *, now: datetime) -> RequestFilters:
    """Every problem with the query at once, as one 400."""
    errors: list[str] = []

    def attempt(parse: Callable[[], T], fallback: T) -> T:
        try:
            return parse()
        except Open311Error as exc:
            errors.extend(item.description for item in exc.errors)
            return fallback

    statuses = [status.lower() for status in values(params, "status")]
    unknown = [status for status in statuses if status not in (OPEN, CLOSED)]
    if unknown:
        errors.append(f"status must be open or closed, not '{unknown[0][:50]}'.")
    ids = values(params, "service_request_id")
    if len(ids) > MAX_IDS:
        errors.append(f"At most {MAX_IDS} service_request_id values at once.")
    start, end = attempt(lambda: date_window(params, now=now), (now, now))
    page = attempt(lambda: positive_int(params, "page", 1, MAX_PAGE), 1)
    page_size = attempt(lambda: positive_int(params, "page_size", MAX_PAGE_SIZE, MAX_PAGE_SIZE), MAX_PAGE_SIZE)
    if errors:
        raise bad_request(*errors)
    return RequestFilters(
        ids=tuple(ids) if ids else None,
        service_codes=tuple(values(params, "service_code")),
        statuses=tuple(statuses),
        start=start,
        end=end,
        page=page,
        page_size=page_size,
    )
