from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models


class ThresholdKind(models.TextChoices):
    NEGATIVE_SENTIMENT_SHARE = "negative_sentiment_share", "Negative sentiment share (% of citizen messages)"
    PENDING_CONCERNS = "pending_concerns", "Pending concerns (open now)"
    OVERDUE_CONCERNS = "overdue_concerns", "Overdue concerns (open past their estimated resolution)"
    CATEGORY_CONCERNS_PER_DAY = "category_concerns_per_day", "Concerns of one category per day"


class ThresholdRule(models.Model):
    """A figure watched by ``apps.analytics.services.thresholds_check``: when it reaches
    ``threshold`` (from below) ``analytics.threshold`` fires once and staff are e-mailed;
    the rule re-arms when the figure falls below the threshold again.

    * ``negative_sentiment_share``: % of citizen messages in the last ``window_hours``
      whose sentiment is negative (0 when there were none).
    * ``pending_concerns``: concerns open (submitted or in progress) now.
    * ``overdue_concerns``: open concerns whose estimated resolution has passed.
    * ``category_concerns_per_day``: concerns of ``category`` submitted in the last
      ``window_hours``, scaled to a 24-hour rate.

    ``window_hours`` only matters for the share and the per-day rate.
    """

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=40, choices=ThresholdKind.choices)
    category = models.ForeignKey(
        "concerns.Category",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="threshold_rules",
        help_text="Required for “concerns of one category per day”.",
    )
    window_hours = models.PositiveIntegerField(default=24, validators=[MinValueValidator(1)])
    threshold = models.FloatField(help_text="Fires when the value reaches this (greater than or equal).")
    active = models.BooleanField(default=True)
    currently_exceeded = models.BooleanField(default=False, editable=False)
    last_value = models.FloatField(null=True, blank=True, editable=False)
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_fired_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind == ThresholdKind.CATEGORY_CONCERNS_PER_DAY and self.category_id is None:
            raise ValidationError({"category": "Choose the category this rule watches."})
        if self.kind != ThresholdKind.CATEGORY_CONCERNS_PER_DAY and self.category_id is not None:
            raise ValidationError({"category": "Only “concerns of one category per day” rules take a category."})
        if self.kind == ThresholdKind.NEGATIVE_SENTIMENT_SHARE and not 0 <= self.threshold <= 100:
            raise ValidationError({"threshold": "A share is a percentage between 0 and 100."})


class ChatDailyRollup(models.Model):
    """The chat figures of one closed local day, summed, so that dashboards over months read
    a few hundred rows instead of scanning every message (see ``selectors.chat_days``).

    Rows are written by ``services.rollups_refresh`` (Celery beat, every five minutes):
    it backfills missing days and recomputes the last two closed days. Today is always read
    live. Rows belong to the time zone they were counted in; a change of TIME_ZONE simply
    leaves them unused until they are recomputed.
    """

    time_zone = models.CharField(max_length=64)
    day = models.DateField()
    conversations = models.PositiveIntegerField(default=0)
    user_messages = models.PositiveIntegerField(default=0)
    positive = models.PositiveIntegerField(default=0)
    neutral = models.PositiveIntegerField(default=0)
    negative = models.PositiveIntegerField(default=0)
    responses = models.PositiveIntegerField(default=0)
    response_seconds_sum = models.FloatField(default=0)
    response_seconds_max = models.FloatField(default=0)
    ratings = models.PositiveIntegerField(default=0)
    rating_sum = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["time_zone", "day"]
        constraints = [models.UniqueConstraint(fields=["time_zone", "day"], name="analytics_chat_rollup_day_unique")]

    def __str__(self) -> str:
        return f"{self.day} ({self.time_zone})"
