"""Webhook delivery under faults: at least once, nothing lost (SPEC §8).

Run: .venv/bin/python bench/webhooks_fault.py [--events 10000]   (needs PostgreSQL on
loopback and the redis-server binary; starts and stops everything else itself)

Starts its own redis-server (the broker, no persistence), a fresh PostgreSQL database, a
local receiver that fails 20% of requests at random with 500, a Celery worker as deployed
(one process, thread pool of 4; --pool prefork --concurrency 2 for the other kind) and
Celery beat running the sweep every 2 s. Events are published in
batches, each batch in one transaction, by a Django subprocess. Mid-run the broker is
shut down without saving while events are still being published and started again on the
same port after a short outage (its queue is gone), and once 30% are delivered the
worker's whole process group is SIGKILLed and a new worker started. Then it waits
until every delivery has succeeded and prints what the receiver saw. Exit status 1 when any
event never got a 2xx.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import free_port  # noqa: E402
from bench.common import manage as run_manage  # noqa: E402
from tests.receiver import Received, Receiver, Reply  # noqa: E402

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_PORT = 6391
# Twelve attempts: at a 20% failure rate the chance that one of 10,000 deliveries fails all
# of them is about 4e-5 (with eight it would be 2.6%, and the bench would report a "loss"
# that is the retry schedule running out, not a lost event).
RETRY_SCHEDULE = "0,1,2,3,5,8,13,21,30,30,30,30"
NOT_INHERITED = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "CELERY_", "CACHE_KEY_PREFIX", "DEBUG")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the broker -------------------------------------------------------------------------


class RedisServer:
    """A redis-server of our own on loopback, without persistence."""

    def __init__(self, port: int, folder: Path) -> None:
        self.port = port
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=2, socket_timeout=5)

    def start(self, timeout: float = 10) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.folder), "--daemonize", "no", "--loglevel", "warning"]
        with (self.folder / "redis.log").open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited {self.process.returncode}; see {self.folder / 'redis.log'}")
            try:
                if self.client().ping():
                    return
            except Exception:  # not up yet
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not answer within {timeout}s")

    def shutdown(self) -> None:
        """SHUTDOWN NOSAVE: everything queued in it is gone."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.client().shutdown(nosave=True)
        except Exception:  # the connection drops as it goes down
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.shutdown()


# --- the database and Django subprocesses ------------------------------------------------


@contextmanager
def pg_database(prefix: str = "citizenai_bench_wh") -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        for attempt in range(30):  # connection slots may be short for a moment
            try:
                with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
                    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                break
            except psycopg.OperationalError:
                if attempt == 29:
                    raise
                time.sleep(1)


def bench_env(**variables: str) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(NOT_INHERITED)}
    environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "citizenai.settings.base",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
            "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
            "WEBHOOK_DISPATCH": "celery",
        }
    )
    environ.update(variables)
    return environ


def manage(env: Mapping[str, str], *args: str, timeout: float = 300) -> str:
    """manage.py with this interpreter; a failure raises RuntimeError (the caller cleans up)."""
    return run_manage(env, *args, timeout=timeout, python=sys.executable, tail=4000, exit_on_failure=False)


def _query(database_url: str, query: str, attempts: int = 30) -> list[tuple]:
    """Rows of ``query``; retried for a while when PostgreSQL refuses the connection (its
    100 slots are shared with everything else on this machine)."""
    for attempt in range(attempts):
        try:
            with psycopg.connect(database_url, connect_timeout=5) as conn:
                return conn.execute(query).fetchall()
        except psycopg.OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(1)
    return []


def delivery_counts(database_url: str, attempts: int = 30) -> dict[str, int]:
    return dict(_query(database_url, "SELECT status, count(*) FROM webhooks_delivery GROUP BY status", attempts))


def delivery_message_ids(database_url: str) -> set[str]:
    return {f"msg_{row[0].hex}" for row in _query(database_url, "SELECT id FROM webhooks_delivery")}


# --- Celery -------------------------------------------------------------------------------


class Processes:
    """Every process this script starts, each in its own process group, so stopping one
    (or SIGKILLing a worker with its prefork children) touches nothing else."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, command: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("ab") as out:
            process = subprocess.Popen(
                command, cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started.append(process)
        return process

    def worker(
        self,
        env: Mapping[str, str],
        name: str,
        *,
        concurrency: int,
        pool: str = "prefork",
        extra: list[str] | None = None,
    ) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "celery", "-A", "citizenai", "worker", "--loglevel=WARNING"]
        command += [f"--concurrency={concurrency}", f"--pool={pool}", f"--hostname={name}-{uuid.uuid4().hex[:6]}@%h"]
        command += ["--without-gossip", "--without-mingle", *(extra or [])]
        return self.start(name, command, env)

    def beat(self, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "celery", "-A", "citizenai", "beat", "--loglevel=WARNING"]
        command += [f"--schedule={self.folder / 'beat-schedule'}", f"--pidfile={self.folder / 'beat.pid'}"]
        return self.start("beat", command, env)

    @staticmethod
    def kill_group(process: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)

    @staticmethod
    def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # children left behind, if any
        except (ProcessLookupError, PermissionError):
            pass
        if process.poll() is None:
            process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in reversed(self.started):
            self.stop(process)


# --- the receiver ------------------------------------------------------------------------


class Tally:
    """The receiver's behaviour: answers at once, 500 for a ``fail_rate`` share of requests
    at random, and counts every reply per webhook-id."""

    def __init__(self, fail_rate: float = 0.0, seed: int | None = None) -> None:
        self.fail_rate = fail_rate
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.statuses: dict[str, list[int]] = defaultdict(list)
        self.posts = 0
        self.ok_ids = 0
        self.first_at: float | None = None
        self.last_ok_at: float | None = None

    def __call__(self, request: Received) -> Reply:
        message_id = request.headers.get("webhook-id", "")
        with self.lock:
            status = 500 if self.random.random() < self.fail_rate else 200
            now = time.monotonic()
            self.first_at = self.first_at or now
            self.posts += 1
            if status == 200:
                self.last_ok_at = now
                if 200 not in self.statuses[message_id]:
                    self.ok_ids += 1
            self.statuses[message_id].append(status)
        return Reply(status=status, body=b"ok" if status == 200 else b"injected failure")


class QuietReceiver(Receiver):
    """tests.receiver.Receiver without keeping every request (10,000+ would only cost memory),
    answering without Nagle delays."""

    def __init__(self, behaviour) -> None:
        super().__init__(behaviour)
        self.received = _Discard()
        # The handler writes the status and headers, then the body, in two writes; without
        # TCP_NODELAY the second waits for the client's delayed ACK (up to 40 ms on Linux)
        # and the bench would measure that instead of the worker.
        self.server.RequestHandlerClass.disable_nagle_algorithm = True


class _Discard(list):
    def append(self, item: object) -> None:
        pass


# --- publishing ---------------------------------------------------------------------------

PUBLISHER = """
import sys
from django.db import transaction
from apps.accounts.models import User
from apps.core.events import event_publish
from apps.webhooks.services import endpoint_create

user = User.objects.create(username="bench-" + TAG, email="bench@example.org", role="staff")
endpoint_create(owner=user, url=RECEIVER_URL, events=["concern.*"])
done = 0
while done < EVENTS:
    size = min(BATCH, EVENTS - done)
    with transaction.atomic():
        for n in range(done, done + size):
            event_publish(event="concern.created", data={"concern_id": f"bench-{n}", "n": n})
    done += size
    print(f"PUBLISHED {done}", flush=True)
print("DONE", flush=True)
"""


class Publisher:
    """``manage.py shell`` publishing the events; its progress read from stdout."""

    def __init__(self, env: Mapping[str, str], receiver_url: str, events: int, batch: int, log_path: Path) -> None:
        script = (
            f"TAG = {uuid.uuid4().hex[:8]!r}\nRECEIVER_URL = {receiver_url!r}\nEVENTS = {events}\nBATCH = {batch}\n"
        )
        self.log_path = log_path
        self.published = 0
        self.finished = False
        with log_path.open("ab") as err:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "shell", "-c", script + PUBLISHER],
                cwd=ROOT,
                env=dict(env),
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("PUBLISHED "):
                self.published = int(line.split()[1])
            elif line.startswith("DONE"):
                self.finished = True

    def failed(self) -> bool:
        return self.process.poll() not in (None, 0)


# --- the fault run --------------------------------------------------------------------------


def tail(path: Path, size: int = 2500) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return "(no log)"


def count_lines(path: Path, needle: str) -> int:
    try:
        return sum(needle in line for line in path.read_text(errors="replace").splitlines())
    except OSError:
        return 0


def run(args: argparse.Namespace) -> int:
    folder = Path(tempfile.mkdtemp(prefix="citizenai-wh-fault-"))
    redis_server = RedisServer(free_port(REDIS_PORT), folder)
    processes = Processes(folder)
    tally = Tally(fail_rate=args.fail_rate, seed=args.seed)
    receiver = QuietReceiver(tally).start()
    lost = -1
    try:
        redis_server.start()
        log(f"broker: redis-server on port {redis_server.port} (pid {redis_server.process.pid}); logs in {folder}")
        with pg_database() as database_url:
            try:
                lost = fault_run(args, database_url, redis_server, processes, tally, receiver, folder)
            finally:
                processes.stop_all()  # before the database is dropped
    finally:
        processes.stop_all()
        receiver.stop()
        redis_server.stop()
    if lost == 0 and not args.keep_logs:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if lost == 0 else 1


def fault_run(
    args: argparse.Namespace,
    database_url: str,
    redis_server: RedisServer,
    processes: Processes,
    tally: Tally,
    receiver: Receiver,
    folder: Path,
) -> int:
    """The run itself; returns how many events never got a 2xx."""
    env = bench_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_server.url,
        CACHE_KEY_PREFIX=f"bench-{uuid.uuid4().hex[:8]}",
        WEBHOOK_SWEEP_SECONDS="2",
        WEBHOOK_ORPHAN_SECONDS=str(args.orphan_seconds),
        WEBHOOK_RETRY_SCHEDULE=RETRY_SCHEDULE,
        VAR_DIR=str(folder),
    )
    manage(env, "migrate", "--noinput")
    log(f"database {database_url.rsplit('/', 1)[1]} migrated; receiver {receiver.url} fails {args.fail_rate:.0%}")
    worker = processes.worker(env, "worker-1", concurrency=args.concurrency, pool=args.pool)
    beat = processes.beat(env)

    started = time.monotonic()
    publisher = Publisher(env, receiver.url, args.events, args.batch, folder / "publisher.log")
    processes.started.append(publisher.process)
    faults: list[str] = []
    killed = restarted = complete = False
    deadline = started + args.timeout
    next_db_check = next_log = next_queue_check = 0.0
    max_queue = 0
    workers = 1
    while time.monotonic() < deadline:
        time.sleep(0.2)
        delivered = tally.ok_ids
        if publisher.failed():
            raise RuntimeError(f"the publisher exited {publisher.process.returncode}:\n{tail(publisher.log_path)}")
        if beat.poll() is not None:
            raise RuntimeError(f"celery beat exited {beat.returncode}:\n{tail(folder / 'beat.log')}")
        if worker.poll() is not None:
            log_path = folder / f"worker-{workers}.log"
            raise RuntimeError(f"the celery worker exited {worker.returncode}:\n{tail(log_path)}")
        # The broker goes while events are still being published: the publisher must not fail
        # after its commit, and what it could not queue (and what the broker lost) the sweep
        # must find.
        if not restarted and (
            publisher.published >= args.events * 0.5 or (publisher.finished and delivered >= args.events * 0.6)
        ):
            redis_server.shutdown()
            time.sleep(args.outage)
            redis_server.start()
            restarted = True
            faults.append(
                f"{time.monotonic() - started:6.1f}s broker SHUTDOWN NOSAVE at {delivered} delivered, "
                f"{publisher.published} published; restarted after {args.outage:g}s"
            )
            log(faults[-1])
        if not killed and delivered >= args.events * 0.3:
            Processes.kill_group(worker)
            workers += 1
            worker = processes.worker(env, f"worker-{workers}", concurrency=args.concurrency, pool=args.pool)
            killed = True
            faults.append(
                f"{time.monotonic() - started:6.1f}s SIGKILL worker group at {delivered} delivered, "
                f"{publisher.published} published; new worker started"
            )
            log(faults[-1])
        now = time.monotonic()
        if now >= next_queue_check:  # tasks waiting in the broker: grows without bound if the sweep piles on copies
            next_queue_check = now + 2.0
            try:
                max_queue = max(max_queue, int(redis_server.client().llen("celery")))
            except Exception:  # the broker is being restarted
                pass
        if publisher.finished and now >= next_db_check:
            next_db_check = now + 1.0
            try:
                counts = delivery_counts(database_url, attempts=1)
            except psycopg.OperationalError:
                continue  # no connection slot just now: look again in a second
            if sum(counts.values()) == args.events and counts.get("pending", 0) == 0:
                complete = True
                break
        if now >= next_log:
            next_log = now + 10
            log(f"published {publisher.published}, delivered {delivered}, POSTs {tally.posts}")
    wall = time.monotonic() - started
    counts = delivery_counts(database_url)
    expected = delivery_message_ids(database_url)

    with tally.lock:
        ok_ids = {key for key, statuses in tally.statuses.items() if 200 in statuses}
        duplicates = sum(1 for statuses in tally.statuses.values() if statuses.count(200) > 1)
        extra_2xx = sum(max(0, statuses.count(200) - 1) for statuses in tally.statuses.values())
        posts = tally.posts
        failures = sum(statuses.count(500) for statuses in tally.statuses.values())
        span = (tally.last_ok_at or started) - (tally.first_at or started)
    lost = len(expected - ok_ids) + max(0, args.events - len(expected))
    worker_errors = sum(count_lines(path, "ERROR") for path in folder.glob("worker-*.log"))
    rate = len(ok_ids) / wall
    print()
    print("=== webhook delivery under faults ===")
    for fault in faults:
        print(f"fault              {fault}")
    if not (killed and restarted):
        print("fault              WARNING: not every fault was injected before the run ended")
    print(f"events published   {publisher.published} of {args.events}")
    print(f"deliveries in DB   {sum(counts.values())}  {dict(sorted(counts.items()))}")
    print(f"distinct 2xx ids   {len(ok_ids & expected)}  (must equal the events published)")
    print(f"POSTs received     {posts}  ({failures} answered 500 on purpose)")
    print(f"duplicate 2xx      {duplicates} webhook-ids answered 2xx more than once ({extra_2xx} extra 2xx)")
    print(f"lost (never 2xx)   {lost}")
    print(f"wall time          {wall:.1f}s from the first publish to {'all succeeded' if complete else 'TIMEOUT'}")
    worker_processes = args.concurrency if args.pool == "prefork" else 1
    print(
        f"deliveries/s       {rate:.0f} overall ({rate / worker_processes:.0f} per worker process, "
        f"{worker_processes} processes, pool {args.pool}); {len(ok_ids) / span if span else 0:.0f} first-to-last 2xx"
    )
    print(f"broker queue       at most {max_queue} tasks waiting (sampled every 2 s)")
    print(f"load average       {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"worker log ERRORs  {worker_errors} lines (logs: {folder})")
    return lost


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=100, help="events per publishing transaction")
    parser.add_argument("--pool", choices=("threads", "prefork"), default="threads")
    parser.add_argument("--concurrency", type=int, default=4, help="threads, or processes with prefork")
    parser.add_argument("--fail-rate", type=float, default=0.2)
    parser.add_argument("--orphan-seconds", type=int, default=15)
    parser.add_argument("--outage", type=float, default=2.0, help="seconds the broker stays down")
    parser.add_argument("--timeout", type=float, default=900, help="give up after this many seconds")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep-logs", action="store_true")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
