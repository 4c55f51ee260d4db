"""How much of a bare Django view's throughput the full API path keeps, per server type.

Run: .venv/bin/python bench/foundation.py   (needs wrk, PostgreSQL and Redis on loopback)

For each server type two servers run side by side, with the same worker count:
  (a) bare: GET /bench/bare, a fixed JSON body with MIDDLEWARE = [] (BENCH_BARE=1);
  (b) full: GET /api/v1/auth/validate with an API key: every middleware, bearer
      authentication against PostgreSQL, the Redis rate limiter and the envelope.
wrk loads them in alternating slices, one at a time, so that other work on a shared machine
weighs on both alike. Production settings, a fresh database, dropped at the end. The target
is (b) >= 60% of (a).

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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import psutil
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DURATION_S = int(os.environ.get("BENCH_DURATION", "15"))
SLICES = 5  # of DURATION_S // SLICES whole seconds each
WARMUP_S = 3
CONNECTIONS = 16
TARGET_RATIO = 0.60
RATE_LIMIT = "100000000"
ENDPOINTS = ("bare", "django", "full")  # (a), (a*), (b)

DAPHNE = ["daphne", "-b", "127.0.0.1", "-p", "{port}", "citizenai.asgi:application"]
GUNICORN = ["gunicorn", "--no-control-socket", "-b", "127.0.0.1:{port}"]  # no shared ~/.gunicorn/gunicorn.ctl
SYNC = [*GUNICORN, "citizenai.wsgi:application", "-w"]
UVICORN = [*GUNICORN, "-k", "uvicorn.workers.UvicornWorker", "citizenai.asgi:application"]
NO_PERSISTENT_DB = {"DATABASE_CONN_MAX_AGE": "0"}  # what Django's docs advise under ASGI
DB_POOL = {"BENCH_DB_POOL": "1"}  # Django's psycopg pool, see bench/bench_settings.py

# name: (command line with {port}, extra environment). Every one serves the same project.
SERVERS: dict[str, tuple[list[str], dict[str, str]]] = {
    "daphne x1": (DAPHNE, {}),
    "daphne x1, conn_max_age=0": (DAPHNE, NO_PERSISTENT_DB),
    "gunicorn sync -w 2": ([*SYNC, "2"], {}),
    "gunicorn sync -w 4": ([*SYNC, "4"], {}),
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


def cpu_idle(seconds: float = 2.0) -> float:
    """Share of all CPUs idle during the next few seconds."""
    before = psutil.cpu_times()
    time.sleep(seconds)
    after = psutil.cpu_times()
    total = sum(after) - sum(before)
    return (after.idle - before.idle) / total if total > 0 else 1.0


def wait_for_quiet(limit_s: float = 60, wanted: float = 0.85) -> float:
    """Waits, boundedly, until other processes leave the CPUs mostly idle; the last idle share."""
    deadline = time.monotonic() + limit_s
    idle = cpu_idle()
    while idle < wanted and time.monotonic() < deadline:
        idle = cpu_idle()
    return idle


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode:
        sys.exit(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


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


class Server:
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
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{self.path}"
        command = [str(BIN / argv[0]), *(arg.format(port=self.port) for arg in argv[1:])]
        self.log_path = ctx.logs / f"{re.sub(r'[^a-z0-9]+', '_', name)}_{endpoint}.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(  # its own process group, so stop() reaches every worker
            command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log_path.read_text()[-3000:]}")
            request = urllib.request.Request(self.url, headers=self.headers)
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    check_response(self.endpoint, response.status, response.headers, response.read())
                    return
            except urllib.error.HTTPError as error:
                check_response(self.endpoint, error.code, error.headers, error.read())
            except OSError:  # not listening yet
                time.sleep(0.25)
        raise RuntimeError(f"server not ready after 60 s:\n{self.log_path.read_text()[-3000:]}")

    def cpu_seconds(self) -> float:
        """User and system CPU time of the server and its workers so far."""
        total = 0.0
        root = psutil.Process(self.proc.pid)
        for process in [root, *root.children(recursive=True)]:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log.close()


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


def wrk(server: Server, seconds: int) -> tuple[int, float, float, int]:
    """(requests, seconds, p99 ms, bad responses) of one wrk run."""
    args = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for name, value in server.headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, server.url], capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)\b", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    if not (total and p99):
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    elapsed = float(total.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[total.group(3)]
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    bad = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses:|connect|read|write|timeout) (\d+)", out))
    return int(total.group(1)), elapsed, p99_ms, bad


def measure(name: str, ctx: Context) -> list[Result]:
    with running(name, ctx) as servers:
        for server in servers.values():
            wrk(server, WARMUP_S)
        idle = wait_for_quiet()
        sessions = ctx.pg_sessions()
        cpu = {endpoint: server.cpu_seconds() for endpoint, server in servers.items()}
        runs: dict[str, list[tuple[int, float, float, int]]] = {endpoint: [] for endpoint in ENDPOINTS}
        for _ in range(SLICES):
            for endpoint, server in servers.items():
                runs[endpoint].append(wrk(server, max(1, DURATION_S // SLICES)))
        cpu = {endpoint: server.cpu_seconds() - cpu[endpoint] for endpoint, server in servers.items()}
    time.sleep(1.5)  # backends flush their statistics when they exit
    new_sessions = ctx.pg_sessions() - sessions  # only the full server touches the database
    results = []
    for endpoint in ENDPOINTS:
        requests = sum(run[0] for run in runs[endpoint])
        rps = requests / sum(run[1] for run in runs[endpoint])
        p99_ms = statistics.median(run[2] for run in runs[endpoint])
        bad = sum(run[3] for run in runs[endpoint])
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


def bench_env(dbname: str, var_dir: str) -> dict[str, str]:
    """Production settings on loopback services, with a limiter that counts but never refuses."""
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
        "REDIS_URL": "redis://127.0.0.1:6379/11",
        "RATE_LIMIT_STANDARD": RATE_LIMIT,
        "LOG_LEVEL": "WARNING",
        "VAR_DIR": var_dir,  # static and media roots of the servers, not the checkout's var/
    }


@contextmanager
def bench_database() -> Iterator[Context]:
    """A fresh, migrated database with one user and API key; dropped on the way out."""
    dbname = f"citizenai_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        try:
            with tempfile.TemporaryDirectory(prefix="citizenai-bench-") as tmp:
                env = bench_env(dbname, tmp)
                manage(env, "migrate", "--noinput", "--verbosity", "0")
                api_key = manage(env, "shell", "-c", CREATE_KEY).strip().splitlines()[-1]
                yield Context(env, api_key, Path(tmp), admin, dbname)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def main() -> None:
    if subprocess.run(["which", "wrk"], capture_output=True).returncode:
        sys.exit("wrk is missing: apt-get install -y wrk")
    names = [name for name in SERVERS if os.environ.get("BENCH_ONLY", "") in name]
    results: list[Result] = []
    with bench_database() as ctx:
        print(f"database {ctx.dbname} ready; measuring {len(names)} server types", flush=True)
        for name in names:
            results += measure(name, ctx)
    print_table(results)


if __name__ == "__main__":
    main()
