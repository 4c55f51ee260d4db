"""Analytics at scale: p95 latency of the dashboard and a metric series over a year of data,
and the memory a one-million-row CSV export costs the server.

Run: .venv/bin/python bench/analytics.py   (needs PostgreSQL and Redis on loopback)

1. Creates a fresh PostgreSQL database, migrates it (with the analytics covering indexes)
   and seeds, with INSERT ... SELECT generate_series in the database itself,
   BENCH_CONCERNS concerns (default 1,000,000) and BENCH_MESSAGES chat messages (default
   1,000,000: a quarter as many conversations with four messages each, 5 % of the answers
   rated) spread evenly over the last 365 days, then VACUUM ANALYZE.
2. Starts Daphne (BENCH_SERVER=gunicorn for gunicorn sync workers) against it with
   production-like settings (citizenai.settings.base, DEBUG off, DATABASE_URL, REDIS_URL,
   RATE_LIMIT_ENABLED=false) and an API key of a staff member.
3. Measures BENCH_REQUESTS (default 50) sequential requests, after 3 warm-up requests, of
   GET /analytics/dashboard?date_range=30d and 90d, first with every figure computed live
   (indexed aggregate queries), then after the rollup task ran once (as Celery beat does
   every five minutes: closed days of chat figures come from ChatDailyRollup); and of
   GET /analytics/metrics/concerns over 365 days daily. Beside them the floors:
   GET /auth/validate through the same stack, and a single indexed COUNT of the concerns
   of the last 90 days straight from PostgreSQL.
4. Downloads GET /analytics/export?format=csv&include_details=true over 366 days (every
   concern) while sampling the server's RSS with psutil every 20 ms: the peak growth over
   the RSS before the download is what streaming has to keep under 100 MB.
5. Drops the database.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import psutil
import psycopg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench.common must be importable
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    ServerProcess,
    api_request,
    database_url,
    fill_missing_columns,
    fresh_database,
)
from bench.common import manage as run_manage  # noqa: E402

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
CONCERNS = int(os.environ.get("BENCH_CONCERNS", "1000000"))
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "1000000"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "50"))
SERVER = os.environ.get("BENCH_SERVER", "daphne")
TARGET_P95_MS = 200.0
TARGET_RSS_MB = 100.0

CREATE_KEY = """
from apps.accounts.models import User
from apps.accounts.services import api_key_create
user = User(username="bench-staff", email="bench@example.org", role="staff")
user.set_unusable_password()
user.save()
_, secret = api_key_create(user=user, name="bench")
print(secret)
"""

REFRESH = "from apps.analytics.services import rollups_refresh; print(rollups_refresh())"

SEED_CONCERNS = """
INSERT INTO concerns_concern ({columns})
SELECT id, tracking_number, title, description, category_id, priority, status, location, contact_name,
       contact_email, contact_phone, anonymous, source, internal_notes, submitted_at, last_updated,
       estimated_resolution,
       CASE WHEN status IN ('resolved', 'closed') THEN submitted_at + random() * interval '96 hours' END
       {extra_values}
FROM (
    SELECT gen_random_uuid() AS id,
           'TRK-B-' || lpad(g::text, 8, '0') AS tracking_number,
           'Benchmark concern ' || g AS title,
           'Generated for the analytics benchmark.' AS description,
           cats.ids[1 + g % cats.n] AS category_id,
           (ARRAY['low', 'medium', 'medium', 'high', 'emergency'])[1 + g % 5] AS priority,
           CASE WHEN random() < 0.9 - 0.7 * g::float / %(n)s
                THEN (ARRAY['resolved', 'closed'])[1 + g % 2]
                ELSE (ARRAY['submitted', 'in_progress'])[1 + g % 2] END AS status,
           'Main Street ' || (g % 500) AS location,
           '' AS contact_name, '' AS contact_email, '' AS contact_phone, false AS anonymous,
           'api' AS source, '' AS internal_notes,
           ts AS submitted_at, ts AS last_updated,
           ts + interval '72 hours' AS estimated_resolution
    FROM generate_series(1, %(n)s) AS g
    CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids, count(*) AS n FROM concerns_category) AS cats
    CROSS JOIN LATERAL (
        SELECT now() - interval '365 days' + g * (365 * 86400.0 / %(n)s) * interval '1 second' AS ts
    ) AS t
) AS rows
"""

SEED_CONVERSATIONS = """
INSERT INTO chat_conversation (id, title, status, state, client_context, anonymous_key, created_at, updated_at,
                               escalated_at)
SELECT 'bench-' || g, '', CASE WHEN g % 40 = 0 THEN 'escalated' ELSE 'closed' END, '{}'::jsonb, '{}'::jsonb, '',
       ts, ts + interval '90 seconds', CASE WHEN g % 40 = 0 THEN ts + interval '60 seconds' END
FROM generate_series(1, %(n)s) AS g
CROSS JOIN LATERAL (
    SELECT now() - interval '365 days' + g * (365 * 86400.0 / %(n)s) * interval '1 second' AS ts
) AS t
"""

SEED_MESSAGES = """
INSERT INTO chat_message (id, conversation_id, role, content, intent, sentiment, confidence, agent_id, metadata,
                          created_at)
SELECT gen_random_uuid(), c.id,
       CASE WHEN k % 2 = 0 THEN 'user' ELSE 'assistant' END,
       CASE WHEN k % 2 = 0 THEN 'When is the bulky waste collected?' ELSE 'On the first Monday of the month.' END,
       (ARRAY['services_inquiry', 'report_concern', 'track_concern', 'greeting'])[1 + (k / 2 + length(c.id)) % 4],
       (ARRAY['positive', 'neutral', 'neutral', 'negative'])[1 + floor(random() * 4)::int], 0.5 + random() / 2,
       (ARRAY['guide', 'intake', 'tracker'])[1 + (k / 2 + length(c.id)) % 3],
       CASE WHEN k % 2 = 1 THEN jsonb_build_object('processing_time_ms', round((150 + random() * 2500)::numeric, 2))
            ELSE '{}'::jsonb END,
       c.created_at + k * interval '20 seconds'
FROM chat_conversation AS c
CROSS JOIN generate_series(0, 3) AS k
WHERE c.id LIKE 'bench-%'
ORDER BY c.created_at, k
"""

SEED_FEEDBACK = """
INSERT INTO chat_feedback (message_id, rating, comment, created_at)
SELECT id, 1 + floor(random() * 5)::int, '', created_at + interval '1 minute'
FROM chat_message WHERE role = 'assistant' AND random() < 0.05
"""


def manage(env: dict[str, str], *args: str) -> str:
    """manage.py with this interpreter, up to 15 minutes (seeded tables are large)."""
    return run_manage(env, *args, python=sys.executable, timeout=900, tail=3000)


def server_env(dbname: str, var_dir: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "citizenai.settings.base",
            "DEBUG": "false",
            "DATABASE_URL": database_url(dbname),
            "REDIS_URL": REDIS_URL,
            "CACHE_KEY_PREFIX": f"bench-analytics-{dbname}",
            "RATE_LIMIT_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
            "VAR_DIR": var_dir,
        }
    )
    return env


def seed(dburl: str) -> None:
    concern_columns = [
        "id",
        "tracking_number",
        "title",
        "description",
        "category_id",
        "priority",
        "status",
        "location",
        "contact_name",
        "contact_email",
        "contact_phone",
        "anonymous",
        "source",
        "internal_notes",
        "submitted_at",
        "last_updated",
        "estimated_resolution",
        "resolved_at",
    ]
    with psycopg.connect(dburl, autocommit=True) as conn:
        extra_names, extra_values = fill_missing_columns(conn, "concerns_concern", concern_columns)
        started = time.perf_counter()
        conn.execute(
            SEED_CONCERNS.format(columns=", ".join(concern_columns) + extra_names, extra_values=extra_values).replace(
                "%(n)s", str(CONCERNS)
            )
        )
        print(f"  {CONCERNS:,} concerns in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        conversations = MESSAGES // 4
        conn.execute(SEED_CONVERSATIONS.replace("%(n)s", str(conversations)))
        conn.execute(SEED_MESSAGES)
        conn.execute(SEED_FEEDBACK)
        messages = conn.execute("SELECT count(*) FROM chat_message").fetchone()[0]
        feedback = conn.execute("SELECT count(*) FROM chat_feedback").fetchone()[0]
        print(
            f"  {conversations:,} conversations, {messages:,} messages, {feedback:,} ratings in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        started = time.perf_counter()
        conn.execute("VACUUM (ANALYZE) concerns_concern, chat_conversation, chat_message, chat_feedback")
        print(f"  VACUUM ANALYZE in {time.perf_counter() - started:.1f} s", flush=True)


class Server(ServerProcess):
    """Daphne, or one gunicorn sync worker with BENCH_SERVER=gunicorn."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        if SERVER == "gunicorn":
            argv = ["gunicorn", "-b", "127.0.0.1:{port}", "-w", "1", "--timeout", "600", "citizenai.wsgi:application"]
        else:
            argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", "{port}", "citizenai.asgi:application"]
        super().__init__(argv, env=env, log_path=log_path)

    def rss(self) -> int:
        """Resident memory of the server and its workers, in bytes."""
        try:
            process = psutil.Process(self.proc.pid)
            return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
        except psutil.Error:
            return 0

    def wait_ready(self) -> None:
        """Until /api/v1/system/health answers at all (60 s at most)."""

        def probe() -> None:
            try:
                with urllib.request.urlopen(self.base_url + "/api/v1/system/health", timeout=5):
                    pass
            except urllib.error.HTTPError:  # an answer, if not a healthy one
                pass

        self.poll_ready(probe)


def get(url: str, key: str) -> tuple[int, bytes]:
    return api_request(url, key=key, timeout=120)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def measure_http(name: str, url: str, key: str) -> tuple[str, float, float]:
    """p50 and p95 of REQUESTS sequential requests. PostgreSQL on this machine is shared with
    other work: a failed request (e.g. "too many clients" while another benchmark holds every
    connection slot) is retried, counted and shown; more than 25 of them end the run."""
    failures = 0

    def timed() -> float:
        nonlocal failures
        while True:
            started = time.perf_counter()
            status, body = get(url, key)
            elapsed = (time.perf_counter() - started) * 1000
            if status == 200:
                return elapsed
            failures += 1
            if failures > 25:
                raise RuntimeError(f"{name}: {status} {body[:300]!r}")
            time.sleep(1.0)

    for _ in range(3):
        timed()
    timings = [timed() for _ in range(REQUESTS)]
    p50, p95 = statistics.median(timings), percentile(timings, 0.95)
    note = f"   ({failures} failed and retried)" if failures else ""
    print(f"  {name:<42} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms{note}", flush=True)
    return name, p50, p95


def measure_floor(dburl: str) -> tuple[str, float, float]:
    query = (
        "SELECT count(*) FROM concerns_concern WHERE deleted_at IS NULL "
        "AND submitted_at >= now() - interval '90 days' AND submitted_at < now()"
    )
    timings = []
    with psycopg.connect(dburl) as conn:
        for index in range(REQUESTS + 3):
            started = time.perf_counter()
            conn.execute(query).fetchone()
            if index >= 3:
                timings.append((time.perf_counter() - started) * 1000)
        plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + query).fetchall())
    name = "floor: indexed COUNT of 90 days (psycopg)"
    p50, p95 = statistics.median(timings), percentile(timings, 0.95)
    print(f"  {name:<42} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms", flush=True)
    if "Index Only Scan" not in plan:
        print(f"  (the floor did not use an index-only scan:\n{plan})")
    return name, p50, p95


def measure_export(server: Server, key: str, start: date, end: date) -> tuple[float, int, int, float]:
    """(peak RSS growth in MB, bytes, detail rows, seconds) of a CSV export with every concern."""
    url = (
        f"{server.base_url}/api/v1/analytics/export?format=csv&include_details=true"
        f"&start_date={start.isoformat()}&end_date={end.isoformat()}"
    )
    baseline = server.rss()
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.rss())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    size, lines = 0, 0
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=900) as response:
        if response.status != 200:
            raise RuntimeError(f"export answered {response.status}")
        while block := response.read(256 * 1024):
            size += len(block)
            lines += block.count(b"\n")
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    # the same export without details has every line but the blank one, the header and the rows
    status, without = get(url.replace("include_details=true", "include_details=false"), key)
    details = lines - without.count(b"\n") - 2
    return (peak - baseline) / 1e6, size, details, elapsed


def main() -> None:
    results: list[tuple[str, float, float]] = []
    export: tuple[float, int, int, float] | None = None
    dropped = "\ndropped {dbname}"
    with fresh_database("citizenai_bench_analytics", admin_url=PG_ADMIN_URL, dropped_note=dropped) as (dbname, _):
        dburl = database_url(dbname)
        print(f"database {dbname}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}", flush=True)
        with tempfile.TemporaryDirectory(prefix="citizenai-bench-analytics-") as tmp:
            env = server_env(dbname, tmp)
            started = time.perf_counter()
            manage(env, "migrate", "--noinput", "--verbosity", "0")
            print(f"migrated in {time.perf_counter() - started:.1f} s; seeding", flush=True)
            key = manage(env, "shell", "-c", CREATE_KEY).strip().splitlines()[-1]
            started = time.perf_counter()
            seed(dburl)
            print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)

            server = Server(env, Path(tmp) / "server.log")
            try:
                server.wait_ready()
                today = date.today()
                api = server.base_url + "/api/v1"
                print(f"\n{SERVER}, {REQUESTS} sequential requests each (after 3 warm-ups):", flush=True)
                results.append(measure_http("floor: GET /auth/validate", api + "/auth/validate", key))
                results.append(measure_floor(dburl))
                dashboards = [
                    ("30d", "/analytics/dashboard?date_range=30d"),
                    ("90d", "/analytics/dashboard?date_range=90d"),
                ]
                for label, path in dashboards:
                    results.append(measure_http(f"dashboard {label}, no rollups (all live)", api + path, key))
                started = time.perf_counter()
                days = manage(env, "shell", "-c", REFRESH).strip().splitlines()[-1]
                print(f"  (rollup task: {days} days written in {time.perf_counter() - started:.1f} s)", flush=True)
                for label, path in dashboards:
                    results.append(measure_http(f"dashboard {label}, with rollups", api + path, key))
                start = today - timedelta(days=364)
                results.append(
                    measure_http(
                        "metrics/concerns 365 d daily",
                        api + f"/analytics/metrics/concerns?granularity=daily&start_date={start}&end_date={today}",
                        key,
                    )
                )
                print("\nCSV export with every concern (366 days):", flush=True)
                export = measure_export(server, key, today - timedelta(days=365), today)
                growth, size, rows, seconds = export
                print(
                    f"  {rows:,} concern rows, {size / 1e6:.1f} MB in {seconds:.1f} s; "
                    f"server RSS peak growth {growth:.1f} MB",
                    flush=True,
                )
            except Exception:
                print(f"server log:\n{server.log_path.read_text()[-4000:]}")
                raise
            finally:
                server.stop()

    print("\nsummary")
    for name, p50, p95 in results:
        verdict = ""
        if "with rollups" in name:
            verdict = "ok" if p95 <= TARGET_P95_MS else f"OVER {TARGET_P95_MS:.0f} ms"
        print(f"  {name:<42} p50 {p50:7.1f}  p95 {p95:7.1f} ms  {verdict}")
    if export is not None:
        growth = export[0]
        verdict = "ok" if growth <= TARGET_RSS_MB else f"OVER {TARGET_RSS_MB:.0f} MB"
        print(f"  CSV export of {export[2]:,} rows: RSS growth {growth:.1f} MB  {verdict}")


if __name__ == "__main__":
    main()
