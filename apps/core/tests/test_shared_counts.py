"""SharedCounts (apps/core/shared_counts.py): rate-limit counts kept per process and added to
the shared totals at each sync.

Fresh ``SharedCounts()`` instances on one store stand for several processes. Every test runs
on Django's cache (local memory on the default test settings) and on a real Redis (REDIS_URL
when the suite runs on the services, else the machine's own on 127.0.0.1, database 12, as
test_ratelimit's Redis test uses). No instance here starts its flusher thread unless the test
is about that thread: the tests flush themselves.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from apps.core import shared_counts as sc
from apps.core.cache import redis_client
from apps.core.shared_counts import REFRESH_SECONDS, UNREACHABLE_PAUSE_SECONDS, SharedCounts, allowance

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
REAL_ADD = sc._add  # tests that count round trips wrap the module's
UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"
TTL = 65  # a one-minute window and its margin, as apps.core.ratelimit passes
KINDS = ["cache", "redis"]


# --- the shared store -------------------------------------------------------------------


@dataclass
class Store:
    """Where the totals live for one test: Django's cache, or Redis."""

    kind: str
    prefix: str
    keys: list[str] = field(default_factory=list)

    def key(self, name: str = "bucket") -> str:
        made = f"{self.prefix}:rl:{name}:{uuid.uuid4().hex[:8]}"
        self.keys.append(made)
        return made

    def total(self, key: str) -> int:
        if self.kind == "redis":
            return int(redis_client(settings.REDIS_URL).get(key) or 0)
        return int(cache.get(key) or 0)

    def add(self, key: str, n: int) -> None:
        """Another process's counts, added straight to the shared total."""
        assert REAL_ADD(key, n, TTL) is not None

    @contextmanager
    def down(self) -> Iterator[None]:
        """The totals cannot be reached meanwhile."""
        if self.kind == "redis":
            with override_settings(REDIS_URL=UNREACHABLE_REDIS_URL):
                yield
            return

        def broken(*args: object, **kwargs: object) -> object:
            raise ConnectionError("cache down")

        for name in ("add", "incr", "set"):
            setattr(cache, name, broken)
        try:
            yield
        finally:
            for name in ("add", "incr", "set"):
                delattr(cache, name)

    def cleanup(self) -> None:
        if self.kind == "redis":
            client = redis_client(settings.REDIS_URL)
            for key in client.scan_iter(f"{self.prefix}*", count=1000):
                client.delete(key)
        elif self.keys:
            cache.delete_many(self.keys)


@contextmanager
def open_store(kind: str) -> Iterator[Store]:
    prefix = f"sc-test-{uuid.uuid4().hex[:12]}"
    if kind == "redis":
        overrides: dict[str, Any] = {"REDIS_URL": settings.REDIS_URL or DEFAULT_REDIS_URL, "CACHE_KEY_PREFIX": prefix}
    else:
        overrides = {"REDIS_URL": None}  # Django's cache: local memory unless the run is on Redis
    with override_settings(RATE_LIMIT_SYNC_MS=250, **overrides):
        store = Store(kind=kind, prefix=prefix)
        try:
            yield store
        finally:
            store.cleanup()


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    with open_store(request.param) as opened:
        yield opened


# --- instances, round trips and the clock ----------------------------------------------


def fresh() -> SharedCounts:
    """A process's counts, whose flusher thread never starts: the test flushes."""
    counts = SharedCounts()
    counts._thread = threading.Thread(target=lambda: None)  # never started
    return counts


class Trips:
    """Every call that reaches the shared totals: ``adds`` from count() (key, n), and
    ``batches`` from flush() (the list of (key, n, ttl) it sends)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.adds: list[tuple[str, int]] = []
        self.batches: list[list[tuple[str, int, int]]] = []
        inside = threading.local()
        real_add, real_many = sc._add, sc._add_many

        def add(key: str, n: int, ttl: int) -> int | None:
            if not getattr(inside, "many", False):
                self.adds.append((key, n))
            return real_add(key, n, ttl)

        def add_many(adds: list[tuple[str, int, int]]) -> list[int] | None:
            self.batches.append(list(adds))
            inside.many = True
            try:
                return real_many(adds)
            finally:
                inside.many = False

        monkeypatch.setattr(sc, "_add", add)
        monkeypatch.setattr(sc, "_add_many", add_many)


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Trips:
    return Trips(monkeypatch)


class Clock:
    """The module's wall clock (window ends) and monotonic clock (pauses, refreshes)."""

    def __init__(self) -> None:
        self.wall = time.time()
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(
        sc, "time", SimpleNamespace(time=lambda: fake.wall, monotonic=lambda: fake.mono, sleep=time.sleep)
    )
    return fake


def count_many(counts: SharedCounts, key: str, n: int, *, limit: int, **kwargs: Any) -> list[int | None]:
    return [counts.count(key, ttl=TTL, limit=limit, **kwargs) for _ in range(n)]


def wait_until(condition: Callable[[], bool], *, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


# --- the rules ----------------------------------------------------------------------------


def test_allowance_is_a_64th_of_the_limit_and_never_zero() -> None:
    expected = {1: 1, 10: 1, 63: 1, 64: 1, 127: 1, 128: 2, 191: 2, 192: 3, 640: 10, 2000: 31}
    assert {limit: allowance(limit) for limit in expected} == expected


def test_one_process_counts_exactly(store: Store, trips: Trips) -> None:
    """Within its allowance a process decides alone; the next request carries the unsent ones
    and itself to the total. Either way its numbers are the real ones: 1, 2, 3, ..."""
    counts, key = fresh(), store.key()
    numbers = count_many(counts, key, 25, limit=640)  # allowance 10
    assert numbers == list(range(1, 26))
    assert trips.adds == [(key, 11), (key, 11)]  # the 11th and the 22nd request
    assert trips.batches == []
    assert store.total(key) == 22  # the last three are still here
    counts.flush()
    assert store.total(key) == 25
    assert count_many(counts, key, 2, limit=640) == [26, 27]


def test_a_small_budget_is_exact_in_one_process(store: Store, trips: Trips) -> None:
    counts, key = fresh(), store.key()
    numbers = count_many(counts, key, 8, limit=5)  # allowance 1
    assert numbers == list(range(1, 9))
    # Every second request goes to the total (unsent reached the allowance); the 6th would
    # pass the limit in this view, so it asks; after that the known total refuses here.
    assert trips.adds == [(key, 2), (key, 2), (key, 2)]
    counts.flush()
    assert store.total(key) == 8


def test_a_view_beyond_the_limit_asks_the_shared_total(store: Store, trips: Trips) -> None:
    counts, key = fresh(), store.key()
    assert count_many(counts, key, 1, limit=640) == [1]
    store.add(key, 634)  # other processes spend nearly the whole budget
    counts.flush()  # sends the one unsent and reads back 635
    assert counts._buckets[key].known == 635
    assert count_many(counts, key, 5, limit=640) == [636, 637, 638, 639, 640]  # within the view: here
    assert trips.adds == []
    assert count_many(counts, key, 1, limit=640) == [641]  # past the limit in the view: asked
    assert trips.adds == [(key, 6)]


def test_refusals_once_the_known_total_is_spent_need_no_round_trip(store: Store, trips: Trips) -> None:
    counts, key = fresh(), store.key()
    store.add(key, 64)  # another process spent the budget; this one does not know yet
    first, second = count_many(counts, key, 2, limit=64)  # allowance 1
    assert first == 1  # its allowance: granted on its own view
    assert second == 66  # the total, asked for: refused
    assert len(trips.adds) == 1
    refused = count_many(counts, key, 50, limit=64)
    assert refused == list(range(67, 117))
    assert len(trips.adds) == 1  # decided here
    counts.flush()
    assert store.total(key) == 116  # refused requests are counted too, as an exact count would


def test_a_total_read_back_at_a_flush_makes_refusals_local(store: Store, trips: Trips) -> None:
    counts, key = fresh(), store.key()
    count_many(counts, key, 1, limit=10)
    store.add(key, 20)
    counts.flush()
    assert count_many(counts, key, 30, limit=10) == list(range(22, 52))
    assert trips.adds == []


def test_exact_adds_every_request(store: Store, trips: Trips) -> None:
    counts, key = fresh(), store.key()
    assert count_many(counts, key, 5, limit=640, exact=True) == [1, 2, 3, 4, 5]
    assert trips.adds == [(key, 1)] * 5
    assert counts._buckets == {}
    assert store.total(key) == 5


def test_sync_ms_zero_adds_every_request(store: Store, trips: Trips) -> None:
    counts, key = fresh(), store.key()
    with override_settings(RATE_LIMIT_SYNC_MS=0):
        assert count_many(counts, key, 5, limit=640) == [1, 2, 3, 4, 5]
    assert trips.adds == [(key, 1)] * 5
    assert counts._buckets == {}
    assert store.total(key) == 5


def test_an_exact_count_that_cannot_reach_the_totals_is_allowed(store: Store) -> None:
    counts, key = fresh(), store.key()
    with store.down():
        assert count_many(counts, key, 3, limit=1, exact=True) == [None, None, None]
    assert store.total(key) == 0


# --- flush ------------------------------------------------------------------------------


def test_flush_sends_unsent_counts_and_reads_back_the_others(store: Store, trips: Trips) -> None:
    a, b, key = fresh(), fresh(), store.key()
    assert count_many(a, key, 5, limit=640) == [1, 2, 3, 4, 5]
    assert count_many(b, key, 3, limit=640) == [1, 2, 3]  # neither sees the other yet
    assert store.total(key) == 0
    a.flush()
    assert store.total(key) == 5
    assert trips.batches[-1] == [(key, 5, TTL)]
    b.flush()
    assert store.total(key) == 8
    assert count_many(b, key, 1, limit=640) == [9]  # b learnt a's five
    assert count_many(a, key, 1, limit=640) == [6]  # a has not flushed since
    a.flush()  # sends its one, reads back everything sent so far
    assert count_many(a, key, 1, limit=640) == [10]
    assert trips.adds == []


def test_flush_reads_back_a_bucket_counted_lately_even_with_nothing_to_send(
    store: Store, trips: Trips, clock: Clock
) -> None:
    a, key = fresh(), store.key()
    count_many(a, key, 1, limit=640)
    a.flush()
    store.add(key, 7)
    clock.advance(REFRESH_SECONDS / 2)
    a.flush()
    assert trips.batches[-1] == [(key, 0, TTL)]
    assert count_many(a, key, 1, limit=640) == [9]
    a.flush()
    store.add(key, 100)
    clock.advance(REFRESH_SECONDS + 0.5)  # idle here since: its total is not read back
    batches = len(trips.batches)
    a.flush()
    assert len(trips.batches) == batches
    assert a._buckets[key].known == 9


def test_flush_with_nothing_counted_sends_nothing(store: Store, trips: Trips) -> None:
    fresh().flush()
    assert trips.batches == []


def test_flush_sends_every_bucket_in_one_batch(store: Store, trips: Trips) -> None:
    counts = fresh()
    keys = [store.key(f"b{index}") for index in range(4)]
    for index, key in enumerate(keys):
        count_many(counts, key, index + 1, limit=640)
    counts.flush()
    assert len(trips.batches) == 1
    assert sorted(trips.batches[0]) == sorted((key, index + 1, TTL) for index, key in enumerate(keys))
    assert [store.total(key) for key in keys] == [1, 2, 3, 4]


# --- when the totals cannot be reached ----------------------------------------------------


def test_a_failed_round_trip_keeps_the_counts_and_decides_here_for_a_pause(
    store: Store, trips: Trips, clock: Clock
) -> None:
    counts, key = fresh(), store.key()
    assert count_many(counts, key, 10, limit=640) == list(range(1, 11))
    with store.down():
        assert count_many(counts, key, 1, limit=640) == [11]  # its round trip failed: decided here
        assert len(trips.adds) == 1
        assert count_many(counts, key, 20, limit=640) == list(range(12, 32))  # beyond its allowance
        assert len(trips.adds) == 1  # no round trip during the pause
    assert store.total(key) == 0
    clock.advance(UNREACHABLE_PAUSE_SECONDS + 0.1)
    assert count_many(counts, key, 1, limit=640) == [32]  # the pause is over: asked again, with everything kept
    assert trips.adds[-1] == (key, 32)
    assert store.total(key) == 32


def test_a_failed_flush_keeps_the_counts_and_sends_them_later(store: Store, trips: Trips, clock: Clock) -> None:
    counts, key = fresh(), store.key()
    count_many(counts, key, 5, limit=640)
    with store.down():
        counts.flush()
        assert counts._buckets[key].unsent == 5
        # During the pause requests are decided here, even past the allowance and the limit.
        assert count_many(counts, key, 10, limit=12) == list(range(6, 16))
        assert trips.adds == []
    counts.flush()  # the totals answer again: every count is sent once
    assert store.total(key) == 15
    assert counts._unreachable_until == 0.0
    clock.advance(UNREACHABLE_PAUSE_SECONDS + 0.1)
    assert count_many(counts, key, 1, limit=12) == [16]  # refused on the known total


def test_the_pause_ends_and_round_trips_resume(store: Store, trips: Trips, clock: Clock) -> None:
    counts, key = fresh(), store.key()
    count_many(counts, key, 1, limit=64)
    with store.down():
        counts.flush()
    clock.advance(UNREACHABLE_PAUSE_SECONDS / 2)
    count_many(counts, key, 3, limit=64)
    assert trips.adds == []  # still paused
    clock.advance(UNREACHABLE_PAUSE_SECONDS)
    assert count_many(counts, key, 1, limit=64) == [5]
    assert trips.adds == [(key, 5)]
    assert store.total(key) == 5


# --- the central guarantee, over random interleavings ----------------------------------------


@dataclass
class Run:
    limit: int
    processes: int
    requests: int
    granted: int = 0
    refused: int = 0


def interleave(seed: int, store: Store, pool: list[SharedCounts]) -> Run:
    """One random schedule of count() and flush() over K processes on one bucket, checked
    after every step against the module's promises."""
    rng = random.Random(seed)
    k = rng.randint(2, 5)
    limit = rng.choice([1, 2, 3, 7, 40, 63, 64, 65, 128, 129, 200, 640])
    run = Run(limit=limit, processes=k, requests=rng.randint(limit, 3 * limit + 20))
    processes = pool[:k]
    for process in processes:
        process.reset()
    weights = [rng.choice([1, 1, 3, 10]) for _ in processes]
    flush_chance = rng.choice([0.0, 0.01, 0.1, 0.5])
    key = store.key(f"seed{seed}")
    last = [0] * k
    bound = limit + k * allowance(limit)
    for step in range(run.requests):
        while rng.random() < flush_chance:
            rng.choice(processes).flush()
        index = rng.choices(range(k), weights)[0]
        number = processes[index].count(key, ttl=TTL, limit=limit)
        assert number is not None
        assert number > last[index], (seed, step, "a process's numbers only go up")
        last[index] = number
        if number <= limit:
            run.granted += 1
        else:
            run.refused += 1
            assert run.granted >= limit, (seed, step, "refused within the budget")
        assert run.granted <= bound, (seed, step, run)
    for _ in range(2):  # the second round reads back what the others sent in the first
        for process in processes:
            process.flush()
    total = store.total(key)
    assert total == run.requests, (seed, "every request counted once")
    assert {process._buckets[key].known for process in processes if key in process._buckets} == {total}
    return run


@pytest.mark.parametrize("kind", KINDS)
def test_k_processes_never_grant_beyond_the_bound_nor_refuse_within_the_budget(kind: str) -> None:
    seeds = range(300) if kind == "cache" else range(60)
    pool = [fresh() for _ in range(5)]
    with open_store(kind) as store:
        runs = [interleave(seed, store, pool) for seed in seeds]
    # The schedules reached the interesting cases: past the budget, and refusals.
    assert any(run.granted > run.limit for run in runs)
    assert any(run.refused for run in runs)
    assert any(run.granted > run.limit + allowance(run.limit) for run in runs)  # several ran ahead at once


@pytest.mark.parametrize("kind", KINDS)
def test_one_process_numbers_are_exact_whatever_the_flushes(kind: str) -> None:
    counts = fresh()
    with open_store(kind) as store:
        for seed in range(100 if kind == "cache" else 30):
            rng = random.Random(seed)
            counts.reset()
            key, limit = store.key(f"one{seed}"), rng.choice([1, 5, 64, 130, 640])
            numbers = []
            for _ in range(rng.randint(1, 2 * limit + 5)):
                if rng.random() < 0.2:
                    counts.flush()
                numbers.append(counts.count(key, ttl=TTL, limit=limit))
            assert numbers == list(range(1, len(numbers) + 1)), seed
            counts.flush()
            assert store.total(key) == len(numbers)


# --- windows, bucket overflow, reset, thread, fork ------------------------------------------


def test_buckets_of_ended_windows_are_dropped_at_flush(store: Store, clock: Clock) -> None:
    counts = fresh()
    old, new = store.key("old"), store.key("new")
    count_many(counts, old, 2, limit=640)
    counts.flush()
    clock.advance(30)
    count_many(counts, new, 1, limit=640)
    clock.advance(TTL - 30 + 1)  # the old window's counter is gone; the new one's is not
    count_many(counts, old, 1, limit=640)
    counts.flush()
    assert old not in counts._buckets
    assert new in counts._buckets
    assert store.total(new) == 1
    if store.kind == "redis":
        assert 0 < redis_client(settings.REDIS_URL).ttl(new) <= TTL  # the first add set its expiry


def test_beyond_max_buckets_each_request_is_added_exactly(
    store: Store, trips: Trips, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sc, "MAX_BUCKETS", 3)
    counts = fresh()
    kept = [store.key(f"k{index}") for index in range(3)]
    for key in kept:
        count_many(counts, key, 1, limit=640)
    extra = store.key("extra")
    assert count_many(counts, extra, 3, limit=640) == [1, 2, 3]
    assert trips.adds == [(extra, 1)] * 3
    assert set(counts._buckets) == set(kept)
    assert store.total(extra) == 3
    with store.down():
        assert count_many(counts, extra, 1, limit=640) == [None]  # allowed, as any exact count


def test_reset_forgets_every_count(store: Store, trips: Trips) -> None:
    counts, key = fresh(), store.key()
    count_many(counts, key, 3, limit=640)
    with store.down():
        counts.flush()
    assert counts._unreachable_until > 0
    counts.reset()
    assert counts._buckets == {}
    assert counts._unreachable_until == 0.0
    counts.flush()
    assert store.total(key) == 0
    assert count_many(counts, key, 2, limit=1) == [1, 2]
    assert trips.adds == [(key, 2)]  # decided normally again, not as during a pause


def test_the_flusher_thread_sends_the_counts_by_itself(store: Store) -> None:
    counts, key = SharedCounts(), store.key()
    with override_settings(RATE_LIMIT_SYNC_MS=20):
        try:
            count_many(counts, key, 3, limit=640)
            assert counts._thread is not None
            assert counts._thread.daemon
            assert counts._thread.name == "ratelimit-sync"
            assert wait_until(lambda: store.total(key) == 3)
            assert wait_until(lambda: counts._buckets[key].unsent == 0)
        finally:
            counts.reset()  # the thread lives on, with nothing to send


def test_a_forked_child_starts_without_the_parents_counts(store: Store) -> None:
    counts, key = fresh(), store.key()
    count_many(counts, key, 3, limit=640)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it holds, then leave without cleanup
        try:
            held = f"{len(counts._buckets)} {counts._thread is None} {counts._unreachable_until}"
            os.write(write, held.encode())
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    reported = os.read(read, 256).decode()
    os.close(read)
    assert status == 0
    assert reported == "0 True 0.0"
    counts.flush()  # the parent still sends its own
    assert store.total(key) == 3


# --- counts on their way, and lost replies -----------------------------------------------


def test_a_flush_in_flight_does_not_let_processes_grant_beyond_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """The module's promise: "N processes grant at most N x allowance(limit) requests beyond a
    budget, in all, however fast the calls come". Counts of a flush on its way stay in the
    view and in the allowance, so a process does not grant its allowance again meanwhile.
    Two processes, budget 64 (allowance 1), each with one flush in flight at the worst
    moment: at most 66 granted."""
    limit = 64
    gates = {"flush-a": threading.Event(), "flush-b": threading.Event()}
    entered = {name: threading.Event() for name in gates}
    real_many = sc._add_many

    def add_many(adds: list[tuple[str, int, int]]) -> list[int] | None:
        name = threading.current_thread().name
        if name in gates:  # this flush is on its way: held before it reaches the totals
            entered[name].set()
            assert gates[name].wait(5)
        return real_many(adds)

    monkeypatch.setattr(sc, "_add_many", add_many)

    def flush_in_flight(counts: SharedCounts, name: str) -> threading.Thread:
        thread = threading.Thread(target=counts.flush, name=name)
        thread.start()
        assert entered[name].wait(5)
        return thread

    with open_store("cache") as store:
        a, b, key = fresh(), fresh(), store.key()
        granted = 0

        def count(counts: SharedCounts) -> int:
            nonlocal granted
            number = counts.count(key, ttl=TTL, limit=limit)
            assert number is not None
            granted += number <= limit
            return number

        count(b)
        b.flush()  # b knows a total of 1
        for _ in range(62):
            count(a)  # every second one a round trip: a knows the total, 63
        assert store.total(key) == 63 and granted == 63
        assert count(b) == 2  # granted on b's view (the 64th)
        in_flight = [flush_in_flight(b, "flush-b")]
        count(b)  # granted again on the same view: the 65th
        assert count(a) == 64  # the 66th
        in_flight.append(flush_in_flight(a, "flush-a"))
        count(a)  # the 67th
        for event in gates.values():
            event.set()
        for thread in in_flight:
            thread.join(5)
        a.flush()
        b.flush()
        assert store.total(key) == 67
        assert granted <= limit + 2 * allowance(limit), f"granted {granted} of a budget of {limit}"


def test_round_trips_in_flight_do_not_let_one_process_grant_beyond_its_allowance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same with one process and concurrent requests (Django's ASGI handler runs each on
    a thread of its own): a request decided while another's round trip is on its way counts
    that round trip's counts in its view. Budget 64, allowance 1: at most 65 granted."""
    limit = 64
    gates = {name: (threading.Event(), threading.Event()) for name in ("request-1", "request-2")}
    real_add = sc._add

    def add(key: str, n: int, ttl: int) -> int | None:
        gate = gates.get(threading.current_thread().name)
        if gate is not None:  # this round trip is on its way: held before it reaches the total
            gate[0].set()
            assert gate[1].wait(5)
        return real_add(key, n, ttl)

    monkeypatch.setattr(sc, "_add", add)
    with open_store("cache") as store:
        counts, key = fresh(), store.key()
        numbers: list[int] = []

        def count() -> None:
            number = counts.count(key, ttl=TTL, limit=limit)
            assert number is not None
            numbers.append(number)

        for _ in range(63):
            count()
        assert numbers == list(range(1, 64))
        threads = []
        for name, (entered, _) in gates.items():
            thread = threading.Thread(target=count, name=name)
            thread.start()
            assert entered.wait(5)
            threads.append(thread)
            count()  # decided here while that round trip is on its way
        for (_, release), thread in zip(gates.values(), threads, strict=True):
            release.set()
            thread.join(5)
        counts.flush()
        assert store.total(key) == 67
        granted = sum(number <= limit for number in numbers)
        assert granted <= limit + allowance(limit), f"granted {granted} of a budget of {limit}: {numbers[62:]}"


@pytest.mark.parametrize("path", ["flush", "round trip"])
def test_counts_whose_add_ran_are_not_added_again_after_a_lost_reply(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reply lost after the server ran the add (a timeout: the server stalled past the
    client's socket timeout) may mean the counts arrived: they stay in the view but are never
    sent again, so the shared total never counts them twice (which would refuse requests
    within the budget)."""
    lost = {"armed": True}

    def losing(original: Callable[..., Any]) -> Callable[..., Any]:
        def read(*args: Any, **kwargs: Any) -> Any:
            reply = original(*args, **kwargs)  # the server ran it and answered
            if lost["armed"]:
                lost["armed"] = False
                raise redis.TimeoutError("Timeout reading from socket")
            return reply

        return read

    with open_store("redis") as store:
        counts, key = fresh(), store.key()
        connection_class = redis_client(settings.REDIS_URL).connection_pool.connection_class
        if path == "flush":
            count_many(counts, key, 5, limit=640)
            monkeypatch.setattr(connection_class, "read_response", losing(connection_class.read_response))
            counts.flush()
            sent = 5
        else:
            count_many(counts, key, 10, limit=640)
            monkeypatch.setattr(connection_class, "read_response", losing(connection_class.read_response))
            count_many(counts, key, 1, limit=640)  # its round trip carries 11
            sent = 11
        assert not lost["armed"]  # the reply was lost once
        monkeypatch.undo()
        counts.flush()
        assert store.total(key) == sent, "counted twice"
