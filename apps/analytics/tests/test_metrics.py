"""GET /api/v1/analytics/metrics/{metric_type}: every metric at every granularity."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from django.test import override_settings
from django.utils import timezone

from apps.analytics.tests.helpers import METRICS, concern_make, conversation_make, exchange_make

pytestmark = pytest.mark.django_db

# Wednesday 1 January to Monday 31 March 2025.
BUCKETS = {
    ("2025-01-01", "2025-01-03", "hourly"): 72,
    ("2025-01-01", "2025-01-31", "daily"): 31,
    ("2025-01-01", "2025-01-31", "weekly"): 5,  # Mondays Dec 30, Jan 6, 13, 20, 27
    ("2025-01-01", "2025-03-31", "monthly"): 3,
}


def at(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def rows() -> None:
    """Jan 2 10:15 and 10:45, Jan 2 14:00, Jan 20 12:00, Mar 3 12:00 — of each kind."""
    future = timezone.now() + timedelta(days=30)
    moments = [at(1, 2, 10, 15), at(1, 2, 10, 45), at(1, 2, 14), at(1, 20), at(3, 3)]
    statuses = ["submitted", "resolved", "in_progress", "closed", "submitted"]
    for index, moment in enumerate(moments):
        concern_make(
            at=moment,
            status=statuses[index],
            priority="high" if index < 2 else "low",
            eta=at(1, 3) if index == 0 else future,
        )
        conversation = conversation_make(at=moment, status="escalated" if index == 0 else "active", minutes=10)
        exchange_make(
            at=moment,
            conversation=conversation,
            sentiment=["positive", "negative"][index % 2],
            processing_ms=1000 * (index + 1),
            agent_id="guide" if index < 3 else "intake",
        )


def series(persona, metric: str, start: str, end: str, granularity: str, filters: dict | None = None) -> dict:
    query = f"?start_date={start}&end_date={end}&granularity={granularity}"
    if filters is not None:
        query += "&filters=" + quote(json.dumps(filters))
    response = persona.get(METRICS + metric + query)
    assert response.status_code == 200, response.json()
    return response.json()["data"]


@pytest.mark.parametrize("metric", ["conversations", "sentiment", "concerns", "performance"])
@pytest.mark.parametrize(("start", "end", "granularity"), list(BUCKETS))
def test_every_metric_and_granularity_has_one_point_per_bucket(staff_member, rows, metric, start, end, granularity):
    data = series(staff_member, metric, start, end, granularity)
    points = data["data_points"]
    assert len(points) == BUCKETS[(start, end, granularity)]
    assert data["metric_type"] == metric and data["granularity"] == granularity
    assert set(data["aggregates"]) == {"total", "average", "peak", "trend"}
    assert all(set(point) == {"date", "value", "metadata"} for point in points)
    if metric != "performance":
        assert sum(point["value"] for point in points) == data["aggregates"]["total"]


def test_daily_counts_with_zeros(staff_member, rows):
    data = series(staff_member, "concerns", "2025-01-01", "2025-01-05", "daily")
    assert [(p["date"], p["value"]) for p in data["data_points"]] == [
        ("2025-01-01", 0),
        ("2025-01-02", 3),
        ("2025-01-03", 0),
        ("2025-01-04", 0),
        ("2025-01-05", 0),
    ]
    assert data["data_points"][1]["metadata"] == {"resolved": 1, "pending": 2, "overdue": 1}
    assert data["aggregates"] == {"total": 3, "average": 0.6, "peak": 3, "trend": "n/a"}


def test_hourly_buckets(staff_member, rows):
    points = series(staff_member, "conversations", "2025-01-02", "2025-01-02", "hourly")["data_points"]
    assert len(points) == 24
    assert points[10] == {
        "date": "2025-01-02T10:00:00+00:00",
        "value": 2,
        "metadata": {"avg_duration": 600.0, "unique_users": 0, "escalated": 1},
    }
    assert points[14]["value"] == 1
    assert sum(p["value"] for p in points) == 3


def test_weekly_and_monthly_buckets(staff_member, rows):
    weekly = series(staff_member, "sentiment", "2025-01-01", "2025-01-31", "weekly")["data_points"]
    assert [p["date"] for p in weekly] == ["2024-12-30", "2025-01-06", "2025-01-13", "2025-01-20", "2025-01-27"]
    assert [p["value"] for p in weekly] == [3, 0, 0, 1, 0]
    assert weekly[0]["metadata"] == {"positive": 2, "neutral": 0, "negative": 1}
    monthly = series(staff_member, "concerns", "2025-01-01", "2025-03-31", "monthly")
    assert [(p["date"], p["value"]) for p in monthly["data_points"]] == [
        ("2025-01-01", 4),
        ("2025-02-01", 0),
        ("2025-03-01", 1),
    ]
    assert monthly["aggregates"]["peak"] == 4


def test_performance_is_mean_response_time(staff_member, rows):
    data = series(staff_member, "performance", "2025-01-01", "2025-01-03", "daily")
    assert data["data_points"][1]["value"] == 2.0  # 1, 2 and 3 seconds
    assert data["data_points"][1]["metadata"] == {"responses": 3, "max_response_time": 3.0}
    assert data["data_points"][0]["value"] == 0
    assert data["aggregates"]["total"] == 3
    assert data["aggregates"]["average"] == 2.0


def test_filters(staff_member, rows):
    high = series(staff_member, "concerns", "2025-01-01", "2025-03-31", "monthly", {"priority": "high"})
    assert high["aggregates"]["total"] == 2
    several = series(
        staff_member, "concerns", "2025-01-01", "2025-03-31", "monthly", {"status": ["submitted", "closed"]}
    )
    assert several["aggregates"]["total"] == 3
    category = series(staff_member, "concerns", "2025-01-01", "2025-03-31", "monthly", {"category": "roads"})
    assert category["aggregates"]["total"] == 5
    other = series(staff_member, "concerns", "2025-01-01", "2025-03-31", "monthly", {"category": "noise"})
    assert other["aggregates"]["total"] == 0
    negative = series(staff_member, "sentiment", "2025-01-01", "2025-03-31", "monthly", {"sentiment": "negative"})
    assert negative["aggregates"]["total"] == 2
    escalated = series(staff_member, "conversations", "2025-01-01", "2025-03-31", "monthly", {"status": "escalated"})
    assert escalated["aggregates"]["total"] == 1
    intake = series(staff_member, "performance", "2025-01-01", "2025-03-31", "monthly", {"agent_id": "intake"})
    assert intake["aggregates"]["total"] == 2


def test_trend_against_the_previous_period(staff_member):
    concern_make(at=at(1, 5))
    for _ in range(3):
        concern_make(at=at(1, 12))
    data = series(staff_member, "concerns", "2025-01-08", "2025-01-14", "daily")
    assert data["aggregates"]["trend"] == "+200%"


@override_settings(TIME_ZONE="America/New_York")
def test_buckets_follow_the_configured_time_zone(staff_member):
    concern_make(at=datetime(2025, 1, 16, 4, 30, tzinfo=UTC))  # 23:30 on Jan 15 in New York
    daily = series(staff_member, "concerns", "2025-01-15", "2025-01-16", "daily")["data_points"]
    assert [p["value"] for p in daily] == [1, 0]
    hourly = series(staff_member, "concerns", "2025-01-15", "2025-01-15", "hourly")["data_points"]
    assert hourly[23] == {
        "date": "2025-01-15T23:00:00-05:00",
        "value": 1,
        "metadata": {"resolved": 0, "pending": 1, "overdue": 1},
    }
    monthly = series(staff_member, "concerns", "2025-01-01", "2025-02-28", "monthly")["data_points"]
    assert [p["value"] for p in monthly] == [1, 0]


def test_empty_range(staff_member):
    data = series(staff_member, "conversations", "2025-05-01", "2025-05-07", "daily")
    assert [p["value"] for p in data["data_points"]] == [0] * 7
    assert data["aggregates"] == {"total": 0, "average": 0.0, "peak": 0, "trend": "n/a"}


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("bogus?start_date=2025-01-01&end_date=2025-01-02", 400, "metric_type"),
        ("concerns?start_date=2025-01-01&end_date=2025-01-02&granularity=yearly", 400, "granularity"),
        ("concerns?end_date=2025-01-02", 400, "start_date"),
        ("concerns?start_date=2025-01-01", 400, "end_date"),
        ("concerns?start_date=2025-01-05&end_date=2025-01-01", 400, "end_date"),
        ("concerns?start_date=2024-01-01&end_date=2025-06-01", 400, "end_date"),
        ("concerns?start_date=2025-01-01&end_date=2025-06-01&granularity=hourly", 400, "granularity"),
        ("concerns?start_date=2025-01-01&end_date=2025-01-02&filters=%7Bnot%20json", 400, "filters"),
        ("concerns?start_date=2025-01-01&end_date=2025-01-02&filters=%5B1%5D", 400, "filters"),
        ("concerns?start_date=2025-01-01&end_date=2025-01-02&filters=" + "%5B" * 5000 + "%5D" * 5000, 400, "filters"),
        (
            "concerns?start_date=2025-01-01&end_date=2025-01-02&filters=%7B%22colour%22%3A%22red%22%7D",
            400,
            "filters.colour",
        ),
        (
            "concerns?start_date=2025-01-01&end_date=2025-01-02&filters=%7B%22priority%22%3A%22urgent%22%7D",
            400,
            "filters.priority",
        ),
        (
            "concerns?start_date=2025-01-01&end_date=2025-01-02&filters=%7B%22category%22%3A%22x%27%20OR%201%3D1%22%7D",
            400,
            "filters.category",
        ),
        (
            "sentiment?start_date=2025-01-01&end_date=2025-01-02&filters=%7B%22priority%22%3A%22high%22%7D",
            400,
            "filters.priority",
        ),
        ("concerns?start_date=01/01/2025&end_date=2025-01-02", 400, "start_date"),
    ],
)
def test_bad_input_names_the_field(staff_member, path, status, field):
    response = staff_member.get(METRICS + path)
    assert response.status_code == status, response.json()
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"], error


def test_permissions(citizen, stranger, staff_member):
    path = METRICS + "concerns?start_date=2025-01-01&end_date=2025-01-02"
    assert stranger.get(path).status_code == 401
    assert citizen.get(path).status_code == 403
    assert staff_member.get(path).status_code == 200
