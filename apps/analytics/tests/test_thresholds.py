"""Threshold rules: a crossing fires analytics.threshold once, and the rule re-arms."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.analytics import tasks
from apps.analytics.models import ThresholdKind, ThresholdRule
from apps.analytics.services import thresholds_check
from apps.analytics.tests.helpers import concern_make, exchange_make
from apps.concerns.models import Category

pytestmark = pytest.mark.django_db


def fired(events: list) -> list[dict]:
    return [data for name, data in events if name == "analytics.threshold"]


def test_crossing_fires_once_and_rearms(
    captured_events, staff_member, administrator, citizen, django_capture_on_commit_callbacks
):
    rule = ThresholdRule.objects.create(name="Backlog", kind=ThresholdKind.PENDING_CONCERNS, threshold=2)
    now = timezone.now()
    first = concern_make(at=now)
    assert thresholds_check() == []
    rule.refresh_from_db()
    assert rule.currently_exceeded is False and rule.last_value == 1.0 and rule.last_checked_at is not None

    second = concern_make(at=now)
    with django_capture_on_commit_callbacks(execute=True):
        assert [r.pk for r in thresholds_check()] == [rule.pk]
    events = fired(captured_events)
    assert len(events) == 1
    assert events[0] | {"exceeded_at": None} == {
        "rule_id": rule.pk,
        "name": "Backlog",
        "kind": "pending_concerns",
        "category": None,
        "window_hours": 24,
        "threshold": 2.0,
        "value": 2.0,
        "exceeded_at": None,
    }
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == ["admin@example.org", "staff@example.org"]  # not the citizen
    assert "Backlog" in mail.outbox[0].subject

    # still above: nothing more, however often it is checked
    concern_make(at=now)
    with django_capture_on_commit_callbacks(execute=True):
        assert thresholds_check() == []
        assert thresholds_check() == []
    assert len(fired(captured_events)) == 1 and len(mail.outbox) == 1
    rule.refresh_from_db()
    assert rule.currently_exceeded is True and rule.last_value == 3.0

    # below again: re-armed, then a new crossing fires again
    Concern = type(first)
    Concern.all_objects.filter(pk__in=[first.pk, second.pk]).update(status="resolved")
    assert thresholds_check() == []
    rule.refresh_from_db()
    assert rule.currently_exceeded is False
    concern_make(at=now)
    assert len(thresholds_check()) == 1
    assert len(fired(captured_events)) == 2


def test_the_event_reaches_the_webhook_outbox(captured_events):
    from apps.webhooks.models import Event

    ThresholdRule.objects.create(name="Any", kind=ThresholdKind.PENDING_CONCERNS, threshold=0)
    thresholds_check()
    assert Event.objects.filter(type="analytics.threshold").count() == 1


def test_negative_sentiment_share(captured_events):
    rule = ThresholdRule.objects.create(
        name="Unhappy", kind=ThresholdKind.NEGATIVE_SENTIMENT_SHARE, threshold=50, window_hours=6
    )
    now = timezone.now()
    exchange_make(at=now - timedelta(hours=1), sentiment="negative")
    exchange_make(at=now - timedelta(hours=1), sentiment="positive")
    exchange_make(at=now - timedelta(hours=1), sentiment="positive")
    exchange_make(at=now - timedelta(hours=10), sentiment="negative")  # outside the window
    assert thresholds_check() == []
    rule.refresh_from_db()
    assert rule.last_value == pytest.approx(33.33)
    exchange_make(at=now - timedelta(minutes=5), sentiment="negative")
    assert len(thresholds_check()) == 1
    assert fired(captured_events)[0]["value"] == 50.0


def test_overdue_and_category_rules(captured_events):
    now = timezone.now()
    roads = Category.objects.get(code="roads")
    overdue = ThresholdRule.objects.create(name="Late", kind=ThresholdKind.OVERDUE_CONCERNS, threshold=1)
    per_day = ThresholdRule.objects.create(
        name="Potholes", kind=ThresholdKind.CATEGORY_CONCERNS_PER_DAY, category=roads, threshold=4, window_hours=12
    )
    concern_make(at=now - timedelta(hours=1), category="roads", eta=now + timedelta(days=1))
    concern_make(at=now - timedelta(hours=2), category="roads", eta=now - timedelta(minutes=1))
    concern_make(at=now - timedelta(hours=2), category="water", eta=now + timedelta(days=1))
    names = sorted(rule.name for rule in thresholds_check())
    assert names == ["Late", "Potholes"]  # 2 roads concerns in 12 h = 4 per day
    per_day.refresh_from_db()
    overdue.refresh_from_db()
    assert per_day.last_value == 4.0 and overdue.last_value == 1.0
    assert {data["category"] for data in fired(captured_events)} == {None, "roads"}


def test_inactive_rules_are_not_checked(captured_events):
    ThresholdRule.objects.create(name="Off", kind=ThresholdKind.PENDING_CONCERNS, threshold=0, active=False)
    assert thresholds_check() == []
    assert fired(captured_events) == []


def test_the_celery_task_runs_the_check(captured_events):
    ThresholdRule.objects.create(name="Any", kind=ThresholdKind.PENDING_CONCERNS, threshold=0)
    assert tasks.check_thresholds.delay().get() == 1
    from django.conf import settings

    schedule = settings.CELERY_BEAT_SCHEDULE["check-analytics-thresholds"]
    assert schedule == {"task": "apps.analytics.tasks.check_thresholds", "schedule": 300.0}


def test_rule_validation():
    with pytest.raises(ValidationError) as exc:
        ThresholdRule(name="x", kind=ThresholdKind.CATEGORY_CONCERNS_PER_DAY, threshold=1).full_clean()
    assert "category" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        ThresholdRule(name="x", kind=ThresholdKind.NEGATIVE_SENTIMENT_SHARE, threshold=150).full_clean()
    assert "threshold" in exc.value.message_dict


def test_admin(client, staff_member, administrator):
    rule = ThresholdRule.objects.create(name="Backlog", kind=ThresholdKind.PENDING_CONCERNS, threshold=5)
    client.force_login(staff_member.user)
    assert client.get("/admin/analytics/thresholdrule/").status_code == 200
    assert client.get("/admin/analytics/thresholdrule/add/").status_code == 403
    client.force_login(administrator.user)
    assert client.get("/admin/analytics/thresholdrule/add/").status_code == 200
    response = client.post(
        "/admin/analytics/thresholdrule/add/",
        {"name": "Late", "kind": "overdue_concerns", "threshold": "3", "window_hours": "24", "active": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ThresholdRule.objects.filter(name="Late").exists()
    response = client.post(
        "/admin/analytics/thresholdrule/",
        {"action": "check_now", "_selected_action": [rule.pk]},
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.last_checked_at is not None
