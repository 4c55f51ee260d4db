"""How much of a bare Django view's throughput the full API path keeps, per server type.

Run: .venv/bin/python bench/foundation.py   (needs wrk, PostgreSQL and Redis on loopback)

For each server type three servers run side by side, with the same worker count:
  (a)  bare: GET /bench/bare, a fixed JSON body with MIDDLEWARE = [] (BENCH_BARE=1);
  (a*) django: the same view through the middleware that is not ours (Django's and
       WhiteNoise's): "a bare Django view through no middleware of ours", read literally;
  (b)  full: GET /api/v1/auth/validate with an API key: every middleware, bearer
       authentication (PostgreSQL, the shared cache and this process's copy), the rate
       limiter (counts shared through Redis), the envelope and the access-log line.
wrk loads them in alternating slices, one at a time, so that other work on a shared machine
weighs on both alike. Production settings (LOG_LEVEL=INFO), a fresh database, dropped at the
end. The target is (b) >= 60% of (a); the table gives (b)/(a*) too.

Besides req/s and p99 (the median of the slices' p99): "cpu µs/req" is the CPU time of the
server's processes per request, which other work disturbs far less than throughput; "db
conn/req" is new PostgreSQL sessions per request (0 when connections persist, 1 when every
request opens one); "idle" is the share of CPU idle just before (up to 60 s are spent
waiting for 85%).
BENCH_DURATION (seconds per endpoint, default 15) and BENCH_ONLY (a substring of server
names) narrow a run. With psycopg_pool importable (e.g. on PYTHONPATH), two more ASGI rows
try Django's connection pool.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench.common must be importable
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    RATE_LIMIT,
    ServerProcess,
    WrkRun,
    bench_env,
    fresh_database,
    manage,
    require_wrk,
    wait_for_quiet,
    wrk,
)

DURATION_S = int(os.environ.get("BENCH_DURATION", "15"))
SLICES = 5  # of DURATION_S // SLICES whole seconds each
WARMUP_S = 3
CONNECTIONS = 16
TARGET_RATIO = 0.60
ENDPOINTS = ("bare", "django", "full")  # (a), (a*), (b)

DAPHNE = ["daphne", "-b", "127.0.0.1", "-p", "{port}", "citizenai.asgi:application"]
GUNICORN = ["gunicorn", "--no-control-socket", "-b", "127.0.0.1:{port}"]  # no shared ~/.gunicorn/gunicorn.ctl
SYNC = [*GUNICORN, "citizenai.wsgi:application", "-w"]
UVICORN = [*GUNICORN, "-k", "uvicorn.workers.UvicornWorker", "citizenai.asgi:application"]
NO_PERSISTENT_DB = {"DATABASE_CONN_MAX_AGE": "0"}  # what Django's docs advise under ASGI
DB_POOL = {"BENCH_DB_POOL": "1"}  # Django's psycopg pool, see bench/bench_settings.py

# name: (command line with {port}, extra environment). Every one serves the same project, with
# the production settings' LOG_LEVEL=INFO (one JSON access-log line per request of ours) unless
# the row says otherwise. The first row is the production image's web role: gunicorn sync with
# gunicorn.conf.py's one worker per CPU.
PRODUCTION = "production: gunicorn sync, a worker per CPU"
QUIET = {"LOG_LEVEL": "WARNING"}  # no access log
SERVERS: dict[str, tuple[list[str], dict[str, str]]] = {
    PRODUCTION: ([*GUNICORN, "citizenai.wsgi:application"], {}),
    "  the same, LOG_LEVEL=WARNING": ([*GUNICORN, "citizenai.wsgi:application"], QUIET),
    "gunicorn sync -w 4": ([*SYNC, "4"], {}),
    "daphne x1": (DAPHNE, {}),
    "daphne x1, conn_max_age=0": (DAPHNE, NO_PERSISTENT_DB),
    "gunicorn uvicorn -w 2": ([*UVICORN, "-w", "2"], {}),
    "gunicorn uvicorn -w 2, cma=0": ([*UVICORN, "-w", "2"], NO_PERSISTENT_DB),
}
if importlib.util.find_spec("psycopg_pool") is not None:  # experiments, not project requirements
    SERVERS["daphne x1, db pool"] = (DAPHNE, DB_POOL)
    SERVERS["gunicorn uvicorn -w 2, db pool"] = ([*UVICORN, "-w", "2"], DB_POOL)

CREATE_KEY = """
import secrets
from apps.accounts import services
user = services.user_create(username="bench", email="bench@example.com", password=secrets.token_urlsafe(24))
_, secret = services.api_key_create(user=user, name="bench")
print(secret)
"""


@dataclass(frozen=True)
class Result:
    server: str
    endpoint: str
    rps: float
    p99_ms: float
    bad: int  # non-2xx responses plus socket errors
    cpu_us: float  # CPU time of the server's processes per request
    conn_per_req: float | None  # new PostgreSQL sessions per request; the bare view has none
    idle: float  # share of CPU idle just before the measurement


@dataclass(frozen=True)
class Context:
    env: dict[str, str]
    api_key: str
    logs: Path
    admin: psycopg.Connection  # opened first, so a server that exhausts connections cannot lock us out
    dbname: str

    def pg_sessions(self) -> int:
        self.admin.execute("SELECT pg_stat_clear_snapshot()")
        query = "SELECT sessions FROM pg_stat_database WHERE datname = %s"
        row = self.admin.execute(query, (self.dbname,)).fetchone()
        return int(row[0]) if row else 0


def check_response(endpoint: str, status: int, headers: Message, body: bytes) -> None:
    """Refuses to measure anything but the intended, successful path."""
    if status != 200:
        raise RuntimeError(f"{endpoint} answered {status}: {body[:300]!r}")
    if endpoint == "full":
        data = json.loads(body)
        if not data.get("success") or data["data"]["auth_type"] != "api_key":
            raise RuntimeError(f"unexpected validate response: {body[:300]!r}")
        if headers.get("X-RateLimit-Limit") != RATE_LIMIT:
            raise RuntimeError(f"the rate limiter did not run: {dict(headers)}")


class Server(ServerProcess):
    """One server process group serving one endpoint."""

    def __init__(self, name: str, endpoint: str, ctx: Context) -> None:
        argv, extra_env = SERVERS[name]
        env = {**ctx.env, **extra_env, "DJANGO_SETTINGS_MODULE": "bench.bench_settings"}
        self.endpoint = endpoint
        if endpoint in ("bare", "django"):
            self.path, self.headers = "/bench/bare", {}
            env["BENCH_BARE"] = "1" if endpoint == "bare" else "django"
        else:
            self.path, self.headers = "/api/v1/auth/validate", {"Authorization": f"Bearer {ctx.api_key}"}
        log_path = ctx.logs / f"{re.sub(r'[^a-z0-9]+', '_', name)}_{endpoint}.log"
        super().__init__(argv, env=env, log_path=log_path)
        self.url = f"{self.base_url}{self.path}"

    def wait_ready(self) -> None:
        """Until the endpoint answers as check_response() wants (60 s at most)."""

        def probe() -> None:
            request = urllib.request.Request(self.url, headers=self.headers)
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    check_response(self.endpoint, response.status, response.headers, response.read())
            except urllib.error.HTTPError as error:
                check_response(self.endpoint, error.code, error.headers, error.read())

        self.poll_ready(probe)


@contextmanager
def running(name: str, ctx: Context) -> Iterator[dict[str, Server]]:
    with ExitStack() as stack:
        servers = {}
        for endpoint in ENDPOINTS:
            servers[endpoint] = Server(name, endpoint, ctx)
            stack.callback(servers[endpoint].stop)
        for server in servers.values():
            server.wait_ready()
        yield servers


def load(server: Server, seconds: int) -> WrkRun:
    """One wrk run against the server's endpoint."""
    return wrk(server.url, headers=server.headers, seconds=seconds, connections=CONNECTIONS)


def measure(name: str, ctx: Context) -> list[Result]:
    with running(name, ctx) as servers:
        for server in servers.values():
            load(server, WARMUP_S)
        idle = wait_for_quiet()
        sessions = ctx.pg_sessions()
        cpu = {endpoint: server.cpu_seconds() for endpoint, server in servers.items()}
        runs: dict[str, list[WrkRun]] = {endpoint: [] for endpoint in ENDPOINTS}
        for _ in range(SLICES):
            for endpoint, server in servers.items():
                runs[endpoint].append(load(server, max(1, DURATION_S // SLICES)))
        cpu = {endpoint: server.cpu_seconds() - cpu[endpoint] for endpoint, server in servers.items()}
    time.sleep(1.5)  # backends flush their statistics when they exit
    new_sessions = ctx.pg_sessions() - sessions  # only the full server touches the database
    results = []
    for endpoint in ENDPOINTS:
        requests = sum(run.requests for run in runs[endpoint])
        rps = requests / sum(run.seconds for run in runs[endpoint])
        p99_ms = statistics.median(run.p99_ms for run in runs[endpoint])
        bad = sum(run.bad for run in runs[endpoint])
        cpu_us = cpu[endpoint] / max(requests, 1) * 1e6
        conn_per_req = new_sessions / max(requests, 1) if endpoint == "full" else None
        print(f"  {name:<31} {endpoint:<5} {rps:>7.0f} req/s  {cpu_us:>5.0f} cpu µs/req", flush=True)
        results.append(Result(name, endpoint, rps, p99_ms, bad, cpu_us, conn_per_req, idle))
    return results


def print_table(results: list[Result]) -> None:
    header = f"{'req/s':>7} {'p99 ms':>8} {'bad':>5} {'cpu µs/req':>10} {'db conn/req':>11} {'idle':>5}"
    print(f"\n{'server':<31} {'endpoint':<8} {header} {'(b)/(a) req/s':>13} {'(a)/(b) cpu':>11} {'(b)/(a*)':>9}")
    by_key = {(r.server, r.endpoint): r for r in results}
    for r in results:
        ratios = ""
        bare, django = by_key.get((r.server, "bare")), by_key.get((r.server, "django"))
        if r.endpoint == "full" and bare is not None and django is not None:
            ratio = r.rps / bare.rps
            ratios = f"{ratio:>9.0%} {'ok' if ratio >= TARGET_RATIO else 'LOW':<3} {bare.cpu_us / r.cpu_us:>11.0%}"
            ratios += f" {r.rps / django.rps:>9.0%}"
        conn = "-" if r.conn_per_req is None else f"{r.conn_per_req:.3f}"
        figures = f"{r.rps:>7.0f} {r.p99_ms:>8.2f} {r.bad:>5} {r.cpu_us:>10.0f} {conn:>11} {r.idle:>5.0%}"
        print(f"{r.server:<31} {r.endpoint:<8} {figures} {ratios}")
    print("\n(a) bare = /bench/bare with MIDDLEWARE=[]; (a*) django = /bench/bare through Django's and")
    print("WhiteNoise's middleware, none of ours; (b) full = /api/v1/auth/validate with an API key")
    print(f"target (b)/(a) >= {TARGET_RATIO:.0%}; bad = non-2xx responses and socket errors")
    print(
        f"wrk -t2 -c{CONNECTIONS}, {SLICES} alternating slices of {max(1, DURATION_S // SLICES)} s per endpoint "
        f"after a {WARMUP_S} s warm-up; {os.cpu_count()} CPUs shared by all"
    )


@contextmanager
def bench_database() -> Iterator[Context]:
    """A fresh, migrated database with one user and API key; dropped on the way out."""
    with (
        fresh_database("citizenai_bench") as (dbname, admin),
        tempfile.TemporaryDirectory(prefix="citizenai-bench-") as tmp,
    ):
        env = bench_env(dbname, tmp, LOG_LEVEL="INFO")  # the production default
        manage(env, "migrate", "--noinput", "--verbosity", "0")
        api_key = manage(env, "shell", "-c", CREATE_KEY).strip().splitlines()[-1]
        yield Context(env, api_key, Path(tmp), admin, dbname)


def main() -> None:
    require_wrk()
    names = [name for name in SERVERS if os.environ.get("BENCH_ONLY", "") in name]
    results: list[Result] = []
    with bench_database() as ctx:
        print(f"database {ctx.dbname} ready; measuring {len(names)} server types", flush=True)
        for name in names:
            results += measure(name, ctx)
    print_table(results)


if __name__ == "__main__":
    main()
