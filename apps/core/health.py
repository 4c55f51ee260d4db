"""Component checks for /system/health. Apps register theirs in AppConfig.ready()."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

logger = logging.getLogger(__name__)

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
NOT_CONFIGURED = "not_configured"


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], str]
    required: bool


_checks: dict[str, Check] = {}


def register(name: str, run: Callable[[], str], *, required: bool) -> None:
    _checks[name] = Check(name, run, required)


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return HEALTHY


def check_cache() -> str:
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "ok", 10)
    ok = cache.get(key) == "ok"
    cache.delete(key)
    return HEALTHY if ok else UNHEALTHY


def check_channel_layer() -> str:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return NOT_CONFIGURED

    async def round_trip() -> bool:
        # The default prefix: the Redis core layer serves a process's "specific." channels
        # from one shared reader, so a private prefix would queue behind open sockets.
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "health.ping"})
        message = await asyncio.wait_for(layer.receive(channel), timeout=2)
        # A cancelled receive is how a layer learns a channel is finished (the pub/sub layer
        # unsubscribes then), so the check leaves no subscription behind.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(layer.receive(channel), timeout=0.01)
        return message.get("type") == "health.ping"

    return HEALTHY if async_to_sync(round_trip)() else UNHEALTHY


def check_broker() -> str:
    if not settings.CELERY_BROKER_URL:
        return NOT_CONFIGURED  # tasks run in-process on the embedded default
    from citizenai.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return HEALTHY


def check_file_storage() -> str:
    name = default_storage.save(f"health/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    try:
        with default_storage.open(name) as handle:
            ok = handle.read() == b"ok"
    finally:
        default_storage.delete(name)
    return HEALTHY if ok else UNHEALTHY


def register_default_checks() -> None:
    register("database", check_database, required=True)
    register("cache", check_cache, required=True)
    register("channel_layer", check_channel_layer, required=True)
    register("broker", check_broker, required=True)
    register("file_storage", check_file_storage, required=True)


def run_checks() -> tuple[bool, dict[str, str], dict[str, float]]:
    """(all required healthy, status by component, milliseconds by component)."""
    statuses: dict[str, str] = {}
    timings: dict[str, float] = {}
    ok = True
    for check in _checks.values():
        started = time.perf_counter()
        try:
            status = check.run()
        except Exception as exc:  # a failing component is a result, not an error
            logger.warning("Health check %s failed: %s", check.name, type(exc).__name__)
            status = UNHEALTHY
        timings[check.name] = round((time.perf_counter() - started) * 1000, 2)
        statuses[check.name] = status
        if check.required and status == UNHEALTHY:
            ok = False
    return ok, statuses, timings
