"""What every analytics number means. The API, the staff pages, the exports and the
threshold rules all compute from these definitions (through ``apps.analytics.selectors``).

Days and time zone
    Every day, hour, week and month is counted in ``settings.TIME_ZONE``: a concern submitted
    at 23:30 in New York (04:30 UTC the next day) belongs to the New York day it was
    submitted on. ``start_date`` and ``end_date`` are inclusive local dates; the range covers
    ``[start_date 00:00, end_date + 1 day 00:00)`` local time. Queries bucket rows with
    ``TruncDate``/``TruncHour``/``TruncWeek``/``TruncMonth`` given
    ``tzinfo=ZoneInfo(settings.TIME_ZONE)``, so the grouping happens in the database.

Date ranges (``date_range``)
    ``1d``, ``7d``, ``30d``, ``90d``: the N calendar days ending today (local), today
    included, so ``7d`` is today and the six days before it. ``custom`` takes ``start_date``
    and ``end_date`` (``YYYY-MM-DD``). No range may be longer than ``MAX_RANGE_DAYS`` days.

total_conversations
    Conversations (chat sessions) created in the range.

avg_response_time
    Mean of ``metadata.processing_time_ms / 1000`` over the assistant's messages created in
    the range, in seconds (two decimals); ``null`` when there are none.

satisfaction_score
    Mean chat feedback rating (1–5) of the feedback given in the range, two decimals;
    ``null`` when nobody rated an answer.

resolution_rate
    Share, in percent (one decimal), of the concerns submitted in the range that are now
    ``resolved`` or ``closed``; ``null`` when no concern was submitted in the range.

sentiment shares
    Percentages of the citizens' (``role=user``) messages in the range by sentiment
    ``positive|neutral|negative``. They are whole numbers that sum to exactly 100
    (largest-remainder rounding; ties go to positive, then neutral, then negative). All three
    are 0 when there are no messages.

concerns block
    ``total``: concerns submitted in the range (soft-deleted ones never count); ``resolved``:
    of those, now resolved or closed; ``pending``: of those, still submitted or in progress;
    ``overdue``: of the pending ones, those whose ``estimated_resolution`` has passed.

trend
    Change of a period's total against the previous period of equal length (the same number
    of days immediately before ``start_date``), as a signed whole percentage: ``"+15%"``,
    ``"-3%"``, ``"+0%"``. ``"n/a"`` when the previous period's total is 0. For the
    ``performance`` metric it compares the mean response time.

Freshness
    Concern figures are always live. The dashboard's chat figures for closed days come from
    daily rollups recomputed every five minutes for the last two closed days (and any day
    missing); a change to an older day (e.g. a deleted account's conversations) shows once
    that day's rollup row is recomputed or removed. Today is always live.

Metric series (``/analytics/metrics/{metric_type}``)
    One data point per bucket of the granularity from ``start_date`` to ``end_date``, zeros
    included. Bucket dates: ``YYYY-MM-DD`` (daily), the Monday starting the ISO week
    (weekly), the first of the month (monthly) and the local hour with its UTC offset
    (hourly). A weekly or monthly bucket only counts the days inside the range.

    * ``conversations``: value = conversations created; metadata ``avg_duration`` (seconds
      from creation to last activity), ``unique_users`` (distinct signed-in owners),
      ``escalated`` (of them, handed to a person).
    * ``sentiment``: value = citizen messages; metadata ``positive``, ``neutral``,
      ``negative`` counts.
    * ``concerns``: value = concerns submitted; metadata ``resolved``, ``pending``,
      ``overdue`` (as in the concerns block).
    * ``performance``: value = mean response time of the assistant in seconds (0 when it did
      not answer in the bucket); metadata ``responses`` (answers given) and
      ``max_response_time`` (seconds).

    Aggregates: ``total`` = sum of the values (for ``performance``: number of answers);
    ``average`` = total / number of buckets (for ``performance``: mean response time over all
    answers); ``peak`` = largest bucket value; ``trend`` as above.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

MAX_RANGE_DAYS = 366
# Hourly series over a long range would be thousands of points; longer ranges use daily.
MAX_HOURLY_DAYS = 92

DATE_RANGES: dict[str, int] = {"1d": 1, "7d": 7, "30d": 30, "90d": 90}
CUSTOM = "custom"
DASHBOARD_METRICS = ("summary", "conversations", "sentiment", "concerns")
METRIC_TYPES = ("conversations", "sentiment", "concerns", "performance")
GRANULARITIES = ("hourly", "daily", "weekly", "monthly")
EXPORT_FORMATS = ("csv", "json", "xlsx", "pdf")
SENTIMENTS = ("positive", "neutral", "negative")
RESOLVED_STATUSES = ("resolved", "closed")
OPEN_STATUSES = ("submitted", "in_progress")
PRIORITY_ORDER = ("emergency", "high", "medium", "low")


def local_zone() -> tzinfo:
    """The configured time zone, in which days are counted."""
    return ZoneInfo(settings.TIME_ZONE)


def local_today() -> date:
    return timezone.now().astimezone(local_zone()).date()


@dataclass(frozen=True)
class Period:
    """Whole local days ``start``..``end``, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=local_zone())

    @property
    def end_at(self) -> datetime:
        """The first instant after the period (exclusive bound)."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=local_zone())

    def previous(self) -> Period:
        """The period of equal length immediately before this one."""
        return Period(start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=offset) for offset in range(self.days)]


def period_for_range(*, date_range: str, today: date | None = None) -> Period:
    """The period of a preset ``date_range`` (``1d``, ``7d``, ``30d``, ``90d``)."""
    today = today or local_today()
    return Period(start=today - timedelta(days=DATE_RANGES[date_range] - 1), end=today)


def trend_format(*, current: float, previous: float) -> str:
    """``"+15%"`` for a 15 % rise over ``previous``; ``"n/a"`` when ``previous`` is 0."""
    if not previous:
        return "n/a"
    change = round((current - previous) * 100 / previous)
    return f"{change:+d}%"


def shares_percent(*, counts: dict[str, int], keys: tuple[str, ...] = SENTIMENTS) -> dict[str, int]:
    """Whole percentages of ``counts`` that sum to exactly 100 (largest remainder); all 0
    when the counts are all 0. Ties go to the key listed first."""
    total = sum(counts.get(key, 0) for key in keys)
    if not total:
        return dict.fromkeys(keys, 0)
    exact = {key: counts.get(key, 0) * 100 / total for key in keys}
    shares = {key: int(value) for key, value in exact.items()}
    missing = 100 - sum(shares.values())
    by_remainder = sorted(keys, key=lambda key: (-(exact[key] - shares[key]), keys.index(key)))
    for key in by_remainder[:missing]:
        shares[key] += 1
    return shares
