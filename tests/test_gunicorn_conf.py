"""gunicorn.conf.py: WEB_CONCURRENCY workers, else one per CPU this process may run on."""

from __future__ import annotations

import os
import re
import runpy
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


def load(monkeypatch: pytest.MonkeyPatch, web_concurrency: str | None) -> dict[str, Any]:
    if web_concurrency is None:
        monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    else:
        monkeypatch.setenv("WEB_CONCURRENCY", web_concurrency)
    return runpy.run_path(str(CONF))


@pytest.fixture
def five_cpus(monkeypatch: pytest.MonkeyPatch) -> int:
    """A process allowed on five CPUs, whatever this machine has."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 3, 5, 7})
    return 5


def test_the_file_is_where_gunicorn_looks() -> None:
    assert CONF.is_file()


def test_without_web_concurrency_one_worker_per_usable_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(monkeypatch, None)["workers"] == len(os.sched_getaffinity(0))


def test_the_cpus_counted_are_those_of_the_affinity_mask(monkeypatch: pytest.MonkeyPatch, five_cpus: int) -> None:
    assert load(monkeypatch, None)["workers"] == five_cpus


def test_web_concurrency_wins(monkeypatch: pytest.MonkeyPatch, five_cpus: int) -> None:
    conf = load(monkeypatch, "3")
    assert conf["workers"] == 3
    assert type(conf["workers"]) is int


def test_web_concurrency_is_read_with_surrounding_whitespace(monkeypatch: pytest.MonkeyPatch, five_cpus: int) -> None:
    assert load(monkeypatch, " 12\n")["workers"] == 12


def test_an_empty_web_concurrency_means_one_per_cpu(monkeypatch: pytest.MonkeyPatch, five_cpus: int) -> None:
    assert load(monkeypatch, "")["workers"] == five_cpus


@pytest.mark.parametrize("value", ["three", "2.5", "4 workers"])
def test_a_malformed_web_concurrency_stops_the_start(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="WEB_CONCURRENCY must be an integer"):
        load(monkeypatch, value)


@pytest.mark.parametrize("value", ["0", "-2"])
def test_fewer_than_one_worker_stops_the_start(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    # gunicorn accepts 0 workers: it would bind the port and answer nothing.
    with pytest.raises(ImproperlyConfigured, match="WEB_CONCURRENCY must be at least 1"):
        load(monkeypatch, value)


def test_only_settings_gunicorn_knows_are_defined(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = load(monkeypatch, "2")
    assert {name for name in conf if not name.startswith("__") and not name[0].isupper() and name != "os"} == {
        "workers"
    }


def test_compose_passes_web_concurrency_through_only_when_set() -> None:
    # An empty value would reach gunicorn, which reads WEB_CONCURRENCY with int() before this
    # file and fails on "".
    compose = (CONF.parent / "docker-compose.yml").read_text()
    assert re.search(r"^\s+WEB_CONCURRENCY:\s*(#.*)?$", compose, re.MULTILINE)
