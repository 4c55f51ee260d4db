"""The cache: outage-tolerant calls, and Django's Redis backend keeping one client per pool.

``cache_tolerant`` is for what the cache only speeds up (credentials, search results,
counts): when the cache cannot be reached the request goes on without it, and one log line
says so; health reports the outage.

Django builds a new redis.Redis object for every cache operation; with redis-py 8 that
construction cost about 130 µs of CPU, twice the round trip itself (bench/profile_stack.py).
A client is thread-safe and only borrows connections from its pool, so one per pool serves
every thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

T = TypeVar("T")
logger = logging.getLogger(__name__)


def cache_tolerant(operation: Callable[[], T], *, default: T, what: str, level: int = logging.WARNING) -> T:
    """operation() against the cache, or ``default`` (logged, naming ``what``) when it fails."""
    try:
        return operation()
    except Exception as exc:  # any backend's errors: the cache is an accelerator here
        logger.log(level, "Cache unreachable for %s (%s)", what, type(exc).__name__)
        return default


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class ReusingRedisCache(RedisCache):
    """Also runs Lua scripts against the cache's own server, for the few places where two
    operations in one round trip matter (apps/accounts/credential_cache.py)."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
        self._scripts: dict[str, Any] = {}

    def script(self, source: str) -> Any:
        """A redis-py Script (call it with keys= and args=) bound to the primary server."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._cache.get_client(write=True).register_script(source)
        return script

    def encode(self, value: Any) -> bytes:
        return self._cache._serializer.dumps(value)

    def decode(self, raw: bytes) -> Any:
        return self._cache._serializer.loads(raw)
