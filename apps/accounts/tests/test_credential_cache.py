"""Cached bearer credentials: the database is asked once, and every change that must end a
credential's use takes effect on the very next request, with the cache warm."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.credential_cache import TOMBSTONE, _key, credential_cached, credentials_forget
from apps.accounts.credentials import credential_hash
from apps.accounts.models import ApiKey, AuthSession, User
from apps.accounts.roles import Role
from apps.accounts.tests.helpers import (
    LOGOUT,
    REFRESH,
    USERS,
    VALIDATE,
    api_key_url,
    assert_error,
    assert_ok,
    bearer,
    login_tokens,
    user_url,
)
from conftest import Api

pytestmark = pytest.mark.django_db


def credential_queries(client: Api) -> list[str]:
    """The SQL of one validate request that reads an API key or a sign-in session."""
    with CaptureQueriesContext(connection) as captured:
        assert_ok(client.get(VALIDATE))
    return [q["sql"] for q in captured if "accounts_apikey" in q["sql"] or "accounts_authsession" in q["sql"]]


def warm(client: Api) -> None:
    assert_ok(client.get(VALIDATE))


def test_an_api_key_is_read_from_the_database_once(citizen):
    assert credential_queries(citizen.client)  # first use: looked up (and last_used_at written)
    assert credential_queries(citizen.client) == []


def test_an_access_token_is_read_from_the_database_once(citizen):
    client = bearer(login_tokens("citizen")["access_token"])
    assert credential_queries(client)
    assert credential_queries(client) == []


@override_settings(CREDENTIAL_CACHE_SECONDS=0)
def test_zero_seconds_turns_the_cache_off(citizen):
    credential_queries(citizen.client)
    assert any("accounts_apikey" in sql for sql in credential_queries(citizen.client))


def test_an_unknown_key_is_not_remembered(db):
    client = bearer("cai_00000000_" + "x" * 43)
    for _ in range(2):
        with CaptureQueriesContext(connection) as captured:
            assert_error(client.get(VALIDATE), 401, "INVALID_API_KEY")
        assert any("accounts_apikey" in q["sql"] for q in captured)


def test_revoking_a_key_through_the_api_ends_it_at_once(citizen):
    warm(citizen.client)
    other = Api()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {citizen.secret}")
    assert citizen.delete(api_key_url(citizen.api_key.pk)).status_code in (200, 204)
    assert_error(other.get(VALIDATE), 401, "INVALID_API_KEY")


def test_a_key_deleted_in_the_admin_ends_at_once(citizen):
    warm(citizen.client)
    ApiKey.objects.get(pk=citizen.api_key.pk).delete()
    assert_error(citizen.get(VALIDATE), 401, "INVALID_API_KEY")


def test_a_key_revoked_by_saving_the_row_ends_at_once(citizen):
    warm(citizen.client)
    key = ApiKey.objects.get(pk=citizen.api_key.pk)
    key.revoked_at = timezone.now()
    key.save()
    assert_error(citizen.get(VALIDATE), 401, "INVALID_API_KEY")


def test_an_expired_key_is_refused_even_when_cached(citizen, monkeypatch):
    from apps.accounts import authentication

    key = ApiKey.objects.get(pk=citizen.api_key.pk)
    key.expires_at = timezone.now() + timedelta(hours=1)
    key.save()
    cache.delete(_key(credential_hash(citizen.secret)))  # as when the save's tombstone lapses
    warm(citizen.client)
    later = timezone.now() + timedelta(hours=2)
    monkeypatch.setattr(authentication, "timezone", SimpleNamespace(now=lambda: later))
    with CaptureQueriesContext(connection) as captured:
        assert_error(citizen.get(VALIDATE), 401, "INVALID_API_KEY")
    assert not any("accounts_apikey" in q["sql"] for q in captured)  # refused from the cached row


def test_deactivating_the_user_ends_their_keys_and_tokens_at_once(administrator, citizen):
    token_client = bearer(login_tokens("citizen")["access_token"])
    warm(citizen.client)
    warm(token_client)
    assert_ok(administrator.put(user_url(citizen.user.pk), {"active": False}))
    assert_error(citizen.get(VALIDATE), 401, "INVALID_API_KEY")
    assert token_client.get(VALIDATE).status_code == 401


def test_a_role_change_applies_to_the_next_request(administrator, citizen):
    assert_error(citizen.get(USERS), 403, "PERMISSION_DENIED")
    user = User.objects.get(pk=citizen.user.pk)
    user.role = Role.ADMINISTRATOR
    user.save()
    assert_ok(citizen.get(USERS))


def test_logout_ends_the_access_token_at_once(citizen):
    client = bearer(login_tokens("citizen")["access_token"])
    warm(client)
    assert client.post(LOGOUT).status_code in (200, 204)
    assert client.get(VALIDATE).status_code == 401


def test_refresh_ends_the_old_access_token_at_once(citizen):
    tokens = login_tokens("citizen")
    old = bearer(tokens["access_token"])
    warm(old)
    fresh = assert_ok(Api().call("post", REFRESH, {"refresh_token": tokens["refresh_token"]}))
    assert old.get(VALIDATE).status_code == 401
    warm(bearer(fresh["access_token"]))


def test_revoking_every_session_of_a_user_ends_each_cached_token(citizen):
    from apps.accounts.services import auth_session_revoke_all

    clients = [bearer(login_tokens("citizen")["access_token"]) for _ in range(2)]
    for client in clients:
        warm(client)
    auth_session_revoke_all(user=citizen.user)
    assert all(client.get(VALIDATE).status_code == 401 for client in clients)
    assert not AuthSession.objects.filter(user=citizen.user, revoked_at__isnull=True).exists()


@override_settings(API_KEY_LAST_USED_RESOLUTION=3600)
def test_last_used_is_written_once_per_resolution_while_cached(citizen):
    with CaptureQueriesContext(connection) as captured:
        for _ in range(5):
            warm(citizen.client)
    writes = [q for q in captured if q["sql"].startswith("UPDATE") and "last_used_at" in q["sql"]]
    assert len(writes) == 1
    assert ApiKey.objects.get(pk=citizen.api_key.pk).last_used_at is not None


def test_an_unreachable_cache_falls_back_to_the_database(citizen, monkeypatch):
    def broken(*args: object, **kwargs: object) -> object:
        raise ConnectionError("cache down")

    for name in ("get", "set", "delete_many"):
        monkeypatch.setattr(cache, name, broken)
    assert credential_queries(citizen.client)
    assert citizen.delete(api_key_url(citizen.api_key.pk)).status_code in (200, 204)
    assert_error(citizen.get(VALIDATE), 401, "INVALID_API_KEY")


def test_a_row_read_before_a_revocation_committed_is_not_put_back(citizen):
    digest = credential_hash(citizen.secret)
    stale = ApiKey.objects.select_related("user").get(pk=citizen.api_key.pk)  # read before the revoke
    credentials_forget(credential_hashes=[digest])
    assert credential_cached(credential_hash=digest, load=lambda: stale) is stale  # answered, not kept
    assert cache.get(_key(digest)) == TOMBSTONE


def test_a_session_opened_while_a_deactivation_commits_is_forgotten_too(citizen, django_capture_on_commit_callbacks):
    from apps.accounts.services import auth_session_create

    with django_capture_on_commit_callbacks(execute=True):
        user = User.objects.get(pk=citizen.user.pk)
        user.is_active = False
        user.save()
        late = auth_session_create(user=user)  # commits between the save's query and the commit
    assert cache.get(_key(credential_hash(late.access_token))) == TOMBSTONE


def test_the_cached_user_carries_no_password_hash(citizen):
    warm(citizen.client)
    cached = cache.get(_key(credential_hash(citizen.secret)))
    assert "password" not in cached.user.__dict__
