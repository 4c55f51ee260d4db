"""Parameters and bodies of the analytics API, checked against whitelists, and the
response shapes for the OpenAPI schema.

Errors (envelope code ``VALIDATION_ERROR``, ``details`` naming each field):

* **400** when a value cannot be parsed at all: a date that is not ``YYYY-MM-DD``,
  ``filters`` that is not JSON, ``include_details`` that is not a boolean (SPEC §2: bad
  query parameters).
* **422** when a well-formed value is not acceptable: an unknown ``date_range``,
  ``granularity``, metric, format or filter key, a value outside a filter's choices, a
  missing required parameter, ``end_date`` before ``start_date``, a range over 366 days,
  and any invalid field of the structured query body.

Nothing a caller sends reaches SQL except as a bound value that passed these checks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from apps.analytics.definitions import (
    CUSTOM,
    DASHBOARD_METRICS,
    DATE_RANGES,
    EXPORT_FORMATS,
    GRANULARITIES,
    MAX_HOURLY_DAYS,
    MAX_RANGE_DAYS,
    METRIC_TYPES,
    SENTIMENTS,
    Period,
    local_today,
    period_for_range,
)
from apps.analytics.selectors import AGGREGATES, QUERY_SOURCES, TIME_GROUPS
from apps.chat.models import ConversationStatus
from apps.concerns.models import Priority, Status
from apps.core.exceptions import BadRequest
from apps.core.parsers import json_loads
from apps.core.serializers import TextField

DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
IDENTIFIER = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
MAX_FILTER_VALUES = 50
TRUE, FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}

Validator = Callable[[Any], str | None]  # an error message, or None when the value is fine


def one_of(choices: tuple[str, ...] | list[str]) -> Validator:
    def check(value: Any) -> str | None:
        if isinstance(value, str) and value in choices:
            return None
        return f"{value!r} is not one of: {', '.join(choices)}."

    return check


def matching(pattern: re.Pattern[str], what: str) -> Validator:
    def check(value: Any) -> str | None:
        if isinstance(value, str) and pattern.fullmatch(value):
            return None
        return f"{value!r} is not a valid {what}."

    return check


def rating(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
        return None
    return f"{value!r} is not a rating from 1 to 5."


CATEGORY = matching(SLUG, "category code")
NAME = matching(IDENTIFIER, "name")
CONCERN_STATUS = one_of(Status.values)
PRIORITY = one_of(Priority.values)
SENTIMENT = one_of(SENTIMENTS)

# Filter keys per metric of GET /analytics/metrics/{metric_type} (lookups in selectors).
METRIC_FILTERS: dict[str, dict[str, Validator]] = {
    "conversations": {"status": one_of(ConversationStatus.values)},
    "sentiment": {"sentiment": SENTIMENT, "intent": NAME},
    "concerns": {"category": CATEGORY, "priority": PRIORITY, "status": CONCERN_STATUS},
    "performance": {"agent_id": NAME, "intent": NAME},
}
# Filter keys per metric of POST /analytics/query.
QUERY_FILTERS: dict[str, dict[str, Validator]] = {
    "concerns": {"category": CATEGORY, "priority": PRIORITY, "status": CONCERN_STATUS, "source": NAME},
    "conversations": {"status": one_of(ConversationStatus.values)},
    "messages": {"role": one_of(("user", "assistant")), "intent": NAME, "sentiment": SENTIMENT, "agent_id": NAME},
    "feedback": {"rating": rating, "agent_id": NAME, "intent": NAME},
}


class ParamErrors:
    """Collects errors per query parameter, unparsable (``bad``) or of a wrong value
    (``wrong``), then raises one 400 naming each (SPEC §2: 400 for bad query parameters).
    A body's serializer takes ``invalid`` into its own 422."""

    def __init__(self) -> None:
        self.unparsable: dict[str, list[str]] = {}
        self.invalid: dict[str, list[str]] = {}

    def bad(self, name: str, message: str) -> None:
        self.unparsable.setdefault(name, []).append(message)

    def wrong(self, name: str, message: str) -> None:
        self.invalid.setdefault(name, []).append(message)

    def raise_if_any(self) -> None:
        details = {**self.invalid}
        for name, messages in self.unparsable.items():
            details[name] = [*messages, *details.get(name, [])]
        if details:
            raise BadRequest("Invalid query parameters.", details=details)


def date_param(query: Mapping[str, str], name: str, errors: ParamErrors) -> date | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        if not DATE_PATTERN.fullmatch(raw):
            raise ValueError
        return date.fromisoformat(raw)
    except ValueError:
        errors.bad(name, f"Must be a date as YYYY-MM-DD, got {raw[:40]!r}.")
        return None


# Days outside these have no concerns or conversations, and the day after 9999-12-31 (the
# period's exclusive end) does not exist: a 500, or a CSV stream that never answered.
EARLIEST_DATE, LATEST_DATE = date(1900, 1, 1), date(2999, 12, 31)


def period_check(start: date, end: date, errors: ParamErrors) -> Period | None:
    outside = [
        (name, day)
        for name, day in (("start_date", start), ("end_date", end))
        if not EARLIEST_DATE <= day <= LATEST_DATE
    ]
    for name, _ in outside:
        errors.wrong(name, f"Must be between {EARLIEST_DATE} and {LATEST_DATE}.")
    if outside:
        return None
    if end < start:
        errors.wrong("end_date", "Must be on or after start_date.")
        return None
    period = Period(start=start, end=end)
    if period.days > MAX_RANGE_DAYS:
        errors.wrong("end_date", f"The range may cover at most {MAX_RANGE_DAYS} days; it covers {period.days}.")
        return None
    return period


def range_params(query: Mapping[str, str], errors: ParamErrors, *, default: str) -> Period | None:
    """``date_range`` (1d/7d/30d/90d/custom) with ``start_date``/``end_date`` for custom.
    Dates without ``date_range`` mean custom."""
    start, end = date_param(query, "start_date", errors), date_param(query, "end_date", errors)
    given_dates = bool(query.get("start_date") or query.get("end_date"))
    date_range = query.get("date_range") or (CUSTOM if given_dates else default)
    if date_range not in (*DATE_RANGES, CUSTOM):
        errors.wrong("date_range", f"Must be one of: {', '.join([*DATE_RANGES, CUSTOM])}.")
        return None
    if date_range != CUSTOM:
        if given_dates:
            errors.wrong("date_range", "start_date and end_date go with date_range=custom.")
            return None
        return period_for_range(date_range=date_range)
    if errors.unparsable:
        return None
    for name, value in (("start_date", start), ("end_date", end)):
        if value is None:
            errors.wrong(name, "Required when date_range is custom.")
    if start is None or end is None:
        return None
    return period_check(start, end, errors)


def metrics_param(query: Mapping[str, str], errors: ParamErrors) -> tuple[str, ...]:
    raw = query.get("metrics") or ""
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in DASHBOARD_METRICS]
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        errors.wrong("metrics", f"Unknown metric(s) {shown}; choose from {', '.join(DASHBOARD_METRICS)}.")
    chosen = tuple(name for name in DASHBOARD_METRICS if name in names)
    return chosen or DASHBOARD_METRICS


def filters_check(
    raw: Any, allowed: dict[str, Validator], errors: ParamErrors, *, prefix: str = "filters"
) -> dict[str, list[Any]]:
    """A filter object ``{key: value | [values]}`` with whitelisted keys and valid values."""
    if not isinstance(raw, dict):
        errors.wrong(prefix, "Must be a JSON object of filter names to a value or a list of values.")
        return {}
    clean: dict[str, list[Any]] = {}
    for key, value in raw.items():
        name = f"{prefix}.{str(key)[:50]}"
        if key not in allowed:
            choices = ", ".join(allowed) or "none"
            errors.wrong(name, f"Unknown filter {str(key)[:50]!r}; allowed: {choices}.")
            continue
        values = value if isinstance(value, list) else [value]
        if not values or len(values) > MAX_FILTER_VALUES:
            errors.wrong(name, f"Give a value or a list of 1 to {MAX_FILTER_VALUES} values.")
            continue
        problems = [message for message in (allowed[key](item) for item in values) if message]
        if problems:
            errors.wrong(name, problems[0])
            continue
        clean[key] = values
    return clean


def filters_param(query: Mapping[str, str], allowed: dict[str, Validator], errors: ParamErrors) -> dict[str, list[Any]]:
    raw = query.get("filters")
    if raw is None or raw.strip() == "":
        return {}
    try:
        parsed = json_loads(raw)
    except ValueError:
        errors.bad("filters", 'Must be a JSON-encoded object, e.g. {"priority": "high"}.')
        return {}
    return filters_check(parsed, allowed, errors)


def bool_param(query: Mapping[str, str], name: str, errors: ParamErrors) -> bool:
    raw = (query.get(name) or "").strip().lower()
    if raw in TRUE:
        return True
    if raw not in FALSE:
        errors.bad(name, "Must be true or false.")
    return False


# --- the three GET endpoints ---------------------------------------------------------------


@dataclass(frozen=True)
class DashboardParams:
    period: Period
    metrics: tuple[str, ...]


def dashboard_params(query: Mapping[str, str]) -> DashboardParams:
    errors = ParamErrors()
    period = range_params(query, errors, default="7d")
    metrics = metrics_param(query, errors)
    errors.raise_if_any()
    assert period is not None
    return DashboardParams(period=period, metrics=metrics)


@dataclass(frozen=True)
class MetricParams:
    metric_type: str
    granularity: str
    period: Period
    filters: dict[str, list[Any]]


def metric_params(metric_type: str, query: Mapping[str, str]) -> MetricParams:
    errors = ParamErrors()
    if metric_type not in METRIC_TYPES:
        errors.wrong("metric_type", f"Unknown metric {metric_type[:40]!r}; choose from {', '.join(METRIC_TYPES)}.")
    granularity = query.get("granularity") or "daily"
    if granularity not in GRANULARITIES:
        errors.wrong("granularity", f"Must be one of: {', '.join(GRANULARITIES)}.")
    start, end = date_param(query, "start_date", errors), date_param(query, "end_date", errors)
    period = None
    if not errors.unparsable:
        for name, value in (("start_date", start), ("end_date", end)):
            if value is None:
                errors.wrong(name, "This parameter is required (YYYY-MM-DD).")
        if start is not None and end is not None:
            period = period_check(start, end, errors)
    if period is not None and granularity == "hourly" and period.days > MAX_HOURLY_DAYS:
        errors.wrong("granularity", f"Hourly data covers at most {MAX_HOURLY_DAYS} days; use daily for longer.")
    filters = filters_param(query, METRIC_FILTERS.get(metric_type, {}), errors) if metric_type in METRIC_TYPES else {}
    errors.raise_if_any()
    assert period is not None
    return MetricParams(metric_type=metric_type, granularity=granularity, period=period, filters=filters)


@dataclass(frozen=True)
class ExportParams:
    fmt: str
    period: Period
    metrics: tuple[str, ...]
    include_details: bool


def export_params(query: Mapping[str, str]) -> ExportParams:
    errors = ParamErrors()
    fmt = query.get("format") or ""
    if not fmt:
        errors.wrong("format", f"This parameter is required: one of {', '.join(EXPORT_FORMATS)}.")
    elif fmt not in EXPORT_FORMATS:
        errors.wrong("format", f"Must be one of: {', '.join(EXPORT_FORMATS)}.")
    period = range_params(query, errors, default="30d")
    metrics = metrics_param(query, errors)
    include_details = bool_param(query, "include_details", errors)
    errors.raise_if_any()
    assert period is not None
    return ExportParams(fmt=fmt, period=period, metrics=metrics, include_details=include_details)


# --- POST /analytics/query -----------------------------------------------------------------

QUERY_KEYS = ("metric", "aggregate", "field", "group_by", "filters", "start_date", "end_date", "limit")


class StructuredQuerySerializer(serializers.Serializer):
    """A structured query. Every name is checked against the whitelist of its metric."""

    metric = serializers.ChoiceField(choices=list(QUERY_SOURCES), help_text="What to count or measure.")
    aggregate = serializers.ChoiceField(choices=list(AGGREGATES), default="count")
    field = TextField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=50,
        help_text=(
            "Numeric field for avg/sum/min/max: concerns resolution_hours, latitude, longitude; conversations "
            "duration_seconds; messages confidence, processing_time_ms; feedback rating."
        ),
    )
    group_by = serializers.ListField(
        child=TextField(max_length=50),
        required=False,
        default=list,
        max_length=3,
        help_text=(
            "Up to three of: hour, day, week, month, and per metric concerns category, priority, status, source; "
            "conversations status; messages role, intent, sentiment, agent_id; feedback rating, agent_id, intent."
        ),
    )
    filters = serializers.DictField(required=False, default=dict, help_text="{name: value or [values]}.")
    start_date = serializers.DateField(required=False, input_formats=["%Y-%m-%d"], help_text="Default: 29 days ago.")
    end_date = serializers.DateField(required=False, input_formats=["%Y-%m-%d"], help_text="Default: today.")
    limit = serializers.IntegerField(required=False, default=100, min_value=1, max_value=1000)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict):
            unknown = [key for key in data if key not in QUERY_KEYS]
            if unknown:
                raise ValidationError(
                    {str(key)[:50]: ["Unknown field; allowed: " + ", ".join(QUERY_KEYS) + "."] for key in unknown}
                )
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        source = QUERY_SOURCES[attrs["metric"]]
        problems: dict[str, list[str]] = {}
        field_name = attrs.get("field") or None
        if attrs["aggregate"] != "count" and not field_name:
            problems["field"] = [f"Required for {attrs['aggregate']}; one of: {', '.join(source.fields)}."]
        elif field_name and field_name not in source.fields:
            problems["field"] = [
                f"Unknown field {field_name!r} for {attrs['metric']}; one of: {', '.join(source.fields)}."
            ]
        allowed_groups = [*TIME_GROUPS, *source.group_by]
        for index, name in enumerate(attrs["group_by"]):
            if name not in allowed_groups:
                problems[f"group_by.{index}"] = [f"Unknown group {name!r}; one of: {', '.join(allowed_groups)}."]
        if len(set(attrs["group_by"])) != len(attrs["group_by"]):
            problems.setdefault("group_by", []).append("Each group may appear once.")
        errors = ParamErrors()
        attrs["filters"] = filters_check(attrs["filters"], QUERY_FILTERS[attrs["metric"]], errors)
        problems.update(errors.invalid)
        today = local_today()
        end = attrs.get("end_date") or today
        start = attrs.get("start_date") or period_for_range(date_range="30d", today=end).start
        range_errors = ParamErrors()
        attrs["period"] = period_check(start, end, range_errors)
        problems.update(range_errors.invalid)
        attrs["field"] = field_name
        if problems:
            raise ValidationError(problems)
        return attrs


# --- response shapes (OpenAPI) -------------------------------------------------------------


class SummarySerializer(serializers.Serializer):
    total_conversations = serializers.IntegerField()
    avg_response_time = serializers.FloatField(allow_null=True, help_text="Seconds.")
    satisfaction_score = serializers.FloatField(allow_null=True, help_text="Mean feedback rating 1-5.")
    resolution_rate = serializers.FloatField(allow_null=True, help_text="Percent.")


class ConversationsBlockSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    daily_counts = serializers.ListField(child=serializers.IntegerField())
    dates = serializers.ListField(child=serializers.DateField())
    trend = serializers.CharField(help_text='"+15%", "-3%" or "n/a".')


class SentimentBlockSerializer(serializers.Serializer):
    positive = serializers.IntegerField()
    neutral = serializers.IntegerField()
    negative = serializers.IntegerField()


class ConcernsBlockSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    resolved = serializers.IntegerField()
    pending = serializers.IntegerField()
    overdue = serializers.IntegerField()


class PeriodSerializer(serializers.Serializer):
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    days = serializers.IntegerField()


class DashboardSerializer(serializers.Serializer):
    summary = SummarySerializer(required=False)
    conversations = ConversationsBlockSerializer(required=False)
    sentiment = SentimentBlockSerializer(required=False)
    concerns = ConcernsBlockSerializer(required=False)
    period = PeriodSerializer()


class DataPointSerializer(serializers.Serializer):
    date = serializers.CharField(help_text="YYYY-MM-DD, or the local hour with its offset for hourly data.")
    value = serializers.FloatField()
    metadata = serializers.DictField()


class AggregatesSerializer(serializers.Serializer):
    total = serializers.FloatField()
    average = serializers.FloatField()
    peak = serializers.FloatField()
    trend = serializers.CharField()


class MetricSeriesSerializer(serializers.Serializer):
    metric_type = serializers.CharField()
    granularity = serializers.CharField()
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    filters = serializers.DictField()
    data_points = DataPointSerializer(many=True)
    aggregates = AggregatesSerializer()


class QueryResultSerializer(serializers.Serializer):
    metric = serializers.CharField()
    aggregate = serializers.CharField()
    field = serializers.CharField(allow_null=True)
    group_by = serializers.ListField(child=serializers.CharField())
    filters = serializers.DictField()
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    rows = serializers.ListField(child=serializers.DictField())
    row_count = serializers.IntegerField()
    truncated = serializers.BooleanField()
