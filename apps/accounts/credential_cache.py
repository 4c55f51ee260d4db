"""A shared cache of bearer credentials: key hash -> the ApiKey or AuthSession with its user.

Looking the credential up in PostgreSQL was about three quarters of the CPU time of an
authenticated request (bench/profile_stack.py). Entries live in Django's default cache —
Redis when REDIS_URL is set — so that one deletion reaches every process: every write that
revokes, rotates or deletes a credential, or changes its user, forgets the entries at once
and again after commit. Forgetting leaves a short-lived tombstone, and entries are only
ever added where nothing is (``cache.add``), so a request that read the old row just before
the commit cannot put it back. Expiry and revocation are still checked on every request
from the cached row; CREDENTIAL_CACHE_SECONDS (0 turns the cache off) only bounds a change
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

from apps.core.cache import cache_tolerant
from apps.core.ratelimit import WINDOW_SECONDS, Counted, bucket_key

T = TypeVar("T")
logger = logging.getLogger(__name__)


TOMBSTONE = "forgotten"
TOMBSTONE_SECONDS = 10  # longer than the write that forgets takes to commit, in practice


def _key(credential_hash: str) -> str:
    return f"cred:{credential_hash}"


def credential_cached(*, credential_hash: str, load: Callable[[], T | None]) -> T | None:
    """The cached credential for a hash, or load() it and remember what was found."""
    if settings.CREDENTIAL_CACHE_SECONDS <= 0:
        return load()
    key = _key(credential_hash)
    return _found_or_loaded(key, cache_tolerant(lambda: cache.get(key), default=None, what="credentials"), load)


def _found_or_loaded(key: str, found: object, load: Callable[[], T | None]) -> T | None:
    if found == TOMBSTONE:  # just changed: read the database until the tombstone lapses
        return load()
    if found is None:
        found = load()
        if found is not None:  # unknown secrets are not remembered: they would fill the cache
            ttl = settings.CREDENTIAL_CACHE_SECONDS
            cache_tolerant(lambda: cache.add(key, found, ttl), default=False, what="credentials")
    return found  # type: ignore[return-value]


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
    if count is None:
        return _found_or_loaded(key, None if found is None else TOMBSTONE, load), None
    return cache.decode(found), Counted(bucket=bucket, count=int(count), reset=reset, key=counter)


def credentials_forget(*, credential_hashes: Iterable[str]) -> None:
    keys = [_key(h) for h in credential_hashes if h]
    if not keys:
        return
    _bury(keys)
    transaction.on_commit(lambda: _bury(keys))


def _bury(keys: list[str]) -> None:
    # If this fails, an entry that outlives the outage ends within CREDENTIAL_CACHE_SECONDS.
    cache_tolerant(
        lambda: cache.set_many(dict.fromkeys(keys, TOMBSTONE), TOMBSTONE_SECONDS),
        default=None,
        what="forgetting credentials",
        level=logging.ERROR,
    )


def credentials_forget_user(*, user_id: object) -> None:
    """Forget every cached credential of a user (their role, tier or active flag changed),
    now and, with the credentials as they are then, after commit: a sign-in that commits
    in between adds a session this transaction cannot see."""
    keys = _user_keys(user_id)
    if keys:
        _bury(keys)
    transaction.on_commit(lambda: _bury(_user_keys(user_id)))


def _user_keys(user_id: object) -> list[str]:
    from apps.accounts.models import ApiKey, AuthSession

    hashes = list(ApiKey.objects.filter(user_id=user_id).values_list("key_hash", flat=True))
    hashes += AuthSession.objects.filter(user_id=user_id, revoked_at__isnull=True).values_list(
        "access_token_hash", flat=True
    )
    return [_key(h) for h in hashes if h]
