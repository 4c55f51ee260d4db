"""WebSocket capacity and fan-out of ONE Daphne process on the Redis channel layer.

Run: .venv/bin/python bench/realtime.py   (needs PostgreSQL and Redis on loopback)

1. A fresh PostgreSQL database (dropped at the end) with a staff member, their API key and
   one concern; one Daphne process (production settings) on a free loopback port, sharing
   Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/13) through channels_redis under a
   unique key prefix (its keys removed at the end). RLIMIT_NOFILE is raised as needed.
2. The REST update alone: BENCH_ROUNDS PUTs before any socket is open (a baseline).
3. Sockets: BENCH_SOCKETS (default 2000) notification sockets authenticated with the staff
   API key in ``?token=``, each waiting for its ``connection`` frame; then the server's
   ESTABLISHED sockets and its RSS (psutil). Target: 2,000 sockets under 1 GB.
4. Fan-out: all but BENCH_FANOUT (default 1000) sockets are closed; BENCH_ROUNDS (default
   5) times a REST PUT /api/v1/concerns/{id} changes the concern, and every socket's
   latency is the time from sending the request to receiving its ``concern.updated``
   frame. Target: p99 < 500 ms.

REALTIME_CHANNEL_LAYER=core measures channels_redis's list-based layer instead of the
pub/sub one. citizenai/asgi.py freezes the startup heap (gc.freeze()); on a quiet machine
that took the median fan-out from about 230 to 180 ms (full collections no longer scan it).
The clients run in this process (asyncio + the ``websockets`` library) on the same
machine, so the figures include the client's own work of reading 1,000 frames, and any
other load on the machine (the load average is printed).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import secrets
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg
import redis
from psycopg import sql
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
SOCKETS = int(os.environ.get("BENCH_SOCKETS", "2000"))
FANOUT = int(os.environ.get("BENCH_FANOUT", "1000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CONNECT_CONCURRENCY = 50
RSS_TARGET = 1024**3
P99_TARGET_MS = 500.0

SETUP = """
from apps.accounts.models import User
from apps.accounts.services import api_key_create
from apps.concerns.models import Category
from apps.concerns.services import concern_create
staff = User(username="bench-staff", email="bench-staff@example.org", role="staff")
staff.set_password("a bench password 12345")
staff.save()
_, secret = api_key_create(user=staff, name="bench")
citizen = User(username="bench-citizen", email="bench-citizen@example.org", role="citizen")
citizen.set_password("a bench password 12345")
citizen.save()
concern = concern_create(title="Bench concern", description="Fan-out benchmark.",
                         category=Category.objects.get(code="roads"), submitted_by=citizen)
print("SETUP", secret, concern.pk)
"""


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def raise_open_files(needed: int) -> int:
    """Lift the soft RLIMIT_NOFILE (inherited by the server) to what the sockets need."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def http(method: str, url: str, key: str, body: Any = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"Bearer {key}"})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def bench_env(dbname: str, prefix: str, var_dir: str) -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits
    return {
        "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", str(ROOT)),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "DJANGO_SETTINGS_MODULE": "citizenai.settings.production",
        "SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(64)),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{dbname}",
        "REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": prefix,
        "RATE_LIMIT_STANDARD": "100000",
        "REALTIME_IDLE_SECONDS": "3600",  # the bench's sockets are silent on purpose
        "REALTIME_PING_SECONDS": "3600",
        "LOG_LEVEL": "WARNING",
        "VAR_DIR": var_dir,
        **(
            {"REALTIME_CHANNEL_LAYER": os.environ["REALTIME_CHANNEL_LAYER"]}
            if "REALTIME_CHANNEL_LAYER" in os.environ
            else {}
        ),
    }


def admin_connection() -> psycopg.Connection:
    """PostgreSQL is shared: when other clients hold every connection slot, wait for one."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as error:
            if "too many clients" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(2)


@contextmanager
def bench_database() -> Iterator[str]:
    """A fresh database, dropped at the end. The admin connection is opened first and kept,
    so other clients exhausting max_connections cannot stop the clean-up."""
    dbname = f"citizenai_bench_rt_{secrets.token_hex(4)}"
    admin = admin_connection()
    try:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        try:
            yield dbname
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
    finally:
        admin.close()


@contextmanager
def daphne(env: dict[str, str], log_dir: Path) -> Iterator[Server]:
    port = free_port()
    log_path = log_dir / "daphne.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "citizenai.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(proc, port, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"daphne exited:\n{server.log_tail()}")
            with suppress(OSError):
                urllib.request.urlopen(server.url + "/api/v1/system/health", timeout=5).close()
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"daphne not ready after 60 s:\n{server.log_tail()}")
            time.sleep(0.25)
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def established(pid: int, port: int) -> int:
    connections = psutil.Process(pid).net_connections(kind="tcp")
    return sum(1 for c in connections if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port)


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


async def open_socket(url: str, gate: asyncio.Semaphore) -> ClientConnection:
    async with gate:
        ws = await connect(url, open_timeout=60, ping_interval=None, max_size=2**20, compression=None)
        hello = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if hello.get("type") != "connection" or hello["data"].get("status") != "connected":
            raise RuntimeError(f"unexpected first frame: {hello}")
        return ws


async def wait_for_update(ws: ClientConnection, started: float, tracking_number: str) -> float:
    """Milliseconds from ``started`` to this socket's ``concern.updated`` frame. The frames
    are compact JSON; matching the text instead of parsing 1,000 of them keeps the client's
    own work (it shares the CPUs with the server) out of the figures as far as possible."""
    marker, number = '"type":"concern.updated"', f'"{tracking_number}"'
    while True:
        text = await ws.recv()
        if isinstance(text, str) and marker in text and number in text:
            return (time.monotonic() - started) * 1000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def run(server: Server, key: str, concern_id: str) -> dict[str, Any]:
    pid = server.proc.pid
    ws_url = f"ws://127.0.0.1:{server.port}/api/v1/ws/notifications?token={key}"
    status, body = http("GET", f"{server.url}/api/v1/concerns/{concern_id}", key)
    if status != 200:
        raise RuntimeError(f"GET concern answered {status}: {body[:300]!r}")
    tracking_number = json.loads(body)["data"]["tracking_number"]
    baseline = rss(pid)
    loop = asyncio.get_running_loop()
    rest_ms: list[float] = []
    for round_number in range(ROUNDS):  # the REST update alone, before any socket is open
        body_ = {"priority": ("low", "high")[round_number % 2], "message": f"baseline {round_number}"}
        t0 = time.monotonic()
        status, answer = await loop.run_in_executor(
            None, http, "PUT", f"{server.url}/api/v1/concerns/{concern_id}", key, body_
        )
        if status != 200:
            raise RuntimeError(f"PUT answered {status}: {answer[:300]!r}")
        rest_ms.append((time.monotonic() - t0) * 1000)
        await asyncio.sleep(0.5)
    print(
        f"REST PUT without sockets: median {statistics.median(rest_ms):.0f} ms, max {max(rest_ms):.0f} ms", flush=True
    )

    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    started = time.monotonic()
    sockets = list(await asyncio.gather(*(open_socket(ws_url, gate) for _ in range(SOCKETS))))
    connect_seconds = time.monotonic() - started
    await asyncio.sleep(2)
    held, memory = established(pid, server.port), rss(pid)
    print(
        f"sockets: {len(sockets)} open, {held} held by the server, opened in {connect_seconds:.1f} s; "
        f"server RSS {memory / 2**20:.0f} MiB (idle {baseline / 2**20:.0f} MiB, "
        f"{(memory - baseline) / max(1, len(sockets)) / 1024:.1f} KiB per socket)",
        flush=True,
    )

    keep, extra = sockets[:FANOUT], sockets[FANOUT:]
    await asyncio.gather(*(ws.close() for ws in extra))
    await asyncio.sleep(2)
    # This client holds 1,000 sockets too; a full collection of its heap during a round would
    # delay reading every frame and be counted as the server's fan-out.
    gc.collect()
    gc.freeze()
    print(f"fan-out: {len(keep)} sockets subscribed ({established(pid, server.port)} held)", flush=True)

    latencies: list[float] = []
    lasts: list[float] = []
    missing = 0
    priorities = ["low", "high"]
    for round_number in range(ROUNDS):
        body_ = {"priority": priorities[round_number % 2], "message": f"bench round {round_number}"}
        t0 = time.monotonic()
        waiters = [asyncio.ensure_future(wait_for_update(ws, t0, tracking_number)) for ws in keep]
        status, answer = await loop.run_in_executor(
            None, http, "PUT", f"{server.url}/api/v1/concerns/{concern_id}", key, body_
        )
        put_ms = (time.monotonic() - t0) * 1000
        if status != 200:
            raise RuntimeError(f"PUT answered {status}: {answer[:300]!r}")
        done, pending = await asyncio.wait(waiters, timeout=30)
        for task in pending:
            task.cancel()
        got = [task.result() for task in done if task.exception() is None]
        missing += len(keep) - len(got)
        latencies += got
        lasts.append(max(got) if got else float("nan"))
        print(
            f"  round {round_number + 1}: PUT {put_ms:.0f} ms; {len(got)}/{len(keep)} sockets; "
            f"p50 {percentile(got, 0.5):.0f} ms, p99 {percentile(got, 0.99):.0f} ms, last {max(got):.0f} ms",
            flush=True,
        )
        await asyncio.sleep(1)

    await asyncio.gather(*(ws.close() for ws in keep), return_exceptions=True)
    return {
        "sockets": len(sockets),
        "held": held,
        "rss": memory,
        "baseline": baseline,
        "connect_seconds": connect_seconds,
        "p50": statistics.median(latencies),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies),
        "last_mean": statistics.mean(lasts),
        "missing": missing,
        "rest_median": statistics.median(rest_ms),
    }


def main() -> None:
    limit = raise_open_files(2 * SOCKETS + 1024)
    if limit < 2 * SOCKETS + 256:
        sys.exit(f"RLIMIT_NOFILE is {limit}; {2 * SOCKETS + 256} descriptors are needed")
    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    prefix = f"citizenai-bench-rt-{secrets.token_hex(4)}"
    try:
        with bench_database() as dbname, tempfile.TemporaryDirectory(prefix="citizenai-bench-rt-") as tmp:
            env = bench_env(dbname, prefix, tmp)
            manage(env, "migrate", "--noinput", "--verbosity", "0")
            line = next(x for x in manage(env, "shell", "-c", SETUP).splitlines() if x.startswith("SETUP "))
            _, key, concern_id = line.split(" ")
            layer = os.environ.get("REALTIME_CHANNEL_LAYER", "pubsub")
            print(
                f"database {dbname}, redis {REDIS_URL} prefix {prefix}; channel layer {layer}; "
                f"{os.cpu_count()} CPUs; "
                f"load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            with daphne(env, Path(tmp)) as server:
                try:
                    figures = asyncio.run(run(server, key, concern_id))
                except BaseException:
                    print(server.log_tail(), file=sys.stderr)
                    raise
    finally:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        for name in client.scan_iter(f"{prefix}*", count=1000):
            client.delete(name)

    rss_ok = figures["held"] >= SOCKETS and figures["rss"] < RSS_TARGET
    p99_ok = figures["p99"] < P99_TARGET_MS and figures["missing"] == 0
    print()
    print(f"sockets held          {figures['held']} of {figures['sockets']}")
    print(
        f"server RSS            {figures['rss'] / 2**20:.0f} MiB  (target < 1024 MiB: {'ok' if rss_ok else 'MISSED'})"
    )
    print(
        f"fan-out to {FANOUT} x {ROUNDS}  p50 {figures['p50']:.0f} ms  p99 {figures['p99']:.0f} ms  "
        f"max {figures['max']:.0f} ms  (target p99 < {P99_TARGET_MS:.0f} ms: {'ok' if p99_ok else 'MISSED'})"
    )
    print(f"REST PUT alone        median {figures['rest_median']:.0f} ms (included in the fan-out figures)")
    print(f"last socket per round {figures['last_mean']:.0f} ms on average; frames missing {figures['missing']}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work on the machine skews figures)")


if __name__ == "__main__":
    main()
