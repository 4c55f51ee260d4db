"""SPEC §10: /system/health checks each component for real; /system/info is for administrators."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from apps.chat.engine import understanding
from apps.chat.engine.understanding import Understanding
from apps.core import health

pytestmark = pytest.mark.django_db

HEALTH = "/api/v1/system/health"
INFO = "/api/v1/system/info"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
COMPONENTS = {"database", "cache", "channel_layer", "broker", "file_storage", "ai_engine"}


def report(response) -> dict:
    """The component report of a 503: the error envelope, with the report as its details."""
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["error"]["message"]
    assert set(body["metadata"]) == {"timestamp", "request_id", "version"}
    return body["error"]["details"]


def test_health_is_public_and_healthy(stranger):
    response = stranger.get(HEALTH)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "healthy"
    assert set(data["components"]) >= COMPONENTS
    assert data["components"]["database"] == "healthy"
    assert data["components"]["cache"] == "healthy"
    assert data["components"]["channel_layer"] == "healthy"
    assert data["components"]["file_storage"] == "healthy"
    assert data["components"]["ai_engine"] == "healthy"
    # Without a broker tasks run in-process; with one it must answer.
    expected_broker = "healthy" if settings.CELERY_BROKER_URL else "not_configured"
    assert data["components"]["broker"] == expected_broker
    assert data["version"] == settings.APP_VERSION
    assert isinstance(data["uptime"], int) and data["uptime"] >= 0
    assert data["timestamp"].endswith("Z")
    assert set(data["metrics"]) == {"memory_usage", "cpu_usage", "disk_usage"}
    assert set(data["response_times_ms"]) == set(data["components"])


@override_settings(
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": UNREACHABLE_REDIS,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
)
def test_unreachable_cache_is_503(stranger):
    response = stranger.get(HEALTH)
    assert response.status_code == 503
    data = report(response)
    assert data["status"] == "unhealthy"
    assert data["components"]["cache"] == "unhealthy"
    assert data["components"]["database"] == "healthy"


def test_unreachable_redis_everywhere_is_503(stranger):
    with override_settings(
        REDIS_URL=UNREACHABLE_REDIS,
        CELERY_BROKER_URL=UNREACHABLE_REDIS,
        CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": UNREACHABLE_REDIS}},
        CHANNEL_LAYERS={
            "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [UNREACHABLE_REDIS]}}
        },
    ):
        from channels.layers import channel_layers

        channel_layers.backends.clear()
        try:
            response = stranger.get(HEALTH)
        finally:
            channel_layers.backends.clear()
    assert response.status_code == 503
    components = report(response)["components"]
    assert components["cache"] == "unhealthy"
    assert components["channel_layer"] == "unhealthy"
    assert components["database"] == "healthy"


def test_failing_required_component_is_503_and_optional_is_degraded(stranger, monkeypatch):
    def broken() -> str:
        raise ConnectionError("down")

    checks = dict(health._checks)
    monkeypatch.setattr(health, "_checks", checks)
    health.register("optional_thing", broken, required=False)
    degraded = stranger.get(HEALTH)
    assert degraded.status_code == 200
    assert degraded.json()["data"]["status"] == "degraded"
    assert degraded.json()["data"]["components"]["optional_thing"] == "unhealthy"

    health.register("file_storage", broken, required=True)
    down = stranger.get(HEALTH)
    assert down.status_code == 503
    assert report(down)["components"]["file_storage"] == "unhealthy"


@pytest.mark.parametrize(
    "failure",
    [
        lambda text: (_ for _ in ()).throw(OSError("intent model missing")),  # the engine cannot run
        lambda text: Understanding("launch_rockets", 0.9, "neutral", 0.0),  # an intent nobody handles
        lambda text: Understanding("greeting", 1.7, "neutral", 0.0),  # no probability
    ],
)
def test_an_ai_engine_that_cannot_understand_is_503(stranger, monkeypatch, failure):
    monkeypatch.setattr(understanding, "understand", failure)
    response = stranger.get(HEALTH)
    assert response.status_code == 503
    components = report(response)["components"]
    assert components["ai_engine"] == "unhealthy"
    assert components["database"] == "healthy"


def test_unreachable_database_is_503(stranger, monkeypatch):
    from django.db import connection

    def refuse(*args, **kwargs):
        raise ConnectionError("database is down")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = stranger.get(HEALTH)
    assert response.status_code == 503
    assert report(response)["components"]["database"] == "unhealthy"


def test_health_does_not_leak_error_details(stranger, monkeypatch):
    def broken() -> str:
        raise ConnectionError("password=hunter2 at db.internal")

    monkeypatch.setattr(health, "_checks", dict(health._checks))
    health.register("database", broken, required=True)
    response = stranger.get(HEALTH)
    assert response.status_code == 503
    assert "hunter2" not in response.content.decode()


def test_info_for_administrators(administrator):
    response = administrator.get(INFO)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["version"] == settings.APP_VERSION
    assert {"accounts", "core"} <= set(data["features"])
    assert data["limits"]["rate_limit"]["anonymous"] == "30/minute"
    assert data["limits"]["rate_limit"]["enterprise"] == "2000/minute"
    assert data["backends"]["database"] in {"sqlite", "postgresql"}


def test_info_is_refused_to_staff(staff_member):
    response = staff_member.get(INFO)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"


def test_info_is_refused_to_strangers(stranger):
    response = stranger.get(INFO)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_REQUIRED"
