"""Reads for analytics: every number is one aggregate query grouped in the database.

Nothing here loops over rows in Python except to fill empty buckets with zeros. The
definitions of the figures are in ``apps.analytics.definitions``.

Scale (bench/analytics.py, 1M concerns and 1M messages over a year): the concern figures are
read live with indexed aggregate queries (a concern's status, and so resolved/pending/
overdue, changes at any time); on PostgreSQL the covering indexes of migration 0002 make
these index-only scans. The chat figures of the dashboard (conversations, sentiment,
response time, ratings) come per closed day from ``ChatDailyRollup`` (refreshed every five
minutes by ``services.rollups_refresh``) and live for today and any day without a row:
a 90-day dashboard then scans the concerns once and reads ~180 rollup rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import (
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, TruncDate, TruncHour, TruncMonth, TruncWeek
from django.utils import timezone

from apps.analytics.definitions import (
    OPEN_STATUSES,
    PRIORITY_ORDER,
    RESOLVED_STATUSES,
    SENTIMENTS,
    Period,
    local_today,
    local_zone,
    shares_percent,
    trend_format,
)
from apps.chat.models import Conversation, Feedback, Message
from apps.concerns.models import Category, Concern

Filters = dict[str, list[Any]]


# --- buckets -----------------------------------------------------------------------------


def bucket_expression(*, field_name: str, granularity: str) -> Any:
    """The database expression that puts a timestamp into its local bucket."""
    zone = local_zone()
    return {
        "hourly": TruncHour(field_name, tzinfo=zone),
        "daily": TruncDate(field_name, tzinfo=zone),
        "weekly": TruncWeek(field_name, tzinfo=zone),
        "monthly": TruncMonth(field_name, tzinfo=zone),
    }[granularity]


def bucket_key(*, value: Any, granularity: str) -> date | datetime:
    """A bucket value from the database as the key ``bucket_keys`` produces: a local date,
    or for hours the naive local wall-clock hour."""
    if granularity == "daily":
        return value if not isinstance(value, datetime) else timezone.localtime(value, local_zone()).date()
    local = timezone.localtime(value, local_zone()) if timezone.is_aware(value) else value
    if granularity == "hourly":
        return local.replace(tzinfo=None, minute=0, second=0, microsecond=0)
    return local.date() if isinstance(local, datetime) else local


def bucket_keys(*, period: Period, granularity: str) -> list[date | datetime]:
    """Every bucket of the period, oldest first."""
    if granularity == "daily":
        return list(period.dates())
    if granularity == "hourly":
        return [
            datetime.combine(day, datetime.min.time()) + timedelta(hours=h) for day in period.dates() for h in range(24)
        ]
    if granularity == "weekly":
        first = period.start - timedelta(days=period.start.weekday())
        return [first + timedelta(weeks=n) for n in range((period.end - first).days // 7 + 1)]
    keys: list[date | datetime] = []
    month = period.start.replace(day=1)
    while month <= period.end:
        keys.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return keys


def bucket_label(*, key: date | datetime, granularity: str) -> str:
    if granularity == "hourly":
        assert isinstance(key, datetime)
        return key.replace(tzinfo=local_zone()).isoformat()
    return key.isoformat()


# --- filters -----------------------------------------------------------------------------


def category_ids(*, codes: list[str]) -> list[int]:
    """Category codes as ids, so range queries need no join (and stay index-only)."""
    return list(Category.objects.filter(code__in=codes).values_list("pk", flat=True))


def filters_q(*, filters: Filters, fields: dict[str, str]) -> Q:
    """A Q of ``field IN values`` for each filter; ``fields`` maps filter names to
    model lookups. ``category`` codes become ids."""
    condition = Q()
    for name, values in filters.items():
        lookup = fields[name]
        if name == "category" and lookup == "category_id":
            condition &= Q(category_id__in=category_ids(codes=values))
        else:
            condition &= Q(**{f"{lookup}__in": values})
    return condition


def in_period(*, field_name: str, period: Period) -> Q:
    return Q(**{f"{field_name}__gte": period.start_at, f"{field_name}__lt": period.end_at})


def concerns_in(*, period: Period) -> QuerySet[Concern]:
    return Concern.objects.filter(in_period(field_name="submitted_at", period=period)).order_by()


def user_messages_in(*, period: Period) -> QuerySet[Message]:
    return Message.objects.filter(in_period(field_name="created_at", period=period), role="user").order_by()


def assistant_messages_in(*, period: Period) -> QuerySet[Message]:
    return Message.objects.filter(in_period(field_name="created_at", period=period), role="assistant").order_by()


def processing_seconds() -> Any:
    return Cast(KT("metadata__processing_time_ms"), FloatField()) / 1000.0


# --- dashboard -----------------------------------------------------------------------------


def conversation_counts_by_day(*, period: Period) -> dict[date, int]:
    rows = (
        Conversation.objects.filter(in_period(field_name="created_at", period=period))
        .order_by()
        .annotate(day=bucket_expression(field_name="created_at", granularity="daily"))
        .values("day")
        .annotate(n=Count("*"))
    )
    return {bucket_key(value=row["day"], granularity="daily"): row["n"] for row in rows}


@dataclass
class ChatDay:
    """The chat figures of one local day (the columns of ``ChatDailyRollup``)."""

    conversations: int = 0
    user_messages: int = 0
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    responses: int = 0  # answers with a processing time
    response_seconds_sum: float = 0.0
    response_seconds_max: float = 0.0
    ratings: int = 0
    rating_sum: int = 0

    def add(self, other: ChatDay) -> ChatDay:
        for name in CHAT_DAY_FIELDS:
            if name == "response_seconds_max":
                self.response_seconds_max = max(self.response_seconds_max, other.response_seconds_max)
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


CHAT_DAY_FIELDS = tuple(ChatDay.__dataclass_fields__)


def _day_rows(queryset: QuerySet[Any], field_name: str, **aggregates: Any) -> Iterator[tuple[date, dict[str, Any]]]:
    rows = (
        queryset.annotate(day=bucket_expression(field_name=field_name, granularity="daily"))
        .values("day")
        .annotate(**aggregates)
    )
    for row in rows:
        yield bucket_key(value=row.pop("day"), granularity="daily"), row


def chat_days_live(*, period: Period) -> dict[date, ChatDay]:
    """Per local day of the period, straight from the chat tables: four grouped queries."""
    days: dict[date, ChatDay] = {day: ChatDay() for day in period.dates()}
    for day, n in conversation_counts_by_day(period=period).items():
        days[day].conversations = n
    sentiment_counts = {name: Count("sentiment", filter=Q(sentiment=name)) for name in SENTIMENTS}
    for day, row in _day_rows(user_messages_in(period=period), "created_at", total=Count("*"), **sentiment_counts):
        target = days[day]
        target.user_messages = row["total"]
        target.positive, target.neutral, target.negative = row["positive"], row["neutral"], row["negative"]
    seconds = processing_seconds()
    for day, row in _day_rows(
        assistant_messages_in(period=period), "created_at", n=Count(seconds), total=Sum(seconds), peak=Max(seconds)
    ):
        days[day].responses = row["n"]
        days[day].response_seconds_sum = float(row["total"] or 0)
        days[day].response_seconds_max = float(row["peak"] or 0)
    feedback = Feedback.objects.filter(in_period(field_name="created_at", period=period)).order_by()
    for day, row in _day_rows(feedback, "created_at", n=Count("*"), total=Sum("rating")):
        days[day].ratings = row["n"]
        days[day].rating_sum = int(row["total"] or 0)
    return days


def chat_days(*, period: Period) -> dict[date, ChatDay]:
    """Per local day of the period: closed days from ``ChatDailyRollup`` as far as the rollup
    covers them without a gap, the rest (always including today) live."""
    from apps.analytics.models import ChatDailyRollup

    last_closed = min(period.end, local_today() - timedelta(days=1))
    stored: dict[date, ChatDay] = {}
    if last_closed >= period.start:
        rows = ChatDailyRollup.objects.filter(
            time_zone=settings.TIME_ZONE, day__gte=period.start, day__lte=last_closed
        ).values("day", *CHAT_DAY_FIELDS)
        stored = {row.pop("day"): ChatDay(**row) for row in rows}
    live_start = period.start
    while live_start in stored:
        live_start += timedelta(days=1)
    days = {day: stored[day] for day in period.dates() if day < live_start}
    if live_start <= period.end:
        days.update(chat_days_live(period=Period(start=live_start, end=period.end)))
    return days


def chat_total(*, days: dict[date, ChatDay], period: Period) -> ChatDay:
    total = ChatDay()
    for day in period.dates():
        total.add(days.get(day, ChatDay()))
    return total


def conversations_block(*, period: Period, days: dict[date, ChatDay] | None = None) -> dict[str, Any]:
    """Conversations per day of the period and the trend against the previous period."""
    previous = period.previous()
    days = days if days is not None else chat_days(period=Period(start=previous.start, end=period.end))
    daily = [days[day].conversations if day in days else 0 for day in period.dates()]
    before = sum(days[day].conversations for day in previous.dates() if day in days)
    total = sum(daily)
    return {
        "total": total,
        "daily_counts": daily,
        "dates": [day.isoformat() for day in period.dates()],
        "trend": trend_format(current=total, previous=before),
        "previous_total": before,
    }


def sentiment_counts(*, period: Period) -> dict[str, int]:
    total = chat_total(days=chat_days(period=period), period=period)
    return {name: getattr(total, name) for name in SENTIMENTS}


def sentiment_block(*, period: Period) -> dict[str, int]:
    return shares_percent(counts=sentiment_counts(period=period))


def concerns_block(*, period: Period, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    totals = concerns_in(period=period).aggregate(
        total=Count("*"),
        resolved=Count("status", filter=Q(status__in=RESOLVED_STATUSES)),
        pending=Count("status", filter=Q(status__in=OPEN_STATUSES)),
        overdue=Count("status", filter=Q(status__in=OPEN_STATUSES, estimated_resolution__lt=now)),
    )
    return {key: int(value or 0) for key, value in totals.items()}


def avg_response_time(*, total: ChatDay) -> float | None:
    return round(total.response_seconds_sum / total.responses, 2) if total.responses else None


def satisfaction_score(*, total: ChatDay) -> float | None:
    return round(total.rating_sum / total.ratings, 2) if total.ratings else None


def resolution_rate(*, concerns: dict[str, int]) -> float | None:
    if not concerns["total"]:
        return None
    return round(concerns["resolved"] * 100 / concerns["total"], 1)


def dashboard_get(*, period: Period, metrics: tuple[str, ...]) -> dict[str, Any]:
    """The dashboard of seed 001 for ``period``, limited to ``metrics``: one aggregate over
    the concerns of the period and the chat figures of ``chat_days`` (rollups + live)."""
    data: dict[str, Any] = {}
    concerns = concerns_block(period=period) if {"concerns", "summary"} & set(metrics) else None
    days: dict[date, ChatDay] = {}
    if {"summary", "conversations", "sentiment"} & set(metrics):
        days = chat_days(period=Period(start=period.previous().start, end=period.end))
    total = chat_total(days=days, period=period)
    conversations = conversations_block(period=period, days=days)
    if "summary" in metrics:
        assert concerns is not None
        data["summary"] = {
            "total_conversations": conversations["total"],
            "avg_response_time": avg_response_time(total=total),
            "satisfaction_score": satisfaction_score(total=total),
            "resolution_rate": resolution_rate(concerns=concerns),
        }
    if "conversations" in metrics:
        data["conversations"] = {key: conversations[key] for key in ("total", "daily_counts", "dates", "trend")}
    if "sentiment" in metrics:
        data["sentiment"] = shares_percent(counts={name: getattr(total, name) for name in SENTIMENTS})
    if "concerns" in metrics:
        data["concerns"] = concerns
    data["period"] = {"start_date": period.start.isoformat(), "end_date": period.end.isoformat(), "days": period.days}
    return data


# --- metric series -------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSource:
    """How one metric type is read: its rows, timestamp, per-bucket aggregates and filters."""

    date_field: str
    filters: dict[str, str]
    queryset: Any  # (period) -> QuerySet
    aggregates: Any  # (now) -> dict of aggregate expressions; "value" is the point's value
    metadata: Any  # (row) -> dict
    zero_metadata: dict[str, Any] = field(default_factory=dict)


def _duration_seconds(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, timedelta):
        return round(value.total_seconds(), 1)
    return round(float(value) / 1_000_000, 1)  # microseconds (SQLite without a converter)


METRIC_SOURCES: dict[str, MetricSource] = {
    "conversations": MetricSource(
        date_field="created_at",
        filters={"status": "status"},
        queryset=lambda period: Conversation.objects.filter(
            in_period(field_name="created_at", period=period)
        ).order_by(),
        aggregates=lambda now: {
            "value": Count("*"),
            "avg_duration": Avg(
                ExpressionWrapper(F("updated_at") - F("created_at"), output_field=DurationField()),
                output_field=DurationField(),
            ),
            "unique_users": Count("owner", distinct=True),
            "escalated": Count("escalated_at"),
        },
        metadata=lambda row: {
            "avg_duration": _duration_seconds(row["avg_duration"]),
            "unique_users": row["unique_users"],
            "escalated": row["escalated"],
        },
        zero_metadata={"avg_duration": 0.0, "unique_users": 0, "escalated": 0},
    ),
    "sentiment": MetricSource(
        date_field="created_at",
        filters={"sentiment": "sentiment", "intent": "intent"},
        queryset=lambda period: user_messages_in(period=period),
        aggregates=lambda now: {
            "value": Count("*"),
            **{name: Count("sentiment", filter=Q(sentiment=name)) for name in SENTIMENTS},
        },
        metadata=lambda row: {name: row[name] for name in SENTIMENTS},
        zero_metadata=dict.fromkeys(SENTIMENTS, 0),
    ),
    "concerns": MetricSource(
        date_field="submitted_at",
        filters={"category": "category_id", "priority": "priority", "status": "status"},
        queryset=lambda period: concerns_in(period=period),
        aggregates=lambda now: {
            "value": Count("*"),
            "resolved": Count("status", filter=Q(status__in=RESOLVED_STATUSES)),
            "pending": Count("status", filter=Q(status__in=OPEN_STATUSES)),
            "overdue": Count("status", filter=Q(status__in=OPEN_STATUSES, estimated_resolution__lt=now)),
        },
        metadata=lambda row: {"resolved": row["resolved"], "pending": row["pending"], "overdue": row["overdue"]},
        zero_metadata={"resolved": 0, "pending": 0, "overdue": 0},
    ),
    "performance": MetricSource(
        date_field="created_at",
        filters={"agent_id": "agent_id", "intent": "intent"},
        queryset=lambda period: assistant_messages_in(period=period),
        aggregates=lambda now: {
            "value": Avg(processing_seconds()),
            "responses": Count("*"),
            "max_response_time": Max(processing_seconds()),
            "timed": Count(processing_seconds()),
            "seconds_sum": Sum(processing_seconds()),
        },
        metadata=lambda row: {
            "responses": row["responses"],
            "max_response_time": round(float(row["max_response_time"] or 0), 3),
        },
        zero_metadata={"responses": 0, "max_response_time": 0.0},
    ),
}


def _metric_total(*, metric_type: str, period: Period, condition: Q) -> tuple[float, int]:
    """(total, answers) of a metric over a whole period: the figure its trend compares."""
    source = METRIC_SOURCES[metric_type]
    queryset = source.queryset(period).filter(condition)
    if metric_type == "performance":
        row = queryset.aggregate(value=Avg(processing_seconds()), n=Count("*"))
        return float(row["value"] or 0), int(row["n"])
    n = queryset.aggregate(n=Count("*"))["n"]
    return float(n), int(n)


def metric_series(*, metric_type: str, granularity: str, period: Period, filters: Filters) -> dict[str, Any]:
    """Seed 001's ``/analytics/metrics/{metric_type}``: one data point per bucket."""
    source = METRIC_SOURCES[metric_type]
    condition = filters_q(filters=filters, fields=source.filters)
    rows = (
        source.queryset(period)
        .filter(condition)
        .annotate(bucket=bucket_expression(field_name=source.date_field, granularity=granularity))
        .values("bucket")
        .annotate(**source.aggregates(timezone.now()))
    )
    found = {bucket_key(value=row["bucket"], granularity=granularity): row for row in rows}
    points: list[dict[str, Any]] = []
    for key in bucket_keys(period=period, granularity=granularity):
        row = found.get(key)
        if row is None:
            value: float | int = 0.0 if metric_type == "performance" else 0
            metadata = dict(source.zero_metadata)
        else:
            value = round(float(row["value"] or 0), 3) if metric_type == "performance" else int(row["value"])
            metadata = source.metadata(row)
        points.append({"date": bucket_label(key=key, granularity=granularity), "value": value, "metadata": metadata})

    values = [point["value"] for point in points]
    # The period's own figure comes from the buckets already read; only the previous period
    # needs another (single aggregate) query for the trend.
    previous, _ = _metric_total(metric_type=metric_type, period=period.previous(), condition=condition)
    if metric_type == "performance":
        timed = sum(row["timed"] for row in found.values())
        current = sum(float(row["seconds_sum"] or 0) for row in found.values()) / timed if timed else 0.0
        total: float | int = sum(row["responses"] for row in found.values())
        average = round(current, 3)
    else:
        total = int(sum(values))
        current = float(total)
        average = round(total / len(points), 2) if points else 0.0
    return {
        "metric_type": metric_type,
        "granularity": granularity,
        "start_date": period.start.isoformat(),
        "end_date": period.end.isoformat(),
        "filters": filters,
        "data_points": points,
        "aggregates": {
            "total": total,
            "average": average,
            "peak": max(values) if values else 0,
            "trend": trend_format(current=current, previous=previous),
        },
    }


# --- exports -------------------------------------------------------------------------------

DETAIL_COLUMNS = (
    "id",
    "tracking_number",
    "submitted_at",
    "category",
    "priority",
    "status",
    "estimated_resolution",
    "resolved_at",
    "title",
)


def daily_rows(*, period: Period, metrics: tuple[str, ...]) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of the per-day table of an export: one row per day of the period."""
    header = ["date"]
    columns: list[list[Any]] = []
    if "conversations" in metrics or "summary" in metrics:
        series = metric_series(metric_type="conversations", granularity="daily", period=period, filters={})
        header.append("conversations")
        columns.append([p["value"] for p in series["data_points"]])
    if "concerns" in metrics or "summary" in metrics:
        series = metric_series(metric_type="concerns", granularity="daily", period=period, filters={})
        header += ["concerns_submitted", "concerns_resolved", "concerns_pending", "concerns_overdue"]
        points = series["data_points"]
        columns.append([p["value"] for p in points])
        columns += [[p["metadata"][key] for p in points] for key in ("resolved", "pending", "overdue")]
    if "sentiment" in metrics:
        series = metric_series(metric_type="sentiment", granularity="daily", period=period, filters={})
        header += ["messages", "positive", "neutral", "negative"]
        points = series["data_points"]
        columns.append([p["value"] for p in points])
        columns += [[p["metadata"][key] for p in points] for key in SENTIMENTS]
    rows = [[day.isoformat(), *(column[index] for column in columns)] for index, day in enumerate(period.dates())]
    return header, rows


def concern_details_iter(*, period: Period, chunk_size: int = 2000) -> Iterator[list[tuple[Any, ...]]]:
    """Every concern submitted in the period, oldest first, in lists of ``chunk_size`` rows,
    read with a server-side cursor so memory stays flat however many there are."""
    codes = dict(Category.objects.values_list("pk", "code"))
    rows = (
        concerns_in(period=period)
        .order_by("submitted_at", "id")
        .values_list(
            "id",
            "tracking_number",
            "submitted_at",
            "category_id",
            "priority",
            "status",
            "estimated_resolution",
            "resolved_at",
            "title",
        )
    )
    chunk: list[tuple[Any, ...]] = []
    for pk, tracking, submitted, category_id, priority, status, eta, resolved, title in rows.iterator(
        chunk_size=chunk_size
    ):
        chunk.append((str(pk), tracking, submitted, codes.get(category_id, ""), priority, status, eta, resolved, title))
        if len(chunk) >= chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def concern_count(*, period: Period) -> int:
    return concerns_in(period=period).count()


# --- triage queue ------------------------------------------------------------------------------


def triage_queue(*, limit: int = 50, now: datetime | None = None) -> list[Concern]:
    """Open concerns for the staff page: overdue first, then by priority (emergency first),
    then oldest first."""
    from django.db.models import Case, IntegerField, Value, When

    now = now or timezone.now()
    return list(
        Concern.objects.filter(status__in=OPEN_STATUSES)
        .select_related("category")
        .annotate(
            is_late=Case(
                When(estimated_resolution__lt=now, then=Value(0)), default=Value(1), output_field=IntegerField()
            ),
            rank=Case(
                *(When(priority=name, then=Value(index)) for index, name in enumerate(PRIORITY_ORDER)),
                default=Value(len(PRIORITY_ORDER)),
                output_field=IntegerField(),
            ),
        )
        .order_by("is_late", "rank", "submitted_at")[:limit]
    )


def open_concern_count() -> int:
    return Concern.objects.filter(status__in=OPEN_STATUSES).count()


# --- thresholds --------------------------------------------------------------------------------


def threshold_value(*, kind: str, window_hours: int, category_id: int | None, now: datetime) -> float:
    """The current value of a threshold rule's measure (see ``ThresholdRule.Kind``)."""
    since = now - timedelta(hours=window_hours)
    if kind == "negative_sentiment_share":
        row = Message.objects.filter(role="user", created_at__gte=since, created_at__lt=now).aggregate(
            total=Count("*"), negative=Count("sentiment", filter=Q(sentiment="negative"))
        )
        return round(row["negative"] * 100 / row["total"], 2) if row["total"] else 0.0
    if kind == "pending_concerns":
        return float(Concern.objects.filter(status__in=OPEN_STATUSES).count())
    if kind == "overdue_concerns":
        return float(Concern.objects.filter(status__in=OPEN_STATUSES, estimated_resolution__lt=now).count())
    if kind == "category_concerns_per_day":
        n = Concern.objects.filter(category_id=category_id, submitted_at__gte=since, submitted_at__lt=now).count()
        return round(n * 24 / window_hours, 2)
    raise ValueError(f"unknown threshold kind {kind!r}")


# --- structured query --------------------------------------------------------------------------


@dataclass(frozen=True)
class QuerySource:
    """What ``POST /analytics/query`` may touch for one metric: nothing else is reachable."""

    queryset: Any  # () -> QuerySet
    date_field: str
    group_by: dict[str, str]  # public name -> model lookup
    filters: dict[str, str]
    fields: dict[str, Any]  # numeric field name -> expression factory
    durations: frozenset[str] = frozenset()  # fields whose aggregate is a duration, reported in hours


QUERY_SOURCES: dict[str, QuerySource] = {
    "concerns": QuerySource(
        queryset=lambda: Concern.objects.order_by(),
        date_field="submitted_at",
        group_by={"category": "category__code", "priority": "priority", "status": "status", "source": "source"},
        filters={"category": "category__code", "priority": "priority", "status": "status", "source": "source"},
        fields={
            "resolution_hours": lambda: ExpressionWrapper(
                F("resolved_at") - F("submitted_at"), output_field=DurationField()
            ),
            "latitude": lambda: F("latitude"),
            "longitude": lambda: F("longitude"),
        },
        durations=frozenset({"resolution_hours"}),
    ),
    "conversations": QuerySource(
        queryset=lambda: Conversation.objects.order_by(),
        date_field="created_at",
        group_by={"status": "status"},
        filters={"status": "status"},
        fields={
            "duration_seconds": lambda: ExpressionWrapper(
                F("updated_at") - F("created_at"), output_field=DurationField()
            )
        },
        durations=frozenset({"duration_seconds"}),
    ),
    "messages": QuerySource(
        queryset=lambda: Message.objects.order_by(),
        date_field="created_at",
        group_by={"role": "role", "intent": "intent", "sentiment": "sentiment", "agent_id": "agent_id"},
        filters={"role": "role", "intent": "intent", "sentiment": "sentiment", "agent_id": "agent_id"},
        fields={
            "confidence": lambda: F("confidence"),
            "processing_time_ms": lambda: Cast(KT("metadata__processing_time_ms"), FloatField()),
        },
    ),
    "feedback": QuerySource(
        queryset=lambda: Feedback.objects.order_by(),
        date_field="created_at",
        group_by={"rating": "rating", "agent_id": "message__agent_id", "intent": "message__intent"},
        filters={"rating": "rating", "agent_id": "message__agent_id", "intent": "message__intent"},
        fields={"rating": lambda: F("rating")},
    ),
}
TIME_GROUPS = {"hour": "hourly", "day": "daily", "week": "weekly", "month": "monthly"}
AGGREGATES = {"count": Count, "avg": Avg, "sum": Sum, "min": Min, "max": Max}


def _query_value(value: Any, *, duration: bool, seconds: bool) -> Any:
    if value is None:
        return None
    if duration:
        total = value.total_seconds() if isinstance(value, timedelta) else float(value) / 1_000_000
        return round(total if seconds else total / 3600, 3)
    if isinstance(value, float):
        return round(value, 4)
    return value


def query_run(
    *,
    metric: str,
    aggregate: str,
    field_name: str | None,
    group_by: list[str],
    filters: Filters,
    period: Period,
    limit: int,
) -> dict[str, Any]:
    """A structured query over whitelisted names only (validated by the caller against
    ``QUERY_SOURCES``); grouped and aggregated in the database."""
    source = QUERY_SOURCES[metric]
    queryset = source.queryset().filter(in_period(field_name=source.date_field, period=period))
    queryset = queryset.filter(filters_q(filters=filters, fields=source.filters))
    annotations: dict[str, Any] = {}
    for name in group_by:
        if name in TIME_GROUPS:
            annotations[f"g_{name}"] = bucket_expression(field_name=source.date_field, granularity=TIME_GROUPS[name])
        else:
            annotations[f"g_{name}"] = F(source.group_by[name])
    if annotations:
        queryset = queryset.annotate(**annotations).values(*annotations)
    function = AGGREGATES[aggregate]
    duration = field_name in source.durations
    if field_name:
        expression = source.fields[field_name]()
        kwargs = {"output_field": DurationField()} if duration and aggregate != "count" else {}
        measure = function(expression, **kwargs)
    else:
        measure = Count("*")
    if annotations:
        rows_qs = queryset.annotate(value=measure).order_by(*annotations)[: limit + 1]
        raw_rows = list(rows_qs)
    else:
        raw_rows = [queryset.aggregate(value=measure)]
    truncated = len(raw_rows) > limit
    rows: list[dict[str, Any]] = []
    for raw in raw_rows[:limit]:
        row: dict[str, Any] = {}
        for name in group_by:
            value = raw[f"g_{name}"]
            if name in TIME_GROUPS:
                value = bucket_label(
                    key=bucket_key(value=value, granularity=TIME_GROUPS[name]), granularity=TIME_GROUPS[name]
                )
            row[name] = value
        seconds = field_name == "duration_seconds"
        row["value"] = _query_value(raw["value"], duration=duration and aggregate != "count", seconds=seconds)
        rows.append(row)
    return {
        "metric": metric,
        "aggregate": aggregate,
        "field": field_name,
        "group_by": group_by,
        "filters": filters,
        "start_date": period.start.isoformat(),
        "end_date": period.end.isoformat(),
        "rows": rows,
        "row_count": len(rows),
        "truncated": truncated,
    }
