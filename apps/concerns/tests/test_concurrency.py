"""Tracking numbers stay unique and gapless when many threads create concerns at once.

Each thread has its own database connection, so the creates really run side by side: on
PostgreSQL they queue on the row lock of the year's TrackingSequence, on SQLite on the
write lock taken by ``BEGIN IMMEDIATE``.

The default test run uses Django's in-memory SQLite test database in shared-cache mode.
There a connection that cannot get the write lock fails at once with "database table is
locked" (SQLITE_LOCKED): shared cache never calls the busy handler that makes a file
database wait. The threads then do what that busy handler would do: wait a moment and
try the create again. The error is raised by ``BEGIN IMMEDIATE``, before the create has
done anything, and a create that did fail part-way is rolled back whole, so a retry can
never hand out a number twice. On PostgreSQL no error at all is tolerated.
"""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from apps.concerns import services
from apps.concerns.models import Category, Concern, ConcernUpdate, TrackingSequence
from tests.threads import run_side_by_side

IS_SQLITE = connection.vendor == "sqlite"


def in_memory_sqlite() -> bool:
    """Only known once the test database exists (its name replaces the configured one)."""
    return IS_SQLITE and connection.is_in_memory_db()


def _create_with_retry(category: Category, retries: list[int]) -> Concern:
    may_retry = in_memory_sqlite()
    for _attempt in range(2000):
        try:
            return services.concern_create(
                title=f"Report {uuid.uuid4().hex}",
                description=f"Details {uuid.uuid4().hex} {uuid.uuid4().hex}",
                category=category,
                priority=random.choice(["low", "medium", "high", "emergency"]),
            )
        except OperationalError as exc:
            if not (may_retry and "locked" in str(exc)):
                raise
            retries.append(1)
            time.sleep(random.uniform(0.0005, 0.003))
    raise AssertionError("gave up waiting for the SQLite write lock")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_creates_get_unique_sequential_tracking_numbers() -> None:
    category = Category.objects.get(code="infrastructure")
    year = timezone.now().year
    # Shared-cache SQLite turns every collision into a retry; fewer threads keep that bounded.
    threads_count, per_thread = (4, 25) if in_memory_sqlite() else (16, 50)
    numbers: list[str] = []
    retries: list[int] = []
    lock = threading.Lock()
    active = 0
    overlap = 0

    def create_some() -> None:
        nonlocal active, overlap
        mine = []
        for _ in range(per_thread):
            with lock:
                active += 1
                overlap = max(overlap, active)
            try:
                mine.append(_create_with_retry(category, retries).tracking_number)
            finally:
                with lock:
                    active -= 1
        with lock:
            numbers.extend(mine)

    run_side_by_side(create_some, threads_count, name="creator", timeout=600)

    total = threads_count * per_thread
    assert overlap > 1, "the creates never ran at the same time"
    assert len(numbers) == total
    assert len(set(numbers)) == total, "a tracking number was handed out twice"
    assert sorted(numbers) == [f"TRK-{year}-{n:06d}" for n in range(1, total + 1)]

    stored = list(Concern.objects.values_list("tracking_number", flat=True))
    assert sorted(stored) == sorted(numbers)
    assert TrackingSequence.objects.get(year=year).last_value == total
    assert ConcernUpdate.objects.count() == total
    if not IS_SQLITE:
        assert retries == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_first_creates_of_a_year_race_for_the_sequence_row() -> None:
    """No sequence row exists yet: the threads race to insert it, and still get 1..N."""
    category = Category.objects.get(code="roads")
    year = timezone.now().year
    TrackingSequence.objects.filter(year=year).delete()
    threads_count = 4 if in_memory_sqlite() else 8
    numbers: list[str] = []
    retries: list[int] = []

    def create_one() -> None:
        numbers.append(_create_with_retry(category, retries).tracking_number)

    run_side_by_side(create_one, threads_count, name="creator", timeout=120)
    assert sorted(numbers) == [f"TRK-{year}-{n:06d}" for n in range(1, threads_count + 1)]
