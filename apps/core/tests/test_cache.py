"""RedisScripts: Lua scripts over connections kept idle per process (apps/core/cache.py).

These talk to a real Redis: REDIS_URL when the suite runs on the services, else the machine's
own on 127.0.0.1 (database 12, as test_ratelimit's Redis test uses).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings

from apps.core import cache as cache_module
from apps.core.cache import RedisScripts, redis_client

ECHO = "return {ARGV[1], redis.call('INCR', KEYS[1])}"


PREFIX = f"test-scripts-{uuid.uuid4().hex}"


@pytest.fixture
def scripts() -> Iterator[RedisScripts]:
    runner = RedisScripts(settings.REDIS_URL or "redis://127.0.0.1:6379/12")
    yield runner
    client = _client(runner)
    for key in client.scan_iter(f"{PREFIX}*", count=1000):
        client.delete(key)
    for connection in runner._idle:
        connection.disconnect()


@pytest.fixture
def key() -> str:
    return f"{PREFIX}:{uuid.uuid4().hex}"


def _client(runner: RedisScripts) -> redis.Redis:
    return redis_client(runner.url)


def _idle_ids(backend: RedisScripts) -> list[int]:
    ids = []
    for connection in backend._idle:
        connection.send_command("CLIENT", "ID")
        ids.append(int(connection.read_response()))
    return ids


def test_a_script_runs_and_its_connection_is_kept(scripts: RedisScripts, key: str) -> None:
    script = scripts.script(ECHO)
    assert script(keys=[key], args=["a"]) == [b"a", 1]
    first = _idle_ids(scripts)
    assert len(first) == 1
    assert script(keys=[key], args=["b"]) == [b"b", 2]
    assert _idle_ids(scripts) == first
    assert scripts.script(ECHO) is script
    assert int(_client(scripts).get(key)) == 2


def test_short_lived_threads_share_the_kept_connection(scripts: RedisScripts, key: str) -> None:
    """Django's ASGI handler runs each request on a new thread."""
    script = scripts.script(ECHO)
    script(keys=[key], args=["main"])
    first = _idle_ids(scripts)
    for _ in range(4):
        thread = threading.Thread(target=lambda: script(keys=[key], args=["thread"]))
        thread.start()
        thread.join()
    assert _idle_ids(scripts) == first
    assert int(_client(scripts).get(key)) == 5


def test_a_server_that_lost_its_scripts_gets_the_source(scripts: RedisScripts, key: str) -> None:
    script = scripts.script(ECHO)
    assert script(keys=[key], args=["a"]) == [b"a", 1]
    _client(scripts).script_flush()  # harmless to others: every client falls back to EVAL
    assert script(keys=[key], args=["b"]) == [b"b", 2]
    assert script(keys=[key], args=["c"]) == [b"c", 3]  # loaded again by EVAL


def test_a_script_error_leaves_the_connection_usable(scripts: RedisScripts, key: str) -> None:
    _client(scripts).set(key, "not a number")
    script = scripts.script(ECHO)
    with pytest.raises(redis.ResponseError):
        script(keys=[key], args=["a"])
    kept = _idle_ids(scripts)
    assert len(kept) == 1
    assert script(keys=[f"{key}2"], args=["b"]) == [b"b", 1]
    assert _idle_ids(scripts) == kept


def test_a_connection_the_server_closed_is_replaced_before_sending(scripts: RedisScripts, key: str) -> None:
    script = scripts.script(ECHO)
    script(keys=[key], args=["a"])
    [killed] = _idle_ids(scripts)
    _client(scripts).client_kill_filter(_id=killed)  # as a restarted server or an idle timeout
    assert script(keys=[key], args=["b"]) == [b"b", 2]
    [replacement] = _idle_ids(scripts)
    assert replacement != killed
    assert int(_client(scripts).get(key)) == 2  # counted once


def test_an_error_after_sending_is_raised_and_never_retried(
    scripts: RedisScripts, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = scripts.script(ECHO)
    script(keys=[key], args=["a"])
    [connection] = scripts._idle
    reads: list[int] = []

    def lost(*args: object, **kwargs: object) -> None:
        reads.append(1)
        raise redis.TimeoutError("timed out")

    monkeypatch.setattr(connection, "read_response", lost)
    with pytest.raises(redis.TimeoutError):
        script(keys=[key], args=["b"])
    assert reads == [1]  # the script may have run: it is not sent again
    assert not scripts._idle  # nor is the socket kept
    monkeypatch.undo()
    assert script(keys=[key], args=["c"]) == [b"c", 3]


def test_an_unreachable_server_raises_the_clients_error() -> None:
    runner = RedisScripts("redis://127.0.0.1:1/0")
    with pytest.raises(redis.ConnectionError):
        runner.script(ECHO)(keys=["k"], args=["a"])
    assert not runner._idle


def test_a_forked_worker_does_not_reuse_its_parents_connections(scripts: RedisScripts, key: str) -> None:
    script = scripts.script(ECHO)
    script(keys=[key], args=["parent"])
    [parent] = _idle_ids(scripts)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report the connection it used, then leave without cleanup
        try:
            script(keys=[key], args=["child"])
            [child] = _idle_ids(scripts)
            os.write(write, str(child).encode())
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    child = int(os.read(read, 64) or b"0")
    os.close(read)
    assert status == 0
    assert child and child != parent
    assert _idle_ids(scripts) == [parent]
    assert script(keys=[key], args=["again"]) == [b"again", 3]


def test_idle_connections_are_bounded(scripts: RedisScripts, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "SCRIPT_CONNECTIONS_KEPT", 2)
    busy = [scripts._connection() for _ in range(3)]  # as three concurrent requests hold them
    for connection in busy:
        connection.connect()
        scripts._keep(connection)
    assert list(scripts._idle) == busy[:2]
    assert busy[2]._sock is None  # closed, not kept
