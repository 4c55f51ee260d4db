"""SPEC §2: rate limits are shared across processes through Redis. Two real server processes
take requests with one API key in turn, and together they grant exactly one budget."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.servers import (
    delete_redis_keys,
    fresh_database,
    http_get,
    manage,
    redis_url,
    require_redis,
    running_servers,
    server_env,
)

pytestmark = pytest.mark.slow

BUDGET = 20
REQUESTS = 30

CREATE_KEY = """
from apps.accounts.models import User
from apps.accounts.services import api_key_create
user = User(username="it-user", email="it-user@example.org", role="citizen")
user.set_password("an integration password 31")
user.save()
key, secret = api_key_create(user=user, name="integration")
print("SECRET=" + secret + " TIER=" + key.tier)
"""


def wait_for_a_fresh_window(needed_seconds: float = 15) -> None:
    """The limiter counts in fixed one-minute windows; start with enough of one left that
    all requests land in the same window."""
    left = 60 - time.time() % 60
    if left < needed_seconds:
        time.sleep(left + 0.5)


def test_two_processes_share_one_budget(tmp_path):
    url = redis_url()
    require_redis(url)
    prefix = f"citizenai-it-{uuid.uuid4().hex[:12]}"
    with fresh_database() as database_url:
        env = server_env(
            DATABASE_URL=database_url,
            REDIS_URL=url,
            CACHE_KEY_PREFIX=prefix,
            RATE_LIMIT_STANDARD=str(BUDGET),
            VAR_DIR=str(tmp_path),
        )
        try:
            manage(env, "migrate", "--noinput")
            output = manage(env, "shell", "-c", CREATE_KEY)
            line = next(line for line in output.splitlines() if line.startswith("SECRET="))
            secret, tier = line.removeprefix("SECRET=").split(" TIER=")
            assert tier == "standard"

            with running_servers(env, count=2) as servers:
                assert servers[0].process.pid != servers[1].process.pid
                for server in servers:
                    status, _, body = http_get(server.url + "/api/v1/system/health")
                    assert status == 200, body
                    assert json.loads(body)["data"]["components"]["cache"] == "healthy"

                wait_for_a_fresh_window()
                results = []
                for index in range(REQUESTS):
                    server = servers[index % 2]
                    status, headers, body = http_get(
                        server.url + "/api/v1/auth/validate", {"Authorization": f"Bearer {secret}"}
                    )
                    results.append((server.port, status, headers, body))

                logs = "\n".join(server.log() for server in servers)
        finally:
            delete_redis_keys(url, prefix)

    statuses = [status for _, status, _, _ in results]
    assert statuses.count(200) == BUDGET, (statuses, logs)
    assert statuses.count(429) == REQUESTS - BUDGET, statuses
    # One budget: the first BUDGET requests pass whichever process takes them, then none do.
    assert statuses == [200] * BUDGET + [429] * (REQUESTS - BUDGET)
    remaining = [int(headers["x-ratelimit-remaining"]) for _, _, headers, _ in results]
    assert remaining[:BUDGET] == list(range(BUDGET - 1, -1, -1))
    assert {headers["x-ratelimit-limit"] for _, _, headers, _ in results} == {str(BUDGET)}
    # Both processes answered, and both refused once the budget was spent.
    assert {port for port, status, _, _ in results if status == 200} == {s.port for s in servers}
    assert {port for port, status, _, _ in results if status == 429} == {s.port for s in servers}
    refused = json.loads(results[-1][3])
    assert refused["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert int(results[-1][2]["retry-after"]) >= 1
