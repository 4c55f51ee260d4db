"""Webhook deliveries per second per Celery worker process, to a receiver that answers at once.

Run: .venv/bin/python bench/webhooks_throughput.py [--events 3000] [--concurrency 1]
     [--pool prefork|solo|threads] [--profile]

Its own redis-server, a fresh PostgreSQL database, a receiver that always answers 200. The
events are published first with no worker running, so the broker holds the whole backlog;
then one worker starts and the rate is counted from the first request the receiver gets to
the last (worker start-up is left out). No faults, no failures, no beat. Target: >= 200/s
per worker process. --profile runs the worker with the solo pool under cProfile and prints
where the time goes.
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import free_port  # noqa: E402
from bench.webhooks_fault import (  # noqa: E402
    Processes,
    Publisher,
    QuietReceiver,
    RedisServer,
    Tally,
    bench_env,
    delivery_counts,
    log,
    manage,
    pg_database,
    tail,
)

TARGET = 200
TICKS = os.sysconf("SC_CLK_TCK")
AREAS = (
    "/celery/",
    "/kombu/",
    "/billiard/",
    "/redis/",
    "/psycopg/",
    "/django/",
    "/apps/",
    "http/client",
    "/ssl",
    "/json/",
    "/cryptography/",
    "~",
)


def cpu_seconds(root_pid: int) -> float:
    """User + system CPU of a process and its children (the prefork pool), from /proc."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == root_pid or ppid == root_pid:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def run(args: argparse.Namespace) -> int:
    folder = Path(tempfile.mkdtemp(prefix="citizenai-wh-tput-"))
    redis_server = RedisServer(free_port(6392), folder)
    processes = Processes(folder)
    tally = Tally(fail_rate=0.0)
    receiver = QuietReceiver(tally).start()
    rate = 0.0
    try:
        redis_server.start()
        with pg_database() as database_url:
            env = bench_env(
                DATABASE_URL=database_url,
                REDIS_URL=redis_server.url,
                CACHE_KEY_PREFIX=f"bench-{uuid.uuid4().hex[:8]}",
                VAR_DIR=str(folder),
                # no beat runs, and nothing here is orphaned: keep the sweep out of it
                WEBHOOK_ORPHAN_SECONDS="3600",
                **({"DJANGO_SETTINGS_MODULE": args.settings} if args.settings else {}),
            )
            manage(env, "migrate", "--noinput")
            started = time.monotonic()
            publisher = Publisher(env, receiver.url, args.events, args.batch, folder / "publisher.log")
            while not publisher.finished and time.monotonic() - started < 600:
                if publisher.failed():
                    raise RuntimeError(f"the publisher exited:\n{tail(publisher.log_path)}")
                time.sleep(0.2)
            log(f"published {publisher.published} events in {time.monotonic() - started:.1f}s; starting the worker")

            profile_path = folder / "worker.prof"
            if args.profile:
                command = [sys.executable, "-m", "cProfile", "-o", str(profile_path), "-m", "celery", "-A", "citizenai"]
                command += ["worker", "--loglevel=WARNING", "--pool=solo", "--without-gossip", "--without-mingle"]
                command += [f"--hostname=tput-{uuid.uuid4().hex[:6]}@%h"]
                worker = processes.start("worker", command, env)
                workers = 1
            else:
                worker = processes.worker(env, "worker", concurrency=args.concurrency, pool=args.pool)
                workers = args.concurrency if args.pool == "prefork" else 1  # threads and solo: one process
            deadline = time.monotonic() + args.timeout
            cpu_start = None
            while tally.ok_ids < args.events and time.monotonic() < deadline:
                if worker.poll() is not None:
                    raise RuntimeError(f"the worker exited {worker.returncode}:\n{tail(folder / 'worker.log')}")
                if cpu_start is None and tally.first_at is not None:
                    cpu_start, ok_at_start = cpu_seconds(worker.pid), tally.ok_ids
                time.sleep(0.05)
            cpu_used = cpu_seconds(worker.pid) - (cpu_start or 0.0)
            cpu_per = cpu_used / max(1, tally.ok_ids - (ok_at_start if cpu_start is not None else 0))
            span = (tally.last_ok_at or 0) - (tally.first_at or 0)
            rate = tally.ok_ids / span if span > 0 else 0.0
            Processes.stop(worker, timeout=30)
            counts = delivery_counts(database_url)
            print()
            print("=== webhook delivery throughput ===")
            print(
                f"worker             pool={'solo (cProfile)' if args.profile else args.pool} "
                f"concurrency={1 if args.profile else args.concurrency} processes={workers}"
            )
            print(f"delivered (2xx)    {tally.ok_ids} of {args.events}; POSTs {tally.posts}; DB {counts}")
            print(f"first to last 2xx  {span:.2f}s")
            print(f"deliveries/s       {rate:.0f} total, {rate / workers:.0f} per worker process (target >= {TARGET})")
            print(
                f"worker CPU         {cpu_per * 1000:.2f} ms per delivery (all worker processes), so at most "
                f"{1 / cpu_per if cpu_per else 0:.0f}/s per process on a free CPU"
            )
            print(f"load average       {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
            if args.profile and profile_path.exists():
                print()
                stats = pstats.Stats(str(profile_path))
                by_area: dict[str, float] = {}
                for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
                    area = next((name for name in AREAS if name in filename), "other")
                    by_area[area] = by_area.get(area, 0.0) + tottime
                ranked = sorted(by_area.items(), key=lambda kv: -kv[1])
                print("own time by area (s): " + ", ".join(f"{k.strip('/')} {v:.2f}" for k, v in ranked))
                stats.sort_stats("cumulative").print_stats(args.profile_lines)
                stats.sort_stats("tottime").print_stats(args.profile_lines)
                if os.environ.get("BENCH_CALLERS"):  # e.g. "client.py:128": who calls it
                    stats.print_callers(os.environ["BENCH_CALLERS"])
    finally:
        processes.stop_all()
        receiver.stop()
        redis_server.stop()
        if args.keep_logs or tally.ok_ids < args.events:
            print(f"logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0 if tally.ok_ids >= args.events else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--pool", default="prefork", choices=("prefork", "solo", "threads"))
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--settings", help="another DJANGO_SETTINGS_MODULE, to try a settings change")
    parser.add_argument("--profile-lines", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--keep-logs", action="store_true")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
