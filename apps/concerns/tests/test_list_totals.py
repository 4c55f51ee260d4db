"""The list's pagination total: exact for small lists and last pages, counted at most every
COUNT_CACHE_SECONDS per filtered set for large ones (the threshold is lowered here so a
"large" list is a handful of rows)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.core.cache import cache

from apps.concerns import selectors
from apps.concerns.models import Status
from apps.concerns.tests.helpers import CONCERNS, assert_ok, make_concern

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(selectors, "time", SimpleNamespace(time=fake.time))
    monkeypatch.setattr(selectors, "COUNT_CACHE_MIN_ROWS", 4)
    selectors._fresh_counts.clear()
    yield fake
    selectors._fresh_counts.clear()


def page(persona: Any, **params: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    response = persona.get(CONCERNS, params)
    return assert_ok(response)["concerns"], response.json()["pagination"]


def total(persona: Any, **params: Any) -> int:
    return page(persona, limit=2, **params)[1]["total"]


def test_a_small_list_is_counted_live(staff_member):
    for _ in range(3):
        make_concern()
    assert total(staff_member) == 3
    make_concern()
    assert total(staff_member) == 4


def test_a_large_total_is_reused_for_the_cache_period(staff_member, clock):
    for _ in range(5):
        make_concern()
    assert total(staff_member) == 5
    make_concern()
    clock.now += selectors.COUNT_CACHE_SECONDS - 1
    assert total(staff_member) == 5  # at most COUNT_CACHE_SECONDS old
    clock.now += 2
    assert total(staff_member) == 6


def test_another_process_uses_the_shared_count(staff_member, clock):
    for _ in range(5):
        make_concern()
    assert total(staff_member) == 5
    selectors._fresh_counts.clear()  # a process that has not counted yet
    make_concern()
    assert total(staff_member) == 5


def test_each_filter_set_has_its_own_total(staff_member):
    for _ in range(5):
        make_concern()
    for concern in [make_concern() for _ in range(4)]:
        concern.status = Status.IN_PROGRESS
        concern.save(update_fields=["status"])
    assert total(staff_member) == 9
    assert total(staff_member, status="in_progress") == 4
    assert total(staff_member, status="submitted") == 5


def test_a_text_search_total_is_reused_from_a_lower_threshold(staff_member, clock, monkeypatch):
    monkeypatch.setattr(selectors, "TEXT_COUNT_CACHE_MIN_ROWS", 3)
    monkeypatch.setattr(selectors, "COUNT_CACHE_MIN_ROWS", 100)
    for _ in range(3):
        make_concern(title="Sinkhole on Main Street")
    make_concern(title="Quiet street")
    assert total(staff_member, q="sinkhole") == 3
    assert total(staff_member) == 4  # an unfiltered list this small stays live
    make_concern(title="Another sinkhole")
    make_concern(title="Quiet again")
    assert total(staff_member) == 6
    assert total(staff_member, q="sinkhole") == 3  # reused: at most COUNT_CACHE_SECONDS old
    clock.now += selectors.COUNT_CACHE_SECONDS + 1
    assert total(staff_member, q="sinkhole") == 4


def test_a_small_text_search_total_is_live(staff_member):
    for _ in range(3):
        make_concern(title="Sinkhole on Main Street")
    assert total(staff_member, q="sinkhole") == 3
    make_concern(title="Another sinkhole")
    assert total(staff_member, q="sinkhole") == 4


def test_a_last_page_is_exact_without_the_cache(staff_member):
    for _ in range(5):
        make_concern()
    assert total(staff_member) == 5
    make_concern()
    # offset 4 with limit 2 shows rows 5 and 6 and nothing after: the total is what it shows.
    rows, pagination = page(staff_member, limit=3, offset=4)
    assert len(rows) == 2
    assert pagination["total"] == 6


def test_the_total_is_never_below_what_the_page_shows(staff_member):
    for _ in range(5):
        make_concern()
    assert total(staff_member) == 5
    for _ in range(3):
        make_concern()
    rows, pagination = page(staff_member, limit=2, offset=6)
    assert len(rows) == 2
    assert pagination["total"] == 8  # the cached 5 is raised to what this page proves


def test_citizens_totals_are_their_own(staff_member, citizen):
    for _ in range(5):
        make_concern()
    for _ in range(2):
        make_concern(submitted_by=citizen.user)
    assert total(staff_member) == 7
    assert total(citizen) == 2


def test_an_unreachable_cache_means_counting_every_time(staff_member, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache down")

    for _ in range(5):
        make_concern()
    monkeypatch.setattr(cache, "get", broken)
    monkeypatch.setattr(cache, "set", broken)
    assert total(staff_member) == 5
    make_concern()
    assert total(staff_member) == 6


# A real transaction per statement, as served: the test's own transaction would keep the
# count's local settings until it ends.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_count_on_postgresql_runs_on_one_core_and_leaves_the_settings_alone(staff_member):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(5):
        make_concern()
    with CaptureQueriesContext(connection) as queries:
        assert total(staff_member) == 5
    statements = [query["sql"] for query in queries]
    counts = [index for index, sql in enumerate(statements) if "COUNT(*)" in sql]
    assert len(counts) == 1
    if connection.vendor == "postgresql":
        assert statements[counts[0] - 1] == selectors.SERIAL_COUNT
        with connection.cursor() as cursor:
            cursor.execute("SHOW max_parallel_workers_per_gather")
            assert cursor.fetchone()[0] != "0"  # set for the count's transaction only
    else:
        assert selectors.SERIAL_COUNT not in statements
