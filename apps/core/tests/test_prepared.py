"""PreparedLookup and PreparedShapes: what the queryset would give, from SQL compiled once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import F, Prefetch
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import ApiKey, User
from apps.accounts.services import api_key_create
from apps.core.prepared import Markers, PreparedLookup, PreparedShapes, Unmarkable

pytestmark = pytest.mark.django_db


def keys_by_name() -> PreparedLookup[ApiKey]:
    return PreparedLookup(
        field=ApiKey._meta.get_field("name"),
        marker="\x00marker",
        build=lambda value: (
            ApiKey.objects.select_related("user")
            .annotate(owner_name=F("user__username"))
            .filter(name=value)
            .order_by("name")
        ),
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


# -- PreparedShapes: rows of values_list() querysets by shape, with markers for the values


def test_a_shape_is_compiled_once_and_answers_for_each_request_values():
    for username in ("alice", "bob", "carol"):
        User.objects.create_user(username=username, email=f"{username}@example.org", password=None)
    shapes = PreparedShapes(size=4)
    builds: list[str] = []

    def build(marked: str) -> Any:
        builds.append(marked)
        return User.objects.filter(username=marked).values_list("username", "email")

    def request(username: str) -> Any:
        return shapes.rows(("by-username",), lambda markers: markers.mark(username), build)

    assert request("alice") == [("alice", "alice@example.org")]
    with CaptureQueriesContext(connection) as queries:
        assert request("bob") == [("bob", "bob@example.org")]
    assert request("nobody") == []
    assert len(builds) == 2 and len(queries) == 1  # built twice (two sets of markers), once
    assert builds[0] != builds[1]


def test_lists_and_dates_are_marked():
    alice = User.objects.create_user(username="alice", email="alice@example.org", password=None)
    User.objects.create_user(username="bob", email="bob@example.org", password=None)
    shapes = PreparedShapes()

    def request(names: list[str], since: Any) -> Any:
        return shapes.rows(
            ("names-since", len(names)),
            lambda markers: (markers.mark(names), markers.mark(since)),
            lambda marked: (
                User.objects.filter(username__in=marked[0], date_joined__gte=marked[1])
                .order_by("username")
                .values_list("username")
            ),
        )

    past = alice.date_joined - timedelta(days=1)
    if connection.vendor != "postgresql":  # SQLite takes datetimes as text: a transformed value
        assert request(["alice", "bob"], past) is None
        return
    assert request(["alice", "bob"], past) == [("alice",), ("bob",)]
    assert request(["bob", "carol"], past) == [("bob",)]
    assert request(["alice", "bob"], alice.date_joined + timedelta(days=1)) == []


@pytest.mark.parametrize(
    "transformed",
    [
        lambda marked: User.objects.filter(username__icontains=marked),  # LIKE '%marker%'
        lambda marked: User.objects.filter(username=marked.upper()),
        lambda marked: User.objects.filter(username=marked[:3]),  # the same for both sets of markers
        lambda marked: User.objects.filter(username="alice" if marked else "bob"),  # the value decides
        lambda marked: User.objects.filter(email__endswith=marked),
    ],
)
def test_a_transformed_or_dropped_value_makes_the_shape_unpreparable(transformed):
    User.objects.create_user(username="alice", email="alice@example.org", password=None)
    shapes = PreparedShapes()
    builds = []

    def build(marked: str) -> Any:
        builds.append(marked)
        return transformed(marked).values_list("username")

    assert shapes.rows(("t",), lambda markers: markers.mark("ali"), build) is None
    assert shapes.rows(("t",), lambda markers: markers.mark("bob"), build) is None
    assert len(builds) == 2  # remembered as unpreparable, not built again


def test_each_generation_of_markers_differs_and_keeps_the_type():
    values = ["word", 7, timezone.now(), uuid.uuid4()]
    first, second = Markers(), Markers(1)
    marked, twin = [first.mark(value) for value in values], [second.mark(value) for value in values]
    assert [type(m) for m in marked] == [type(m) for m in twin] == [type(v) for v in values]
    assert all(a != b for a, b in zip(marked, twin, strict=True))
    assert list(first.values.values()) == values


def test_values_that_shape_the_sql_cannot_be_marked():
    markers = Markers()
    for value in (True, None, 1.5):
        with pytest.raises(Unmarkable):
            markers.mark(value)
    shapes = PreparedShapes()
    with pytest.raises(Unmarkable):
        shapes.rows(("u",), lambda markers: markers.mark(True), lambda marked: User.objects.values_list("pk"))


def test_the_most_recently_used_shapes_are_kept():
    User.objects.create_user(username="alice", email="alice@example.org", password=None)
    shapes = PreparedShapes(size=2)
    builds: list[int] = []

    def request(shape: int) -> Any:
        def build(marked: str) -> Any:
            builds.append(shape)
            return User.objects.filter(username=marked).values_list("username")[:shape]

        return shapes.rows(("limit", shape), lambda markers: markers.mark("alice"), build)

    for shape in (1, 2, 1, 3, 1, 2):
        assert request(shape) == [("alice",)]
    assert builds == [1, 1, 2, 2, 3, 3, 2, 2]  # each built twice; 2 was least recently used when 3 came


def test_what_is_compiled_serves_every_thread_and_keeps_no_thread_connection_alive():
    import gc
    import threading
    import weakref

    from django.db import connections

    builds: list[Any] = []

    def build_key(value: Any) -> Any:
        builds.append(value)
        return ApiKey.objects.filter(pk=value)

    def build_user(marked: Any) -> Any:
        builds.append(marked)
        return User.objects.filter(username=marked).values_list("pk")

    lookup = PreparedLookup(field=ApiKey._meta.pk, marker=uuid.UUID(int=0), build=build_key)
    shapes = PreparedShapes()
    seen: list[Any] = []
    failures: list[BaseException] = []

    def request() -> None:
        try:
            assert lookup(uuid.uuid4()) == []
            assert shapes.rows(("x",), lambda markers: markers.mark("nobody"), build_user) == []
            seen.append(weakref.ref(connections["default"]))
        except BaseException as error:  # reported by the test itself, below
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request) for _ in range(3)]
    for thread in threads:
        thread.start()
        thread.join()
    del threads
    gc.collect()
    assert failures == []
    assert len(builds) == 3  # the lookup once, the shape once with each of its two sets of markers
    assert len(seen) == 3 and all(ref() is None for ref in seen)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_locking_lookup_refuses_autocommit_every_time_not_only_when_compiled():
    locking = PreparedLookup(
        field=ApiKey._meta.get_field("name"),
        marker="\x00marker",
        build=lambda value: ApiKey.objects.select_for_update().filter(name=value).order_by(),
    )
    if connection.features.has_select_for_update:
        with pytest.raises(TransactionManagementError):  # Django's own check, while compiling
            locking("any")
    with transaction.atomic():
        assert locking("any") == []
    with pytest.raises(TransactionManagementError):  # compiled now: ours, on every database
        locking("any")
