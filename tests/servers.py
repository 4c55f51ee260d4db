"""Real server processes for integration tests: a fresh database, `manage.py` in a
subprocess, Daphne on a free port, and plain HTTP to talk to it.

    with fresh_database() as database_url:
        env = server_env(DATABASE_URL=database_url, REDIS_URL=redis_url())
        manage(env, "migrate", "--noinput")
        with running_servers(env, count=2) as servers:
            status, headers, body = http_get(servers[0].url + "/api/v1/system/health")
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

PROJECT = Path(__file__).resolve().parent.parent
HEALTH_PATH = "/api/v1/system/health"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"

# Configuration of the test run itself that must not leak into a server under test.
_NOT_INHERITED = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CACHE_KEY_PREFIX",
    "DEBUG",
    "PYTEST_",
    "RATE_LIMIT",
)


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def require_redis(url: str) -> None:
    """Fail (never skip) when the Redis a test needs is not there."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        raise AssertionError(f"Redis at {url} is unreachable: {exc}") from exc


def delete_redis_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    for key in client.scan_iter(f"{prefix}*", count=1000):
        client.delete(key)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(**variables: str) -> dict[str, str]:
    """The environment of a server or manage.py subprocess: this machine's, less the test
    run's own configuration, on the base settings, with ``variables`` on top."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith(_NOT_INHERITED)}
    environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "citizenai.settings.base",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
        }
    )
    environ.update(variables)
    return environ


def demo_env(database_url: str, var_dir: str, **variables: str) -> dict[str, str]:
    """server_env on a migrated ``database_url`` with the demo data (categories, articles,
    personas), rate limiting off, ``variables`` on top."""
    env = server_env(DATABASE_URL=database_url, VAR_DIR=var_dir, RATE_LIMIT_ENABLED="false", **variables)
    manage(env, "migrate", "--noinput")
    manage(env, "load_demo")
    return env


def manage(env: Mapping[str, str], *args: str, timeout: float = 300) -> str:
    """Run ``manage.py`` with ``args``; its stdout, or an AssertionError with its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"manage.py {' '.join(args)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result.stdout


# --- databases --------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


@contextmanager
def fresh_database() -> Iterator[str]:
    """A DATABASE_URL for an empty database, removed afterwards: a new PostgreSQL database
    when the run's DATABASE_URL is PostgreSQL, else an SQLite file in a temporary folder."""
    configured = os.environ.get("DATABASE_URL", "")
    if configured.startswith(("postgres://", "postgresql://")):
        import psycopg

        name = f"citizenai_it_{uuid.uuid4().hex[:12]}"
        admin_url = _with_database(configured, "postgres")
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _with_database(configured, name)
        finally:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        folder = Path(tempfile.mkdtemp(prefix="citizenai-it-"))
        try:
            yield f"sqlite:///{folder / 'db.sqlite3'}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)


# --- HTTP -------------------------------------------------------------------------------


def _lower(items: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in items}


def http(
    method: str, url: str, *, body: Any = None, headers: Mapping[str, str] | None = None, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request, header names lower-cased (HTTP's are
    case-insensitive and servers differ); error statuses are returned, not raised."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _lower(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, _lower(error.headers.items()), error.read()


def http_get(url: str, headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return http("GET", url, headers=headers)


# --- servers ----------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return "(no log)"


def start_server(env: Mapping[str, str], *, timeout: float = 60) -> Server:
    """Daphne serving citizenai.asgi on a free port, returned once the health endpoint
    answers (with any status: the caller judges the answer)."""
    port = free_port()
    log_file = tempfile.NamedTemporaryFile(prefix=f"daphne-{port}-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "citizenai.asgi:application"],
        cwd=PROJECT,
        env=dict(env),
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    log_file.close()
    server = Server(process=process, port=port, log_path=Path(log_file.name))
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            log = server.log()
            stop_server(server)
            raise AssertionError(f"the server on port {port} exited with {process.returncode}:\n{log}")
        try:
            http_get(server.url + HEALTH_PATH)
            return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            log = server.log()
            stop_server(server)
            raise AssertionError(f"the server on port {port} did not answer within {timeout}s:\n{log}")
        time.sleep(0.2)


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)
    server.log_path.unlink(missing_ok=True)


@contextmanager
def running_servers(env: Mapping[str, str], *, count: int = 1) -> Iterator[list[Server]]:
    """``count`` servers with the same environment, all stopped on the way out."""
    with ExitStack() as stack:
        servers: list[Server] = []
        for _ in range(count):
            server = start_server(env)
            stack.callback(stop_server, server)
            servers.append(server)
        yield servers
