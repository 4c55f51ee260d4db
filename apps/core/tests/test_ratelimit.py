"""SPEC §2 rate limits: per API key, user or IP by tier, login per IP and username, and the
X-RateLimit-* / Retry-After headers."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_create, auth_session_create
from apps.concerns.models import Concern
from apps.core import ratelimit
from apps.core.shared_counts import shared_counts
from conftest import PASSWORD, Api, make_user

pytestmark = pytest.mark.django_db

HEALTH = "/api/v1/system/health"
VALIDATE = "/api/v1/auth/validate"
LOGIN = "/api/v1/auth/login"

SMALL = {"anonymous": 3, "standard": 4, "premium": 6, "enterprise": 8, "login": 3}


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    """The limiter counts in fixed one-minute windows; pin its clock to the middle of one
    so a test that runs across a minute boundary does not see its counter reset."""
    now = int(time.time())
    instant = now - now % ratelimit.WINDOW_SECONDS + 30.25
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: instant))
    return instant


def bearer_client(secret: str) -> Api:
    client = Api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def key_client(username: str, tier: str) -> Api:
    user = make_user(username, "citizen")
    key, secret = api_key_create(user=user, name="k")
    ApiKey.objects.filter(pk=key.pk).update(tier=tier)
    return bearer_client(secret)


def spend(send, count: int) -> list:
    return [send() for _ in range(count)]


def test_defaults_match_the_spec():
    assert settings.RATE_LIMITS_PER_MINUTE == {
        "anonymous": 30,
        "standard": 100,
        "premium": 500,
        "enterprise": 2000,
        "login": 10,
    }
    assert settings.RATE_LIMIT_ENABLED is True


def test_anonymous_gets_30_a_minute_then_429(stranger, pinned_clock):
    responses = spend(lambda: stranger.get(HEALTH), 31)
    assert [r.status_code for r in responses[:30]] == [200] * 30
    reset = str(int(pinned_clock) - int(pinned_clock) % 60 + 60)
    for index, response in enumerate(responses[:30]):
        assert response["X-RateLimit-Limit"] == "30"
        assert response["X-RateLimit-Remaining"] == str(29 - index)
        assert response["X-RateLimit-Reset"] == reset
    refused = responses[30]
    assert refused.status_code == 429
    body = refused.json()
    assert body["success"] is False
    assert body["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert refused["X-RateLimit-Limit"] == "30"
    assert refused["X-RateLimit-Remaining"] == "0"
    assert refused["X-RateLimit-Reset"] == reset
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert int(refused["Retry-After"]) == 30  # the clock is pinned half-way through the window


def test_next_window_has_a_fresh_budget(stranger, monkeypatch, pinned_clock):
    with override_settings(RATE_LIMITS_PER_MINUTE=SMALL):
        assert [stranger.get(HEALTH).status_code for _ in range(4)] == [200, 200, 200, 429]
        monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: pinned_clock + 60))
        assert stranger.get(HEALTH).status_code == 200


@pytest.mark.parametrize(("tier", "limit"), [("standard", 4), ("premium", 6), ("enterprise", 8)])
def test_api_key_tiers(db, tier, limit):
    client = key_client(f"user-{tier}", tier)
    with override_settings(RATE_LIMITS_PER_MINUTE=SMALL):
        codes = [client.get(VALIDATE).status_code for _ in range(limit + 2)]
        last = client.get(VALIDATE)
    assert codes == [200] * limit + [429, 429]
    assert last.status_code == 429
    assert last["X-RateLimit-Limit"] == str(limit)
    assert last.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"


@pytest.mark.parametrize(("tier", "limit"), [("standard", 100), ("premium", 500), ("enterprise", 2000)])
def test_api_key_tiers_default_limits(db, tier, limit):
    client = key_client(f"user-{tier}", tier)
    response = client.get(VALIDATE)
    assert response.status_code == 200
    assert response["X-RateLimit-Limit"] == str(limit)
    assert response["X-RateLimit-Remaining"] == str(limit - 1)


def test_two_keys_of_one_user_have_separate_budgets(citizen):
    _, second_secret = api_key_create(user=citizen.user, name="second")
    second = bearer_client(second_secret)
    with override_settings(RATE_LIMITS_PER_MINUTE=SMALL):
        assert [citizen.get(VALIDATE).status_code for _ in range(5)] == [200] * 4 + [429]
        assert [second.get(VALIDATE).status_code for _ in range(5)] == [200] * 4 + [429]


def test_a_key_does_not_spend_the_anonymous_budget_of_its_address(citizen, stranger):
    with override_settings(RATE_LIMITS_PER_MINUTE=SMALL):
        assert [stranger.get(HEALTH).status_code for _ in range(4)] == [200, 200, 200, 429]
        assert citizen.get(HEALTH).status_code == 200


def test_access_token_uses_the_users_tier(db):
    user = make_user("premium-user", "citizen", rate_tier="premium")
    issued = auth_session_create(user=user)
    client = bearer_client(issued.access_token)
    with override_settings(RATE_LIMITS_PER_MINUTE=SMALL):
        codes = [client.get(VALIDATE).status_code for _ in range(7)]
    assert codes == [200] * 6 + [429]


def test_refused_callers_spend_their_budget_and_see_the_headers(stranger):
    """A caller refused by authentication or permissions is still counted, so nobody can
    hammer a protected endpoint without limit, and the 401 carries the headers too."""
    with override_settings(RATE_LIMITS_PER_MINUTE=SMALL):
        responses = [stranger.get(VALIDATE) for _ in range(4)]
    assert [r.status_code for r in responses] == [401, 401, 401, 429]
    assert [r["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert all(r["X-RateLimit-Limit"] == "3" for r in responses)


def test_probing_unknown_api_paths_is_limited_by_address(stranger):
    """Every made-up path under /api/ answers 404, counted like any other request."""
    with override_settings(RATE_LIMITS_PER_MINUTE=SMALL):
        responses = [stranger.post(f"/api/v1/probe-{index}", {}) for index in range(4)]
    assert [r.status_code for r in responses] == [404, 404, 404, 429]
    assert [r.json()["error"]["code"] for r in responses[:3]] == ["RESOURCE_NOT_FOUND"] * 3
    assert [r["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert "Retry-After" in responses[3]


def test_an_unknown_path_is_counted_against_the_callers_own_budget(citizen):
    """A typo (or an id of the wrong shape) must not spend the address's anonymous budget,
    which others behind the same address share."""
    responses = [citizen.get("/api/v1/nope"), citizen.get("/api/v1/users/not-a-uuid")]
    assert [r.status_code for r in responses] == [404, 404]
    assert [r["X-RateLimit-Limit"] for r in responses] == ["100", "100"]
    assert [r["X-RateLimit-Remaining"] for r in responses] == ["99", "98"]


def test_bad_credentials_on_an_unknown_path_are_a_404_counted_by_address(db, citizen):
    with override_settings(RATE_LIMITS_PER_MINUTE=SMALL):
        bad_key = bearer_client("cai_nope_1").get("/api/v1/nope")
        browser = Api(enforce_csrf_checks=True)
        browser.force_login(citizen.user)
        no_csrf_token = browser.post("/api/v1/nope", {}, format="json")
    assert [bad_key.status_code, no_csrf_token.status_code] == [404, 404]
    assert bad_key.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
    assert bad_key["X-RateLimit-Limit"] == "3"


def test_forbidden_caller_sees_the_headers(citizen):
    response = citizen.get("/api/v1/system/info")
    assert response.status_code == 403
    assert response["X-RateLimit-Limit"] == "100"
    assert response["X-RateLimit-Remaining"] == "99"


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [
        ({"HTTP_ACCEPT": "application/xml"}, {}, 406),  # no renderer for it
        ({}, {"format": "api"}, 400),  # an unknown ?format=: a bad query parameter (SPEC §2)
    ],
)
def test_what_fails_before_authentication_is_counted_and_sees_the_headers(citizen, headers, query, status):
    """Content negotiation fails before DRF authenticates; the caller is still counted, as
    themself, and the answer carries the headers."""
    first = citizen.get("/api/v1/concerns", query, **headers)
    second = citizen.get("/api/v1/concerns", query, **headers)
    assert (first.status_code, second.status_code) == (status, status)
    assert first["X-RateLimit-Limit"] == "100"
    assert [first["X-RateLimit-Remaining"], second["X-RateLimit-Remaining"]] == ["99", "98"]


def test_an_unknown_format_parameter_is_a_400_naming_it(citizen):
    response = citizen.get("/api/v1/users", {"format": "xml"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and list(error["details"]) == ["format"]
    assert citizen.get("/api/v1/users", {"format": "json"}).status_code != 400


@override_settings(API_MAX_JSON_BYTES=2048)
def test_an_oversized_body_is_counted_and_sees_the_headers(citizen):
    """Refused from Content-Length before anything reads the body, once the caller is
    counted: the 413 carries the headers, and nothing is created."""
    big = {"title": "Pothole", "description": "x" * 5000}
    responses = [citizen.post("/api/v1/concerns", big) for _ in range(2)]
    assert [r.status_code for r in responses] == [413, 413]
    error = responses[0].json()["error"]
    assert (error["code"], error["details"]) == ("PAYLOAD_TOO_LARGE", {"max_bytes": 2048})
    assert responses[0]["X-RateLimit-Limit"] == "100"
    assert [r["X-RateLimit-Remaining"] for r in responses] == ["99", "98"]
    assert not Concern.objects.exists()


def test_a_content_length_that_is_not_a_number_is_a_400_with_the_headers(citizen):
    response = citizen.client.generic(
        "POST", "/api/v1/concerns", b"{}", content_type="application/json", CONTENT_LENGTH="many"
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Invalid Content-Length header."
    assert response["X-RateLimit-Remaining"] == "99"


@override_settings(API_MAX_JSON_BYTES=2048, RATE_LIMITS_PER_MINUTE=SMALL)
def test_oversized_bodies_spend_the_budget_of_a_bad_key_by_address(db):
    responses = [bearer_client(f"cai_nope_{i}").post("/api/v1/concerns", {"b": "x" * 5000}) for i in range(4)]
    assert [r.status_code for r in responses] == [401, 401, 401, 429]
    assert [r["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]


@override_settings(API_MAX_UPLOAD_BYTES=2048)
def test_an_oversized_form_from_a_signed_in_browser_is_refused_before_the_csrf_check(citizen):
    """The CSRF check of a cookie session reads request.POST, which would parse (and spool)
    the upload: that one is answered by the middleware, before authentication."""
    browser = Api(enforce_csrf_checks=True)
    browser.force_login(citizen.user)
    upload = SimpleUploadedFile("big.png", b"\x89PNG\r\n\x1a\n" + b"0" * 5000, content_type="image/png")
    response = browser.post("/api/v1/concerns/TRK-2026-000001/attachments", {"attachments": upload})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_a_bad_key_failing_negotiation_is_counted_by_address(db):
    with override_settings(RATE_LIMITS_PER_MINUTE=SMALL):
        responses = [bearer_client(f"cai_nope_{i}").get(VALIDATE, HTTP_ACCEPT="text/csv") for i in range(4)]
    assert [r.status_code for r in responses] == [406, 406, 406, 429]
    assert [r["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert "Retry-After" in responses[3]


def test_unknown_api_keys_are_limited_by_address(db):
    with override_settings(RATE_LIMITS_PER_MINUTE=SMALL):
        codes = [bearer_client(f"cai_nope_{index}").get(VALIDATE).status_code for index in range(4)]
    assert codes == [401, 401, 401, 429]


def test_x_forwarded_for_is_ignored_without_trusted_proxies(stranger):
    with override_settings(RATE_LIMITS_PER_MINUTE=SMALL):
        codes = [stranger.get(HEALTH, HTTP_X_FORWARDED_FOR=f"10.0.0.{index}").status_code for index in range(4)]
    assert codes == [200, 200, 200, 429]


def test_x_forwarded_for_is_used_behind_a_trusted_proxy(stranger):
    with override_settings(RATE_LIMITS_PER_MINUTE=SMALL, TRUSTED_PROXY_COUNT=1):
        codes = [
            stranger.get(HEALTH, HTTP_X_FORWARDED_FOR=f"6.6.6.6, 10.0.0.{index}").status_code for index in range(6)
        ]
        same = [stranger.get(HEALTH, HTTP_X_FORWARDED_FOR="10.0.1.1").status_code for _ in range(4)]
    assert codes == [200] * 6
    assert same == [200, 200, 200, 429]


def test_disabled_rate_limits_allow_everything(stranger):
    with override_settings(RATE_LIMITS_PER_MINUTE=SMALL, RATE_LIMIT_ENABLED=False):
        responses = [stranger.get(HEALTH) for _ in range(6)]
    assert {r.status_code for r in responses} == {200}


# --- login ------------------------------------------------------------------------------


WRONG_PASSWORD = "wrong password"


def attempt(client: Api, username: str, password: str = WRONG_PASSWORD, ip: str = "192.0.2.1"):
    return client.post(LOGIN, {"username": username, "password": password}, format="json", REMOTE_ADDR=ip)


@pytest.mark.parametrize("path", [LOGIN, "/api/v1/auth/register"])
@override_settings(RATE_LIMITS_PER_MINUTE=SMALL)
def test_a_malformed_sign_in_body_is_counted_and_sees_the_headers(db, path):
    client = Api()
    responses = [client.post(path, "{bad", content_type="application/json", REMOTE_ADDR="192.0.2.7") for _ in range(4)]
    assert [r.status_code for r in responses] == [400, 400, 400, 429]
    assert responses[0].json()["error"]["code"] == "VALIDATION_ERROR"
    assert [r["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]


@override_settings(RATE_LIMITS_PER_MINUTE={**SMALL, "anonymous": 10})
def test_other_methods_on_sign_in_spend_no_sign_in_attempts(db):
    client = Api()
    for method in ("get", "put", "delete"):
        response = getattr(client, method)(LOGIN, REMOTE_ADDR="192.0.2.9")
        assert response.status_code == 405
        assert response["X-RateLimit-Limit"] == "10"  # the anonymous budget
    attempts = [attempt(client, "someone", ip="192.0.2.9") for _ in range(4)]
    assert [r.status_code for r in attempts] == [401, 401, 401, 429]


@override_settings(RATE_LIMITS_PER_MINUTE=SMALL, LOGIN_LOCKOUT_THRESHOLD=100)
def test_login_is_limited_per_ip(db):
    client = Api()
    codes = [attempt(client, f"nobody{index}").status_code for index in range(3)]
    refused = attempt(client, "someone-else")
    assert codes == [401, 401, 401]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert "Retry-After" in refused
    assert refused["X-RateLimit-Limit"] == "3"
    # Another address still may sign in.
    assert attempt(client, "someone-else", ip="192.0.2.99").status_code == 401


@override_settings(RATE_LIMITS_PER_MINUTE=SMALL, LOGIN_LOCKOUT_THRESHOLD=100)
def test_login_is_limited_per_username_across_addresses(db):
    make_user("target", "citizen")
    client = Api()
    codes = [attempt(client, "target", ip=f"198.51.100.{index}").status_code for index in range(3)]
    assert codes == [401, 401, 401]
    # Even the right password from a fresh address: the name's budget is spent.
    refused = attempt(client, "Target ", password=PASSWORD, ip="198.51.100.200")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    # Other names from a fresh address are unaffected.
    assert attempt(client, "other", ip="198.51.100.201").status_code == 401


@override_settings(RATE_LIMITS_PER_MINUTE=SMALL)
def test_login_limit_is_separate_from_the_anonymous_budget(stranger):
    make_user("alice", "citizen")
    for _ in range(3):
        assert stranger.get(HEALTH).status_code == 200
    assert stranger.get(HEALTH).status_code == 429
    assert attempt(stranger.client, "alice", password=PASSWORD, ip="127.0.0.1").status_code == 200


# --- the counter backends ---------------------------------------------------------------


def test_hit_counts_down_and_reports_the_window(pinned_clock):
    first = ratelimit.hit("unit:a", 2)
    second = ratelimit.hit("unit:a", 2)
    third = ratelimit.hit("unit:a", 2)
    other = ratelimit.hit("unit:b", 2)
    assert [first.remaining, second.remaining, third.remaining, other.remaining] == [1, 0, -1, 1]
    assert [first.exceeded, second.exceeded, third.exceeded] == [False, False, True]
    assert first.reset == int(pinned_clock) - int(pinned_clock) % 60 + 60
    assert 29 < third.wait() <= 30


def test_hit_counts_in_redis_when_configured(pinned_clock):
    """The shared counter: the same bucket seen through two clients counts once each."""
    import redis

    url = settings.REDIS_URL or "redis://127.0.0.1:6379/12"
    prefix = f"rl-unit-{time.time_ns()}"
    with override_settings(REDIS_URL=url, CACHE_KEY_PREFIX=prefix):
        budgets = [ratelimit.hit("unit:shared", 5) for _ in range(3)]
        shared_counts.flush()  # the third was counted here, to be sent with the next sync
        other_client = redis.Redis.from_url(url)
        keys = list(other_client.scan_iter(f"{prefix}:rl:*"))
        try:
            assert [b.remaining for b in budgets] == [4, 3, 2]
            assert len(keys) == 1
            assert int(other_client.get(keys[0])) == 3
            assert 0 < other_client.ttl(keys[0]) <= 65
        finally:
            for key in keys:
                other_client.delete(key)


def test_unreachable_redis_allows_sign_in_and_counts_the_rest_here(stranger, caplog):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"), caplog.at_level(logging.WARNING):
        response = stranger.post("/api/v1/auth/login", {"username": "x", "password": "y"})
        budgets = [ratelimit.hit("unit:down", 2) for _ in range(4)]
    assert response.status_code == 401  # an exact count that cannot be made allows the attempt
    assert any("cannot reach Redis" in record.getMessage() for record in caplog.records)
    # Other budgets hold on this process's own counts until Redis answers again.
    assert [b.remaining for b in budgets] == [1, 0, -1, -2]
