"""Helpers the benchmark scripts under bench/ share: one copy each, so that every script starts
its servers, databases and load generators the same way.

- where things are: ROOT (the checkout), BIN (the venv's bin), PG_ADMIN_URL, RATE_LIMIT;
- a scratch PostgreSQL database (fresh_database, admin_connection, fill_missing_columns);
- the environment of a production-settings server on loopback (bench_env) and
  ``manage.py`` in a subprocess (manage);
- a server process group on a free port (free_port, ServerProcess: start, poll_ready,
  cpu_seconds, stop);
- the machine's idle share before a measurement (cpu_idle, wait_for_quiet);
- wrk, run and parsed (require_wrk, wrk, parse_wrk, WrkRun);
- one HTTP request with an API key (api_request).

Importing it from a script run as ``.venv/bin/python bench/<name>.py`` needs the checkout
on sys.path first (``sys.path.insert(0, str(ROOT))``), as the scripts do.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/11"
RATE_LIMIT = "100000000"  # requests per minute: the limiter counts every request, refuses none


# --- ports and subprocesses ------------------------------------------------------------------


def free_port(preferred: int | None = None) -> int:
    """A free TCP port on loopback: ``preferred`` when it is free, else one the kernel picks."""
    if preferred is not None:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", preferred))
            except OSError:
                pass
            else:
                return preferred
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def manage(
    env: Mapping[str, str],
    *args: str,
    timeout: float = 300,
    python: str | Path = BIN / "python",
    tail: int | None = None,
    exit_on_failure: bool = True,
) -> str:
    """Stdout of ``python manage.py *args`` run in the checkout with ``env``. On failure the
    script exits with its output (the last ``tail`` characters of each stream, or all of it),
    or with exit_on_failure=False raises RuntimeError."""
    done = subprocess.run(
        [str(python), "manage.py", *args], cwd=ROOT, env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    if done.returncode:
        out, err = (done.stdout, done.stderr) if tail is None else (done.stdout[-tail:], done.stderr[-tail:])
        message = f"manage.py {args[0]} failed:\n{out}\n{err}"
        if exit_on_failure:
            sys.exit(message)
        raise RuntimeError(message)
    return done.stdout


# --- PostgreSQL ------------------------------------------------------------------------------


def admin_connection(admin_url: str = PG_ADMIN_URL, *, wait_s: float = 0.0) -> psycopg.Connection:
    """An autocommit connection to the maintenance database. PostgreSQL may be shared: with
    wait_s, while other clients hold every connection slot, it tries again for that long."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return psycopg.connect(admin_url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as error:
            if "too many clients" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(2)


@contextmanager
def fresh_database(
    prefix: str, *, admin_url: str = PG_ADMIN_URL, wait_s: float = 0.0, dropped_note: str | None = None
) -> Iterator[tuple[str, psycopg.Connection]]:
    """(name, admin connection) of a new, empty database ``<prefix>_<8 hex digits>``, dropped
    WITH (FORCE) on the way out, then ``dropped_note`` (with ``{dbname}``) is printed. The admin
    connection is opened first and kept until then, so that a server exhausting
    max_connections cannot stop the clean-up; wait_s as for admin_connection()."""
    dbname = f"{prefix}_{secrets.token_hex(4)}"
    admin = admin_connection(admin_url, wait_s=wait_s)
    try:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        try:
            yield dbname, admin
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
            if dropped_note is not None:
                print(dropped_note.format(dbname=dbname), flush=True)
    finally:
        admin.close()


def database_url(dbname: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{dbname}"


def fill_missing_columns(conn: psycopg.Connection, table: str, given: Collection[str]) -> tuple[str, str]:
    """Required columns a later migration may add, beyond ``given``, get an empty value of their
    type: (", name, ..." , ", value, ...") to append to an INSERT's columns and values."""
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
        "AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'",
        (table,),
    ).fetchall()
    empty = {
        "boolean": "false",
        "jsonb": "'{}'::jsonb",
        "integer": "0",
        "bigint": "0",
        "smallint": "0",
        "double precision": "0",
        "timestamp with time zone": "now()",
        "uuid": "gen_random_uuid()",
    }
    listed = set(given)
    extra = [(name, empty.get(kind, "''")) for name, kind in rows if name not in listed]
    return "".join(f", {name}" for name, _ in extra), "".join(f", {value}" for _, value in extra)


# --- the servers' environment ----------------------------------------------------------------


def bench_env(
    dbname: str,
    var_dir: str,
    *,
    redis_url: str = REDIS_URL,
    rate_limit: str = RATE_LIMIT,
    **extra: str,
) -> dict[str, str]:
    """Production settings on loopback services, with a limiter that counts but (at the default
    rate_limit) never refuses; ``extra`` variables are added or override."""
    alphabet = string.ascii_letters + string.digits
    return {
        "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", str(ROOT)),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "DJANGO_SETTINGS_MODULE": "citizenai.settings.production",
        "SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(64)),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url(dbname),
        "REDIS_URL": redis_url,
        "RATE_LIMIT_STANDARD": rate_limit,
        "LOG_LEVEL": "WARNING",
        "VAR_DIR": var_dir,  # static and media roots of the servers, not the checkout's var/
        **extra,
    }


# --- server processes ------------------------------------------------------------------------


class ServerProcess:
    """One server process group on a free loopback port. ``argv[0]`` is looked up in the venv's
    bin (an absolute path stays as it is) and ``{port}`` in the other arguments becomes the
    port. Its own session, so stop() reaches every worker; output goes to ``log_path``."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str], log_path: Path) -> None:
        self.port = free_port()
        command = [str(BIN / argv[0]), *(arg.format(port=self.port) for arg in argv[1:])]
        self.log_path = log_path
        self.log = log_path.open("w")
        self.proc = subprocess.Popen(  # its own process group, so stop() reaches every worker
            command, cwd=ROOT, env=dict(env), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, size: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-size:]

    def poll_ready(self, probe: Callable[[], object], *, what: str = "server", limit_s: float = 60) -> None:
        """Calls ``probe`` until it returns; an OSError means "not listening yet" (any other
        exception ends the wait). Raises when the process exits or after ``limit_s``."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{what} exited:\n{self.log_tail()}")
            try:
                probe()
                return
            except OSError:  # not listening yet
                time.sleep(0.25)
        raise RuntimeError(f"{what} not ready after {limit_s:g} s:\n{self.log_tail()}")

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
        """SIGTERM to the process group, SIGKILL after 15 s; closes the log."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log.close()


def api_request(url: str, *, key: str, method: str = "GET", body: Any = None, timeout: float = 30) -> tuple[int, bytes]:
    """(status, body) of one request with ``Authorization: Bearer <key>`` (and a JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"Bearer {key}"})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# --- the machine -----------------------------------------------------------------------------


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


# --- wrk -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkRun:
    requests: int
    seconds: float  # wrk's own measure of the run
    rps: float  # wrk's "Requests/sec"
    p50_ms: float
    p99_ms: float
    bad: int  # non-2xx responses plus socket errors


def require_wrk() -> None:
    if subprocess.run(["which", "wrk"], capture_output=True).returncode:
        sys.exit("wrk is missing: apt-get install -y wrk")


_ELAPSED = {"ms": 0.001, "s": 1.0, "m": 60.0}
_LATENCY = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(out: str) -> WrkRun:
    """The figures of wrk --latency output."""
    total = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)\b", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    if not (total and rps and p50 and p99):
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    bad = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses:|connect|read|write|timeout) (\d+)", out))
    return WrkRun(
        requests=int(total.group(1)),
        seconds=float(total.group(2)) * _ELAPSED[total.group(3)],
        rps=float(rps.group(1)),
        p50_ms=float(p50.group(1)) * _LATENCY[p50.group(2)],
        p99_ms=float(p99.group(1)) * _LATENCY[p99.group(2)],
        bad=bad,
    )


def wrk(
    url: str,
    *,
    seconds: int,
    headers: Mapping[str, str] | None = None,
    connections: int = 16,
    threads: int = 2,
    request_timeout: str = "5s",
    script: Path | None = None,
    script_args: Sequence[str] = (),
    grace_s: float = 30,
) -> WrkRun:
    """One ``wrk -t<threads> -c<connections> -d<seconds>s --latency`` run against ``url``; with
    ``script``, wrk runs it (-s) and gets ``script_args`` after ``--``. ``grace_s`` is how much
    longer than ``seconds`` it may take before it counts as hung."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", request_timeout]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    command.append(url)
    if script is not None:
        command += ["--", *script_args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + grace_s, check=True)
    return parse_wrk(done.stdout)
