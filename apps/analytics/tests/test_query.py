"""POST /api/v1/analytics/query: structured queries over whitelisted names only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.analytics.tests.helpers import QUERY, concern_make, conversation_make, exchange_make
from apps.concerns.models import Concern

pytestmark = pytest.mark.django_db

RANGE = {"start_date": "2025-01-01", "end_date": "2025-01-31"}


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2025, 1, day, hour, tzinfo=UTC)


@pytest.fixture
def rows() -> None:
    concern_make(at=at(2), category="roads", priority="high", status="resolved", resolved_at=at(2) + timedelta(hours=6))
    concern_make(at=at(2), category="roads", priority="low", status="resolved", resolved_at=at(2) + timedelta(hours=2))
    concern_make(at=at(3), category="water", priority="high")
    concern_make(at=at(10), category="noise", priority="high", status="closed", resolved_at=at(11))
    concern_make(at=datetime(2025, 2, 1, tzinfo=UTC), category="noise")  # outside
    exchange_make(at=at(2), sentiment="negative", intent="complaint", agent_id="guide", processing_ms=500, rating=2)
    exchange_make(at=at(2), sentiment="positive", intent="greeting", agent_id="guide", processing_ms=1500, rating=5)
    exchange_make(at=at(5), sentiment="positive", intent="greeting", agent_id="tracker", processing_ms=700, rating=4)
    conversation_make(at=at(6), status="escalated", minutes=30)


def run(persona, body: dict) -> dict:
    response = persona.post(QUERY, {**RANGE, **body})
    assert response.status_code == 200, response.json()
    return response.json()["data"]


def test_count_grouped_by_category(staff_member, rows):
    data = run(staff_member, {"metric": "concerns", "group_by": ["category"]})
    assert data["rows"] == [
        {"category": "noise", "value": 1},
        {"category": "roads", "value": 2},
        {"category": "water", "value": 1},
    ]
    assert data["truncated"] is False


def test_count_without_groups(staff_member, rows):
    assert run(staff_member, {"metric": "concerns"})["rows"] == [{"value": 4}]


def test_two_groups_and_filters(staff_member, rows):
    data = run(staff_member, {"metric": "concerns", "group_by": ["day", "priority"], "filters": {"priority": "high"}})
    assert data["rows"] == [
        {"day": "2025-01-02", "priority": "high", "value": 1},
        {"day": "2025-01-03", "priority": "high", "value": 1},
        {"day": "2025-01-10", "priority": "high", "value": 1},
    ]
    listed = run(
        staff_member, {"metric": "concerns", "filters": {"category": ["roads", "water"], "status": "resolved"}}
    )
    assert listed["rows"] == [{"value": 2}]


def test_average_resolution_hours(staff_member, rows):
    data = run(
        staff_member, {"metric": "concerns", "aggregate": "avg", "field": "resolution_hours", "group_by": ["category"]}
    )
    assert data["rows"] == [
        {"category": "noise", "value": 24.0},
        {"category": "roads", "value": 4.0},
        {"category": "water", "value": None},
    ]
    assert run(staff_member, {"metric": "concerns", "aggregate": "max", "field": "resolution_hours"})["rows"] == [
        {"value": 24.0}
    ]


def test_messages_feedback_and_conversations(staff_member, rows):
    by_sentiment = run(staff_member, {"metric": "messages", "group_by": ["sentiment"], "filters": {"role": "user"}})
    assert by_sentiment["rows"] == [{"sentiment": "negative", "value": 1}, {"sentiment": "positive", "value": 2}]
    timing = run(
        staff_member,
        {
            "metric": "messages",
            "aggregate": "avg",
            "field": "processing_time_ms",
            "group_by": ["agent_id"],
            "filters": {"role": "assistant"},
        },
    )
    assert timing["rows"] == [{"agent_id": "guide", "value": 1000.0}, {"agent_id": "tracker", "value": 700.0}]
    by_intent = run(staff_member, {"metric": "messages", "group_by": ["intent"], "filters": {"role": "user"}})
    assert {row["intent"]: row["value"] for row in by_intent["rows"]} == {"complaint": 1, "greeting": 2}
    ratings = run(staff_member, {"metric": "feedback", "aggregate": "avg", "field": "rating", "group_by": ["agent_id"]})
    assert ratings["rows"] == [{"agent_id": "guide", "value": 3.5}, {"agent_id": "tracker", "value": 4.0}]
    total = run(
        staff_member, {"metric": "feedback", "aggregate": "sum", "field": "rating", "filters": {"rating": [4, 5]}}
    )
    assert total["rows"] == [{"value": 9}]
    escalated = run(staff_member, {"metric": "conversations", "group_by": ["status"]})
    assert {"status": "escalated", "value": 1} in escalated["rows"]
    duration = run(
        staff_member,
        {
            "metric": "conversations",
            "aggregate": "max",
            "field": "duration_seconds",
            "filters": {"status": "escalated"},
        },
    )
    assert duration["rows"] == [{"value": 1800.0}]


def test_time_groups(staff_member, rows):
    weeks = run(staff_member, {"metric": "concerns", "group_by": ["week"]})
    assert weeks["rows"] == [{"week": "2024-12-30", "value": 3}, {"week": "2025-01-06", "value": 1}]
    months = run(staff_member, {"metric": "messages", "group_by": ["month"]})
    assert months["rows"] == [{"month": "2025-01-01", "value": 6}]


def test_limit_truncates(staff_member, rows):
    data = run(staff_member, {"metric": "concerns", "group_by": ["category"], "limit": 2})
    assert data["row_count"] == 2 and data["truncated"] is True


def test_wrapped_body_works(staff_member, rows):
    response = staff_member.post(QUERY, {"data": {"metric": "concerns", **RANGE}, "metadata": {}})
    assert response.json()["data"]["rows"] == [{"value": 4}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metric": "users"}, "metric"),
        ({}, "metric"),
        ({"metric": "concerns", "aggregate": "median"}, "aggregate"),
        ({"metric": "concerns", "aggregate": "avg"}, "field"),
        ({"metric": "concerns", "aggregate": "avg", "field": "contact_email"}, "field"),
        ({"metric": "concerns", "aggregate": "sum", "field": "id); DROP TABLE concerns_concern; --"}, "field"),
        ({"metric": "concerns", "group_by": ["description"]}, "group_by.0"),
        ({"metric": "concerns", "group_by": ["category", "1=1; --"]}, "group_by.1"),
        ({"metric": "concerns", "group_by": ["category", "category"]}, "group_by"),
        ({"metric": "concerns", "group_by": "category"}, "group_by"),
        ({"metric": "concerns", "filters": {"contact_email": "a@b.c"}}, "filters.contact_email"),
        ({"metric": "concerns", "filters": {"status": "open' OR '1'='1"}}, "filters.status"),
        (
            {"metric": "concerns", "filters": {"category": "roads'; DELETE FROM concerns_concern;--"}},
            "filters.category",
        ),
        ({"metric": "concerns", "filters": {"priority": []}}, "filters.priority"),
        ({"metric": "concerns", "filters": "status=open"}, "filters"),
        ({"metric": "feedback", "filters": {"rating": 9}}, "filters.rating"),
        ({"metric": "messages", "filters": {"priority": "high"}}, "filters.priority"),
        ({"metric": "concerns", "sql": "SELECT 1"}, "sql"),
        ({"metric": "concerns", "start_date": "2025-02-01", "end_date": "2025-01-01"}, "end_date"),
        ({"metric": "concerns", "start_date": "2023-01-01", "end_date": "2025-01-01"}, "end_date"),
        ({"metric": "concerns", "start_date": "Jan 1"}, "start_date"),
        ({"metric": "concerns", "limit": 0}, "limit"),
        ({"metric": "concerns", "limit": 100000}, "limit"),
    ],
)
def test_everything_outside_the_whitelist_is_422(staff_member, rows, body, field):
    response = staff_member.post(QUERY, {**RANGE, **body} if "start_date" not in body else body)
    assert response.status_code == 422, response.json()
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"], error
    assert Concern.objects.count() == 5  # nothing was executed


def test_malformed_json_is_400(staff_member):
    response = staff_member.client.post(QUERY, data="{nope", content_type="application/json")
    assert response.status_code == 400


def test_permissions(citizen, stranger, staff_member):
    assert stranger.post(QUERY, {"metric": "concerns"}).status_code == 401
    assert citizen.post(QUERY, {"metric": "concerns"}).status_code == 403
    assert staff_member.post(QUERY, {"metric": "concerns"}).status_code == 200
