"""The rate limiter's counters: one total per bucket and window, shared by every process.

Totals live in Redis when REDIS_URL is set, else in the local-memory cache of the one
embedded process. Adding every request to its total at once was a Redis round trip per API
request, and on these machines that cost more CPU than Django's whole handling of a bare
request (bench/profile_stack.py). So, unless asked to be exact, a process counts requests
here and adds them to the shared totals in one batch every RATE_LIMIT_SYNC_MS, learning
from each total what the other processes counted.

A process's view of a bucket is the last total it read plus every count of its own that
total may lack (not sent yet, on its way, or lost in a failed send). A request is decided
here only while fewer than ``allowance(limit)`` such counts are held and the view stays
within the limit; otherwise the request and everything unsent are added at once and the
request is decided on the total. So:

- nothing within a budget is refused: a request is refused only on a total read back, and
  a view never lacks what that total holds;
- N processes grant at most N × allowance(limit) requests beyond a budget, in all (one
  each for budgets under 128 a minute), however fast the calls come;
- once a total read back has spent the budget, refusals cost no round trip;
- X-RateLimit-Remaining is this process's view: for a bucket it counted within the last
  REFRESH_SECONDS, other processes' requests show in it within two sync intervals;
- while the totals cannot be reached, each process decides on its own counts for
  UNREACHABLE_PAUSE_SECONDS at a time and sends them later; counts whose send failed after
  it may have arrived stay in the view but are never sent again, so nothing is added twice
  (an exact count that cannot be made is allowed, as it always was).

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

from apps.core.cache import NotSent, redis_scripts
from apps.core.conf import hot_settings

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


class Unreachable(Exception):
    def __init__(self, *, maybe_added: bool) -> None:
        super().__init__("the shared totals cannot be reached")
        self.maybe_added = maybe_added  # sent, with no answer: it may have been added


@dataclass
class _Bucket:
    ttl: int
    expires: float  # epoch seconds after which the window's counter is gone
    known: int = 0  # the last shared total read back
    unsent: int = 0  # counted here, to be added to the shared total
    in_flight: int = 0  # being added right now
    unconfirmed: int = 0  # sent without an answer: perhaps added, never sent again
    seen: float = 0.0  # monotonic time of the last request counted here

    @property
    def held(self) -> int:
        """Counts of this process the last total read back may lack."""
        return self.unsent + self.in_flight + self.unconfirmed


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
        if exact or hot_settings.RATE_LIMIT_SYNC_MS <= 0:
            return _add_exactly(key, ttl)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= MAX_BUCKETS:
                    return _add_exactly(key, ttl)
                bucket = self._buckets[key] = _Bucket(ttl=ttl, expires=time.time() + ttl)
            bucket.seen = time.monotonic()
            held = bucket.held
            number = bucket.known + held + 1
            here = bucket.known >= limit or (held < allowance(limit) and number <= limit)
            if here or bucket.seen < self._unreachable_until:
                bucket.unsent += 1
                if self._thread is None:
                    self._start()
                return number
            sending, bucket.unsent = bucket.unsent + 1, 0
            bucket.in_flight += sending
        try:
            total = _add(key, sending, ttl)
        except Unreachable as exc:
            with self._lock:
                self._gave_up(bucket, sending, exc)
                return bucket.known + bucket.held
        with self._lock:
            bucket.in_flight -= sending
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
                for _, bucket, n in adds:
                    bucket.unsent = 0
                    bucket.in_flight += n
            if not adds:
                return
            try:
                totals = _add_many([(key, n, bucket.ttl) for key, bucket, n in adds])
            except Unreachable as exc:
                with self._lock:
                    for _, bucket, n in adds:
                        self._gave_up(bucket, n, exc)
                return
            with self._lock:
                self._unreachable_until = 0.0
                for (_, bucket, n), total in zip(adds, totals, strict=True):
                    bucket.in_flight -= n
                    bucket.known = max(bucket.known, total)

    def _gave_up(self, bucket: _Bucket, n: int, exc: Unreachable) -> None:
        # Requests are decided here meanwhile, without waiting on a server that is not there.
        self._unreachable_until = time.monotonic() + UNREACHABLE_PAUSE_SECONDS
        bucket.in_flight -= n
        if exc.maybe_added:
            bucket.unconfirmed += n
        else:
            bucket.unsent += n

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


def _add_exactly(key: str, ttl: int) -> int | None:
    try:
        return _add(key, 1, ttl)
    except Unreachable:
        return None  # an unreachable store must not take the API down with it; health reports it


def _add(key: str, n: int, ttl: int) -> int:
    """Adds n to one counter; its new total, or Unreachable."""
    [total] = _send([(key, n, ttl)])
    return total


def _add_many(adds: list[tuple[str, int, int]]) -> list[int]:
    """Adds each n to its counter (key, n, ttl) in one round trip; the new totals, or Unreachable."""
    return _send(adds)


def _send(adds: list[tuple[str, int, int]]) -> list[int]:
    if settings.REDIS_URL:
        try:
            replies = redis_scripts(settings.REDIS_URL).run_many(
                _ADD_WITH_TTL, [([key], [n, ttl]) for key, n, ttl in adds]
            )
        except redis.RedisError as exc:
            logger.warning("Rate limiter cannot reach Redis (%s)", type(exc).__name__)
            raise Unreachable(maybe_added=not isinstance(exc, NotSent)) from exc
        failed = next((reply for reply in replies if isinstance(reply, Exception)), None)
        if failed is not None:  # a counter holding something else: nothing more is known
            logger.error("Rate limiter counter refused an add (%s)", type(failed).__name__)
            raise Unreachable(maybe_added=True)
        return [int(reply) for reply in replies]
    totals = []
    for index, (key, n, ttl) in enumerate(adds):
        try:
            cache.add(key, 0, ttl)
            try:
                totals.append(int(cache.incr(key, n)))
            except ValueError:  # expired between add and incr
                cache.set(key, n, ttl)
                totals.append(n)
        except Exception as exc:
            # The same rule for any configured cache backend: its outage is health's to report.
            logger.warning("Rate limiter cannot reach the cache (%s)", type(exc).__name__)
            raise Unreachable(maybe_added=index > 0) from exc
    return totals


shared_counts = SharedCounts()
