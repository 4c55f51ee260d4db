"""NearCache and its _Bus (apps/core/near_cache.py): per-process copies of shared-cache
entries, answered only while the process hears every forget.

Each test builds its own ``_Bus`` and puts it in the module's place, so that the caches it
makes register there and the process's own bus (the credentials' near cache) is left alone.
The Redis tests use REDIS_URL when the suite runs on the services, else the machine's own on
127.0.0.1 (database 12), with a key prefix, and so a channel, of their own; the bus's
connections carry a client name, so that only its own subscription is ever killed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from django.conf import settings
from django.test import override_settings

from apps.core import near_cache
from apps.core.near_cache import NearCache, _Bus

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
WAIT_SECONDS = 5.0


def wait_until(condition: Callable[[], bool], *, timeout: float = WAIT_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def run_in_child(check: Callable[[], str]) -> str:
    """check() in a forked child; what it returned (or the error it raised)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without cleanup
        try:
            try:
                result = check()
            except BaseException as exc:  # reported to the parent, which fails the test
                result = f"error: {exc!r}"
            os.write(write, result.encode())
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    chunks = []
    while chunk := os.read(read, 4096):
        chunks.append(chunk)
    os.close(read)
    assert status == 0
    return b"".join(chunks).decode()


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch) -> _Bus:
    fresh = _Bus()
    monkeypatch.setattr(near_cache, "_bus", fresh)
    return fresh


# --- one process, without Redis ------------------------------------------------------------


@pytest.fixture
def local(bus: _Bus) -> Iterator[NearCache[object]]:
    with override_settings(REDIS_URL=None):
        yield NearCache(f"local-{uuid.uuid4().hex[:8]}", max_entries=100)


@dataclass
class FakeClock:
    now: float = 1000.0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(near_cache, "time", SimpleNamespace(monotonic=lambda: fake.now, sleep=time.sleep))
    return fake


def test_a_copy_is_kept_and_answered_as_it_was_put(local: NearCache[object]) -> None:
    value = {"row": 1}
    assert local.get("k") is None
    local.put("k", value, version=local.version(), ttl=60)
    assert local.get("k") is value
    assert local.get("other") is None


def test_no_ttl_keeps_nothing(local: NearCache[object]) -> None:
    local.put("k", "v", version=local.version(), ttl=0)
    local.put("j", "v", version=local.version(), ttl=-1)
    assert local.get("k") is None and local.get("j") is None


def test_forget_drops_the_keys_at_once(local: NearCache[object]) -> None:
    for key in ("a", "b", "c"):
        local.put(key, key.upper(), version=local.version(), ttl=60)
    local.forget(["a", "c"])
    assert [local.get(key) for key in ("a", "b", "c")] == [None, "B", None]


def test_a_value_read_before_a_forget_is_not_kept(local: NearCache[object]) -> None:
    version = local.version()  # a request starts reading the shared cache...
    local.forget(["k"])  # ...a change forgets the entry meanwhile...
    local.put("k", "stale", version=version, ttl=60)  # ...and what it read is not kept
    assert local.get("k") is None
    local.put("k", "fresh", version=local.version(), ttl=60)
    assert local.get("k") == "fresh"


def test_any_forget_clear_or_eviction_since_the_read_refuses_the_put(local: NearCache[object]) -> None:
    for change in (lambda: local.forget(["unrelated"]), lambda: local.evict(["x"]), local.clear):
        version = local.version()
        change()
        assert local.version() > version
        local.put("k", "v", version=version, ttl=60)
        assert local.get("k") is None


def test_forgetting_nothing_changes_nothing(local: NearCache[object]) -> None:
    local.put("k", "v", version=local.version(), ttl=60)
    version = local.version()
    local.forget([])
    local.forget([""])
    assert local.version() == version
    assert local.get("k") == "v"


def test_without_redis_forget_publishes_nothing(local: NearCache[object], monkeypatch: pytest.MonkeyPatch) -> None:
    def no_client(url: str) -> object:
        raise AssertionError("published without REDIS_URL")

    monkeypatch.setattr(near_cache, "redis_client", no_client)
    local.forget(["k"])


def test_a_copy_ends_with_its_ttl(local: NearCache[object], clock: FakeClock) -> None:
    local.put("k", "v", version=local.version(), ttl=10)
    clock.now += 9.9
    assert local.get("k") == "v"
    clock.now += 0.1
    assert local.get("k") is None  # at its expiry: gone
    local.put("k", "again", version=local.version(), ttl=10)
    assert local.get("k") == "again"


def test_a_full_cache_starts_over(bus: _Bus) -> None:
    with override_settings(REDIS_URL=None):
        small: NearCache[object] = NearCache(f"small-{uuid.uuid4().hex[:8]}", max_entries=3)
        for key in ("a", "b", "c"):
            small.put(key, key, version=small.version(), ttl=60)
        assert [small.get(key) for key in ("a", "b", "c")] == ["a", "b", "c"]
        small.put("d", "d", version=small.version(), ttl=60)
        assert [small.get(key) for key in ("a", "b", "c", "d")] == [None, None, None, "d"]
        assert len(small._entries) == 1


def test_clear_drops_every_copy(local: NearCache[object]) -> None:
    for key in ("a", "b"):
        local.put(key, key, version=local.version(), ttl=60)
    local.clear()
    assert local.get("a") is None and local.get("b") is None
    assert local._entries == {}


def test_without_redis_a_forked_child_holds_no_copies(local: NearCache[object]) -> None:
    local.put("k", "v", version=local.version(), ttl=60)

    def child() -> str:
        return json.dumps([local.get("k"), len(local._entries)])

    assert json.loads(run_in_child(child)) == [None, 0]
    assert local.get("k") == "v"  # the parent's copy is its own


def test_a_failed_publish_is_logged_and_the_local_copy_still_dropped(
    bus: _Bus, caplog: pytest.LogCaptureFixture
) -> None:
    with override_settings(REDIS_URL=None):
        cache: NearCache[object] = NearCache(f"pub-{uuid.uuid4().hex[:8]}")
        cache.put("k", "v", version=cache.version(), ttl=60)
    version = cache.version()
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"), caplog.at_level(logging.ERROR):
        cache.forget(["k"])  # must not raise
    assert cache.version() > version
    assert "k" not in cache._entries
    assert any("Cannot publish forgotten" in record.getMessage() for record in caplog.records)


# --- with a real Redis ------------------------------------------------------------------------


@dataclass
class Rig:
    """A bus subscribed to a channel of its own, the cache it serves, and a plain client
    standing for the other processes."""

    bus: _Bus
    cache: NearCache[object]
    url: str
    client_name: str
    other: redis.Redis
    events: list[tuple[float, bool]] = field(default_factory=list)

    @property
    def channel(self) -> str:
        return self.bus.channel()

    def start(self) -> None:
        real = self.bus._set_subscribed

        def recorded(subscribed: bool) -> None:
            real(subscribed)
            self.events.append((time.monotonic(), subscribed))

        self.bus._set_subscribed = recorded  # type: ignore[method-assign]
        self.bus.ready()
        assert wait_until(self.bus.ready), "the bus did not subscribe"

    def subscriptions(self) -> list[int]:
        """Ids of this bus's subscribed connections on the server."""
        return [int(c["id"]) for c in self.other.client_list(_type="pubsub") if c.get("name") == self.client_name]

    def kill_subscription(self) -> int:
        assert wait_until(lambda: len(self.subscriptions()) == 1)
        [connection] = self.subscriptions()
        self.other.client_kill_filter(_id=connection)
        return connection

    def publish(self, payload: Any) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload)
        assert self.other.publish(self.channel, data) >= 1  # the bus heard it

    def keep(self, key: str, value: object) -> None:
        self.cache.put(key, value, version=self.cache.version(), ttl=60)
        assert self.cache.get(key) is value

    def evicted(self, key: str) -> bool:
        """Keeps a copy under ``key``, sends a message forgetting it and waits until the bus
        has delivered it (and so every message published before it)."""
        if key not in self.cache._entries:
            self.keep(key, object())
        self.publish([self.cache.name, [key]])
        return wait_until(lambda: key not in self.cache._entries)


def _named(url: str, name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}client_name={name}"


@pytest.fixture
def rig(bus: _Bus) -> Iterator[Rig]:
    tag = uuid.uuid4().hex[:12]
    client_name = f"near-cache-test-{tag}"
    url = _named(settings.REDIS_URL or DEFAULT_REDIS_URL, client_name)
    other = redis.Redis.from_url(settings.REDIS_URL or DEFAULT_REDIS_URL, socket_timeout=5)
    with override_settings(REDIS_URL=url, CACHE_KEY_PREFIX=f"nc-test-{tag}"):
        made = Rig(bus=bus, cache=NearCache(f"rig-{tag}"), url=url, client_name=client_name, other=other)
        try:
            yield made
        finally:
            _stop(made)
            other.close()


_PARKED = threading.Event()  # never set: the threads of finished rigs wait on it, idle


def _stop(rig: Rig) -> None:
    """Parks the bus's thread for good, without a connection: its next attempt to subscribe
    waits instead (ending the thread would count as an unhandled exception in it)."""
    parked = threading.Event()

    def park(url: str, channel: str) -> None:
        parked.set()
        _PARKED.wait()

    rig.bus._listen = park  # type: ignore[method-assign]
    if rig.bus._thread is None:
        return
    for connection in rig.subscriptions():
        rig.other.client_kill_filter(_id=connection)
    assert parked.wait(WAIT_SECONDS + max(near_cache.RETRY_SECONDS))
    assert wait_until(lambda: rig.subscriptions() == [])


def test_nothing_is_answered_or_kept_until_subscribed(rig: Rig) -> None:
    held, release = threading.Event(), threading.Event()
    real = rig.bus._set_subscribed

    def slow(subscribed: bool) -> None:
        if subscribed:  # the confirmation came: held here a moment
            held.set()
            assert release.wait(WAIT_SECONDS)
        real(subscribed)

    rig.bus._set_subscribed = slow  # type: ignore[method-assign]
    before = rig.cache.version()
    assert rig.cache.get("k") is None  # the first look starts the subscription
    assert held.wait(WAIT_SECONDS)
    assert rig.bus.ready() is False
    rig.cache.put("k", "v", version=before, ttl=60)
    assert rig.cache._entries == {}
    release.set()
    assert wait_until(rig.bus.ready)
    rig.cache.put("k", "read before the subscription", version=before, ttl=60)
    assert rig.cache.get("k") is None  # anything may have been forgotten meanwhile
    rig.keep("k", "v")


def test_a_forget_published_by_another_process_evicts(rig: Rig) -> None:
    rig.start()
    rig.keep("a", "A")
    rig.keep("b", "B")
    version = rig.cache.version()
    rig.publish([rig.cache.name, ["a"]])  # as another process's forget() sends it
    assert wait_until(lambda: rig.cache.get("a") is None)
    assert rig.cache.get("b") == "B"
    rig.cache.put("a", "read before the message", version=version, ttl=60)
    assert rig.cache.get("a") is None


def test_forget_publishes_the_keys_for_the_other_processes(rig: Rig) -> None:
    rig.start()
    listener = rig.other.pubsub()
    listener.subscribe(rig.channel)
    try:
        assert listener.get_message(timeout=WAIT_SECONDS)["type"] == "subscribe"
        rig.keep("a", "A")
        rig.cache.forget(["a", "b"])
        assert rig.cache.get("a") is None  # here at once
        message = listener.get_message(timeout=WAIT_SECONDS)
        assert message is not None and message["type"] == "message"
        assert json.loads(message["data"]) == [rig.cache.name, ["a", "b"]]
    finally:
        listener.close()


def test_a_message_for_another_cache_leaves_this_one_alone(rig: Rig) -> None:
    rig.start()
    rig.keep("k", "v")
    rig.publish(["some-other-cache", ["k"]])
    assert rig.evicted("sentinel")
    assert rig.cache.get("k") == "v"


def test_malformed_messages_are_ignored(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.start()
    rig.keep("k", "v")
    [connection] = rig.subscriptions()
    malformed: list[Any] = [
        b"not json",
        b"\xff\xfe\x00",
        {"name": rig.cache.name, "keys": ["k"]},
        [rig.cache.name],
        [rig.cache.name, ["k"], "extra"],
        [[rig.cache.name], ["k"]],
        None,
        123,
        "k",
    ]
    with caplog.at_level(logging.WARNING, logger="apps.core.near_cache"):
        for payload in malformed:
            rig.publish(payload if isinstance(payload, bytes) else json.dumps(payload).encode())
        assert rig.evicted("sentinel")  # delivered in order: every malformed one came first
    assert rig.cache.get("k") == "v"
    assert rig.subscriptions() == [connection]  # the same subscription throughout
    assert [subscribed for _, subscribed in rig.events] == [True]
    ignored = [record for record in caplog.records if "malformed" in record.getMessage()]
    assert len(ignored) >= 6


def test_a_killed_subscription_drops_every_copy_and_refuses_until_resubscribed(rig: Rig) -> None:
    rig.start()
    rig.keep("a", "A")
    rig.keep("b", "B")
    gate = threading.Event()
    real_listen = rig.bus._listen

    def held(url: str, channel: str) -> None:
        assert gate.wait(WAIT_SECONDS)
        real_listen(url, channel)

    rig.bus._listen = held  # type: ignore[method-assign]
    killed = rig.kill_subscription()
    assert wait_until(lambda: not rig.bus._subscribed)
    assert rig.cache._entries == {}
    assert rig.cache.get("a") is None
    rig.cache.put("c", "C", version=rig.cache.version(), ttl=60)  # messages may be lost meanwhile
    assert rig.cache.get("c") is None and rig.cache._entries == {}
    gate.set()
    assert wait_until(rig.bus.ready)
    assert rig.subscriptions() != [killed]
    assert rig.cache.get("a") is None  # nothing from before the loss comes back
    rig.keep("a", "A again")
    assert rig.evicted("a")  # and the new subscription delivers


def test_an_unanswered_ping_ends_the_subscription(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(near_cache, "PING_SECONDS", 0.3)
    answer = {"pings": False}
    real_ping = redis.client.PubSub.ping

    def ping(self: redis.client.PubSub, message: str | None = None) -> Any:
        if answer["pings"]:
            return real_ping(self, message)
        return None  # sent into the void: no pong will come

    monkeypatch.setattr(redis.client.PubSub, "ping", ping)
    rig.start()
    rig.keep("k", "v")
    [connection] = rig.subscriptions()
    assert wait_until(lambda: not rig.bus._subscribed)  # within two ping periods and the reads between
    assert rig.cache.get("k") is None
    answer["pings"] = True
    assert wait_until(rig.bus.ready)
    assert rig.subscriptions() != [connection]
    # An idle subscription whose pings are answered lives on, copies and all.
    rig.keep("k", "v")
    events = len(rig.events)
    time.sleep(2.5)  # more than two ping periods with the read timeouts between them
    assert len(rig.events) == events
    assert rig.cache.get("k") == "v"


def test_a_forked_child_holds_no_copies_and_subscribes_itself(rig: Rig) -> None:
    rig.start()
    rig.keep("k", "v")

    def child() -> str:
        seen = [rig.bus._subscribed, rig.cache.get("k"), len(rig.cache._entries)]
        subscribed = wait_until(rig.bus.ready)
        seen += [subscribed, rig.cache.get("k")]
        rig.cache.put("j", "J", version=rig.cache.version(), ttl=60)
        seen.append(rig.cache.get("j"))
        return json.dumps(seen)

    assert json.loads(run_in_child(child)) == [False, None, 0, True, None, "J"]
    assert rig.bus.ready()
    assert rig.cache.get("k") == "v"  # the parent's copies and subscription are its own


# --- malformed messages and reconnection ------------------------------------------------


def test_a_message_with_unusable_keys_is_ignored_too(rig: Rig) -> None:
    """A message whose keys are not a list of strings is ignored like any malformed one: it
    neither ends the subscription nor drops the copies."""
    rig.start()
    rig.keep("k", "v")
    [connection] = rig.subscriptions()
    for payload in ([rig.cache.name, 5], [rig.cache.name, None], [rig.cache.name, [["k"]]]):
        rig.publish(json.dumps(payload).encode())
        assert rig.evicted("sentinel"), payload
        assert rig.cache.get("k") == "v", payload
    assert rig.subscriptions() == [connection]


def test_the_reconnection_delay_starts_over_after_a_subscription_that_worked(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Each loss of a subscription that had worked is a new outage: it is logged, and the
    reconnection starts again from the shortest delay instead of creeping up to the longest
    over the process's life."""
    monkeypatch.setattr(near_cache, "RETRY_SECONDS", (0.01, 0.02, 0.03, 0.04, 1.5))
    rig.start()
    delays = []
    with caplog.at_level(logging.WARNING, logger="apps.core.near_cache"):
        for _ in range(5):
            lost_at = len(rig.events)
            rig.kill_subscription()
            assert wait_until(lambda at=lost_at: len(rig.events) >= at + 2 and rig.bus.ready())  # type: ignore[misc]
            (dropped, _), (again, subscribed) = rig.events[lost_at : lost_at + 2]
            assert subscribed
            delays.append(round(again - dropped, 3))
    lost = [record for record in caplog.records if "subscription lost" in record.getMessage()]
    assert max(delays) < 1.0, f"reconnection delays after each working subscription: {delays}"
    assert len(lost) == 5
