from __future__ import annotations

import functools

from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.credential_cache import credential_cached
from apps.accounts.credentials import ACCESS_TOKEN_PREFIX, API_KEY_PREFIX, credential_hash
from apps.accounts.models import ApiKey, AuthSession, User

# Unique lookups on the hot path of every request, cached (apps/accounts/credential_cache.py).
# The queryset is built only on a cache miss: building it cost as much as the cache hit's
# own CPU (bench/profile_stack.py). .order_by() drops the ORDER BY that .first() would add
# from Meta.ordering; the user's password hash stays out of the shared cache (it is loaded
# if ever asked for).
_BEARER_LOOKUPS: dict[str, tuple[type[ApiKey] | type[AuthSession], str]] = {
    API_KEY_PREFIX: (ApiKey, "key_hash"),
    ACCESS_TOKEN_PREFIX: (AuthSession, "access_token_hash"),
}


def _with_user(model: type[ApiKey] | type[AuthSession], field: str, digest: str) -> ApiKey | AuthSession | None:
    return model.objects.filter(**{field: digest}).select_related("user").defer("user__password").order_by().first()


def bearer_credential_get(*, secret: str) -> ApiKey | AuthSession | None:
    """The API key, or the session of the access token, that a bearer secret names (by its
    prefix), cached."""
    lookup = next((found for prefix, found in _BEARER_LOOKUPS.items() if secret.startswith(prefix)), None)
    if lookup is None:
        return None
    digest = credential_hash(secret)
    return credential_cached(credential_hash=digest, load=functools.partial(_with_user, *lookup, digest))


def auth_session_get_by_refresh_token(*, token: str) -> AuthSession | None:
    return (
        AuthSession.objects.select_related("user").filter(refresh_token_hash=credential_hash(token)).order_by().first()
    )


def api_key_list(*, user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at")


def api_key_of(*, user: User, key_id: str) -> ApiKey | None:
    """One of the user's keys, revoked or not."""
    return ApiKey.objects.filter(user=user, pk=key_id).first()


def user_list() -> QuerySet[User]:
    return User.objects.order_by("-date_joined", "-id")


def user_find_by_identifier(*, identifier: str) -> User | None:
    """A user by e-mail address (case-insensitive) when it looks like one, else by username.
    The address first: it is what a person typing one means, whatever usernames exist."""
    identifier = identifier.strip()
    if "@" in identifier:
        user = User.objects.filter(email__iexact=identifier).first()
        if user is not None:
            return user
    return User.objects.filter(username=identifier).first()


def auth_session_is_current(session: AuthSession) -> bool:
    now = timezone.now()
    return session.revoked_at is None and session.access_expires_at > now and session.expires_at > now
