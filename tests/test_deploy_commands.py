"""How the deployment files start the servers: Daphne without its own access log, which
writes whole URLs, query strings and so ?token= among them (the application's JSON access
log writes every request's path without them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["Makefile", "docker-compose.yml", "Dockerfile"])
def test_daphne_is_started_without_its_own_access_log(name):
    text = (ROOT / name).read_text()
    commands = [line for line in text.splitlines() if re.search(r"\bdaphne\b.*citizenai\.asgi", line)]
    assert commands, f"no daphne command in {name}"
    for line in commands:
        assert re.search(r"--access-log\W+/dev/null", line), line
