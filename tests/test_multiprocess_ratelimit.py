"""SPEC §2: rate limits are shared across processes through Redis. Two real server processes
take requests with one API key in turn, and together they grant one budget: exactly with
RATE_LIMIT_SYNC_MS=0, within the bound apps/core/shared_counts.py states by default."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from apps.core.shared_counts import allowance
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


Result = tuple[int, int, dict[str, str], bytes]  # (port, status, headers, body)


def requests_in_turn(
    tmp_path, *, budget: int, requests: int, sync_ms: str, pause_after: int | None = None
) -> tuple[list[Result], list[int]]:
    """``requests`` validate calls with one API key, taken by two Daphne processes in turn;
    after ``pause_after`` of them, a pause of two sync intervals. Also the two ports."""
    url = redis_url()
    require_redis(url)
    prefix = f"citizenai-it-{uuid.uuid4().hex[:12]}"
    with fresh_database() as database_url:
        env = server_env(
            DATABASE_URL=database_url,
            REDIS_URL=url,
            CACHE_KEY_PREFIX=prefix,
            RATE_LIMIT_STANDARD=str(budget),
            RATE_LIMIT_SYNC_MS=sync_ms,
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
                for index in range(requests):
                    if index == pause_after:
                        time.sleep(2 * int(sync_ms) / 1000 + 0.2)
                    server = servers[index % 2]
                    status, headers, body = http_get(
                        server.url + "/api/v1/auth/validate", {"Authorization": f"Bearer {secret}"}
                    )
                    results.append((server.port, status, headers, body))
                ports = [server.port for server in servers]
        finally:
            delete_redis_keys(url, prefix)
    return results, ports


def assert_refused_properly(result: Result) -> None:
    refused = json.loads(result[3])
    assert refused["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert int(result[2]["retry-after"]) >= 1


def test_two_processes_counting_exactly_grant_exactly_one_budget(tmp_path):
    """RATE_LIMIT_SYNC_MS=0: every request is added to the shared total at once."""
    budget, requests = 20, 30
    results, ports = requests_in_turn(tmp_path, budget=budget, requests=requests, sync_ms="0")
    statuses = [status for _, status, _, _ in results]
    # One budget: the first BUDGET requests pass whichever process takes them, then none do.
    assert statuses == [200] * budget + [429] * (requests - budget)
    remaining = [int(headers["x-ratelimit-remaining"]) for _, _, headers, _ in results]
    assert remaining[:budget] == list(range(budget - 1, -1, -1))
    assert {headers["x-ratelimit-limit"] for _, _, headers, _ in results} == {str(budget)}
    # Both processes answered, and both refused once the budget was spent.
    assert {port for port, status, _, _ in results if status == 200} == set(ports)
    assert {port for port, status, _, _ in results if status == 429} == set(ports)
    assert_refused_properly(results[-1])


def test_two_processes_syncing_share_one_budget_within_the_stated_bound(tmp_path):
    """The default: each process counts here and syncs every RATE_LIMIT_SYNC_MS. Requests
    come faster than a sync (a few ms apart), so each process decides on its own view:
    together they grant at least the budget and at most one request each beyond it
    (allowance(20) = 1), and once a sync has passed both refuse."""
    budget, requests, sync_ms = 20, 40, "250"
    results, ports = requests_in_turn(tmp_path, budget=budget, requests=requests, sync_ms=sync_ms, pause_after=30)
    statuses = [status for _, status, _, _ in results]
    granted = statuses.count(200)
    assert budget <= granted <= budget + 2 * allowance(budget), statuses
    assert statuses[:budget] == [200] * budget  # nothing within the budget is refused
    assert 200 not in statuses[budget + 2 :], statuses
    # After two sync intervals both processes know the shared total: every request is refused.
    assert statuses[30:] == [429] * (requests - 30)
    assert {port for port, status, _, _ in results[30:]} == set(ports)
    for port in ports:  # each process's view of what is left only goes down
        seen = [int(h["x-ratelimit-remaining"]) for p, status, h, _ in results if p == port and status == 200]
        assert seen == sorted(seen, reverse=True) and len(set(seen)) == len(seen), seen
    assert {headers["x-ratelimit-limit"] for _, _, headers, _ in results} == {str(budget)}
    assert_refused_properly(results[-1])
