"""Cached bearer credentials: key hash -> the ApiKey or AuthSession with its user.

Looking the credential up in PostgreSQL was about three quarters of the CPU time of an
authenticated request, and reading it from Redis still cost more than Django's whole
handling of a bare request (bench/profile_stack.py). So there are two levels:

- Django's default cache (Redis when REDIS_URL is set), shared by every process, with
  read-through entries and tombstones (apps.core.cache);
- a copy in each process (apps.core.near_cache), answered without a round trip.

Every write that revokes, rotates or deletes a credential, or changes its user, forgets it
at both levels at once and again after commit: the shared entry is buried first, then
every process drops its copy (its own at once, the others by a message a moment later).
Expiry and revocation are still checked on every request from the cached row;
CREDENTIAL_CACHE_SECONDS (0 turns both levels off) only bounds a change made behind the
application's back, such as raw SQL. Without a reachable cache every lookup reads the
database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from django.db import transaction
from django.db.models import Model
from django.db.models.base import ModelState

from apps.core.cache import TOMBSTONE, cache_bury, cache_read_through
from apps.core.conf import hot_settings
from apps.core.near_cache import NearCache

__all__ = ["TOMBSTONE", "credential_cached", "credentials_forget", "credentials_forget_user"]

M = TypeVar("M", bound=Model)

WHAT = "credentials"
_near: NearCache[Model] = NearCache(WHAT)


def _key(credential_hash: str) -> str:
    return f"cred:{credential_hash}"


def credential_cached(*, credential_hash: str, load: Callable[[], M | None]) -> M | None:
    """The cached credential for a hash, or load() it and remember what was found. Each call
    gets its own copy, since a request may change what it got."""
    ttl = hot_settings.CREDENTIAL_CACHE_SECONDS
    if ttl <= 0:
        return load()
    kept = _near.get(credential_hash)
    if kept is not None:
        return _copy(kept)  # type: ignore[return-value]
    version = _near.version()

    def keep(found: M) -> None:
        _near.put(credential_hash, _copy(found), version=version, ttl=ttl)

    return cache_read_through(_key(credential_hash), load, ttl, what=WHAT, keep=keep)


def _copy(instance: M) -> M:
    """A shallow copy of a model instance and of the related instances it holds (the user)."""
    clone = object.__new__(type(instance))
    clone.__dict__.update(instance.__dict__)
    state = ModelState()
    state.__dict__.update(instance._state.__dict__)
    state.fields_cache = {
        name: _copy(related) if isinstance(related, Model) else related
        for name, related in instance._state.fields_cache.items()
    }
    clone._state = state
    return clone


def _forget(credential_hashes: list[str]) -> None:
    if credential_hashes:
        cache_bury([_key(h) for h in credential_hashes], what=WHAT)
        _near.forget(credential_hashes)


def credentials_forget(*, credential_hashes: Iterable[str]) -> None:
    hashes = [h for h in credential_hashes if h]
    if hashes:
        _forget(hashes)
        transaction.on_commit(lambda: _forget(hashes))


def credentials_forget_user(*, user_id: object) -> None:
    """Forget every cached credential of a user (their role, tier or active flag changed),
    now and, with the credentials as they are then, after commit: a sign-in that commits
    in between adds a session this transaction cannot see."""
    _forget(_user_hashes(user_id))
    transaction.on_commit(lambda: _forget(_user_hashes(user_id)))


def _user_hashes(user_id: object) -> list[str]:
    from apps.accounts.models import ApiKey, AuthSession

    hashes = list(ApiKey.objects.filter(user_id=user_id).values_list("key_hash", flat=True))
    hashes += AuthSession.objects.filter(user_id=user_id, revoked_at__isnull=True).values_list(
        "access_token_hash", flat=True
    )
    return [h for h in hashes if h]


def credentials_forget_here() -> None:
    """Drops this process's copies only (tests start from nothing)."""
    _near.clear()
