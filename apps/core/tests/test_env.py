"""Configuration from the environment: malformed values stop the process at startup with a
message naming the variable, and production refuses unsafe settings."""

from __future__ import annotations

import ast
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from citizenai.env import Env

PROJECT = Path(__file__).resolve().parents[3]

# --- Env readers ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["maybe", "2", "yess", "tru"])
def test_bool_rejects_anything_else_naming_the_variable(value):
    with pytest.raises(ImproperlyConfigured, match=r"\bX\b.*boolean") as caught:
        Env({"X": value}).bool("X", False)
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("Yes", True), (" on ", True), ("0", False), ("FALSE", False), ("no", False)],
)
def test_bool_spellings(value, expected):
    assert Env({"X": value}).bool("X", not expected) is expected


@pytest.mark.parametrize("environ", [{}, {"X": ""}, {"X": "   "}])
def test_unset_or_blank_takes_the_default(environ):
    env = Env(environ)
    assert env.bool("X", True) is True
    assert env.int("X", 7) == 7
    assert env.list("X", ["a"]) == ["a"]
    assert env.str("X", "d") == "d"
    assert env.url("X", ("redis",)) is None
    assert env.choice("X", "b", ("a", "b")) == "b"
    assert env.is_set("X") is False


def test_str_required():
    with pytest.raises(ImproperlyConfigured, match="SECRET_THING is required"):
        Env({}).str("SECRET_THING", required=True)
    assert Env({"S": " v "}).str("S", required=True) == "v"


@pytest.mark.parametrize("value", ["abc", "1.5", "10 minutes", "0x10", "1_000", "+5", "١٢", "- 5"])
def test_int_rejects_non_integers(value):
    with pytest.raises(ImproperlyConfigured, match=r"\bPORT\b.*integer"):
        Env({"PORT": value}).int("PORT", 1)


def test_int_minimum():
    assert Env({"N": "5"}).int("N", 1, minimum=5) == 5
    with pytest.raises(ImproperlyConfigured, match=r"\bN\b.*at least 5"):
        Env({"N": "4"}).int("N", 1, minimum=5)


def test_int_maximum():
    """ACCESS_TOKEN_TTL=99999999999999999999 started and then made every sign-in a 500."""
    assert Env({"N": "65535"}).int("N", 1, maximum=65535) == 65535
    with pytest.raises(ImproperlyConfigured, match=r"\bN\b.*at most 65535"):
        Env({"N": "65536"}).int("N", 1, maximum=65535)
    with pytest.raises(ImproperlyConfigured, match=r"\bN\b.*at most 2147483647"):
        Env({"N": "99999999999999999999"}).int("N", 1)
    with pytest.raises(ImproperlyConfigured, match=r"\bN\b.*at most 2147483647"):
        Env({"N": "9" * 5000}).int("N", 1)  # past int()'s own digit limit


def test_list_splits_and_trims():
    assert Env({"L": " a, b,,c ,"}).list("L") == ["a", "b", "c"]
    assert Env({}).list("L") == []


def test_int_list():
    assert Env({"L": "1, 2,3"}).int_list("L", [9]) == [1, 2, 3]
    assert Env({}).int_list("L", [9]) == [9]
    with pytest.raises(ImproperlyConfigured, match=r"\bL\b.*integers"):
        Env({"L": "1,two"}).int_list("L", [])
    with pytest.raises(ImproperlyConfigured, match=r"\bL\b.*at least 0"):
        Env({"L": "1,-2"}).int_list("L", [])


@pytest.mark.parametrize("value", [",", "5,,10", "5,", "1_0", "+5"])
def test_int_list_refuses_empty_items_and_loose_spellings(value):
    with pytest.raises(ImproperlyConfigured, match=r"\bL\b.*list of integers"):
        Env({"L": value}).int_list("L", [9])


def test_choice():
    assert Env({"C": "text"}).choice("C", "json", ("json", "text")) == "text"
    with pytest.raises(ImproperlyConfigured, match=r"\bC\b must be one of json, text.*'xml'"):
        Env({"C": "xml"}).choice("C", "json", ("json", "text"))


def test_url_accepts_its_schemes():
    env = Env({"R": "redis://cache:6379/0", "D": "sqlite:////tmp/x.db", "P": "postgres://u:p@db:5432/app"})
    assert env.url("R", ("redis", "rediss")) == "redis://cache:6379/0"
    assert env.url("D", ("sqlite", "postgres")) == "sqlite:////tmp/x.db"
    assert env.url("P", ("sqlite", "postgres")) == "postgres://u:p@db:5432/app"


def test_url_rejects_other_schemes_without_leaking_the_password():
    with pytest.raises(ImproperlyConfigured, match=r"DATABASE_URL.*scheme.*'mysql'") as caught:
        Env({"DATABASE_URL": "mysql://app:hunter2@db/app"}).url("DATABASE_URL", ("sqlite", "postgres"))
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("value", ["localhost:6379", "redis:///0", "just-a-word"])
def test_url_needs_scheme_and_host(value):
    with pytest.raises(ImproperlyConfigured, match=r"\bREDIS_URL\b"):
        Env({"REDIS_URL": value}).url("REDIS_URL", ("redis",))


@pytest.mark.parametrize(
    ("value", "problem"), [("postgres://u:hunter2@db:5432", "database"), ("postgres://u:hunter2@db:5432/", "database")]
)
def test_a_postgres_url_must_name_its_database(value, problem):
    with pytest.raises(ImproperlyConfigured, match=rf"\bDATABASE_URL\b.*{problem}") as caught:
        Env({"DATABASE_URL": value}).url("DATABASE_URL", ("postgres",))
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("value", ["redis://cache:6379/abc", "redis://cache:6379/0/1"])
def test_a_redis_url_ends_in_a_database_number(value):
    with pytest.raises(ImproperlyConfigured, match=r"\bREDIS_URL\b.*database number"):
        Env({"REDIS_URL": value}).url("REDIS_URL", ("redis",))
    assert Env({"REDIS_URL": "redis://cache:6379"}).url("REDIS_URL", ("redis",)) == "redis://cache:6379"


@pytest.mark.parametrize("value", ["postgres://u:hunter2@db:abc/app", "postgres://u:hunter2@db:99999/app"])
def test_url_with_a_bad_port_fails_naming_the_variable(value):
    with pytest.raises(ImproperlyConfigured, match=r"\bDATABASE_URL\b.*port") as caught:
        Env({"DATABASE_URL": value}).url("DATABASE_URL", ("postgres",))
    assert "hunter2" not in str(caught.value)


# --- the process refuses to start -------------------------------------------------------

GOOD_SECRET = secrets.token_urlsafe(60)


SHOW = "print(settings.ENVIRONMENT, settings.DEBUG, settings.ALLOWED_HOSTS)"


def start(settings_module: str, tmp_path: Path, show: str = SHOW, **variables: str) -> subprocess.CompletedProcess[str]:
    """`django.setup()` in a fresh interpreter with only the given configuration, then `show`."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"}
        and not key.startswith(("RATE_LIMIT", "CELERY_", "PYTEST_"))
    }
    environ.update({"DJANGO_SETTINGS_MODULE": settings_module, "VAR_DIR": str(tmp_path), **variables})
    code = f"import django; django.setup(); from django.conf import settings; {show}"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PRODUCTION = "citizenai.settings.production"


def test_production_starts_with_safe_settings(tmp_path):
    result = start(PRODUCTION, tmp_path, SECRET_KEY=GOOD_SECRET, ALLOWED_HOSTS="city.example.org")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "production False ['city.example.org']"


@pytest.mark.parametrize("debug", ["true", "1", "on"])
def test_production_refuses_debug(tmp_path, debug):
    result = start(PRODUCTION, tmp_path, SECRET_KEY=GOOD_SECRET, ALLOWED_HOSTS="city.example.org", DEBUG=debug)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DEBUG must be off in production" in result.stderr


@pytest.mark.parametrize(
    "secret",
    [
        None,
        "",
        "short-secret",
        "django-insecure-citizenai-development-key-do-not-use-in-production",
        "a" * 60,
        "abab" * 20,
        "django-insecure-" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP",  # ids must not be random (xdist)
    ],
)
def test_production_refuses_a_missing_or_weak_secret_key(tmp_path, secret):
    variables = {"ALLOWED_HOSTS": "city.example.org"}
    if secret is not None:
        variables["SECRET_KEY"] = secret
    result = start(PRODUCTION, tmp_path, **variables)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("hosts", [None, "", " , ", "*", "city.example.org,*"])
def test_production_refuses_no_allowed_hosts(tmp_path, hosts):
    variables = {"SECRET_KEY": GOOD_SECRET}
    if hosts is not None:
        variables["ALLOWED_HOSTS"] = hosts
    result = start(PRODUCTION, tmp_path, **variables)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must list" in result.stderr


def test_a_sqlite_database_url_gets_the_embedded_defaults_options(tmp_path):
    """Without the busy timeout and IMMEDIATE transactions, concurrent chat messages on a
    SQLite file named by DATABASE_URL failed at once with "database is locked" (a 500)."""
    show = (
        "from django.db import connection; print(connection.settings_dict['OPTIONS']); connection.ensure_connection()"
    )
    result = start("citizenai.settings.base", tmp_path, show, DATABASE_URL=f"sqlite:///{tmp_path}/city.sqlite3")
    assert result.returncode == 0, result.stderr
    options = ast.literal_eval(result.stdout.strip())
    assert options["timeout"] == 20 and options["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in options["init_command"]
    assert (tmp_path / "city.sqlite3-wal").exists() or (tmp_path / "city.sqlite3").exists()


def test_base_settings_refuse_a_mysql_database_url(tmp_path):
    result = start("citizenai.settings.base", tmp_path, DATABASE_URL="mysql://app:hunter2@db:3306/app")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DATABASE_URL must be a URL with scheme" in result.stderr
    assert "'mysql'" in result.stderr
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [("DEBUG", "maybe"), ("RATE_LIMIT_STANDARD", "lots"), ("RATE_LIMIT_ANONYMOUS", "0"), ("LOG_LEVEL", "LOUD")],
)
def test_base_settings_refuse_malformed_values(tmp_path, variable, value):
    result = start("citizenai.settings.base", tmp_path, **{variable: value})
    assert result.returncode != 0
    assert f"Environment variable {variable}" in result.stderr


def test_base_settings_start_with_nothing_set(tmp_path):
    result = start("citizenai.settings.base", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("development False")
