"""The rate limiter's counters: one total per bucket and window, shared by every process.

Totals live in Redis when REDIS_URL is set, else in the local-memory cache of the one
embedded process. Adding every request to its total at once was a Redis round trip per API
request, and on these machines that cost more CPU than Django's whole handling of a bare
request (bench/profile_stack.py). So, unless asked to be exact, a process counts requests
here and adds them to the shared totals in one pipelined call every
RATE_LIMIT_SYNC_MS, learning from each total what the other processes counted.

A request is decided here only while this process holds fewer than ``allowance(limit)``
unsent requests of the bucket and its view of the total (the last total it read, plus what
it has not sent) stays within the limit. Otherwise the request and everything unsent are
added at once and the request is decided on the total. So:

- nothing within a budget is refused: a view never exceeds the real total;
- N processes grant at most N × allowance(limit) requests beyond a budget, in all (one
  each for budgets under 128 a minute), however fast the calls come;
- once a total read back has spent the budget, refusals cost no round trip;
- X-RateLimit-Remaining is this process's view: for a bucket it counted within the last
  REFRESH_SECONDS, other processes' requests show in it within two sync intervals;
- while the totals cannot be reached, each process decides on its own counts and keeps
  them to send later (an exact count is allowed instead, as it always was).

``exact`` callers (sign-in attempts) and RATE_LIMIT_SYNC_MS=0 add every request at once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import cache

from apps.core.cache import redis_client, redis_scripts

logger = logging.getLogger(__name__)

ALLOWANCE_DIVISOR = 64  # a process may run ahead of the shared total by limit/64 requests
MAX_BUCKETS = 50_000  # per process and window; buckets beyond are counted exactly
UNREACHABLE_PAUSE_SECONDS = 1.0  # after a failed add, requests are decided here this long
REFRESH_SECONDS = 2.0  # a bucket counted here within this long has its total read back at each sync

# Adds ARGV[1] to the counter and returns the new total; the first add sets the expiry, so a
# counter never outlives its window.
_ADD_WITH_TTL = """
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if total == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return total
"""


def allowance(limit: int) -> int:
    return max(1, limit // ALLOWANCE_DIVISOR)


@dataclass
class _Bucket:
    ttl: int
    expires: float  # epoch seconds after which the window's counter is gone
    known: int = 0  # the last shared total read back
    unsent: int = 0  # counted here, not yet added to the shared total
    seen: float = 0.0  # monotonic time of the last request counted here


class SharedCounts:
    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # held while a flush's counts are on their way
        self._thread: threading.Thread | None = None
        self._unreachable_until = 0.0  # monotonic; until then requests are decided here
        os.register_at_fork(after_in_child=self._forked)

    def count(self, key: str, *, ttl: int, limit: int, exact: bool = False) -> int | None:
        """Counts one request in ``key``'s window; returns its number there (more than
        ``limit``: refused), or None when an exact count cannot reach the totals (allowed)."""
        if exact or settings.RATE_LIMIT_SYNC_MS <= 0:
            return _add(key, 1, ttl)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= MAX_BUCKETS:
                    return _add(key, 1, ttl)
                bucket = self._buckets[key] = _Bucket(ttl=ttl, expires=time.time() + ttl)
            bucket.seen = time.monotonic()
            number = bucket.known + bucket.unsent + 1
            here = bucket.known >= limit or (bucket.unsent < allowance(limit) and number <= limit)
            if here or bucket.seen < self._unreachable_until:
                bucket.unsent += 1
                if self._thread is None:
                    self._start()
                return number
            sending, bucket.unsent = bucket.unsent + 1, 0
        total = _add(key, sending, ttl)
        with self._lock:
            if total is None:  # decided on this process's counts until the totals answer again
                self._unreachable(now=time.monotonic())
                bucket.unsent += sending
                return bucket.known + bucket.unsent
            bucket.known = max(bucket.known, total)
        return total

    def flush(self) -> None:
        """Adds every unsent count to its shared total, and reads back the totals of every
        bucket counted here lately, so that this process's view follows the others'."""
        with self._flushing:
            now, lately = time.time(), time.monotonic() - REFRESH_SECONDS
            with self._lock:
                for key in [key for key, bucket in self._buckets.items() if bucket.expires < now]:
                    del self._buckets[key]
                adds = [
                    (key, bucket, bucket.unsent)
                    for key, bucket in self._buckets.items()
                    if bucket.unsent or bucket.seen > lately
                ]
                for _, bucket, _ in adds:
                    bucket.unsent = 0
            if not adds:
                return
            totals = _add_many([(key, n, bucket.ttl) for key, bucket, n in adds])
            with self._lock:
                if totals is None:  # kept, to be sent once the totals answer again
                    self._unreachable(now=time.monotonic())
                    for _, bucket, n in adds:
                        bucket.unsent += n
                    return
                self._unreachable_until = 0.0
                for (_, bucket, _), total in zip(adds, totals, strict=True):
                    bucket.known = max(bucket.known, total)

    def _unreachable(self, *, now: float) -> None:
        # Requests are decided here meanwhile, without waiting on a server that is not there.
        self._unreachable_until = now + UNREACHABLE_PAUSE_SECONDS

    def reset(self) -> None:
        """Forgets every count of this process (tests start from nothing)."""
        with self._flushing, self._lock:
            self._buckets.clear()
            self._unreachable_until = 0.0

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._flush_forever, name="ratelimit-sync", daemon=True)
        self._thread.start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(max(settings.RATE_LIMIT_SYNC_MS, 10) / 1000)
            try:
                self.flush()
            except Exception:  # the thread must outlive anything one flush meets
                logger.exception("Rate-limit counts could not be sent")

    def _forked(self) -> None:
        # Counts made before the fork are the parent's to send.
        self._buckets, self._thread, self._unreachable_until = {}, None, 0.0
        self._lock, self._flushing = threading.Lock(), threading.Lock()


def _add(key: str, n: int, ttl: int) -> int | None:
    if settings.REDIS_URL:
        try:
            return int(redis_scripts(settings.REDIS_URL).script(_ADD_WITH_TTL)(keys=[key], args=[n, ttl]))
        except redis.RedisError:
            # An unreachable Redis must not take the API down with it; health reports it.
            logger.warning("Rate limiter cannot reach Redis; request allowed")
            return None
    try:
        cache.add(key, 0, ttl)
        try:
            return int(cache.incr(key, n))
        except ValueError:  # expired between add and incr
            cache.set(key, n, ttl)
            return n
    except Exception as exc:
        # The same rule for any configured cache backend: its outage is health's to report.
        logger.warning("Rate limiter cannot reach the cache (%s); request allowed", type(exc).__name__)
        return None


def _add_many(adds: list[tuple[str, int, int]]) -> list[int] | None:
    if not settings.REDIS_URL:
        totals = [_add(key, n, ttl) for key, n, ttl in adds]
        return None if None in totals else [int(total) for total in totals if total is not None]
    client = redis_client(settings.REDIS_URL)
    script = client.register_script(_ADD_WITH_TTL)
    try:
        with client.pipeline(transaction=False) as pipe:
            for key, n, ttl in adds:
                script(keys=[key], args=[n, ttl], client=pipe)
            return [int(total) for total in pipe.execute()]
    except redis.RedisError as exc:
        logger.warning("Rate limiter cannot reach Redis (%s); counts kept to send later", type(exc).__name__)
        return None


shared_counts = SharedCounts()
