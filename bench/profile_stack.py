"""Where the time of GET /api/v1/auth/validate goes: the servers' WSGI handler called in this
process, no server and no HTTP client, against the same PostgreSQL and Redis as
bench/foundation.py. Each figure is the best of several interleaved rounds, so other work
on the machine inflates it less; "cpu" is this process's CPU time, "wall" adds the waits
for PostgreSQL and Redis.

Run: .venv/bin/python bench/profile_stack.py   (BENCH_PROFILE=1 adds a cProfile listing by
internal time; BENCH_PROFILE=cumulative sorts it by cumulative time instead)
"""

from __future__ import annotations

import cProfile
import io
import logging
import os
import pstats
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.foundation import bench_database

BATCH = int(os.environ.get("BENCH_REQUESTS", "400"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
BARE, VALIDATE = "/bench/bare", "/api/v1/auth/validate"
Variant = tuple[str, Callable[[], Any], Callable[[], AbstractContextManager[Any]]]


def call(handler: Callable[..., Any], path: str, headers: dict[str, str]) -> None:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        **headers,
    }
    status: list[str] = []
    result = handler(environ, lambda s, h, exc_info=None: status.append(s))
    b"".join(result)
    result.close()  # as a server does: sends request_finished
    if status != ["200 OK"]:
        raise RuntimeError(f"{path}: {status}")


def best_of_rounds(variants: list[Variant]) -> dict[str, tuple[float, float]]:
    """label -> (wall µs, cpu µs) per call, the minimum over ROUNDS interleaved batches."""
    best: dict[str, tuple[float, float]] = {}
    for _ in range(ROUNDS):
        for label, run, context in variants:
            with context():
                for _ in range(BATCH // 10):  # warm-up, and reconnects after a context change
                    run()
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(BATCH):
                    run()
                figures = ((time.perf_counter() - wall) / BATCH * 1e6, (time.process_time() - cpu) / BATCH * 1e6)
            old = best.get(label, (float("inf"), float("inf")))
            best[label] = (min(old[0], figures[0]), min(old[1], figures[1]))
    return best


def report(title: str, best: dict[str, tuple[float, float]], reference: str) -> None:
    print(f"\n{title:<60} {'wall µs':>8} {'cpu µs':>7} {'Δ wall':>7} {'Δ cpu':>6}")
    ref_wall, ref_cpu = best[reference]
    for label, (wall, cpu) in best.items():
        print(f"{label:<60} {wall:>8.0f} {cpu:>7.0f} {wall - ref_wall:>+7.0f} {cpu - ref_cpu:>+6.0f}")


@contextmanager
def access_log_at_info() -> Iterator[None]:
    """The access log as LOG_LEVEL=INFO writes it, into /dev/null instead of stderr."""
    root = logging.getLogger()
    with open(os.devnull, "w") as devnull:
        handlers = [h for h in root.handlers if isinstance(h, logging.StreamHandler)]
        streams = [h.setStream(devnull) for h in handlers]
        level = root.level
        root.setLevel(logging.INFO)
        try:
            yield
        finally:
            root.setLevel(level)
            for handler, stream in zip(handlers, streams, strict=True):
                handler.setStream(stream)


def main() -> None:
    with bench_database() as ctx:
        os.environ.update(ctx.env, DJANGO_SETTINGS_MODULE="bench.bench_settings")
        import django

        django.setup()
        from django.conf import settings
        from django.db import connection
        from django.test.utils import CaptureQueriesContext, override_settings

        from apps.accounts import selectors
        from apps.core.handlers import (
            ResolveOnceWSGIHandler,
            freeze_startup_objects,
            idle_request_receivers_disconnect,
        )
        from apps.core.ratelimit import hit

        auth = {"HTTP_AUTHORIZATION": f"Bearer {ctx.api_key}"}
        all_mw = list(settings.MIDDLEWARE)

        def handler(middleware: list[str]) -> ResolveOnceWSGIHandler:
            # The handler citizenai/wsgi.py gives the servers, with what it does at startup.
            with override_settings(MIDDLEWARE=middleware):
                return ResolveOnceWSGIHandler()

        idle_request_receivers_disconnect()

        @contextmanager
        def health_checks(enabled: bool) -> Iterator[None]:
            connection.close()
            connection.settings_dict["CONN_HEALTH_CHECKS"] = enabled
            try:
                yield
            finally:
                connection.close()
                connection.settings_dict["CONN_HEALTH_CHECKS"] = True

        full, bare = handler(all_mw), handler([])
        freeze_startup_objects()
        with CaptureQueriesContext(connection) as queries:
            call(full, VALIDATE, auth)
        print(f"best of {ROUNDS} rounds of {BATCH} calls; SQL of one validate request (besides health checks):")
        for query in queries:
            print(f"  {query['sql'][:110]}…")

        def validate() -> None:
            call(full, VALIDATE, auth)

        none = nullcontext
        no_limiter = partial(override_settings, RATE_LIMIT_ENABLED=False)
        report(
            "request",
            best_of_rounds(
                [
                    ("validate, full stack (as served)", validate, none),
                    ("validate, RATE_LIMIT_ENABLED=false", validate, no_limiter),
                    ("validate, CONN_HEALTH_CHECKS=false", validate, partial(health_checks, False)),
                    ("validate, LOG_LEVEL=INFO (JSON access log to /dev/null)", validate, access_log_at_info),
                    ("validate, MIDDLEWARE=[]", lambda: call(bare, VALIDATE, auth), none),
                    ("bare view, all middleware", lambda: call(full, BARE, {}), none),
                    ("bare view, MIDDLEWARE=[]", lambda: call(bare, BARE, {}), none),
                ]
            ),
            "validate, full stack (as served)",
        )

        # Each middleware's own cost, on the bare view where nothing else hides it. Sessions,
        # authentication and messages depend on each other, so they go together.
        coupled = ("SessionMiddleware", "AuthenticationMiddleware", "MessageMiddleware")
        groups = [[m] for m in all_mw if not m.endswith(coupled)] + [[m for m in all_mw if m.endswith(coupled)]]
        variants: list[Variant] = [("bare view, all middleware", lambda: call(full, BARE, {}), none)]
        for group in groups:
            without = handler([m for m in all_mw if m not in group])
            label = "bare view without " + " + ".join(m.rsplit(".", 1)[-1] for m in group)
            variants.append((label, lambda h=without: call(h, BARE, {}), none))
        report("middleware", best_of_rounds(variants), "bare view, all middleware")

        access = logging.getLogger("apps.access")
        extra = {"method": "GET", "path": VALIDATE, "status": 200, "duration_ms": 1.0, "user_id": "x"}

        def lookup() -> None:
            selectors.bearer_credential_get(secret=ctx.api_key)

        def log_line() -> None:
            access.info("GET %s 200", VALIDATE, extra=extra)

        def new_connection() -> None:
            connection.close()
            connection.ensure_connection()

        components = best_of_rounds(
            [
                ("credential lookup alone (this process's copy)", lookup, none),
                ("health check: SELECT 1 on the open connection", connection.is_usable, none),
                ("rate limiter: hit(), counted in this process", lambda: hit("standard:key:bench", 10**8), none),
                ("access log line at INFO (JSON to /dev/null)", log_line, access_log_at_info),
                ("new PostgreSQL connection (Django connect + setup)", new_connection, none),
            ]
        )
        components["(nothing)"] = (0.0, 0.0)
        report("component, in isolation", components, "(nothing)")

        if os.environ.get("BENCH_PROFILE"):
            profiler = cProfile.Profile(time.process_time)
            profiler.runcall(lambda: [call(full, VALIDATE, auth) for _ in range(BATCH * ROUNDS)])
            order = "cumulative" if os.environ["BENCH_PROFILE"] == "cumulative" else "tottime"
            pstats.Stats(profiler).sort_stats(order).print_stats(70 if order == "cumulative" else 25)
        connection.close()


if __name__ == "__main__":
    main()
