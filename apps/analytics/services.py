"""Writes of analytics: evaluating the threshold rules and refreshing the chat rollups.

``thresholds_check`` runs every five minutes (Celery beat, ``check-analytics-thresholds``).
A rule fires when its value crosses from below to at-or-above its threshold: the
``analytics.threshold`` event is published inside the transaction that records the
crossing (so the webhooks outbox commits with it), and staff with an e-mail address are
notified after commit. While the value stays at or above the threshold nothing more is
sent; once it falls below, the rule re-arms.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.analytics.definitions import MAX_RANGE_DAYS, Period, local_today
from apps.analytics.models import ChatDailyRollup, ThresholdRule
from apps.analytics.selectors import CHAT_DAY_FIELDS, chat_days_live, threshold_value
from apps.core.events import event_publish

logger = logging.getLogger(__name__)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def threshold_event_payload(*, rule: ThresholdRule, value: float, now: datetime) -> dict[str, Any]:
    return {
        "rule_id": rule.pk,
        "name": rule.name,
        "kind": rule.kind,
        "category": rule.category.code if rule.category_id else None,
        "window_hours": rule.window_hours,
        "threshold": rule.threshold,
        "value": value,
        "exceeded_at": _iso(now),
    }


def staff_notify(*, subject: str, body: str) -> int:
    """E-mail every active staff member and administrator that has an address; failures
    are logged, never raised (the event has been recorded already)."""
    recipients = list(
        User.objects.filter(is_active=True, role__in=[Role.STAFF, Role.ADMINISTRATOR])
        .exclude(email="")
        .values_list("email", flat=True)
    )
    if not recipients:
        return 0
    try:
        return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=True)
    except Exception:  # fail_silently covers SMTP errors; this covers a broken backend too
        logger.warning("threshold e-mail could not be sent", exc_info=settings.LOG_TRACEBACKS)
        return 0


def threshold_evaluate(*, rule: ThresholdRule, now: datetime | None = None) -> bool:
    """Check one rule; True when it fired now (crossed from below)."""
    now = now or timezone.now()
    value = threshold_value(kind=rule.kind, window_hours=rule.window_hours, category_id=rule.category_id, now=now)
    exceeded = value >= rule.threshold
    with transaction.atomic():
        locked = ThresholdRule.objects.select_for_update(of=("self",)).select_related("category").get(pk=rule.pk)
        fired = exceeded and not locked.currently_exceeded and locked.active
        locked.currently_exceeded = exceeded
        locked.last_value = value
        locked.last_checked_at = now
        if fired:
            locked.last_fired_at = now
            payload = threshold_event_payload(rule=locked, value=value, now=now)
            event_publish(event="analytics.threshold", data=payload)
            subject = f"[CitizenAI] Threshold reached: {locked.name}"
            body = (
                f"The analytics rule “{locked.name}” ({locked.get_kind_display()}) reached {value:g}; "
                f"its threshold is {locked.threshold:g}.\nChecked at {_iso(now)}."
            )
            transaction.on_commit(lambda: staff_notify(subject=subject, body=body))
        locked.save(update_fields=["currently_exceeded", "last_value", "last_checked_at", "last_fired_at"])
    rule.currently_exceeded, rule.last_value, rule.last_checked_at = exceeded, value, now
    if fired:
        rule.last_fired_at = now
    return fired


def thresholds_check(*, now: datetime | None = None) -> list[ThresholdRule]:
    """Evaluate every active rule; the rules that fired."""
    now = now or timezone.now()
    fired: list[ThresholdRule] = []
    for rule in ThresholdRule.objects.filter(active=True).select_related("category"):
        if threshold_evaluate(rule=rule, now=now):
            fired.append(rule)
    return fired


def rollups_refresh(*, today: date | None = None, recent_days: int = 2, horizon_days: int = MAX_RANGE_DAYS) -> int:
    """Write ``ChatDailyRollup`` rows for closed days: every day of the last
    ``horizon_days`` that has none, and always the last ``recent_days`` closed days (late
    messages and edits mostly touch those). Rows are computed with the same grouped queries
    as the live figures. Returns the number of days written."""
    today = today or local_today()
    yesterday = today - timedelta(days=1)
    first = today - timedelta(days=horizon_days)
    existing = set(
        ChatDailyRollup.objects.filter(time_zone=settings.TIME_ZONE, day__gte=first, day__lte=yesterday).values_list(
            "day", flat=True
        )
    )
    window = Period(start=first, end=yesterday)
    missing = [day for day in window.dates() if day not in existing]
    start = min([*missing, yesterday - timedelta(days=recent_days - 1)])
    period = Period(start=start, end=yesterday)
    days = chat_days_live(period=period)
    now = timezone.now()
    rows = [
        ChatDailyRollup(time_zone=settings.TIME_ZONE, day=day, computed_at=now, **asdict(days[day]))
        for day in period.dates()
    ]
    ChatDailyRollup.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["time_zone", "day"],
        update_fields=[*CHAT_DAY_FIELDS, "computed_at"],
    )
    return len(rows)
