"""ReusingRedisCache.script: Lua scripts over a connection each thread keeps (apps/core/cache.py).

These talk to a real Redis: REDIS_URL when the suite runs on the services, else the machine's
own on 127.0.0.1 (database 12, as test_ratelimit's Redis test uses).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings

from apps.core.cache import ReusingRedisCache

ECHO = "return {ARGV[1], redis.call('INCR', KEYS[1])}"


@pytest.fixture
def redis_cache() -> Iterator[ReusingRedisCache]:
    url = settings.REDIS_URL or "redis://127.0.0.1:6379/12"
    backend = ReusingRedisCache(url, {"KEY_PREFIX": f"test-cache-{uuid.uuid4().hex}"})
    yield backend
    held = getattr(backend._held, "connection", None)
    if held is not None:
        held.disconnect()


def _client(backend: ReusingRedisCache) -> redis.Redis:
    return backend._cache.get_client(write=True)


def _held_id(backend: ReusingRedisCache) -> int:
    connection = backend._held.connection
    connection.send_command("CLIENT", "ID")
    return int(connection.read_response())


def test_a_script_runs_and_keeps_its_connection(redis_cache: ReusingRedisCache) -> None:
    key = f"{uuid.uuid4().hex}:n"
    script = redis_cache.script(ECHO)
    assert script(keys=[key], args=["a"]) == [b"a", 1]
    first = _held_id(redis_cache)
    assert script(keys=[key], args=["b"]) == [b"b", 2]
    assert _held_id(redis_cache) == first
    assert redis_cache.script(ECHO) is script
    assert int(_client(redis_cache).get(key)) == 2


def test_a_server_that_lost_its_scripts_gets_the_source(redis_cache: ReusingRedisCache) -> None:
    key = f"{uuid.uuid4().hex}:n"
    script = redis_cache.script(ECHO)
    assert script(keys=[key], args=["a"]) == [b"a", 1]
    _client(redis_cache).script_flush()
    assert script(keys=[key], args=["b"]) == [b"b", 2]
    assert script(keys=[key], args=["c"]) == [b"c", 3]  # loaded again by EVAL


def test_a_script_error_leaves_the_connection_usable(redis_cache: ReusingRedisCache) -> None:
    key = f"{uuid.uuid4().hex}:s"
    _client(redis_cache).set(key, "not a number")
    script = redis_cache.script(ECHO)
    with pytest.raises(redis.ResponseError):
        script(keys=[key], args=["a"])
    held = _held_id(redis_cache)
    assert script(keys=[f"{key}2"], args=["b"]) == [b"b", 1]
    assert _held_id(redis_cache) == held


def test_a_closed_connection_is_replaced_and_the_script_runs_once(redis_cache: ReusingRedisCache) -> None:
    key = f"{uuid.uuid4().hex}:n"
    script = redis_cache.script(ECHO)
    script(keys=[key], args=["a"])
    killed = _held_id(redis_cache)
    _client(redis_cache).client_kill_filter(_id=killed)  # as a restarted server or an idle timeout
    assert script(keys=[key], args=["b"]) == [b"b", 2]
    assert _held_id(redis_cache) != killed
    assert int(_client(redis_cache).get(key)) == 2


def test_a_new_connection_that_fails_is_not_retried(redis_cache: ReusingRedisCache, monkeypatch) -> None:
    script = redis_cache.script(ECHO)
    script(keys=["k"], args=["a"])
    sends: list[tuple] = []

    def refuse(*args: object, **kwargs: object) -> None:
        sends.append(args)
        raise redis.ConnectionError("refused")

    monkeypatch.setattr(redis_cache._held.connection, "send_command", refuse)
    with pytest.raises(redis.ConnectionError):
        script(keys=["k"], args=["b"])
    assert len(sends) == 2  # the old socket, then one new one


def test_a_timeout_is_not_retried(redis_cache: ReusingRedisCache, monkeypatch) -> None:
    script = redis_cache.script(ECHO)
    script(keys=["k"], args=["a"])
    reads: list[int] = []

    def slow(*args: object, **kwargs: object) -> None:
        reads.append(1)
        raise redis.TimeoutError("timed out")

    monkeypatch.setattr(redis_cache._held.connection, "read_response", slow)
    with pytest.raises(redis.TimeoutError):
        script(keys=["k"], args=["b"])
    assert reads == [1]  # the script may have run: it is not sent again


def test_an_unreachable_server_raises_the_clients_error() -> None:
    backend = ReusingRedisCache("redis://127.0.0.1:1/0", {})
    with pytest.raises(redis.ConnectionError):
        backend.script(ECHO)(keys=["k"], args=["a"])


def test_each_thread_and_each_forked_process_has_its_own_connection(redis_cache: ReusingRedisCache) -> None:
    key = f"{uuid.uuid4().hex}:n"
    script = redis_cache.script(ECHO)
    script(keys=[key], args=["main"])
    main = _held_id(redis_cache)
    seen: list[int] = []

    def in_thread() -> None:
        script(keys=[key], args=["thread"])
        seen.append(_held_id(redis_cache))
        redis_cache._held.connection.disconnect()

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert seen and seen[0] != main
    assert _held_id(redis_cache) == main

    redis_cache._held.connection.pid = -1  # as a forked worker would find it
    assert script(keys=[key], args=["child"]) == [b"child", 3]
    assert _held_id(redis_cache) != main
