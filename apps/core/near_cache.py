"""Per-process copies of shared-cache entries that every process forgets together.

Reading an entry from Redis costs a round trip, and on these machines one round trip cost
more CPU than Django's whole handling of a bare request (bench/profile_stack.py). A
``NearCache`` keeps what a process read, in its own memory, for entries read on nearly every
request (bearer credentials). ``forget()`` drops keys here at once and publishes them on a
Redis channel; a thread in every process listens and drops them there, a moment later.

A process answers from its copies only while it is subscribed: before the subscription is
confirmed, after a lost connection or an unanswered ping, it holds nothing and callers read
the shared cache as if there were no near cache. Each (re)subscription starts empty, since
messages sent meanwhile are lost. A copy also ends after its ttl, which bounds a change
made behind the application's back. Without REDIS_URL there is one process, and forgetting
here is forgetting everywhere.

A read racing a forget must not keep what it read: ``version()`` is taken before loading and
``put()`` keeps the value only if no forget (here or by message) came in between.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import Generic, TypeVar

from django.conf import settings

from apps.core.cache import redis_client
from apps.core.conf import hot_settings

T = TypeVar("T")
logger = logging.getLogger(__name__)

PING_SECONDS = 5.0  # an idle subscription is pinged this often; no answer by the next ping ends it
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)  # between reconnection attempts, then the last one


class NearCache(Generic[T]):
    def __init__(self, name: str, *, max_entries: int = 10_000) -> None:
        self.name = name
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, T]] = {}  # key -> (monotonic expiry, value)
        self._version = 0
        self._lock = threading.Lock()
        _bus.register(self)

    def get(self, key: str) -> T | None:
        if not _bus.ready():
            return None
        found = self._entries.get(key)
        if found is None or found[0] <= time.monotonic():
            return None
        return found[1]

    def version(self) -> int:
        return self._version

    def put(self, key: str, value: T, *, version: int, ttl: float) -> None:
        """Keeps ``value``, read after ``version()`` gave ``version``, unless something was
        forgotten since or the process is not subscribed."""
        if ttl <= 0 or not _bus.ready():
            return
        with self._lock:
            if version != self._version:
                return
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # rare and cheap to refill; an LRU would cost every read
            self._entries[key] = (time.monotonic() + ttl, value)

    def forget(self, keys: Iterable[str]) -> None:
        """Drops ``keys`` here now and in every other process by message."""
        keys = [key for key in keys if key]
        if keys:
            self.evict(keys)
            _bus.publish(self.name, keys)

    def evict(self, keys: Iterable[str]) -> None:
        with self._lock:
            self._version += 1
            for key in keys:
                self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._version += 1
            self._entries.clear()


class _Bus:
    """The channel that carries forgotten keys, and this process's subscription to it."""

    def __init__(self) -> None:
        self._caches: dict[str, NearCache[object]] = {}
        self._thread: threading.Thread | None = None
        self._subscribed = False
        self._start_lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forked)

    def register(self, cache: NearCache[object]) -> None:  # type: ignore[type-arg]
        if cache.name in self._caches:  # one would never hear of the other's forgets
            raise ValueError(f"a near cache named {cache.name!r} exists already")
        self._caches[cache.name] = cache

    @staticmethod
    def channel() -> str:
        return f"{settings.CACHE_KEY_PREFIX}:near-cache"

    def ready(self) -> bool:
        if not hot_settings.REDIS_URL:
            return True
        if self._thread is None:
            self._start()
        return self._subscribed

    def publish(self, name: str, keys: list[str]) -> None:
        if not settings.REDIS_URL:
            return
        try:
            redis_client(settings.REDIS_URL).publish(self.channel(), json.dumps([name, keys]))
        except Exception as exc:
            # Other processes keep their copies until their ttl ends; say so loudly.
            logger.error("Cannot publish forgotten %s entries (%s)", name, type(exc).__name__)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                url, channel = settings.REDIS_URL, self.channel()
                self._thread = threading.Thread(
                    target=self._listen_forever, args=(url, channel), name="near-cache", daemon=True
                )
                self._thread.start()

    def _forked(self) -> None:
        # The thread did not survive the fork, and messages the parent got are not ours.
        self._thread, self._subscribed = None, False
        self._start_lock = threading.Lock()
        for cache in self._caches.values():
            cache._lock = threading.Lock()
            cache.clear()

    def _set_subscribed(self, subscribed: bool) -> None:
        # Empty on both edges: nothing heard while unsubscribed may be kept.
        self._subscribed = False
        for cache in self._caches.values():
            cache.clear()
        self._subscribed = subscribed

    def _deliver(self, data: bytes) -> None:
        try:
            name, keys = json.loads(data)
            cache = self._caches.get(name)
            if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
                raise TypeError("keys must be a list of strings")
        except (ValueError, TypeError):
            logger.warning("Ignored a malformed near-cache message")
            return
        if cache is not None:
            cache.evict(keys)

    def _listen_forever(self, url: str, channel: str) -> None:
        failures = 0  # attempts in a row that never got subscribed
        while True:
            try:
                self._listen(url, channel)
            except Exception as exc:
                if self._subscribed:  # it worked until now: a new outage
                    failures = 0
                if failures == 0:
                    logger.warning("Near-cache subscription lost (%s); copies dropped", type(exc).__name__)
            delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
            failures += 1
            self._set_subscribed(False)
            time.sleep(delay)

    def _listen(self, url: str, channel: str) -> None:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=PING_SECONDS)
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(channel)
            pinged_at = heard_at = time.monotonic()
            awaiting_pong = False
            while True:
                message = pubsub.get_message(timeout=1.0)
                now = time.monotonic()
                if message is not None:
                    heard_at, awaiting_pong = now, False
                    kind = message["type"]
                    if kind == "subscribe":
                        self._set_subscribed(True)
                    elif kind == "message":
                        self._deliver(message["data"])
                elif awaiting_pong and now - pinged_at > PING_SECONDS:
                    raise ConnectionError("no answer to a ping")
                elif not awaiting_pong and now - heard_at > PING_SECONDS:
                    pubsub.ping()
                    pinged_at, awaiting_pong = now, True
        finally:
            pubsub.close()
            client.close()


_bus = _Bus()
