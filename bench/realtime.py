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
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import redis
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench.common must be importable
    sys.path.insert(0, str(ROOT))

from bench.common import ServerProcess, api_request, bench_env, fresh_database, manage  # noqa: E402

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


def raise_open_files(needed: int) -> int:
    """Lift the soft RLIMIT_NOFILE (inherited by the server) to what the sockets need."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@contextmanager
def daphne(env: dict[str, str], log_dir: Path) -> Iterator[ServerProcess]:
    """One Daphne process, ready once /api/v1/system/health answers 200; stopped at the end."""
    server = ServerProcess(
        ["daphne", "-b", "127.0.0.1", "-p", "{port}", "citizenai.asgi:application"],
        env=env,
        log_path=log_dir / "daphne.log",
    )
    try:
        health = server.base_url + "/api/v1/system/health"
        server.poll_ready(lambda: urllib.request.urlopen(health, timeout=5).close(), what="daphne")
        yield server
    finally:
        server.stop()


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


async def run(server: ServerProcess, key: str, concern_id: str) -> dict[str, Any]:
    pid = server.proc.pid
    ws_url = f"ws://127.0.0.1:{server.port}/api/v1/ws/notifications?token={key}"
    concern_url = f"{server.base_url}/api/v1/concerns/{concern_id}"
    status, body = api_request(concern_url, key=key)
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
            None, partial(api_request, concern_url, key=key, method="PUT", body=body_)
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
            None, partial(api_request, concern_url, key=key, method="PUT", body=body_)
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
        with (
            fresh_database("citizenai_bench_rt", wait_s=120) as (dbname, _),
            tempfile.TemporaryDirectory(prefix="citizenai-bench-rt-") as tmp,
        ):
            env = bench_env(
                dbname,
                tmp,
                redis_url=REDIS_URL,
                rate_limit="100000",
                CACHE_KEY_PREFIX=prefix,
                REALTIME_IDLE_SECONDS="3600",  # the bench's sockets are silent on purpose
                REALTIME_PING_SECONDS="3600",
                **(
                    {"REALTIME_CHANNEL_LAYER": os.environ["REALTIME_CHANNEL_LAYER"]}
                    if "REALTIME_CHANNEL_LAYER" in os.environ
                    else {}
                ),
            )
            manage(env, "migrate", "--noinput", "--verbosity", "0", tail=2000, exit_on_failure=False)
            setup = manage(env, "shell", "-c", SETUP, tail=2000, exit_on_failure=False)
            line = next(x for x in setup.splitlines() if x.startswith("SETUP "))
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
