"""SPEC §3 sign-in API: login, logout, validate, refresh, register, lockout and throttling."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.accounts import services
from apps.accounts.credentials import credential_hash
from apps.accounts.models import AuthSession, RetiredRefreshToken, User
from apps.accounts.roles import CITIZEN_PERMISSIONS, Role
from apps.accounts.services import credentials_purge_expired
from apps.accounts.tests.helpers import (
    LOGIN,
    LOGOUT,
    REFRESH,
    REGISTER,
    VALIDATE,
    assert_error,
    assert_field_errors,
    assert_ok,
    assert_rate_limited,
    bearer,
    database_text,
    login,
    login_tokens,
    post_raw,
    user_url,
)
from conftest import PASSWORD, Api, make_user

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another quite long passphrase 77"


def _session(token_data: dict) -> AuthSession:
    return AuthSession.objects.get(pk=token_data["session"]["id"])


# --- login -----------------------------------------------------------------------------


def test_login_with_username_returns_tokens_user_and_session(citizen):
    response = login("citizen", remember_me=False)
    data = assert_ok(response)
    body = response.json()
    user = citizen.user

    assert data["user"]["id"] == str(user.pk)
    assert data["user"]["username"] == "citizen"
    assert data["user"]["role"] == "citizen"
    assert data["user"]["permissions"] == sorted(CITIZEN_PERMISSIONS)
    assert data["token_type"] == "bearer"
    assert data["access_token"].startswith("cat_")
    assert data["refresh_token"].startswith("crt_")
    assert data["access_token"] != data["refresh_token"]
    assert data["expires_in"] == settings.ACCESS_TOKEN_TTL
    # Seed 000 reads user and session_id at the top level.
    assert body["user"] == {"id": str(user.pk), "username": "citizen", "role": "citizen"}
    assert body["session_id"] == data["session"]["id"]

    session = _session(data)
    assert session.user_id == user.pk
    assert session.access_token_hash == credential_hash(data["access_token"])
    assert session.refresh_token_hash == credential_hash(data["refresh_token"])
    assert parse_datetime(data["session"]["expires_at"]) == session.expires_at
    lifetime = session.expires_at - session.created_at
    assert abs(lifetime.total_seconds() - settings.REFRESH_TOKEN_TTL) < 5
    assert session.remember_me is False
    user.refresh_from_db()
    assert user.last_login is not None


def test_login_sets_a_django_session_cookie(citizen):
    client = Api()
    assert_ok(login("citizen", client=client))
    assert settings.SESSION_COOKIE_NAME in client.cookies
    # The cookie alone authenticates the browser.
    data = assert_ok(client.get(VALIDATE))
    assert data["auth_type"] == "session_cookie"
    assert data["user"]["username"] == "citizen"


def test_login_by_email_is_case_insensitive(citizen):
    data = login_tokens("CITIZEN@Example.org")
    assert data["user"]["id"] == str(citizen.user.pk)


def test_login_with_email_field(citizen):
    data = assert_ok(Api().call("post", LOGIN, {"email": "citizen@example.org", "password": PASSWORD}))
    assert data["user"]["username"] == "citizen"


def test_login_accepts_the_wrapped_body(citizen):
    body = {"data": {"username": "citizen", "password": PASSWORD}, "metadata": {"request_id": "req_1"}}
    data = assert_ok(Api().call("post", LOGIN, body))
    assert data["user"]["username"] == "citizen"


def test_login_remember_me_extends_the_session(citizen):
    client = Api()
    data = assert_ok(login("citizen", client=client, remember_me=True))
    session = _session(data)
    assert session.remember_me is True
    lifetime = (session.expires_at - session.created_at).total_seconds()
    assert abs(lifetime - settings.REMEMBER_ME_TTL) < 5
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert int(cookie["max-age"]) == settings.REMEMBER_ME_TTL


def test_access_token_authenticates_api_calls(citizen):
    data = login_tokens("citizen")
    client = bearer(data["access_token"])
    validated = assert_ok(client.get(VALIDATE))
    assert validated["auth_type"] == "access_token"
    assert assert_ok(client.get(user_url(citizen.user.pk)))["username"] == "citizen"


@pytest.mark.parametrize("username", ["citizen", "nobody-at-all"])
def test_login_failure_is_401_and_does_not_reveal_whether_the_user_exists(citizen, username):
    response = login(username, "wrong password entirely")
    error = assert_error(response, 401, "AUTHENTICATION_REQUIRED")
    assert error["message"] == "Invalid username or password."
    assert "access_token" not in response.content.decode()
    assert not AuthSession.objects.exists()


def test_login_of_inactive_user_fails(db):
    make_user("dormant", Role.CITIZEN, is_active=False)
    assert_error(login("dormant"), 401, "AUTHENTICATION_REQUIRED")
    assert not AuthSession.objects.exists()


def test_login_requires_password(citizen):
    assert_field_errors(Api().call("post", LOGIN, {"username": "citizen"}), "password")


def test_login_requires_username_or_email(citizen):
    assert_field_errors(Api().call("post", LOGIN, {"password": PASSWORD}), "username")


def test_login_empty_body_names_every_missing_field(citizen):
    details = assert_field_errors(Api().call("post", LOGIN, {}), "username", "password")
    assert "required" in details["password"][0].lower()


def test_login_unknown_field_is_named_with_the_other_errors(citizen):
    assert_field_errors(Api().call("post", LOGIN, {"user": "citizen"}), "user", "username", "password")


def test_login_ignores_a_stale_bearer_header(citizen):
    """An SDK that still sends its expired token must be able to sign in again."""
    client = bearer("cat_expired-or-revoked")
    assert_ok(login("citizen", client=client))


def test_login_with_idempotency_key_is_never_replayed(citizen):
    """A replay would have to keep the tokens in the database and give them out again."""
    one = assert_ok(login("citizen", HTTP_IDEMPOTENCY_KEY="same"))
    two = login("citizen", HTTP_IDEMPOTENCY_KEY="same")
    assert "Idempotent-Replayed" not in two
    two = assert_ok(two)
    assert one["session"]["id"] != two["session"]["id"]
    assert one["access_token"] != two["access_token"]
    dump = database_text()
    for token in (one["access_token"], one["refresh_token"], two["access_token"], two["refresh_token"]):
        assert token not in dump


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "citizen", "password": ["x"]}, "password"),
        ({"username": "citizen", "password": {"x": 1}}, "password"),
        ({"username": ["citizen"], "password": PASSWORD}, "username"),
        ({"username": 12345, "password": PASSWORD}, "username"),
        ({"username": "citizen", "password": 1234567890123}, "password"),
        ({"username": "citizen", "password": PASSWORD, "remember_me": "perhaps"}, "remember_me"),
        ({"username": "citizen", "password": PASSWORD, "remember_me": [True]}, "remember_me"),
        ({"username": "x" * 255, "password": PASSWORD}, "username"),
    ],
)
def test_login_wrong_types_are_422(citizen, body, field):
    assert_field_errors(Api().call("post", LOGIN, body), field)
    assert not AuthSession.objects.exists()


def test_login_unknown_field_is_422(citizen):
    body = {"username": "citizen", "password": PASSWORD, "remember": True}
    assert_field_errors(Api().call("post", LOGIN, body), "remember")
    assert not AuthSession.objects.exists()


@pytest.mark.parametrize("body", [["citizen", PASSWORD], "citizen", 42])
def test_login_body_that_is_not_an_object_is_422(citizen, body):
    error = assert_error(Api().call("post", LOGIN, body), 422, "VALIDATION_ERROR")
    assert list(error["details"]) == ["non_field_errors"]


def test_login_malformed_json_is_400(citizen):
    error = assert_error(post_raw(Api(), LOGIN, '{"username": "citizen",'), 400, "VALIDATION_ERROR")
    assert "body" in error["details"]


def test_login_get_is_405(stranger):
    assert_error(stranger.get(LOGIN), 405, "METHOD_NOT_ALLOWED")


def test_login_response_carries_rate_limit_headers(citizen):
    response = login("citizen")
    assert response["X-RateLimit-Limit"] == str(settings.RATE_LIMITS_PER_MINUTE["login"])
    assert response["X-RateLimit-Remaining"] == str(settings.RATE_LIMITS_PER_MINUTE["login"] - 1)
    assert int(response["X-RateLimit-Reset"]) >= int(time.time())


# --- lockout ---------------------------------------------------------------------------


def _fail(identifier: str, times: int, **extra) -> None:
    for _ in range(times):
        response = Api().call("post", LOGIN, {"username": identifier, "password": "not the password"}, **extra)
        assert_error(response, 401, "AUTHENTICATION_REQUIRED")


def test_lockout_after_threshold_failures_even_with_the_right_password(citizen):
    threshold = settings.LOGIN_LOCKOUT_THRESHOLD
    _fail("citizen", threshold)
    response = login("citizen")
    assert_error(response, 429, "RATE_LIMIT_EXCEEDED")
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= settings.LOGIN_LOCKOUT_SECONDS
    assert "X-RateLimit-Limit" in response
    assert not AuthSession.objects.exists()


UNREACHABLE_CACHE = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
}


def test_sign_in_goes_on_while_the_cache_is_unreachable(citizen, caplog):
    """Lockout lives in the cache; a Redis outage must not turn every sign-in into a 500
    (health reports the outage). Failures still answer 401."""
    with override_settings(CACHES=UNREACHABLE_CACHE, REDIS_URL=None):
        _fail("citizen", 2)
        assert_ok(login("citizen"))
    assert "Cache unreachable for sign-in lockout" in caplog.text


def test_lockout_still_holds_in_each_process_while_the_cache_is_unreachable(citizen):
    try:
        with override_settings(CACHES=UNREACHABLE_CACHE, REDIS_URL=None):
            _fail("citizen", settings.LOGIN_LOCKOUT_THRESHOLD)
            assert_error(login("citizen"), 429, "RATE_LIMIT_EXCEEDED")
        # The cache is back: a lockout made during the outage still holds.
        assert_error(login("citizen"), 429, "RATE_LIMIT_EXCEEDED")
    finally:
        services._LOCAL_LOCKOUT.clear()


def test_a_fault_in_the_lockout_code_is_not_taken_for_an_outage(citizen, monkeypatch):
    """Only the cache's own errors mean an outage; anything else is a bug and shows as one."""
    monkeypatch.setattr(services, "_lock_key", lambda identifier: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        services.login_lock_remaining(identifier="x")


def test_failures_below_threshold_do_not_lock(citizen):
    _fail("citizen", settings.LOGIN_LOCKOUT_THRESHOLD - 1)
    assert_ok(login("citizen"))


def test_successful_login_resets_the_failure_count(citizen):
    threshold = settings.LOGIN_LOCKOUT_THRESHOLD
    _fail("citizen", threshold - 1)
    assert_ok(login("citizen"))
    _fail("citizen", threshold - 1, REMOTE_ADDR="10.0.0.2")
    assert_ok(login("citizen", client=Api(REMOTE_ADDR="10.0.0.2")))


def test_unknown_accounts_lock_out_like_known_ones(db):
    _fail("ghost", settings.LOGIN_LOCKOUT_THRESHOLD)
    assert_error(login("ghost"), 429, "RATE_LIMIT_EXCEEDED")


def test_lockout_counts_username_and_email_as_one_account(citizen):
    """Alternating between the username and the e-mail must not double the attempts."""
    threshold = settings.LOGIN_LOCKOUT_THRESHOLD
    identifiers = ["citizen", "citizen@example.org", "Citizen@Example.org"]
    for attempt in range(threshold):
        _fail(identifiers[attempt % len(identifiers)], 1)
    assert_error(login("citizen"), 429, "RATE_LIMIT_EXCEEDED")
    assert_error(login("citizen@example.org"), 429, "RATE_LIMIT_EXCEEDED")


def test_lockout_of_one_account_leaves_others_alone(citizen, staff_member):
    _fail("citizen", settings.LOGIN_LOCKOUT_THRESHOLD)
    assert_ok(login("staff"))


@override_settings(LOGIN_LOCKOUT_SECONDS=1)
def test_lockout_expires(citizen):
    _fail("citizen", settings.LOGIN_LOCKOUT_THRESHOLD)
    assert_error(login("citizen"), 429, "RATE_LIMIT_EXCEEDED")
    time.sleep(1.2)
    assert_ok(login("citizen"))


# --- login rate limit ------------------------------------------------------------------


def test_login_rate_limit_per_ip(db):
    limit = settings.RATE_LIMITS_PER_MINUTE["login"]
    for attempt in range(limit):
        # A different unknown name each time so lockout never triggers.
        response = login(f"user{attempt}", "x")
        assert_error(response, 401, "AUTHENTICATION_REQUIRED")
        assert response["X-RateLimit-Remaining"] == str(limit - attempt - 1)
    assert_rate_limited(login("one-more", "x"), limit)
    # Another address has its own budget.
    assert_error(login("elsewhere", "x", client=Api(REMOTE_ADDR="10.9.9.9")), 401, "AUTHENTICATION_REQUIRED")


def test_login_rate_limit_per_username(citizen):
    limit = settings.RATE_LIMITS_PER_MINUTE["login"]
    for attempt in range(limit):
        assert_ok(login("citizen", client=Api(REMOTE_ADDR=f"10.0.1.{attempt + 1}")))
    assert_rate_limited(login("citizen", client=Api(REMOTE_ADDR="10.0.2.1")), limit)


# --- logout ----------------------------------------------------------------------------


def test_logout_revokes_the_access_and_refresh_token(citizen):
    data = login_tokens("citizen")
    client = bearer(data["access_token"])
    response = client.post(LOGOUT)
    payload = assert_ok(response)
    assert payload["message"] == "Logged out successfully"
    assert response.json()["message"] == "Logged out successfully"
    assert _session(data).revoked_at is not None

    error = assert_error(client.get(VALIDATE), 401, "INVALID_API_KEY")
    assert error["details"] == {"reason": "revoked"}
    assert_error(Api().call("post", REFRESH, {"refresh_token": data["refresh_token"]}), 401, "AUTHENTICATION_REQUIRED")


def test_logout_only_revokes_its_own_session(citizen):
    first, second = login_tokens("citizen"), login_tokens("citizen")
    assert_ok(bearer(first["access_token"]).post(LOGOUT))
    assert_ok(bearer(second["access_token"]).get(VALIDATE))


def test_logout_with_an_api_key_leaves_the_key_usable(citizen):
    assert_ok(citizen.post(LOGOUT))
    assert_ok(citizen.get(VALIDATE))


def test_logout_ends_the_cookie_session_and_its_tokens(citizen):
    client = Api()
    data = assert_ok(login("citizen", client=client))
    other = login_tokens("citizen")
    assert_ok(client.post(LOGOUT))
    assert_error(client.get(VALIDATE), 401, "AUTHENTICATION_REQUIRED")
    # The tokens this browser's login handed out are revoked with it...
    assert _session(data).revoked_at is not None
    assert_error(bearer(data["access_token"]).get(VALIDATE), 401, "INVALID_API_KEY")
    # ...but not those of another sign-in.
    assert_ok(bearer(other["access_token"]).get(VALIDATE))


def test_logout_by_cookie_requires_csrf(citizen):
    client = Api(enforce_csrf_checks=True)
    assert_ok(login("citizen", client=client))
    assert_error(client.post(LOGOUT), 403, "PERMISSION_DENIED")
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    assert_ok(client.post(LOGOUT, HTTP_X_CSRFTOKEN=token))


def test_logout_without_credentials_is_401(stranger):
    response = stranger.post(LOGOUT)
    assert_error(response, 401, "AUTHENTICATION_REQUIRED")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_logout_with_bad_key_is_401(db):
    error = assert_error(bearer("cai_deadbeef_nope").post(LOGOUT), 401, "INVALID_API_KEY")
    assert error["details"] == {"reason": "unknown"}


def test_logout_get_is_405(citizen):
    assert_error(citizen.get(LOGOUT), 405, "METHOD_NOT_ALLOWED")


# --- validate --------------------------------------------------------------------------


def test_validate_access_token(citizen):
    data = login_tokens("citizen")
    result = assert_ok(bearer(data["access_token"]).get(VALIDATE))
    assert result["valid"] is True
    assert result["user"] == {"id": str(citizen.user.pk), "username": "citizen", "role": "citizen"}
    assert result["auth_type"] == "access_token"
    assert parse_datetime(result["expires_at"]) == _session(data).access_expires_at
    assert result["expires_at"].endswith("Z")


def test_validate_api_key(staff_member):
    result = assert_ok(staff_member.get(VALIDATE))
    assert result["valid"] is True
    assert result["auth_type"] == "api_key"
    assert result["expires_at"] is None
    assert result["user"]["role"] == "staff"


def test_validate_without_credentials_is_401(stranger):
    assert_error(stranger.get(VALIDATE), 401, "AUTHENTICATION_REQUIRED")


def test_validate_with_basic_auth_is_not_authentication(citizen):
    client = Api()
    client.credentials(HTTP_AUTHORIZATION="Basic Y2l0aXplbjpwYXNzd29yZA==")
    assert_error(client.get(VALIDATE), 401, "AUTHENTICATION_REQUIRED")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Bearer cai_00000000_unknown", "unknown"),
        ("Bearer cat_unknown-token", "unknown"),
        ("Bearer crt_refresh-is-not-a-bearer", "unknown"),
        ("Bearer something-else", "unknown"),
        ("Bearer", "malformed"),
        ("Bearer two parts", "malformed"),
    ],
)
def test_validate_bad_bearer_is_401_invalid_api_key(db, header, reason):
    client = Api()
    client.credentials(HTTP_AUTHORIZATION=header)
    error = assert_error(client.get(VALIDATE), 401, "INVALID_API_KEY")
    assert error["details"] == {"reason": reason}


def test_refresh_token_is_not_accepted_as_bearer(citizen):
    data = login_tokens("citizen")
    assert_error(bearer(data["refresh_token"]).get(VALIDATE), 401, "INVALID_API_KEY")


def test_expired_access_token_is_rejected(citizen):
    data = login_tokens("citizen")
    AuthSession.objects.filter(pk=data["session"]["id"]).update(access_expires_at=timezone.now() - timedelta(seconds=1))
    error = assert_error(bearer(data["access_token"]).get(VALIDATE), 401, "INVALID_API_KEY")
    assert error["details"] == {"reason": "expired"}


def test_access_token_of_expired_session_is_rejected(citizen):
    data = login_tokens("citizen")
    AuthSession.objects.filter(pk=data["session"]["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    error = assert_error(bearer(data["access_token"]).get(VALIDATE), 401, "INVALID_API_KEY")
    assert error["details"] == {"reason": "expired"}


def test_revoked_access_token_is_rejected(citizen):
    data = login_tokens("citizen")
    AuthSession.objects.filter(pk=data["session"]["id"]).update(revoked_at=timezone.now())
    error = assert_error(bearer(data["access_token"]).get(VALIDATE), 401, "INVALID_API_KEY")
    assert error["details"] == {"reason": "revoked"}


def test_credentials_of_a_deactivated_user_are_rejected(citizen):
    data = login_tokens("citizen")
    User.objects.filter(pk=citizen.user.pk).update(is_active=False)
    for client in (citizen.client, bearer(data["access_token"])):
        error = assert_error(client.get(VALIDATE), 401, "INVALID_API_KEY")
        assert error["details"] == {"reason": "inactive"}


@override_settings(RATE_LIMITS_PER_MINUTE={**settings.RATE_LIMITS_PER_MINUTE, "standard": 3})
def test_validate_is_throttled_per_key(citizen, staff_member):
    for remaining in (2, 1, 0):
        response = citizen.get(VALIDATE)
        assert_ok(response)
        assert response["X-RateLimit-Remaining"] == str(remaining)
    assert_rate_limited(citizen.get(VALIDATE), 3)
    # Another caller's budget is untouched.
    assert_ok(staff_member.get(VALIDATE))


# --- refresh ---------------------------------------------------------------------------


def test_refresh_rotates_both_tokens(citizen):
    first = login_tokens("citizen")
    response = Api().call("post", REFRESH, {"refresh_token": first["refresh_token"]})
    second = assert_ok(response)
    assert second["session"]["id"] == first["session"]["id"]
    assert second["access_token"].startswith("cat_")
    assert second["refresh_token"].startswith("crt_")
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["token_type"] == "bearer"
    assert second["expires_in"] == settings.ACCESS_TOKEN_TTL
    assert second["user"]["username"] == "citizen"
    assert _session(second).refreshed_at is not None

    # The old access token no longer works; the new pair does, and rotates again.
    assert_error(bearer(first["access_token"]).get(VALIDATE), 401, "INVALID_API_KEY")
    assert_ok(bearer(second["access_token"]).get(VALIDATE))
    third = assert_ok(Api().call("post", REFRESH, {"refresh_token": second["refresh_token"]}))
    assert third["refresh_token"] not in {first["refresh_token"], second["refresh_token"]}
    assert_ok(bearer(third["access_token"]).get(VALIDATE))


@pytest.mark.parametrize("spent", [0, 1])
def test_a_spent_refresh_token_presented_again_signs_the_session_out(citizen, spent):
    """Either party may be the thief: the one holding the current pair loses it too."""
    first = login_tokens("citizen")
    second = assert_ok(Api().call("post", REFRESH, {"refresh_token": first["refresh_token"]}))
    third = assert_ok(Api().call("post", REFRESH, {"refresh_token": second["refresh_token"]}))
    other = login_tokens("citizen")  # another sign-in of the same user is not touched

    reused = Api().call("post", REFRESH, {"refresh_token": (first, second)[spent]["refresh_token"]})
    assert_error(reused, 401, "AUTHENTICATION_REQUIRED")
    assert "already used" in reused.json()["error"]["message"]
    assert _session(third).revoked_at is not None
    assert_error(bearer(third["access_token"]).get(VALIDATE), 401, "INVALID_API_KEY")
    current = Api().call("post", REFRESH, {"refresh_token": third["refresh_token"]})
    assert_error(current, 401, "AUTHENTICATION_REQUIRED")
    assert "already used" not in current.json()["error"]["message"]
    assert_ok(bearer(other["access_token"]).get(VALIDATE))
    assert_ok(Api().call("post", REFRESH, {"refresh_token": other["refresh_token"]}))


def test_spent_refresh_tokens_are_kept_only_as_hashes_and_go_with_their_session(citizen):
    first = login_tokens("citizen")
    assert_ok(Api().call("post", REFRESH, {"refresh_token": first["refresh_token"]}))
    retired = RetiredRefreshToken.objects.get(session_id=first["session"]["id"])
    assert retired.token_hash == credential_hash(first["refresh_token"])
    assert first["refresh_token"] not in database_text()

    AuthSession.objects.filter(pk=first["session"]["id"]).update(expires_at=timezone.now() - timedelta(days=31))
    assert credentials_purge_expired() == 1
    assert not RetiredRefreshToken.objects.exists()


def test_an_unknown_refresh_token_signs_nobody_out(citizen):
    data = login_tokens("citizen")
    refused = Api().call("post", REFRESH, {"refresh_token": "crt_never-issued"})
    assert_error(refused, 401, "AUTHENTICATION_REQUIRED")
    assert "already used" not in refused.json()["error"]["message"]
    assert _session(data).revoked_at is None


def test_refresh_works_after_the_access_token_expired(citizen):
    data = login_tokens("citizen")
    AuthSession.objects.filter(pk=data["session"]["id"]).update(access_expires_at=timezone.now() - timedelta(minutes=5))
    fresh = assert_ok(Api().call("post", REFRESH, {"refresh_token": data["refresh_token"]}))
    assert_ok(bearer(fresh["access_token"]).get(VALIDATE))


def test_refresh_never_outlives_the_session(citizen):
    data = login_tokens("citizen")
    ends = timezone.now() + timedelta(seconds=30)
    AuthSession.objects.filter(pk=data["session"]["id"]).update(expires_at=ends)
    fresh = assert_ok(Api().call("post", REFRESH, {"refresh_token": data["refresh_token"]}))
    assert fresh["expires_in"] <= 30
    assert _session(fresh).access_expires_at <= ends


def test_refresh_of_expired_session_fails(citizen):
    data = login_tokens("citizen")
    AuthSession.objects.filter(pk=data["session"]["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(Api().call("post", REFRESH, {"refresh_token": data["refresh_token"]}), 401, "AUTHENTICATION_REQUIRED")


def test_refresh_of_revoked_session_fails(citizen):
    data = login_tokens("citizen")
    AuthSession.objects.filter(pk=data["session"]["id"]).update(revoked_at=timezone.now())
    assert_error(Api().call("post", REFRESH, {"refresh_token": data["refresh_token"]}), 401, "AUTHENTICATION_REQUIRED")


def test_refresh_for_deactivated_user_fails(citizen):
    data = login_tokens("citizen")
    User.objects.filter(pk=citizen.user.pk).update(is_active=False)
    assert_error(Api().call("post", REFRESH, {"refresh_token": data["refresh_token"]}), 401, "AUTHENTICATION_REQUIRED")


def test_access_token_is_not_a_refresh_token(citizen):
    data = login_tokens("citizen")
    assert_error(Api().call("post", REFRESH, {"refresh_token": data["access_token"]}), 401, "AUTHENTICATION_REQUIRED")


def test_refresh_with_idempotency_key_is_never_replayed(citizen):
    first = login_tokens("citizen")
    second = Api().call("post", REFRESH, {"refresh_token": first["refresh_token"]}, HTTP_IDEMPOTENCY_KEY="r1")
    rotated = assert_ok(second)
    again = Api().call("post", REFRESH, {"refresh_token": first["refresh_token"]}, HTTP_IDEMPOTENCY_KEY="r1")
    assert "Idempotent-Replayed" not in again
    assert_error(again, 401, "AUTHENTICATION_REQUIRED")
    assert rotated["access_token"] not in database_text()


def test_refresh_ignores_a_stale_bearer_header(citizen):
    data = login_tokens("citizen")
    client = bearer("cai_00000000_stale")
    assert_ok(client.call("post", REFRESH, {"refresh_token": data["refresh_token"]}))


def test_refresh_requires_the_token(db):
    assert_field_errors(Api().call("post", REFRESH, {}), "refresh_token")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"refresh_token": ["crt_x"]}, {"refresh_token"}),
        ({"refresh_token": {"a": 1}}, {"refresh_token"}),
        ({"refresh_token": 123}, {"refresh_token"}),
        ({"refresh_token": ""}, {"refresh_token"}),
        ({"refresh_token": "crt_x", "access_token": "cat_y"}, {"access_token"}),
    ],
)
def test_refresh_invalid_fields_are_422(db, body, fields):
    assert_field_errors(Api().call("post", REFRESH, body), *fields)


def test_refresh_malformed_json_is_400(db):
    assert_error(post_raw(Api(), REFRESH, "refresh_token=crt_x"), 400, "VALIDATION_ERROR")


@override_settings(RATE_LIMITS_PER_MINUTE={**settings.RATE_LIMITS_PER_MINUTE, "anonymous": 2})
def test_refresh_is_throttled(db):
    for _ in range(2):
        assert_error(Api().call("post", REFRESH, {"refresh_token": "crt_nope"}), 401, "AUTHENTICATION_REQUIRED")
    assert_rate_limited(Api().call("post", REFRESH, {"refresh_token": "crt_nope"}), 2)


# --- register --------------------------------------------------------------------------


def _register(body: dict, client: Api | None = None, **extra):
    return (client or Api()).call("post", REGISTER, body, **extra)


def test_register_creates_a_citizen_who_can_sign_in(db):
    body = {"email": "Jane.Doe@Example.org", "password": NEW_PASSWORD, "name": "Jane Q Doe"}
    response = _register(body)
    data = assert_ok(response, 201)
    assert data["role"] == "citizen"
    assert data["email"] == "Jane.Doe@Example.org"
    assert data["username"] == "jane.doe@example.org"
    assert data["name"] == "Jane Q Doe"
    assert data["permissions"] == sorted(CITIZEN_PERMISSIONS)
    assert data["created_at"]

    user = User.objects.get(pk=data["id"])
    assert (user.first_name, user.last_name) == ("Jane", "Q Doe")
    assert user.role == Role.CITIZEN
    assert not user.is_staff and not user.is_superuser
    assert user.password != NEW_PASSWORD and user.check_password(NEW_PASSWORD)

    assert login_tokens("jane.doe@example.org", NEW_PASSWORD)["user"]["id"] == data["id"]


def test_register_with_explicit_username(db):
    body = {"email": "j@example.org", "password": NEW_PASSWORD, "name": "J", "username": "jay"}
    assert assert_ok(_register(body), 201)["username"] == "jay"


def test_register_accepts_role_citizen(db):
    body = {"email": "c@example.org", "password": NEW_PASSWORD, "name": "C", "role": "citizen"}
    assert assert_ok(_register(body), 201)["role"] == "citizen"


@pytest.mark.parametrize("role", ["administrator", "staff", "superuser"])
def test_register_cannot_create_privileged_accounts(db, role):
    body = {"email": "evil@example.org", "password": NEW_PASSWORD, "name": "Eve", "role": role}
    assert_field_errors(_register(body), "role")
    assert not User.objects.filter(email="evil@example.org").exists()


@pytest.mark.parametrize("field", ["is_staff", "is_superuser", "rate_tier", "active"])
def test_register_rejects_privilege_fields(db, field):
    body = {"email": "evil@example.org", "password": NEW_PASSWORD, "name": "Eve", field: True}
    assert_field_errors(_register(body), field)
    assert not User.objects.exists()


def test_register_duplicate_email_is_422(citizen):
    body = {"email": "CITIZEN@example.org", "password": NEW_PASSWORD, "name": "Again"}
    assert_field_errors(_register(body), "email")
    assert User.objects.filter(email__iexact="citizen@example.org").count() == 1


def test_registering_an_address_twice_names_only_the_address(db):
    """Without a chosen username the address is the username too; the second sign-up is told
    about the address only, not about a username it never sent."""
    body = {"email": "twice@example.org", "password": NEW_PASSWORD, "name": "Twice"}
    assert _register(body).status_code == 201
    assert_field_errors(_register({**body, "email": "TWICE@example.org"}), "email")
    assert User.objects.filter(email__iexact="twice@example.org").count() == 1


def test_register_duplicate_username_is_422(citizen):
    body = {"email": "other@example.org", "password": NEW_PASSWORD, "name": "X", "username": "citizen"}
    assert_field_errors(_register(body), "username")


@pytest.mark.parametrize("password", ["password", "12345678901", "short", "jane.doe@example.org"])
def test_register_weak_password_is_422(db, password):
    body = {"email": "jane.doe@example.org", "password": password, "name": "Jane Doe"}
    assert_field_errors(_register(body), "password")
    assert not User.objects.exists()


def test_register_missing_fields_are_each_named(db):
    assert_field_errors(_register({}), "email", "password", "name")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": NEW_PASSWORD, "name": "X"}, "email"),
        ({"email": ["a@example.org"], "password": NEW_PASSWORD, "name": "X"}, "email"),
        ({"email": "a@example.org", "password": 12345, "name": "X"}, "password"),
        ({"email": "a@example.org", "password": NEW_PASSWORD, "name": {"first": "X"}}, "name"),
        ({"email": "a@example.org", "password": NEW_PASSWORD, "name": 42}, "name"),
        ({"email": "a@example.org", "password": NEW_PASSWORD, "name": "X", "username": 12345}, "username"),
        ({"email": "a@example.org", "password": NEW_PASSWORD, "name": "   "}, "name"),
        ({"email": "a@example.org", "password": NEW_PASSWORD, "name": "X", "username": "bad name!"}, "username"),
    ],
)
def test_register_invalid_fields_are_422(db, body, field):
    assert_field_errors(_register(body), field)
    assert not User.objects.exists()


def test_register_malformed_json_is_400(db):
    assert_error(post_raw(Api(), REGISTER, '{"email": '), 400, "VALIDATION_ERROR")


def test_register_is_throttled_per_ip(db):
    limit = settings.RATE_LIMITS_PER_MINUTE["login"]
    for attempt in range(limit):
        assert_field_errors(_register({"email": f"u{attempt}@example.org"}), "password", "name")
    assert_rate_limited(_register({"email": "last@example.org"}), limit)
