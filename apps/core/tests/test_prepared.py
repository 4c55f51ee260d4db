"""PreparedLookup: the instances the queryset would give, from SQL compiled once."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.models import F, Prefetch
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import ApiKey, User
from apps.accounts.services import api_key_create
from apps.core.prepared import PreparedLookup

pytestmark = pytest.mark.django_db


def keys_by_name() -> PreparedLookup[ApiKey]:
    return PreparedLookup(
        field=ApiKey._meta.get_field("name"),
        marker="\x00marker",
        build=lambda value: ApiKey.objects.select_related("user")
        .annotate(owner_name=F("user__username"))
        .filter(name=value)
        .order_by("name"),
    )


def test_it_gives_what_the_queryset_gives_for_each_value():
    alice = User.objects.create_user(username="alice", email="alice@example.org", password=None)
    bob = User.objects.create_user(username="bob", email="bob@example.org", password=None)
    api_key_create(user=alice, name="first")
    api_key_create(user=bob, name="second")
    api_key_create(user=bob, name="second")
    lookup = keys_by_name()
    for name in ("first", "second", "missing"):
        expected = list(ApiKey.objects.filter(name=name).order_by("name"))
        found = lookup(name)
        assert [key.pk for key in found] == [key.pk for key in expected]
        for key in found:
            assert key.user.username == key.owner_name  # the joined instance and the annotation
            assert key.key_hash == ApiKey.objects.get(pk=key.pk).key_hash


def test_the_second_call_compiles_nothing_and_sends_one_statement():
    alice = User.objects.create_user(username="alice", email="alice@example.org", password=None)
    api_key_create(user=alice, name="first")
    lookup = keys_by_name()
    lookup("first")
    with CaptureQueriesContext(connection) as queries:
        assert lookup("first")[0].user == alice
    assert len(queries) == 1
    assert "marker" not in queries[0]["sql"]


def test_prefetch_lookups_are_applied():
    alice = User.objects.create_user(username="alice", email="alice@example.org", password=None)
    for name in ("a", "b"):
        api_key_create(user=alice, name=name)
    lookup = PreparedLookup(
        field=User._meta.get_field("username"),
        marker="\x00marker",
        build=lambda value: User.objects.filter(username=value).prefetch_related(
            Prefetch("api_keys", queryset=ApiKey.objects.order_by("name"))
        ),
    )
    (user,) = lookup("alice")
    with CaptureQueriesContext(connection) as queries:
        assert [key.name for key in user.api_keys.all()] == ["a", "b"]
    assert len(queries) == 0


def test_a_uuid_key_is_prepared_for_the_database():
    alice = User.objects.create_user(username="alice", email="alice@example.org", password=None)
    key, _ = api_key_create(user=alice, name="first")
    lookup = PreparedLookup(
        field=ApiKey._meta.pk, marker=uuid.UUID(int=0), build=lambda value: ApiKey.objects.filter(pk=value)
    )
    assert [found.pk for found in lookup(key.pk)] == [key.pk]
    assert lookup(uuid.uuid4()) == []


def test_a_build_that_does_not_use_the_marker_once_is_refused():
    lookup = PreparedLookup(
        field=ApiKey._meta.get_field("name"), marker="\x00marker", build=lambda value: ApiKey.objects.all()
    )
    with pytest.raises(ValueError, match="exactly once"):
        lookup("first")
