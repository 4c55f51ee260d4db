"""Chat rollups: closed days read from ChatDailyRollup agree with the live figures."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.conf import settings
from django.test import override_settings

from apps.analytics import tasks
from apps.analytics.definitions import local_today, local_zone
from apps.analytics.models import ChatDailyRollup
from apps.analytics.services import rollups_refresh
from apps.analytics.tests.helpers import DASHBOARD, concern_make, conversation_make, exchange_make

pytestmark = pytest.mark.django_db


def local_noon(days_ago: int) -> datetime:
    return datetime.combine(local_today() - timedelta(days=days_ago), time(12), tzinfo=local_zone())


@pytest.fixture
def activity() -> None:
    for days_ago, sentiment, ms, rating in [
        (0, "positive", 500, 5),
        (1, "negative", 1500, 2),
        (1, "neutral", 2500, None),
        (3, "positive", 1000, 4),
        (10, "negative", 4000, 1),
        (40, "neutral", 800, 3),  # the previous period of 30d
    ]:
        exchange_make(at=local_noon(days_ago), sentiment=sentiment, processing_ms=ms, rating=rating)
    conversation_make(at=local_noon(2))
    concern_make(at=local_noon(2))


def dashboard(persona, query: str = "?date_range=30d") -> dict:
    response = persona.get(DASHBOARD + query)
    assert response.status_code == 200
    return response.json()["data"]


def test_rollups_agree_with_live_figures(staff_member, activity):
    for query in ("?date_range=30d", "?date_range=7d", "?date_range=1d", "?date_range=90d"):
        live = dashboard(staff_member, query)
        rollups_refresh()
        assert dashboard(staff_member, query) == live
        ChatDailyRollup.objects.all().delete()


def test_refresh_backfills_the_year_then_recomputes_the_last_two_days(activity):
    assert rollups_refresh() == 366
    row = ChatDailyRollup.objects.get(day=local_today() - timedelta(days=1))
    assert (row.user_messages, row.negative, row.neutral, row.responses) == (2, 1, 1, 2)
    assert row.response_seconds_sum == pytest.approx(4.0) and row.response_seconds_max == pytest.approx(2.5)
    assert (row.ratings, row.rating_sum, row.conversations) == (1, 2, 2)
    assert row.time_zone == settings.TIME_ZONE
    assert not ChatDailyRollup.objects.filter(day=local_today()).exists()  # today is always live
    assert rollups_refresh() == 2
    assert ChatDailyRollup.objects.count() == 366


def test_closed_days_come_from_the_rollup(staff_member, activity):
    rollups_refresh()
    before = dashboard(staff_member)["summary"]["total_conversations"]
    # a late write to a day the refresh no longer revisits is not read from the tables...
    conversation_make(at=local_noon(10))
    assert dashboard(staff_member)["summary"]["total_conversations"] == before
    # ...while today and the recent days are
    conversation_make(at=local_noon(0))
    conversation_make(at=local_noon(1))
    rollups_refresh()
    assert dashboard(staff_member)["summary"]["total_conversations"] == before + 2
    # a day without a row (or after a gap) is read live again
    ChatDailyRollup.objects.filter(day=local_today() - timedelta(days=10)).delete()
    assert dashboard(staff_member)["summary"]["total_conversations"] == before + 3


def test_rows_of_another_time_zone_are_not_used(staff_member, activity):
    rollups_refresh()
    ChatDailyRollup.objects.update(conversations=1000)
    assert dashboard(staff_member)["summary"]["total_conversations"] > 1000
    with override_settings(TIME_ZONE="America/New_York"):
        assert dashboard(staff_member)["summary"]["total_conversations"] < 1000
        rollups_refresh()
        assert ChatDailyRollup.objects.filter(time_zone="America/New_York").count() == 366


@override_settings(TIME_ZONE="America/New_York")
def test_rollup_days_are_local_days():
    late = datetime.combine(local_today() - timedelta(days=3), time(23, 30), tzinfo=local_zone())
    exchange_make(at=late, sentiment="negative")
    rollups_refresh()
    row = ChatDailyRollup.objects.get(day=local_today() - timedelta(days=3), time_zone="America/New_York")
    assert row.negative == 1
    assert late.astimezone(UTC).date() == row.day + timedelta(days=1)


def test_the_celery_task_and_schedule():
    assert tasks.refresh_rollups.delay().get() == 366
    assert settings.CELERY_BEAT_SCHEDULE["refresh-analytics-rollups"] == {
        "task": "apps.analytics.tasks.refresh_rollups",
        "schedule": 300.0,
    }
