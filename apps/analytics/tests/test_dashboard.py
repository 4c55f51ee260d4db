"""GET /api/v1/analytics/dashboard: figures from fixtures of known counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from apps.analytics.tests.helpers import DASHBOARD, concern_make, conversation_make, exchange_make

pytestmark = pytest.mark.django_db

RANGE = "?date_range=custom&start_date=2025-01-10&end_date=2025-01-16"


def at(day: int, hour: int = 12, month: int = 1) -> datetime:
    return datetime(2025, month, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def known() -> None:
    """Jan 10-16 2025 (UTC): 6 conversations, 3 exchanges, 2 ratings, 4 live concerns."""
    conversations = [conversation_make(at=at(10)), conversation_make(at=at(12)), conversation_make(at=at(12))]
    conversations += [conversation_make(at=at(16, hour)) for hour in (0, 12, 23)]
    for _ in range(5):  # the previous period (Jan 3-9)
        conversation_make(at=at(5))
    conversation_make(at=at(17))  # after the range
    exchange_make(at=at(10), sentiment="positive", processing_ms=1000, conversation=conversations[0], rating=5)
    exchange_make(at=at(12), sentiment="positive", processing_ms=2000, conversation=conversations[1], rating=4)
    exchange_make(at=at(16), sentiment="neutral", processing_ms=3000, conversation=conversations[3])
    exchange_make(at=at(5), sentiment="negative", processing_ms=9000, conversation=conversations[0], rating=1)
    future = timezone.now() + timedelta(days=30)
    concern_make(at=at(10), status="submitted", eta=at(11))  # overdue
    concern_make(at=at(11), status="in_progress", eta=future)
    concern_make(at=at(12), status="resolved")
    concern_make(at=at(16, 23), status="closed")
    concern_make(at=at(13), status="submitted", deleted=True)  # soft-deleted: never counts
    concern_make(at=at(9), status="submitted")  # before the range


def test_known_counts(staff_member, known):
    response = staff_member.get(DASHBOARD + RANGE)
    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert data["summary"] == {
        "total_conversations": 6,
        "avg_response_time": 2.0,
        "satisfaction_score": 4.5,
        "resolution_rate": 50.0,
    }
    assert data["conversations"] == {
        "total": 6,
        "daily_counts": [1, 0, 2, 0, 0, 0, 3],
        "dates": [f"2025-01-{day}" for day in range(10, 17)],
        "trend": "+20%",
    }
    assert data["sentiment"] == {"positive": 67, "neutral": 33, "negative": 0}
    assert data["concerns"] == {"total": 4, "resolved": 2, "pending": 2, "overdue": 1}
    assert data["period"] == {"start_date": "2025-01-10", "end_date": "2025-01-16", "days": 7}


def test_empty_range_is_zeros_and_nulls(staff_member, known):
    response = staff_member.get(DASHBOARD + "?date_range=custom&start_date=2024-06-01&end_date=2024-06-03")
    data = response.json()["data"]
    assert data["summary"] == {
        "total_conversations": 0,
        "avg_response_time": None,
        "satisfaction_score": None,
        "resolution_rate": None,
    }
    assert data["conversations"]["daily_counts"] == [0, 0, 0]
    assert data["conversations"]["trend"] == "n/a"
    assert data["sentiment"] == {"positive": 0, "neutral": 0, "negative": 0}
    assert data["concerns"] == {"total": 0, "resolved": 0, "pending": 0, "overdue": 0}


def test_metrics_subset(staff_member, known):
    data = staff_member.get(DASHBOARD + RANGE + "&metrics=sentiment,concerns").json()["data"]
    assert set(data) == {"sentiment", "concerns", "period"}
    data = staff_member.get(DASHBOARD + RANGE + "&metrics=summary").json()["data"]
    assert set(data) == {"summary", "period"}


def test_default_is_the_last_7_days(staff_member):
    now = timezone.now()
    conversation_make(at=now)
    conversation_make(at=now - timedelta(days=20))
    data = staff_member.get(DASHBOARD).json()["data"]
    assert len(data["conversations"]["daily_counts"]) == 7
    assert data["conversations"]["daily_counts"][-1] == 1
    assert data["summary"]["total_conversations"] == 1
    assert data["conversations"]["trend"] == "n/a"


@pytest.mark.parametrize(("preset", "days"), [("1d", 1), ("7d", 7), ("30d", 30), ("90d", 90)])
def test_presets(staff_member, preset, days):
    data = staff_member.get(DASHBOARD + f"?date_range={preset}").json()["data"]
    assert len(data["conversations"]["daily_counts"]) == days
    assert data["conversations"]["dates"][-1] == timezone.localdate().isoformat()


def test_sentiment_shares_sum_to_100(staff_member):
    for sentiment in ("positive", "neutral", "neutral", "negative", "negative", "negative"):
        exchange_make(at=at(10), sentiment=sentiment)
    shares = staff_member.get(DASHBOARD + RANGE).json()["data"]["sentiment"]
    assert shares == {"positive": 17, "neutral": 33, "negative": 50}
    assert sum(shares.values()) == 100


def test_trend_falls(staff_member):
    for _ in range(4):
        conversation_make(at=at(5))
    conversation_make(at=at(12))
    assert staff_member.get(DASHBOARD + RANGE).json()["data"]["conversations"]["trend"] == "-75%"


@override_settings(TIME_ZONE="America/New_York")
def test_days_are_counted_in_the_configured_time_zone(staff_member):
    # 23:30 in New York on Jan 15 is 04:30 UTC on Jan 16: it belongs to Jan 15.
    late = datetime(2025, 1, 16, 4, 30, tzinfo=UTC)
    early = datetime(2025, 1, 16, 5, 30, tzinfo=UTC)  # 00:30 on Jan 16 in New York
    conversation_make(at=late)
    conversation_make(at=early)
    concern_make(at=late)
    exchange_make(at=late, sentiment="negative")
    data = staff_member.get(DASHBOARD + "?date_range=custom&start_date=2025-01-15&end_date=2025-01-15").json()["data"]
    assert data["conversations"]["daily_counts"] == [1 + 1]  # the exchange's own conversation too
    assert data["concerns"]["total"] == 1
    assert data["sentiment"]["negative"] == 100
    nxt = staff_member.get(DASHBOARD + "?date_range=custom&start_date=2025-01-16&end_date=2025-01-16").json()["data"]
    assert nxt["conversations"]["daily_counts"] == [1]
    assert nxt["concerns"]["total"] == 0


def test_the_same_rows_fall_on_the_utc_day_in_utc(staff_member):
    conversation_make(at=datetime(2025, 1, 16, 4, 30, tzinfo=UTC))
    data = staff_member.get(DASHBOARD + "?start_date=2025-01-15&end_date=2025-01-16").json()["data"]
    assert data["conversations"]["daily_counts"] == [0, 1]


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("?date_range=2w", 400, "date_range"),
        ("?date_range=custom", 400, "start_date"),
        ("?date_range=custom&start_date=2025-01-10", 400, "end_date"),
        ("?start_date=2025-01-10&end_date=2025-01-01", 400, "end_date"),
        ("?start_date=2024-01-01&end_date=2025-01-02", 400, "end_date"),
        ("?date_range=7d&start_date=2025-01-01&end_date=2025-01-02", 400, "date_range"),
        ("?metrics=summary,bogus", 400, "metrics"),
        ("?start_date=yesterday&end_date=2025-01-02", 400, "start_date"),
        ("?start_date=2025-02-30&end_date=2025-03-02", 400, "start_date"),
        ("?start_date=2025-01-01&end_date=2025-1-2", 400, "end_date"),
    ],
)
def test_bad_input_names_the_field(staff_member, query, status, field):
    response = staff_member.get(DASHBOARD + query)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]


def test_range_of_366_days_is_allowed(staff_member):
    assert staff_member.get(DASHBOARD + "?start_date=2024-01-01&end_date=2024-12-31").status_code == 200


# --- who may call it ------------------------------------------------------------------------


def test_permissions(citizen, stranger, staff_member, administrator):
    assert stranger.get(DASHBOARD).status_code == 401
    assert stranger.get(DASHBOARD).json()["error"]["code"] == "AUTHENTICATION_REQUIRED"
    assert citizen.get(DASHBOARD).status_code == 403
    assert citizen.get(DASHBOARD).json()["error"]["code"] == "PERMISSION_DENIED"
    assert staff_member.get(DASHBOARD).status_code == 200
    assert administrator.get(DASHBOARD).status_code == 200


def test_queries_are_few_and_grouped(staff_member, known, django_assert_max_num_queries):
    # Authentication and rate limiting take a few; the figures themselves five aggregates.
    with django_assert_max_num_queries(12):
        assert staff_member.get(DASHBOARD + RANGE).status_code == 200


def test_dates_are_today_in_local_time(staff_member):
    data = staff_member.get(DASHBOARD + "?date_range=1d").json()["data"]
    assert data["period"]["start_date"] == data["period"]["end_date"] == timezone.localdate().isoformat()
    assert date.fromisoformat(data["conversations"]["dates"][0])


EDGE_RANGES = [("0001-01-01", "0001-01-05"), ("9999-12-29", "9999-12-31"), ("1899-12-30", "1900-01-02")]


@pytest.mark.parametrize(("start", "end"), EDGE_RANGES)
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/analytics/dashboard?date_range=custom&",
        "/api/v1/analytics/metrics/concerns?",
        "/api/v1/analytics/metrics/conversations?granularity=weekly&",
        *(f"/api/v1/analytics/export?format={fmt}&" for fmt in ("csv", "json", "xlsx", "pdf")),
    ],
)
def test_dates_at_the_ends_of_the_calendar_are_a_400_not_a_500(staff_member, path, start, end):
    """The day after 9999-12-31 does not exist: a 500 here, and a CSV export that never
    answered (the error came once the stream had started)."""
    response = staff_member.get(f"{path}start_date={start}&end_date={end}")
    assert response.status_code == 400, (path, response.status_code)
    assert "start_date" in response.json()["error"]["details"] or "end_date" in response.json()["error"]["details"]


@pytest.mark.parametrize(("start", "end"), EDGE_RANGES)
def test_a_query_over_dates_at_the_ends_of_the_calendar_is_422(staff_member, start, end):
    body = {"metric": "concerns", "group_by": ["day"], "start_date": start, "end_date": end}
    response = staff_member.post("/api/v1/analytics/query", body)
    assert response.status_code == 422, response.content
    assert {"start_date", "end_date"} & set(response.json()["error"]["details"])
