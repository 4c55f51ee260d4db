"""Bearer authentication that also counts the request against the caller's rate limit in the
same Redis round trip (apps/accounts/credential_cache.py, credential_cached_counted).

With Redis as the cache (CI's service-backed run) a known credential skips the rate
limiter's own call; with the local-memory cache (the embedded default) the limiter counts
as before. Either way the budget a caller sees is one budget, counted once per request."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.test import override_settings

from apps.accounts import credential_cache
from apps.accounts.credentials import credential_hash
from apps.accounts.models import ApiKey
from apps.accounts.tests.helpers import LOGOUT, VALIDATE, assert_error, assert_ok, bearer, login_tokens
from apps.core import ratelimit

pytestmark = pytest.mark.django_db

LIMITS = {"anonymous": 3, "standard": 50, "premium": 70, "enterprise": 90, "login": 3}
FUSED = hasattr(cache, "script")  # ReusingRedisCache: REDIS_URL is set


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    now = int(time.time())
    instant = now - now % ratelimit.WINDOW_SECONDS + 30.25
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: instant))


@pytest.fixture
def limiter_calls(monkeypatch) -> list[str]:
    """The rate limiter's own counter calls (the real ones, recorded)."""
    calls: list[str] = []
    real = ratelimit._count

    def recorded(key: str, ttl: int) -> int | None:
        calls.append(key)
        return real(key, ttl)

    monkeypatch.setattr(ratelimit, "_count", recorded)
    return calls


def remaining(response) -> int:
    return int(response["X-RateLimit-Remaining"])


@override_settings(RATE_LIMITS_PER_MINUTE=LIMITS)
def test_requests_count_once_each_whichever_path_counts_them(citizen, limiter_calls):
    responses = [citizen.client.get(VALIDATE) for _ in range(5)]
    assert [r.status_code for r in responses] == [200] * 5
    assert [remaining(r) for r in responses] == [49, 48, 47, 46, 45]
    assert {r["X-RateLimit-Limit"] for r in responses} == {"50"}
    # The first request teaches the process the key's bucket; with Redis the next ones are
    # counted by the authentication's own call.
    assert len(limiter_calls) == (1 if FUSED else 5)


@override_settings(RATE_LIMITS_PER_MINUTE=LIMITS)
def test_a_remembered_bucket_that_changed_is_corrected(citizen, limiter_calls):
    digest = credential_hash(citizen.secret)
    assert_ok(citizen.client.get(VALIDATE))
    credential_cache.credential_bucket_remember(credential_hash=digest, bucket="standard:key:somewhere-else")
    response = citizen.client.get(VALIDATE)
    assert (response.status_code, remaining(response), response["X-RateLimit-Limit"]) == (200, 48, "50")
    assert credential_cache._buckets[digest] == f"standard:key:{citizen.api_key.pk}"
    assert remaining(citizen.client.get(VALIDATE)) == 47


@override_settings(RATE_LIMITS_PER_MINUTE=LIMITS)
def test_a_new_tier_applies_to_the_next_request(citizen):
    assert citizen.client.get(VALIDATE)["X-RateLimit-Limit"] == "50"
    key = ApiKey.objects.get(pk=citizen.api_key.pk)
    key.tier = "premium"
    key.save()  # forgets the cached key; the throttle counts in the premium bucket
    responses = [citizen.client.get(VALIDATE) for _ in range(3)]
    assert [(r["X-RateLimit-Limit"], remaining(r)) for r in responses] == [("70", 69), ("70", 68), ("70", 67)]


@override_settings(RATE_LIMITS_PER_MINUTE=LIMITS)
def test_a_key_revoked_while_cached_is_refused_and_counted_by_address(citizen):
    assert_ok(citizen.client.get(VALIDATE))
    assert_ok(citizen.client.get(VALIDATE))
    assert citizen.delete(f"/api/v1/auth/api-keys/{citizen.api_key.pk}").status_code in (200, 204)
    response = citizen.client.get(VALIDATE)
    assert_error(response, 401, "INVALID_API_KEY")
    assert response["X-RateLimit-Limit"] == "3"  # the anonymous budget of the address


@override_settings(RATE_LIMITS_PER_MINUTE=LIMITS)
def test_the_budget_runs_out_on_the_counted_path_too(citizen):
    with override_settings(RATE_LIMITS_PER_MINUTE={**LIMITS, "standard": 4}):
        codes = [citizen.client.get(VALIDATE).status_code for _ in range(6)]
    assert codes == [200, 200, 200, 200, 429, 429]


@override_settings(RATE_LIMITS_PER_MINUTE=LIMITS)
def test_an_unreachable_cache_still_authenticates_and_counts(citizen, monkeypatch, limiter_calls, caplog):
    assert_ok(citizen.client.get(VALIDATE))

    def broken(*args: object, **kwargs: object) -> object:
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "script", broken, raising=False)
    monkeypatch.setattr(cache, "get", broken)
    response = citizen.client.get(VALIDATE)
    assert (response.status_code, remaining(response)) == (200, 48)
    assert len(limiter_calls) == 2  # the limiter counted the second request itself
    assert "Cache unreachable for credentials (ConnectionError)" in caplog.text
    assert citizen.secret not in caplog.text


@override_settings(RATE_LIMITS_PER_MINUTE=LIMITS, RATE_LIMIT_ENABLED=False)
def test_nothing_is_counted_when_rate_limits_are_off(citizen, limiter_calls):
    for _ in range(3):
        response = citizen.client.get(VALIDATE)
        assert response.status_code == 200 and "X-RateLimit-Remaining" not in response
    assert limiter_calls == []


@override_settings(RATE_LIMITS_PER_MINUTE=LIMITS)
def test_a_revoked_token_does_not_spend_its_users_budget(citizen):
    """A revoked session row comes back into the cache once its tombstone lapses; requests
    with the stolen token must then be refused without counting in the user's budget."""
    token = login_tokens("citizen")["access_token"]
    stolen = bearer(token)
    assert remaining(stolen.get(VALIDATE)) == 49  # the user's budget; the bucket is remembered now
    assert stolen.post(LOGOUT).status_code in (200, 204)  # 48
    digest = credential_hash(token)
    cache.delete(credential_cache._key(digest))  # the tombstone lapsed
    bucket = credential_cache._buckets.get(digest)
    for _ in range(3):
        # As in a process that still remembers the bucket (the counted path, with Redis).
        credential_cache.credential_bucket_remember(credential_hash=digest, bucket=bucket or "standard:user:x")
        assert_error(stolen.get(VALIDATE), 401, "INVALID_API_KEY")
    assert digest not in credential_cache._buckets
    owner = bearer(login_tokens("citizen")["access_token"])
    assert remaining(owner.get(VALIDATE)) == 47  # validate and logout; nothing of the stolen token


@override_settings(RATE_LIMITS_PER_MINUTE=LIMITS)
def test_an_expired_key_is_counted_by_address_only(citizen, monkeypatch):
    assert remaining(citizen.client.get(VALIDATE)) == 49
    from datetime import timedelta

    from django.utils import timezone

    ApiKey.objects.filter(pk=citizen.api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    cache.delete(credential_cache._key(credential_hash(citizen.secret)))  # the expired row gets cached
    for _ in range(2):
        credential_cache.credential_bucket_remember(
            credential_hash=credential_hash(citizen.secret), bucket=f"standard:key:{citizen.api_key.pk}"
        )
        response = citizen.client.get(VALIDATE)
        assert_error(response, 401, "INVALID_API_KEY")
        assert response["X-RateLimit-Limit"] == "3"
    ApiKey.objects.filter(pk=citizen.api_key.pk).update(expires_at=None)
    cache.delete(credential_cache._key(credential_hash(citizen.secret)))
    assert remaining(citizen.client.get(VALIDATE)) == 48  # the key's own budget paid only for its own requests
