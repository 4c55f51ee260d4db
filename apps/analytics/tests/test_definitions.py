"""The definitions every figure follows: shares, trend, periods."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import override_settings

from apps.analytics.definitions import Period, period_for_range, shares_percent, trend_format


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({"positive": 1, "neutral": 1, "negative": 1}, {"positive": 34, "neutral": 33, "negative": 33}),
        ({"positive": 2, "neutral": 1, "negative": 0}, {"positive": 67, "neutral": 33, "negative": 0}),
        ({"positive": 0, "neutral": 0, "negative": 0}, {"positive": 0, "neutral": 0, "negative": 0}),
        ({"positive": 1, "neutral": 0, "negative": 6}, {"positive": 14, "neutral": 0, "negative": 86}),
        ({"positive": 65, "neutral": 25, "negative": 10}, {"positive": 65, "neutral": 25, "negative": 10}),
    ],
)
def test_shares_sum_to_100_by_largest_remainder(counts, expected):
    shares = shares_percent(counts=counts)
    assert shares == expected
    assert sum(shares.values()) in {0, 100}


def test_shares_always_sum_to_100():
    for a in range(0, 9):
        for b in range(0, 9):
            for c in range(1, 9):
                assert sum(shares_percent(counts={"positive": a, "neutral": b, "negative": c}).values()) == 100


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [(115, 100, "+15%"), (97, 100, "-3%"), (100, 100, "+0%"), (5, 0, "n/a"), (0, 0, "n/a"), (0, 4, "-100%")],
)
def test_trend(current, previous, expected):
    assert trend_format(current=current, previous=previous) == expected


def test_period_previous_has_equal_length():
    period = Period(start=date(2025, 3, 1), end=date(2025, 3, 31))
    assert period.days == 31
    previous = period.previous()
    assert (previous.start, previous.end) == (date(2025, 1, 29), date(2025, 2, 28))
    assert previous.days == 31


@override_settings(TIME_ZONE="America/New_York")
def test_period_bounds_are_local_midnights():
    period = Period(start=date(2025, 1, 15), end=date(2025, 1, 15))
    assert period.start_at.isoformat() == "2025-01-15T00:00:00-05:00"
    assert period.end_at.isoformat() == "2025-01-16T00:00:00-05:00"


def test_presets_end_today():
    period = period_for_range(date_range="7d", today=date(2025, 1, 10))
    assert (period.start, period.end, period.days) == (date(2025, 1, 4), date(2025, 1, 10), 7)
    assert period_for_range(date_range="1d", today=date(2025, 1, 10)).days == 1
