"""Browser tests' shared parts: Debian's Chromium through Playwright, and a real site (a
fresh database, migrated and seeded, served by Daphne) to point it at."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.servers import fresh_database, manage, running_servers, server_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright: Any) -> Any:
    """Headless Debian Chromium; a missing browser fails the test rather than skipping it."""
    if not CHROMIUM.exists():
        pytest.fail(f"Debian chromium is required at {CHROMIUM} (make system-deps)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


@contextmanager
def live_site(tmp_path: Path, *setup: tuple[str, ...], **variables: str) -> Iterator[str]:
    """The base URL of a Daphne server on a fresh, migrated database; each ``setup`` entry
    is a manage.py command run before it starts (e.g. ``("load_demo",)``)."""
    with fresh_database() as database_url:
        env = server_env(
            DATABASE_URL=database_url, VAR_DIR=str(tmp_path / "var"), MEDIA_ROOT=str(tmp_path / "media"), **variables
        )
        manage(env, "migrate", "--noinput")
        for command in setup:
            manage(env, *command)
        with running_servers(env, count=1) as (server,):
            yield server.url
