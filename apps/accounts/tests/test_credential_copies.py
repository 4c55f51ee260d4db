"""The near cache of bearer credentials hands each call a copy of what it keeps
(apps/accounts/credential_cache.py): a request may change the ApiKey or AuthSession it got,
and its user, without changing what the next request gets."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts import credential_cache
from apps.accounts.authentication import authenticate_bearer
from apps.accounts.credentials import credential_hash
from apps.accounts.models import ApiKey, AuthSession
from apps.accounts.roles import Role
from apps.accounts.selectors import bearer_credential_get
from apps.accounts.services import auth_session_create
from apps.core import near_cache

pytestmark = pytest.mark.django_db

WAIT_SECONDS = 5.0


def wait_until(condition: Callable[[], bool], *, timeout: float = WAIT_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def kept(secret: str) -> Any:
    """What this process's near cache holds for a secret (None if nothing)."""
    return credential_cache._near.get(credential_hash(secret))


def warm(secret: str) -> Any:
    """Reads the credential until the near cache holds it (on Redis, once this process is
    subscribed); what the filling read returned."""
    assert wait_until(near_cache._bus.ready), "the near cache never subscribed"
    first = bearer_credential_get(secret=secret)
    assert first is not None
    assert kept(secret) is not None
    return first


def token_secret(citizen: Any) -> str:
    return auth_session_create(user=citizen.user).access_token


@pytest.fixture(params=["api key", "access token"])
def secret(request: pytest.FixtureRequest, citizen: Any) -> str:
    return citizen.secret if request.param == "api key" else token_secret(citizen)


def test_each_call_gets_its_own_copy(secret: str) -> None:
    warm(secret)
    one, two = bearer_credential_get(secret=secret), bearer_credential_get(secret=secret)
    held = kept(secret)
    assert isinstance(one, ApiKey | AuthSession)
    assert len({id(one), id(two), id(held)}) == 3
    assert len({id(one.user), id(two.user), id(held.user)}) == 3
    assert len({id(one._state), id(two._state), id(held._state)}) == 3
    fields_caches = [one._state.fields_cache, two._state.fields_cache, held._state.fields_cache]
    assert len({id(cache) for cache in fields_caches}) == 3  # each copy has a dict of its own
    assert one._state.fields_cache["user"] is one.user
    assert one.pk == two.pk == held.pk
    assert one.user.pk == held.user.pk
    assert one._state.adding is False and one._state.db == held._state.db


def test_changing_a_copy_and_its_user_leaves_the_next_copy_alone(secret: str, citizen: Any) -> None:
    warm(secret)
    got = bearer_credential_get(secret=secret)
    got.revoked_at = timezone.now()
    got.user.username = "mallory"
    got.user.role = Role.ADMINISTRATOR
    got.user.is_active = False
    got._state.fields_cache.clear()
    got.__dict__["injected"] = True
    again = bearer_credential_get(secret=secret)
    assert again.revoked_at is None
    assert "injected" not in again.__dict__
    assert again.user.username == "citizen"
    assert again.user.role == Role.CITIZEN
    assert again.user.is_active is True
    assert again._state.fields_cache["user"] is again.user
    with CaptureQueriesContext(connection) as captured:
        assert bearer_credential_get(secret=secret).user.pk == citizen.user.pk
    assert len(captured) == 0  # answered from the near copy, unchanged


def test_the_row_that_filled_the_cache_is_not_the_kept_copy(secret: str) -> None:
    first = warm(secret)
    held = kept(secret)
    assert first is not held and first.user is not held.user
    first.user.username = "changed by the first request"
    assert bearer_credential_get(secret=secret).user.username == "citizen"


def test_the_users_password_is_deferred_in_every_copy(secret: str, citizen: Any) -> None:
    warm(secret)
    got = bearer_credential_get(secret=secret)
    assert "password" not in got.user.__dict__
    assert "password" in got.user.get_deferred_fields()
    with CaptureQueriesContext(connection) as captured:
        assert got.user.check_password("correct horse battery staple 42")  # loaded on demand
    assert len(captured) == 1
    assert "password" in got.user.__dict__
    again = bearer_credential_get(secret=secret)
    assert "password" not in again.user.__dict__  # the load went to that copy only
    assert "password" not in kept(secret).user.__dict__


def test_a_request_touching_its_key_does_not_change_the_kept_copy(citizen: Any) -> None:
    """api_key_touch sets last_used_at on the credential the request got."""
    warm(citizen.secret)
    before = kept(citizen.secret).last_used_at
    user, credential = authenticate_bearer(citizen.secret)
    assert credential.last_used_at is not None and credential.last_used_at != before  # touched
    assert ApiKey.objects.get(pk=credential.pk).last_used_at == credential.last_used_at
    user.first_name = "Changed"
    assert kept(citizen.secret).last_used_at == before
    assert kept(citizen.secret).user.first_name == ""
    _, next_credential = authenticate_bearer(citizen.secret)
    assert next_credential is not credential
    assert next_credential.user.first_name == ""


@override_settings(CREDENTIAL_CACHE_SECONDS=0)
def test_with_the_cache_off_nothing_is_kept(citizen: Any) -> None:
    assert bearer_credential_get(secret=citizen.secret) is not None
    assert bearer_credential_get(secret=citizen.secret) is not None
    assert kept(citizen.secret) is None


def test_the_shared_entry_is_not_the_near_copy(citizen: Any) -> None:
    """On Redis the shared entry is a pickle; on local memory it is one too: a call that
    reads the shared cache gets an object of its own either way."""
    from django.core.cache import cache

    warm(citizen.secret)
    shared = cache.get(credential_cache._key(credential_hash(citizen.secret)))
    assert shared is not None and shared is not kept(citizen.secret)
    assert shared.user is not kept(citizen.secret).user
    assert settings.CREDENTIAL_CACHE_SECONDS > 0
