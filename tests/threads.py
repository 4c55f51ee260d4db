"""Running a test's work in several threads at once, each on its own database connection."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def run_side_by_side(work: Callable[[], None], count: int, *, name: str, timeout: float) -> None:
    """Runs ``work`` in ``count`` threads released together, each closing its database
    connection when done; fails if one hangs past ``timeout`` or raises."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait(timeout=30)
            work()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, name=f"{name}-{n}") for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), f"a {name} thread hung"
    assert errors == [], errors[:3]
