"""Fixed-window rate limits by tier, shared through Redis when it is configured.

Each caller is counted once per request in a bucket named by tier and identity (API key,
user or client address). Counters live in Redis when REDIS_URL is set, so every web process
spends one budget; otherwise in the local-memory cache of the single embedded process. How
a process counts between syncs with the others: apps/core/shared_counts.py.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, NamedTuple

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apps.core.conf import hot_settings
from apps.core.net import client_ip
from apps.core.shared_counts import shared_counts

WINDOW_SECONDS = 60


class Budget(NamedTuple):  # a tuple: made on every request, and a frozen dataclass costs more
    limit: int
    remaining: int
    reset: int  # epoch seconds when the window ends

    @property
    def exceeded(self) -> bool:
        return self.remaining < 0

    def wait(self) -> float:
        return max(0.0, self.reset - time.time())


def bucket_key(bucket: str, window: int = WINDOW_SECONDS) -> tuple[str, int]:
    """The counter's key for the current window, and when that window ends."""
    now = int(time.time())
    window_start = now - now % window
    return f"{hot_settings.CACHE_KEY_PREFIX}:rl:{bucket}:{window_start}", window_start + window


def hit(bucket: str, limit: int, window: int = WINDOW_SECONDS, *, exact: bool = False) -> Budget:
    """Count one request against ``bucket`` and return what is left of its budget. Counts
    reach the other processes within RATE_LIMIT_SYNC_MS unless ``exact``
    (apps/core/shared_counts.py)."""
    key, reset = bucket_key(bucket, window)
    count = shared_counts.count(key, ttl=window + 5, limit=limit, exact=exact)
    used = 0 if count is None else count
    return Budget(limit=limit, remaining=limit - used, reset=reset)


def tier_hit(tier: str, identity: str) -> Budget:
    """Counts one request of ``identity`` against its tier's budget (a tier without a limit of
    its own has the standard one)."""
    limits = hot_settings.RATE_LIMITS_PER_MINUTE
    return hit(f"{tier}:{identity}", limits[tier] if tier in limits else limits["standard"])


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
        if not hot_settings.RATE_LIMIT_ENABLED:
            return True
        return self.record(request, tier_hit(*caller_bucket(request)))


class LoginRateThrottle(TierRateThrottle):
    """Sign-in attempts per client address and per username, whichever runs out first. A
    request of another method (a GET answered 405) attempts no sign-in: it spends the
    caller's ordinary budget instead."""

    def allow_request(self, request: Request, view: Any) -> bool:
        if not settings.RATE_LIMIT_ENABLED:
            return True
        if request.method != "POST":
            return super().allow_request(request, view)
        limit = settings.RATE_LIMITS_PER_MINUTE["login"]
        # Exact: a guessed password must not slip past the limit on another process.
        budgets = [hit(f"login:ip:{client_ip(request)}", limit, exact=True)]
        # Decided before the body is parsed: a malformed body (400) still answers with the
        # X-RateLimit-* headers, and an address over budget gets its 429 whatever it sent.
        if not self.record(request, budgets[0]):
            return False
        data = request.data if isinstance(request.data, dict) else {}
        name = data.get("username") or data.get("email")
        if isinstance(name, str) and name.strip():
            # Hashed: a typed name must not shape cache keys.
            digest = hashlib.sha256(name.strip().lower().encode()).hexdigest()[:32]
            budgets.append(hit(f"login:user:{digest}", limit, exact=True))
        return self.record(request, min(budgets, key=lambda budget: budget.remaining))
