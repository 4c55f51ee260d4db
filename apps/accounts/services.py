"""Writes for accounts: users, sign-in sessions, API keys, login lockout."""

from __future__ import annotations

import copy
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts import credentials
from apps.accounts.credential_cache import credentials_forget
from apps.accounts.errors import AccountLocked, LoginFailed, RefreshFailed, RefreshReused
from apps.accounts.models import ApiKey, AuthSession, RetiredRefreshToken, User
from apps.accounts.roles import Role, Tier
from apps.accounts.selectors import (
    auth_session_get_by_refresh_token,
    user_find_by_identifier,
)
from apps.core.cache import CACHE_OUTAGE
from apps.core.conf import hot_settings
from apps.core.exceptions import Conflict

logger = logging.getLogger(__name__)
T = TypeVar("T")

# --- users -----------------------------------------------------------------------------


def _check_password(password: str, user: User) -> None:
    if user.email and user.username.lower() == user.email.lower():
        # The username is the address (a sign-up without one): compared as the address, so a
        # refusal names the e-mail address the form asked for, not a "username" it never showed.
        user = copy.copy(user)
        user.username = ""
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None


def _check_unique(*, username: str | None, email: str | None, exclude: User | None = None) -> None:
    """Every name a user signs in with (username or e-mail address, in any case) names one
    account only: a username that is someone else's address would take their sign-in by
    address, and ADMIN beside admin would pass for it."""
    errors: dict[str, list[str]] = {}
    others = User.objects.exclude(pk=exclude.pk) if exclude is not None else User.objects.all()
    if username is not None:
        if others.filter(username__iexact=username).exists():
            errors["username"] = ["A user with that username already exists."]
        elif "@" in username and others.filter(email__iexact=username).exists():
            errors["username"] = ["That is another user's e-mail address."]
    if email and others.filter(Q(email__iexact=email) | Q(username__iexact=email)).exists():
        errors["email"] = ["A user with that e-mail address already exists."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def user_create(
    *,
    username: str,
    email: str,
    password: str,
    role: str = Role.CITIZEN,
    active: bool = True,
    first_name: str = "",
    last_name: str = "",
    department: str = "",
) -> User:
    _check_unique(username=username, email=email)
    user = User(
        username=username,
        email=email,
        role=role,
        is_active=active,
        first_name=first_name,
        last_name=last_name,
        department=department,
    )
    _check_password(password, user)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # lost a race with a concurrent sign-up for the same name
        raise ValidationError({"username": ["A user with that username or e-mail already exists."]}) from None
    return user


def _username_for_address(email: str) -> str:
    """The username a sign-up is given: its address, or, for an address too long to be a
    username, a made-up one (the account still signs in by address)."""
    if len(email) <= User._meta.get_field("username").max_length:
        return email.lower()
    return f"user-{secrets.token_hex(6)}"


def user_register(*, email: str, password: str, name: str, username: str | None = None) -> User:
    first_name, _, last_name = name.strip().partition(" ")
    try:
        return user_create(
            username=username or _username_for_address(email),
            email=email,
            password=password,
            first_name=first_name[:150],
            last_name=last_name.strip()[:150],
        )
    except ValidationError as exc:
        if username or not hasattr(exc, "error_dict") or "username" not in exc.error_dict:
            raise
        # The username is the address itself here: a taken one is the address's error, not
        # one of a field the caller never sent.
        errors = dict(exc.message_dict)
        errors.pop("username")
        errors.setdefault("email", ["A user with that e-mail address already exists."])
        raise ValidationError(errors) from None


@transaction.atomic
def user_update(*, user: User, actor: User, data: dict[str, Any]) -> User:
    """Apply a profile change. Only administrators change roles, tiers or the active flag,
    and nobody changes their own role or active flag."""
    is_admin = "users.manage" in actor.permissions
    own = actor.pk == user.pk
    current = {"role": user.role, "active": user.is_active, "rate_tier": user.rate_tier}
    for field, value in current.items():
        # Sending the value unchanged (a client PUTting back what it read) is no change.
        if field in data and data[field] != value and (own or not is_admin):
            raise PermissionDenied(f"You may not change {'your own' if own else 'this'} {field}.")
    if "email" in data:
        _check_unique(username=None, email=data["email"], exclude=user)
        if user.username.lower() == user.email.lower():
            # A sign-up's username is its address (user_register): it follows the address, or
            # the old one would still sign in here and stay taken for anyone else.
            user.username = _username_for_address(data["email"])
        user.email = data["email"]
    if "role" in data:
        user.role = data["role"]
    if "rate_tier" in data:
        user.rate_tier = data["rate_tier"]
    if "active" in data:
        user.is_active = data["active"]
        if not data["active"]:
            auth_session_revoke_all(user=user)
    profile = data.get("profile") or {}
    for field in ("first_name", "last_name", "department"):
        if field in profile:
            setattr(user, field, profile[field])
    if "password" in data:
        if own and not user.check_password(data.get("current_password") or ""):
            raise ValidationError({"current_password": ["Your current password is required and must be correct."]})
        _check_password(data["password"], user)
        user.set_password(data["password"])
        auth_session_revoke_all(user=user)
    try:
        user.save()
    except IntegrityError:  # lost a race with another account taking the same address
        raise ValidationError({"email": ["A user with that e-mail address already exists."]}) from None
    return user


def user_delete(*, user: User, actor: User) -> None:
    if user.pk == actor.pk:
        raise Conflict("You cannot delete your own account.")
    user.delete()


# --- sign-in ---------------------------------------------------------------------------


def _lock_key(identifier: str) -> str:
    return f"login-lock:{identifier.strip().lower()[:150]}"


def _failure_key(identifier: str) -> str:
    return f"login-failures:{identifier.strip().lower()[:150]}"


# Lockout lives in the shared cache. While it cannot be reached, each process keeps its own
# lockout counts instead (as the rate limiter keeps its own counts), so sign-in neither
# stops for everyone nor loses its limit; only an outage's errors are caught.
_LOCAL_LOCKOUT = LocMemCache("citizenai-sign-in-lockout", {"OPTIONS": {"MAX_ENTRIES": 10_000}})


def _lockout(operation: Callable[[BaseCache], T]) -> T:
    try:
        return operation(cache)
    except CACHE_OUTAGE as exc:
        logger.warning("Cache unreachable for sign-in lockout (%s); counting in this process", type(exc).__name__)
        return operation(_LOCAL_LOCKOUT)


def login_lock_remaining(*, identifier: str) -> float:
    # The process's own store too: a lockout made there during an outage outlasts the outage.
    key = _lock_key(identifier)
    unlock_at = max(float(_lockout(lambda store: store.get(key)) or 0), float(_LOCAL_LOCKOUT.get(key) or 0))
    return max(0.0, unlock_at - time.time())


def login_failure_record(*, identifier: str) -> None:
    """Count a failure for the account name (known or not, so lockout reveals nothing)."""
    window = settings.LOGIN_LOCKOUT_SECONDS
    key = _failure_key(identifier)

    def record(store: BaseCache) -> None:
        store.add(key, 0, window)
        try:
            failures = store.incr(key)
        except ValueError:
            store.set(key, 1, window)
            failures = 1
        if failures >= settings.LOGIN_LOCKOUT_THRESHOLD:
            store.set(_lock_key(identifier), time.time() + window, window)
            store.delete(key)

    _lockout(record)


def login_failures_clear(*, identifier: str) -> None:
    keys = [_failure_key(identifier), _lock_key(identifier)]
    _lockout(lambda store: store.delete_many(keys))


def user_authenticate(*, identifier: str, password: str, request: HttpRequest | None = None) -> User:
    """The user for these credentials, or LoginFailed / AccountLocked.

    Failures of a known account are counted against the account, however it was named
    (username or e-mail, in any case), so alternating between them gains no attempts."""
    found = user_find_by_identifier(identifier=identifier)
    # Distinct namespaces, so no typed name can collide with an account's key.
    account = f"id:{found.pk}" if found is not None else f"name:{identifier}"
    remaining = login_lock_remaining(identifier=account)
    if remaining > 0:
        raise AccountLocked(wait=remaining)
    username = found.username if found is not None else identifier
    user = authenticate(request, username=username, password=password)
    if user is None:
        login_failure_record(identifier=account)
        raise LoginFailed()
    login_failures_clear(identifier=account)
    return user  # type: ignore[return-value]


@dataclass(frozen=True)
class IssuedSession:
    session: AuthSession
    access_token: str
    refresh_token: str


def _session_lifetime(remember_me: bool) -> timedelta:
    return timedelta(seconds=settings.REMEMBER_ME_TTL if remember_me else settings.REFRESH_TOKEN_TTL)


def auth_session_create(
    *, user: User, remember_me: bool = False, ip_address: str | None = None, user_agent: str = ""
) -> IssuedSession:
    now = timezone.now()
    access, refresh = credentials.new_access_token(), credentials.new_refresh_token()
    session = AuthSession.objects.create(
        user=user,
        access_token_hash=credentials.credential_hash(access),
        refresh_token_hash=credentials.credential_hash(refresh),
        access_expires_at=now + timedelta(seconds=settings.ACCESS_TOKEN_TTL),
        expires_at=now + _session_lifetime(remember_me),
        remember_me=remember_me,
        created_at=now,
        ip_address=ip_address if ip_address and ip_address != "unknown" else None,
        user_agent=user_agent[:255],
    )
    User.objects.filter(pk=user.pk).update(last_login=now)
    return IssuedSession(session, access, refresh)


def auth_session_refresh(*, refresh_token: str) -> IssuedSession:
    """Rotate both tokens of a session. The old refresh token stops working, and whoever
    presents it again signs the session out for everyone (RetiredRefreshToken)."""
    token_hash = credentials.credential_hash(refresh_token)
    issued = _auth_session_rotate(refresh_token=refresh_token, token_hash=token_hash)
    if issued is not None:
        return issued
    retired = RetiredRefreshToken.objects.filter(token_hash=token_hash).first()
    if retired is None:
        raise RefreshFailed()
    # Outside the rotation's transaction: the refusal must not roll the revocation back.
    _auth_sessions_revoke(AuthSession.objects.filter(pk=retired.session_id))
    logger.warning("A spent refresh token was presented again; session %s signed out", retired.session_id)
    raise RefreshReused()


@transaction.atomic
def _auth_session_rotate(*, refresh_token: str, token_hash: str) -> IssuedSession | None:
    """The new pair, or None when the token is not the session's current one (a spent one
    included: a concurrent refresh may have spent it while this one waited for the lock)."""
    found = auth_session_get_by_refresh_token(token=refresh_token)
    if found is None:
        return None
    session = AuthSession.objects.select_for_update().select_related("user").get(pk=found.pk)
    if session.refresh_token_hash != token_hash:
        return None
    now = timezone.now()
    if session.revoked_at is not None or session.expires_at <= now or not session.user.is_active:
        raise RefreshFailed()
    access, refresh = credentials.new_access_token(), credentials.new_refresh_token()
    credentials_forget(credential_hashes=[session.access_token_hash])  # the old access token ends here
    RetiredRefreshToken.objects.create(token_hash=token_hash, session=session, retired_at=now)
    session.access_token_hash = credentials.credential_hash(access)
    session.refresh_token_hash = credentials.credential_hash(refresh)
    session.access_expires_at = min(now + timedelta(seconds=settings.ACCESS_TOKEN_TTL), session.expires_at)
    session.refreshed_at = now
    session.save(update_fields=["access_token_hash", "refresh_token_hash", "access_expires_at", "refreshed_at"])
    return IssuedSession(session, access, refresh)


def auth_session_revoke(*, session: AuthSession) -> None:
    AuthSession.objects.filter(pk=session.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    credentials_forget(credential_hashes=[session.access_token_hash])


# A browser's Django session remembers the token session its API login created, so that
# signing out with the cookie (API logout or the sign-out page) revokes those tokens too.
LINKED_AUTH_SESSION = "auth_session_id"


def auth_session_link(*, django_session: Any, session: AuthSession) -> None:
    django_session[LINKED_AUTH_SESSION] = str(session.pk)


def auth_session_revoke_linked(*, django_session: Any, user: Any) -> None:
    linked = django_session.get(LINKED_AUTH_SESSION)
    if linked and user is not None and user.is_authenticated:
        _auth_sessions_revoke(AuthSession.objects.filter(pk=linked, user_id=user.pk))


def auth_session_revoke_all(*, user: User) -> None:
    _auth_sessions_revoke(AuthSession.objects.filter(user=user))


def _auth_sessions_revoke(sessions: QuerySet[AuthSession]) -> None:
    current = sessions.filter(revoked_at__isnull=True)
    hashes = list(current.values_list("access_token_hash", flat=True))
    current.update(revoked_at=timezone.now())
    credentials_forget(credential_hashes=hashes)


# --- API keys --------------------------------------------------------------------------


def api_key_may_choose_tier(*, user: User) -> bool:
    """Administrators give a key another rate-limit tier than their own; others may not."""
    return "users.manage" in user.permissions


def api_key_create(
    *, user: User, name: str, tier: str | None = None, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """A new key and its secret, which is returned once and never stored."""
    if tier is not None and tier != user.rate_tier and not api_key_may_choose_tier(user=user):
        raise PermissionDenied("Only administrators may choose a key's tier.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["Must be in the future."]})
    secret, prefix = credentials.new_api_key()
    key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        key_hash=credentials.credential_hash(secret),
        tier=tier or user.rate_tier or Tier.STANDARD,
        expires_at=expires_at,
    )
    return key, secret


def api_key_revoke(*, api_key: ApiKey) -> None:
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    credentials_forget(credential_hashes=[api_key.key_hash])


# When this process last wrote each key's last_used_at (monotonic, and the time written).
# Cached keys carry an old last_used_at, so the row alone cannot tell; a process writes at
# most once per resolution.
_touched: dict[object, tuple[float, datetime]] = {}


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use, at most once per API_KEY_LAST_USED_RESOLUTION seconds per key and process,
    so the hot path does not write on every request."""
    resolution = hot_settings.API_KEY_LAST_USED_RESOLUTION
    mine = _touched.get(api_key.pk)
    if mine is not None and time.monotonic() - mine[0] < resolution:
        return  # written here within the resolution: no datetimes on the hot path
    now = timezone.now()
    last = max(filter(None, (api_key.last_used_at, mine[1] if mine else None)), default=None)
    if last is None or now - last >= timedelta(seconds=resolution):
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
        if len(_touched) > 10_000:
            _touched.clear()
        _touched[api_key.pk] = (time.monotonic(), now)


def credentials_purge_expired() -> int:
    cutoff = timezone.now() - timedelta(days=30)
    _, deleted = AuthSession.objects.filter(expires_at__lt=cutoff).delete()  # with their retired tokens
    return deleted.get(AuthSession._meta.label, 0)
