"""A credential ended through one server process is refused by another that holds it in its
near cache (apps/accounts/credential_cache.py, apps/core/near_cache.py): two real Daphne
processes on one fresh database and one Redis.

Before anything is ended, each process is shown to answer the credential from its own copy:
a request that reads no credential entry from Redis (watched with MONITOR) was answered from
the process's memory. Otherwise a refusal would prove nothing about the near cache."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from tests.servers import (
    Server,
    delete_redis_keys,
    fresh_database,
    http,
    http_get,
    manage,
    redis_url,
    require_redis,
    running_servers,
    server_env,
)

pytestmark = pytest.mark.slow

PASSWORD = "an integration password 31"
CREATE_USER_AND_KEY = f"""
from apps.accounts.models import User
from apps.accounts.services import api_key_create
user = User(username="it-user", email="it-user@example.org", role="citizen")
user.set_password("{PASSWORD}")
user.save()
key, secret = api_key_create(user=user, name="integration")
print("KEY=" + str(key.pk) + " SECRET=" + secret)
"""
VALIDATE = "/api/v1/auth/validate"
REFUSAL_SECONDS = 3.0  # a bound on the message's way to the other process, not a speed target
POLL_SECONDS = 0.02


@dataclass
class Cluster:
    servers: list[Server]
    prefix: str
    redis: redis.Redis
    key_id: str
    key_secret: str


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    url = redis_url()
    require_redis(url)
    prefix = f"citizenai-it-{uuid.uuid4().hex[:12]}"
    with fresh_database() as database_url:
        env = server_env(
            DATABASE_URL=database_url,
            REDIS_URL=url,
            CACHE_KEY_PREFIX=prefix,
            # Polling must not run into a budget: refused credentials spend the address's.
            RATE_LIMIT_ANONYMOUS="100000",
            RATE_LIMIT_STANDARD="100000",
            RATE_LIMIT_LOGIN="1000",
            VAR_DIR=str(tmp_path_factory.mktemp("var")),
        )
        client = redis.Redis.from_url(url, socket_timeout=10)
        try:
            manage(env, "migrate", "--noinput")
            output = manage(env, "shell", "-c", CREATE_USER_AND_KEY)
            line = next(line for line in output.splitlines() if line.startswith("KEY="))
            key_id, key_secret = line.removeprefix("KEY=").split(" SECRET=")
            with running_servers(env, count=2) as servers:
                assert servers[0].process.pid != servers[1].process.pid
                for server in servers:
                    status, _, body = http_get(server.url + "/api/v1/system/health")
                    assert status == 200, body
                    assert json.loads(body)["data"]["components"]["cache"] == "healthy"
                yield Cluster(servers=servers, prefix=prefix, redis=client, key_id=key_id, key_secret=key_secret)
        finally:
            client.close()
            delete_redis_keys(url, prefix)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def validate(server: Server, secret: str) -> tuple[int, dict[str, Any]]:
    status, _, body = http_get(server.url + VALIDATE, bearer(secret))
    return status, json.loads(body)


def credential_reads(cluster: Cluster, server: Server, secret: str) -> list[str]:
    """The Redis commands on credential entries that one validate request made."""
    sentinel = f"{cluster.prefix}:sentinel:{uuid.uuid4().hex}"
    marker = f"{cluster.prefix}:1:cred:"
    with cluster.redis.monitor() as monitor:
        status, body = validate(server, secret)
        assert status == 200, body
        cluster.redis.echo(sentinel)  # executed after the request's commands: MONITOR lists them first
        seen = []
        while True:
            command = monitor.next_command()["command"]
            if sentinel in command:
                return seen
            if marker in command:
                seen.append(command)


def assert_answered_from_its_copy(cluster: Cluster, server: Server, secret: str) -> None:
    """The first request reads the credential from Redis (the process holds no copy yet);
    requests follow until one is answered without that read: the process keeps a copy (it
    subscribes to the channel of forgotten keys at its first look, and keeps what it reads
    once subscribed)."""
    assert credential_reads(cluster, server, secret), "the first request did not read the shared cache"
    deadline = time.monotonic() + 5
    while credential_reads(cluster, server, secret):
        assert time.monotonic() < deadline, f"the process on port {server.port} never kept the credential"
        time.sleep(0.05)


def assert_refused_soon_and_for_good(server: Server, secret: str) -> float:
    """Polls until the credential is refused; then it must stay refused. The seconds it took."""
    started = time.monotonic()
    while True:
        status, body = validate(server, secret)
        if status == 401:
            break
        assert status == 200, body
        assert time.monotonic() - started < REFUSAL_SECONDS, f"still accepted after {REFUSAL_SECONDS}s"
        time.sleep(POLL_SECONDS)
    took = time.monotonic() - started
    for _ in range(21):  # the refusal itself and the next 20
        assert body["error"]["code"] == "INVALID_API_KEY", body
        assert body["error"]["details"]["reason"] == "revoked", body
        status, body = validate(server, secret)
        assert status == 401, body
    return took


def test_a_key_revoked_through_one_process_is_refused_by_the_other(cluster: Cluster) -> None:
    a, b = cluster.servers
    secret = cluster.key_secret
    for server in (a, b):
        assert_answered_from_its_copy(cluster, server, secret)
    status, _, body = http(
        "DELETE", f"{a.url}/api/v1/auth/api-keys/{cluster.key_id}", headers=bearer(secret)
    )  # the key revokes itself (api_keys.manage_own)
    assert status == 200, body
    assert json.loads(body)["data"]["id"] == cluster.key_id
    status, refused = validate(a, secret)
    assert status == 401 and refused["error"]["code"] == "INVALID_API_KEY"  # at once where it happened
    assert_refused_soon_and_for_good(b, secret)


def test_an_access_token_logged_out_through_one_process_is_refused_by_the_other(cluster: Cluster) -> None:
    a, b = cluster.servers
    status, _, body = http("POST", a.url + "/api/v1/auth/login", body={"username": "it-user", "password": PASSWORD})
    assert status == 200, body
    token = json.loads(body)["data"]["access_token"]
    for server in (a, b):
        assert_answered_from_its_copy(cluster, server, token)
        status, validated = validate(server, token)
        assert status == 200, validated
        assert validated["data"]["auth_type"] == "access_token"
    status, _, body = http("POST", a.url + "/api/v1/auth/logout", headers=bearer(token))
    assert status == 200, body
    assert validate(a, token)[0] == 401
    assert_refused_soon_and_for_good(b, token)
