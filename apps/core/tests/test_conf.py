"""apps/core/conf.py: hot_settings answers what django.conf.settings does, and follows
override_settings both ways."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from apps.core.conf import hot_settings


def test_reads_what_django_has() -> None:
    assert hot_settings.API_VERSION == settings.API_VERSION
    assert hot_settings.RATE_LIMITS_PER_MINUTE is settings.RATE_LIMITS_PER_MINUTE
    assert "API_VERSION" in vars(hot_settings)  # kept after the first read


def test_follows_an_override_and_its_end() -> None:
    before = hot_settings.RATE_LIMIT_SYNC_MS
    with override_settings(RATE_LIMIT_SYNC_MS=before + 17):
        during = hot_settings.RATE_LIMIT_SYNC_MS
    after = hot_settings.RATE_LIMIT_SYNC_MS
    assert (during, after) == (before + 17, before)


def test_follows_pytest_djangos_settings_fixture(settings: pytest.FixtureRequest) -> None:
    hot_settings.API_MAX_JSON_BYTES  # noqa: B018 - kept first
    settings.API_MAX_JSON_BYTES = 123  # type: ignore[attr-defined]
    now = hot_settings.API_MAX_JSON_BYTES
    assert now == 123


def test_an_unknown_name_fails_as_djangos_and_is_not_kept() -> None:
    with pytest.raises(AttributeError):
        hot_settings.NO_SUCH_SETTING  # noqa: B018
    assert "NO_SUCH_SETTING" not in vars(hot_settings)
