"""Shared fixtures: the named personas every API test speaks as.

* ``citizen`` — a resident with the citizen role
* ``staff_member`` — city staff who triage concerns
* ``administrator`` — manages users and the system
* ``stranger`` — no credentials at all

Each authenticated persona holds an API key and a client that sends it as a bearer token.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.accounts.models import ApiKey, User
from apps.accounts.roles import Role
from apps.accounts.services import api_key_create

PASSWORD = "correct horse battery staple 42"  # noqa: S105 (a test persona's password)


def pytest_sessionstart(session: pytest.Session) -> None:
    """When the run is pointed at real services they must be there: fail, never skip."""
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        import redis

        try:
            redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            pytest.exit(f"REDIS_URL is set but Redis is unreachable: {exc}", returncode=3)
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith("postgres"):
        import psycopg

        try:
            psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", connect_timeout=3).close()
        except psycopg.Error as exc:
            pytest.exit(f"DATABASE_URL is set but PostgreSQL is unreachable: {exc}", returncode=3)


class Api(APIClient):
    """An APIClient that sends JSON by default and returns the decoded envelope."""

    def call(self, method: str, path: str, data: Any = None, **extra: Any) -> Any:
        kwargs: dict[str, Any] = {"format": "json"} if data is not None else {}
        if method == "get" and data is not None:
            kwargs = {}
        return getattr(self, method)(path, data, **kwargs, **extra)


@dataclass
class Persona:
    user: User | None
    client: Api
    api_key: ApiKey | None = None
    secret: str | None = None

    def get(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.client.call("get", path, data, **extra)

    def post(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.client.call("post", path, data, **extra)

    def put(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.client.call("put", path, data, **extra)

    def delete(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.client.call("delete", path, data, **extra)


def make_user(username: str, role: str, **fields: Any) -> User:
    user = User(username=username, email=f"{username}@example.org", role=role, **fields)
    user.set_password(PASSWORD)
    user.save()
    return user


def make_persona(username: str, role: str) -> Persona:
    user = make_user(username, role)
    key, secret = api_key_create(user=user, name=f"{username} test key")
    client = Api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return Persona(user=user, client=client, api_key=key, secret=secret)


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    """Rate-limit and lockout counters must not leak from one test into the next. On Redis
    only this run's keys are removed, never the whole database."""
    from django.conf import settings

    from apps.accounts.credential_cache import credentials_forget_here
    from apps.concerns.selectors import category_ids_forget_here
    from apps.core.shared_counts import shared_counts

    shared_counts.reset()  # first: no counts of the last test may be sent after the keys go
    credentials_forget_here()
    category_ids_forget_here()
    if settings.REDIS_URL:
        from apps.core.cache import redis_client

        client = redis_client(settings.REDIS_URL)
        for key in client.scan_iter(f"*{settings.CACHE_KEY_PREFIX}*", count=1000):
            client.delete(key)
    else:
        cache.clear()
    yield


@pytest.fixture
def citizen(db: None) -> Persona:
    return make_persona("citizen", Role.CITIZEN)


@pytest.fixture
def staff_member(db: None) -> Persona:
    return make_persona("staff", Role.STAFF)


@pytest.fixture
def administrator(db: None) -> Persona:
    return make_persona("admin", Role.ADMINISTRATOR)


@pytest.fixture
def stranger(db: None) -> Persona:
    return Persona(user=None, client=Api())
