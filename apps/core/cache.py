"""The cache: outage-tolerant calls, read-through entries a change can forget, and Django's
Redis backend keeping one client per pool.

``cache_tolerant`` is for what the cache only speeds up (credentials, search results,
counts): when the cache cannot be reached the request goes on without it, and one log line
says so; health reports the outage.

``cache_read_through`` and ``cache_forget`` keep copies of database rows that must follow
every change at once (credentials, category codes). Forgetting leaves a short-lived
tombstone, now and again after the changing transaction commits, and entries are only ever
added where nothing is (``cache.add``): a read in another process that fetched the old rows
just before the commit cannot put them back. While the tombstone lasts, readers go to the
database.

Django builds a new redis.Redis object for every cache operation; with redis-py 8 that
construction cost about 130 µs of CPU, twice the round trip itself (bench/profile_stack.py).
A client is thread-safe and only borrows connections from its pool, so one per pool serves
every thread.

``redis_client`` and ``redis_scripts`` reach Redis for what is not a cache entry (the rate
limiter's counters, the near caches' messages).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import deque
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

import redis
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.db import transaction
from redis.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

T = TypeVar("T")
logger = logging.getLogger(__name__)

# What a configured cache raises when it cannot be reached (Redis here; a socket's errors).
CACHE_OUTAGE: tuple[type[BaseException], ...] = (redis.RedisError, OSError)


@lru_cache(maxsize=4)
def redis_client(url: str) -> redis.Redis:
    """A client of the Redis at ``url`` for what is not a cache entry (counters, messages)."""
    return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)


def cache_tolerant(operation: Callable[[], T], *, default: T, what: str, level: int = logging.WARNING) -> T:
    """operation() against the cache, or ``default`` (logged, naming ``what``) when it fails."""
    try:
        return operation()
    except Exception as exc:  # any backend's errors: the cache is an accelerator here
        logger.log(level, "Cache unreachable for %s (%s)", what, type(exc).__name__)
        return default


TOMBSTONE = "forgotten"
TOMBSTONE_SECONDS = 10  # longer than the write that forgets takes to commit, in practice


def cache_read_through(
    key: str, load: Callable[[], T | None], ttl: int, *, what: str, keep: Callable[[T], None] | None = None
) -> T | None:
    """The cached value under ``key``, or load() it and add it (see the module docstring).
    ``keep`` gets what is, or now is, the cache's entry: not what a tombstone sent to the
    database, which may predate a commit that is still to come."""
    found = cache_tolerant(lambda: cache.get(key), default=None, what=what)
    if isinstance(found, str) and found == TOMBSTONE:  # just changed: the database answers
        return load()
    if found is None:
        found = load()
        if found is None:  # nothing found is not remembered: unknown keys would fill the cache
            return None
        cache_tolerant(lambda: cache.add(key, found, ttl), default=False, what=what)
    if keep is not None:
        keep(found)
    return found


def cache_bury(keys: list[str], *, what: str) -> None:
    # If this fails, an entry that outlives the outage ends with its ttl.
    cache_tolerant(
        lambda: cache.set_many(dict.fromkeys(keys, TOMBSTONE), TOMBSTONE_SECONDS),
        default=None,
        what=f"forgetting {what}",
        level=logging.ERROR,
    )


def cache_forget(keys: list[str], *, what: str) -> None:
    """Bury read-through entries now and again after the current transaction commits."""
    if keys:
        cache_bury(keys, what=what)
        transaction.on_commit(lambda: cache_bury(keys, what=what))


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
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient


# --- Lua scripts over kept connections ----------------------------------------------------

SCRIPT_CONNECTIONS_KEPT = 32  # idle, per process: more than a server's concurrent requests


class NotSent(RedisConnectionError):
    """No connection could be made: nothing was sent, so the script did not run."""


class RedisScripts:
    """Runs Lua scripts against one Redis server, for the calls made on a request's path
    (the rate limiter's counters, apps/core/shared_counts.py).

    Scripts run over connections of their own, made with the client pool's class and
    settings (address, database, password, TLS, timeouts) and kept idle per process between
    calls: borrowing from the pool through the client's command and retry layers cost about
    150 µs of CPU per call against about 60 µs for the round trip itself
    (bench/profile_stack.py). A list rather than a per-thread connection, because Django's
    ASGI handler runs each request on a new thread. An idle connection the server has
    closed (a restart, an idle timeout) is noticed before anything is sent on it and
    replaced. A failure to connect raises NotSent: the script did not run. An error once a
    script is sent (a timeout included, as when the server vanished without closing the
    socket) is raised as the client would raise it and never retried, since the script may
    have run."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._scripts: dict[str, Callable[..., Any]] = {}
        self._idle: deque[AbstractConnection] = deque()  # append() and pop() are atomic
        self._idle_pid = os.getpid()

    def script(self, source: str) -> Callable[..., Any]:
        """A callable running ``source`` (call it with keys= and args=)."""
        found = self._scripts.get(source)
        if found is None:

            def run(*, keys: list[str], args: list[Any]) -> Any:
                [reply] = self.run_many(source, [(keys, args)])
                if isinstance(reply, ResponseError):
                    raise reply
                return reply

            found = self._scripts[source] = run
        return found

    def run_many(self, source: str, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """Runs ``source`` once per (keys, args), all sent in one write; the replies in order,
        a script's error (ResponseError) in its place."""
        sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1
        connection = self._connection()
        try:
            connection.connect()
        except RedisConnectionError as exc:
            connection.disconnect()
            raise NotSent(str(exc)) from exc
        try:
            replies = self._send_and_read(connection, "EVALSHA", sha, calls)
            missing = [index for index, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if missing:  # a restarted or flushed server: these did not run; send the source once
                again = self._send_and_read(connection, "EVAL", source, [calls[index] for index in missing])
                for index, reply in zip(missing, again, strict=True):
                    replies[index] = reply
        except BaseException:
            connection.disconnect()  # a reply may be left unread: this socket is not reused
            raise
        self._keep(connection)
        return replies

    @staticmethod
    def _send_and_read(
        connection: AbstractConnection, command: str, script: str, calls: list[tuple[list[str], list[Any]]]
    ) -> list[Any]:
        packed = connection.pack_commands([(command, script, len(keys), *keys, *args) for keys, args in calls])
        connection.send_packed_command(packed)
        replies: list[Any] = []
        for _ in calls:
            try:
                replies.append(connection.read_response())
            except ResponseError as exc:  # read on: the connection stays in step with the server
                replies.append(exc)
        return replies

    def _connection(self) -> AbstractConnection:
        if self._idle_pid != os.getpid():  # a forked worker must not share its parent's sockets
            self._idle, self._idle_pid = deque(), os.getpid()
        while True:
            try:
                connection = self._idle.pop()
            except IndexError:
                pool = redis_client(self.url).connection_pool
                return pool.connection_class(**pool.connection_kwargs)
            try:
                stale = connection.can_read()  # an idle socket has nothing to read unless closed
            except RedisConnectionError:
                stale = True
            if not stale:
                return connection
            connection.disconnect()

    def _keep(self, connection: AbstractConnection) -> None:
        # Bounded: a burst of concurrent requests must not leave its sockets open for good.
        if len(self._idle) < SCRIPT_CONNECTIONS_KEPT:
            self._idle.append(connection)
        else:
            connection.disconnect()


@lru_cache(maxsize=4)
def redis_scripts(url: str) -> RedisScripts:
    return RedisScripts(url)
