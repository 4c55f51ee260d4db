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

T = TypeVar("T")


TOMBSTONE = "forgotten"
TOMBSTONE_SECONDS = 10  # longer than the write that forgets takes to commit, in practice


def _key(credential_hash: str) -> str:
    return f"cred:{credential_hash}"


def credential_cached(*, credential_hash: str, load: Callable[[], T | None]) -> T | None:
    """The cached credential for a hash, or load() it and remember what was found."""
    ttl = settings.CREDENTIAL_CACHE_SECONDS
    if ttl <= 0:
        return load()
    key = _key(credential_hash)
    found = cache_tolerant(lambda: cache.get(key), default=None, what="credentials")
    if found == TOMBSTONE:  # just changed: read the database until the tombstone lapses
        return load()
    if found is None:
        found = load()
        if found is not None:  # unknown secrets are not remembered: they would fill the cache
            cache_tolerant(lambda: cache.add(key, found, ttl), default=False, what="credentials")
    return found


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
