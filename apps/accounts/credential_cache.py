"""A shared cache of bearer credentials: key hash -> the ApiKey or AuthSession with its user.

Looking the credential up in PostgreSQL was about three quarters of the CPU time of an
authenticated request (bench/profile_stack.py). Entries live in Django's default cache —
Redis when REDIS_URL is set — so that one deletion reaches every process: every write that
revokes, rotates or deletes a credential, or changes its user, forgets the entries at once
and again after commit, with tombstones (read-through entries, see apps.core.cache).
Expiry and revocation are still checked on every request from the cached row;
CREDENTIAL_CACHE_SECONDS (0 turns the cache off) only bounds a change
made behind the application's back, such as raw SQL. Without a reachable cache every
lookup reads the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from apps.core.cache import TOMBSTONE, cache_bury, cache_filled, cache_forget, cache_read_through
from apps.core.ratelimit import WINDOW_SECONDS, Counted, bucket_key

T = TypeVar("T")
logger = logging.getLogger(__name__)

WHAT = "credentials"


def _key(credential_hash: str) -> str:
    return f"cred:{credential_hash}"


def credential_cached(*, credential_hash: str, load: Callable[[], T | None]) -> T | None:
    """The cached credential for a hash, or load() it and remember what was found."""
    if settings.CREDENTIAL_CACHE_SECONDS <= 0:
        return load()
    return cache_read_through(_key(credential_hash), load, settings.CREDENTIAL_CACHE_SECONDS, what=WHAT)


# --- counting the request in the same round trip ---------------------------------------
#
# An authenticated API request made two Redis calls: this cache, then the rate limiter's
# counter; each cost about a fifth of the request's CPU (bench/profile_stack.py). A process
# that has seen a credential knows its rate-limit bucket (an API key's own, or its user's),
# so the next request reads the credential and counts itself in one script. The bucket is
# only remembered: if it has changed (a new tier), the throttle sees a different bucket,
# counts in the right one itself, and the new one is remembered.

_GET_AND_COUNT = """
local found = redis.call('GET', KEYS[1])
if (not found) or found == ARGV[1] then return {found, false} end
local count = redis.call('INCR', KEYS[2])
if count == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return {found, count}
"""
_BUCKETS_KEPT = 10_000
_buckets: dict[str, str] = {}  # credential hash -> its rate-limit bucket, as this process last saw it


def credential_bucket_remember(*, credential_hash: str, bucket: str) -> None:
    if _buckets.get(credential_hash) != bucket:
        if len(_buckets) >= _BUCKETS_KEPT:
            _buckets.clear()
        _buckets[credential_hash] = bucket


def credential_bucket_forget(*, credential_hash: str) -> None:
    _buckets.pop(credential_hash, None)


def credential_cached_counted(*, credential_hash: str, load: Callable[[], T | None]) -> tuple[T | None, Counted | None]:
    """As credential_cached, and when the cache is Redis and this process knows the
    credential's bucket, the request counted there by the same round trip (else None: the
    throttle counts it)."""
    bucket = _buckets.get(credential_hash)
    script = getattr(cache, "script", None)
    if bucket is None or script is None or settings.CREDENTIAL_CACHE_SECONDS <= 0 or not settings.RATE_LIMIT_ENABLED:
        return credential_cached(credential_hash=credential_hash, load=load), None
    key = _key(credential_hash)
    counter, reset = bucket_key(bucket)
    try:
        found, count = script(_GET_AND_COUNT)(
            keys=[cache.make_and_validate_key(key), counter], args=[cache.encode(TOMBSTONE), WINDOW_SECONDS + 5]
        )
    except Exception as exc:  # as cache_tolerant: the database answers, the throttle counts
        logger.warning("Cache unreachable for credentials (%s)", type(exc).__name__)
        return load(), None
    if count is None:  # nothing cached, or a tombstone
        found = None if found is None else TOMBSTONE
        return cache_filled(key, found, load, settings.CREDENTIAL_CACHE_SECONDS, what=WHAT), None
    return cache.decode(found), Counted(bucket=bucket, count=int(count), reset=reset, key=counter)


def credentials_forget(*, credential_hashes: Iterable[str]) -> None:
    cache_forget([_key(h) for h in credential_hashes if h], what=WHAT)


def credentials_forget_user(*, user_id: object) -> None:
    """Forget every cached credential of a user (their role, tier or active flag changed),
    now and, with the credentials as they are then, after commit: a sign-in that commits
    in between adds a session this transaction cannot see."""
    keys = _user_keys(user_id)
    if keys:
        cache_bury(keys, what=WHAT)
    transaction.on_commit(lambda: cache_bury(_user_keys(user_id), what=WHAT))


def _user_keys(user_id: object) -> list[str]:
    from apps.accounts.models import ApiKey, AuthSession

    hashes = list(ApiKey.objects.filter(user_id=user_id).values_list("key_hash", flat=True))
    hashes += AuthSession.objects.filter(user_id=user_id, revoked_at__isnull=True).values_list(
        "access_token_hash", flat=True
    )
    return [_key(h) for h in hashes if h]
