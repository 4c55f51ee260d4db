"""Fixed-window rate limits by tier, shared through Redis when it is configured.

Each caller is counted once per request in a bucket named by tier and identity (API key,
user or client address). Counters live in Redis when REDIS_URL is set, so every web process
spends one budget; otherwise in the local-memory cache of the single embedded process.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apps.core.net import client_ip

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Budget:
    limit: int
    remaining: int
    reset: int  # epoch seconds when the window ends

    @property
    def exceeded(self) -> bool:
        return self.remaining < 0

    def wait(self) -> float:
        return max(0.0, self.reset - time.time())


# One command and one reply per request (a pipeline of INCR and EXPIRE cost twice the
# client CPU); atomic, so a counter never outlives its window.
_INCR_WITH_TTL = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


@lru_cache(maxsize=1)
def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)


@lru_cache(maxsize=1)
def _redis_counter(url: str) -> Any:
    return _redis_client(url).register_script(_INCR_WITH_TTL)


def _count(key: str, ttl: int) -> int | None:
    if settings.REDIS_URL:
        try:
            return int(_redis_counter(settings.REDIS_URL)(keys=[key], args=[ttl]))
        except redis.RedisError:
            # An unreachable Redis must not take the API down with it; health reports it.
            logger.warning("Rate limiter cannot reach Redis; request allowed")
            return None
    try:
        cache.add(key, 0, ttl)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, ttl)
            return 1
    except Exception as exc:
        # The same rule for any configured cache backend: its outage is health's to report.
        logger.warning("Rate limiter cannot reach the cache (%s); request allowed", type(exc).__name__)
        return None


@dataclass(frozen=True)
class Counted:
    """A request that was already counted in ``bucket`` by another Redis call of the same
    request (bearer authentication's, see apps/accounts/credential_cache.py)."""

    bucket: str
    count: int
    reset: int
    key: str  # the counter, to take the count back (uncount)


def bucket_key(bucket: str, window: int = WINDOW_SECONDS) -> tuple[str, int]:
    """The counter's key for the current window, and when that window ends."""
    now = int(time.time())
    window_start = now - now % window
    return f"{settings.CACHE_KEY_PREFIX}:rl:{bucket}:{window_start}", window_start + window


def hit(bucket: str, limit: int, window: int = WINDOW_SECONDS) -> Budget:
    """Count one request against ``bucket`` and return what is left of its budget."""
    key, reset = bucket_key(bucket, window)
    count = _count(key, window + 5)
    used = 0 if count is None else count
    return Budget(limit=limit, remaining=limit - used, reset=reset)


def uncount(counted: Counted) -> None:
    """Takes back a request counted for a credential that then failed authentication (revoked
    or expired while still cached): its owner's budget must not pay for it; it is counted by
    client address instead, as any refused caller."""
    if not settings.REDIS_URL:
        return
    try:
        _redis_client(settings.REDIS_URL).decr(counted.key)
    except redis.RedisError:
        logger.warning("Rate limiter cannot reach Redis; a refused request stays counted")


def credential_bucket(user: Any, credential: Any) -> tuple[str, str]:
    """(tier, identity) of an authenticated caller: its API key's own, else its user's."""
    own_bucket = getattr(credential, "rate_bucket", None)
    if own_bucket is not None:
        return own_bucket
    return getattr(user, "rate_tier", "standard"), f"user:{user.pk}"


def caller_bucket(request: Request) -> tuple[str, str]:
    """(tier, identity) of the caller: the API key's tier, the user's tier, or anonymous."""
    user = request.user
    if user is not None and user.is_authenticated:
        return credential_bucket(user, request.auth)
    return "anonymous", f"ip:{client_ip(request)}"


class RecordingThrottle(BaseThrottle):
    """Base for throttles that leave their budget on the request for the response headers."""

    budget: Budget | None = None

    def record(self, request: Request, budget: Budget) -> bool:
        self.budget = budget
        request._request.ratelimit = budget  # type: ignore[attr-defined]
        return not budget.exceeded

    def wait(self) -> float | None:
        return self.budget.wait() if self.budget else None


class TierRateThrottle(RecordingThrottle):
    def allow_request(self, request: Request, view: Any) -> bool:
        if not settings.RATE_LIMIT_ENABLED:
            return True
        tier, identity = caller_bucket(request)
        limit = settings.RATE_LIMITS_PER_MINUTE.get(tier, settings.RATE_LIMITS_PER_MINUTE["standard"])
        bucket = f"{tier}:{identity}"
        counted = getattr(request._request, "ratelimit_counted", None)
        if counted is not None and counted.bucket == bucket:
            return self.record(request, Budget(limit=limit, remaining=limit - counted.count, reset=counted.reset))
        return self.record(request, hit(bucket, limit))


class LoginRateThrottle(RecordingThrottle):
    """Sign-in attempts per client address and per username, whichever runs out first."""

    def allow_request(self, request: Request, view: Any) -> bool:
        if not settings.RATE_LIMIT_ENABLED:
            return True
        limit = settings.RATE_LIMITS_PER_MINUTE["login"]
        budgets = [hit(f"login:ip:{client_ip(request)}", limit)]
        data = request.data if isinstance(request.data, dict) else {}
        name = data.get("username") or data.get("email")
        if isinstance(name, str) and name.strip():
            # Hashed: a typed name must not shape cache keys.
            digest = hashlib.sha256(name.strip().lower().encode()).hexdigest()[:32]
            budgets.append(hit(f"login:user:{digest}", limit))
        return self.record(request, min(budgets, key=lambda budget: budget.remaining))
