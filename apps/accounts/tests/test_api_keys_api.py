"""SPEC §3 API keys: create (secret shown once), list, revoke, expiry, tiers, and that no
credential is ever stored in plain text."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.accounts.credentials import credential_hash
from apps.accounts.models import ApiKey
from apps.accounts.tests.helpers import (
    API_KEYS,
    REFRESH,
    REGISTER,
    USERS,
    VALIDATE,
    api_key_url,
    assert_error,
    assert_field_errors,
    assert_ok,
    assert_rate_limited,
    bearer,
    database_text,
    login_tokens,
    post_raw,
)
from conftest import Api

pytestmark = pytest.mark.django_db

KEY_FIELDS = {"id", "name", "prefix", "tier", "created_at", "expires_at", "last_used_at", "active"}


# --- create ----------------------------------------------------------------------------


def test_create_api_key_shows_the_secret_once(citizen):
    response = citizen.post(API_KEYS, {"name": "home automation"})
    data = assert_ok(response, 201)
    assert set(data) == KEY_FIELDS | {"key"}
    secret = data["key"]
    assert secret.startswith("cai_")
    assert secret.startswith(data["prefix"] + "_")
    assert len(secret) > 40
    assert data["name"] == "home automation"
    assert data["tier"] == "standard"
    assert data["active"] is True
    assert data["expires_at"] is None
    assert data["last_used_at"] is None

    key = ApiKey.objects.get(pk=data["id"])
    assert key.user_id == citizen.user.pk
    assert key.key_hash == credential_hash(secret)
    assert secret not in (key.key_hash, key.prefix, key.name)

    # The secret works as a bearer credential...
    assert assert_ok(bearer(secret).get(VALIDATE))["user"]["username"] == "citizen"
    # ...and is never shown again.
    listing = citizen.get(API_KEYS)
    assert secret not in listing.content.decode()
    for item in assert_ok(listing)["api_keys"]:
        assert set(item) == KEY_FIELDS


def test_create_api_key_with_expiry(citizen):
    expires = (timezone.now() + timedelta(days=7)).replace(microsecond=0)
    data = assert_ok(citizen.post(API_KEYS, {"name": "temp", "expires_at": expires.isoformat()}), 201)
    assert parse_datetime(data["expires_at"]) == expires
    assert ApiKey.objects.get(pk=data["id"]).expires_at == expires


def test_create_api_key_with_null_expiry(citizen):
    data = assert_ok(citizen.post(API_KEYS, {"name": "forever", "expires_at": None}), 201)
    assert data["expires_at"] is None


def test_create_api_key_expiry_in_the_past_is_422(citizen):
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    assert_field_errors(citizen.post(API_KEYS, {"name": "old", "expires_at": past}), "expires_at")
    assert ApiKey.objects.filter(user=citizen.user).count() == 1


def test_citizen_may_ask_for_their_own_tier(citizen):
    assert assert_ok(citizen.post(API_KEYS, {"name": "k", "tier": "standard"}), 201)["tier"] == "standard"


@pytest.mark.parametrize("tier", ["premium", "enterprise"])
def test_citizen_cannot_choose_a_higher_tier(citizen, tier):
    assert_error(citizen.post(API_KEYS, {"name": "k", "tier": tier}), 403, "PERMISSION_DENIED")
    assert ApiKey.objects.filter(user=citizen.user).count() == 1


def test_staff_cannot_choose_a_higher_tier(staff_member):
    assert_error(staff_member.post(API_KEYS, {"name": "k", "tier": "premium"}), 403, "PERMISSION_DENIED")


def test_administrator_may_choose_a_tier(administrator):
    data = assert_ok(administrator.post(API_KEYS, {"name": "partner", "tier": "enterprise"}), 201)
    assert data["tier"] == "enterprise"
    assert ApiKey.objects.get(pk=data["id"]).rate_bucket == ("enterprise", f"key:{data['id']}")


def test_key_inherits_the_users_tier(citizen):
    citizen.user.rate_tier = "premium"
    citizen.user.save()
    assert assert_ok(citizen.post(API_KEYS, {"name": "k"}), 201)["tier"] == "premium"


def test_access_token_can_manage_api_keys(citizen):
    client = bearer(login_tokens("citizen")["access_token"])
    created = assert_ok(client.call("post", API_KEYS, {"name": "from a session"}), 201)
    assert created["id"] in [item["id"] for item in assert_ok(client.get(API_KEYS))["api_keys"]]


def test_create_api_key_requires_a_name(citizen):
    assert_field_errors(citizen.post(API_KEYS, {}), "name")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": ""}, {"name"}),
        ({"name": "x" * 101}, {"name"}),
        ({"name": ["k"]}, {"name"}),
        ({"name": 123}, {"name"}),  # a number is not a name, though DRF would make it "123"
        ({"name": {"k": 1}}, {"name"}),
        ({"name": "k", "tier": "platinum"}, {"tier"}),
        ({"name": "k", "tier": 3}, {"tier"}),
        ({"name": "k", "expires_at": "next tuesday"}, {"expires_at"}),
        ({"name": "k", "expires_at": 12345}, {"expires_at"}),
        ({"name": "k", "key": "cai_chosen_by_me"}, {"key"}),
        ({"name": "k", "user": "someone-else"}, {"user"}),
    ],
)
def test_create_api_key_invalid_fields_are_422(citizen, body, fields):
    assert_field_errors(citizen.post(API_KEYS, body), *fields)
    assert ApiKey.objects.filter(user=citizen.user).count() == 1


def test_create_api_key_malformed_json_is_400(citizen):
    assert_error(post_raw(citizen.client, API_KEYS, '{"name": "k"'), 400, "VALIDATION_ERROR")


def test_create_api_key_without_credentials_is_401(stranger):
    assert_error(stranger.post(API_KEYS, {"name": "k"}), 401, "AUTHENTICATION_REQUIRED")
    assert not ApiKey.objects.exists()


def test_create_api_key_with_bad_key_is_401(citizen):
    error = assert_error(bearer("cai_ffffffff_forged").call("post", API_KEYS, {"name": "k"}), 401, "INVALID_API_KEY")
    assert error["details"]["reason"] == "unknown"


def test_create_api_key_with_idempotency_key_replays_without_the_secret(citizen):
    first = citizen.post(API_KEYS, {"name": "retry me"}, HTTP_IDEMPOTENCY_KEY="create-key-1")
    created = assert_ok(first, 201)
    secret = created["key"]
    replay = citizen.post(API_KEYS, {"name": "retry me"}, HTTP_IDEMPOTENCY_KEY="create-key-1")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    replayed = replay.json()["data"]
    assert replayed["id"] == created["id"]
    assert secret not in replay.content.decode()
    assert ApiKey.objects.filter(user=citizen.user, name="retry me").count() == 1
    assert secret not in database_text()


# --- list ------------------------------------------------------------------------------


def test_list_shows_only_the_callers_active_keys(citizen, staff_member):
    own = assert_ok(citizen.post(API_KEYS, {"name": "second"}), 201)
    revoked = assert_ok(citizen.post(API_KEYS, {"name": "gone"}), 201)
    assert_ok(citizen.delete(api_key_url(revoked["id"])))

    response = citizen.get(API_KEYS)
    data = assert_ok(response)
    ids = [item["id"] for item in data["api_keys"]]
    assert set(ids) == {own["id"], str(citizen.api_key.pk)}
    assert str(staff_member.api_key.pk) not in ids
    assert ids[0] == own["id"]  # newest first
    pagination = response.json()["pagination"]
    assert pagination["total"] == 2
    assert pagination["page"] == 1
    assert pagination["pages"] == 1


def test_list_reports_expired_keys_as_inactive(citizen):
    expired = assert_ok(citizen.post(API_KEYS, {"name": "soon"}), 201)
    ApiKey.objects.filter(pk=expired["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    items = {item["id"]: item for item in assert_ok(citizen.get(API_KEYS))["api_keys"]}
    assert items[expired["id"]]["active"] is False
    assert items[str(citizen.api_key.pk)]["active"] is True


def test_list_paginates(citizen):
    for number in range(4):
        citizen.post(API_KEYS, {"name": f"k{number}"})
    response = citizen.get(API_KEYS, {"limit": 2, "offset": 2})
    assert len(assert_ok(response)["api_keys"]) == 2
    assert response.json()["pagination"] == {"page": 2, "per_page": 2, "total": 5, "pages": 3}
    assert_error(citizen.get(API_KEYS, {"limit": "many"}), 400, "VALIDATION_ERROR")


def test_list_records_last_used(citizen):
    assert citizen.api_key.last_used_at is None
    assert_ok(citizen.get(API_KEYS))
    citizen.api_key.refresh_from_db()
    assert citizen.api_key.last_used_at is not None
    assert assert_ok(citizen.get(API_KEYS))["api_keys"][0]["last_used_at"] is not None


def test_list_without_credentials_is_401(stranger):
    assert_error(stranger.get(API_KEYS), 401, "AUTHENTICATION_REQUIRED")


def test_list_with_revoked_key_is_401(citizen):
    ApiKey.objects.filter(pk=citizen.api_key.pk).update(revoked_at=timezone.now())
    error = assert_error(citizen.get(API_KEYS), 401, "INVALID_API_KEY")
    assert error["details"] == {"reason": "revoked"}


def test_expired_api_key_is_rejected(citizen):
    ApiKey.objects.filter(pk=citizen.api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    error = assert_error(citizen.get(API_KEYS), 401, "INVALID_API_KEY")
    assert error["details"] == {"reason": "expired"}


def test_key_with_future_expiry_works(citizen):
    ApiKey.objects.filter(pk=citizen.api_key.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    assert_ok(citizen.get(API_KEYS))


@override_settings(RATE_LIMITS_PER_MINUTE={**settings.RATE_LIMITS_PER_MINUTE, "standard": 2})
def test_api_keys_are_throttled(citizen):
    assert_ok(citizen.get(API_KEYS))
    assert_ok(citizen.post(API_KEYS, {"name": "k"}), 201)
    assert_rate_limited(citizen.get(API_KEYS), 2)
    assert_rate_limited(citizen.post(API_KEYS, {"name": "k2"}), 2)
    assert ApiKey.objects.filter(user=citizen.user).count() == 2


@override_settings(RATE_LIMITS_PER_MINUTE={**settings.RATE_LIMITS_PER_MINUTE, "standard": 1, "enterprise": 50})
def test_key_tier_sets_its_rate_limit(administrator):
    created = assert_ok(administrator.post(API_KEYS, {"name": "big", "tier": "enterprise"}), 201)
    client = bearer(created["key"])
    for _ in range(3):
        response = client.get(API_KEYS)
        assert_ok(response)
        assert response["X-RateLimit-Limit"] == "50"


# --- revoke ----------------------------------------------------------------------------


def test_revoke_own_key(citizen):
    created = assert_ok(citizen.post(API_KEYS, {"name": "doomed"}), 201)
    response = citizen.delete(api_key_url(created["id"]))
    data = assert_ok(response)
    assert data["id"] == created["id"]
    assert response.json()["message"] == "API key revoked"
    assert ApiKey.objects.get(pk=created["id"]).revoked_at is not None

    error = assert_error(bearer(created["key"]).get(VALIDATE), 401, "INVALID_API_KEY")
    assert error["details"] == {"reason": "revoked"}
    assert created["id"] not in [item["id"] for item in assert_ok(citizen.get(API_KEYS))["api_keys"]]
    # Revoking twice: it is no longer among the caller's keys.
    assert_error(citizen.delete(api_key_url(created["id"])), 404, "RESOURCE_NOT_FOUND")


def test_revoke_the_key_in_use(citizen):
    assert_ok(citizen.delete(api_key_url(citizen.api_key.pk)))
    assert_error(citizen.get(API_KEYS), 401, "INVALID_API_KEY")


def test_cannot_revoke_someone_elses_key(citizen, staff_member, administrator):
    for caller in (citizen, administrator):
        assert_error(caller.delete(api_key_url(staff_member.api_key.pk)), 404, "RESOURCE_NOT_FOUND")
    staff_member.api_key.refresh_from_db()
    assert staff_member.api_key.revoked_at is None
    assert_ok(staff_member.get(VALIDATE))


def test_revoke_unknown_key_is_404(citizen):
    assert_error(citizen.delete(api_key_url(uuid.uuid4())), 404, "RESOURCE_NOT_FOUND")
    assert_error(citizen.delete(f"{API_KEYS}/not-a-uuid"), 404, "RESOURCE_NOT_FOUND")


def test_revoke_without_credentials_is_401(citizen, stranger):
    assert_error(stranger.delete(api_key_url(citizen.api_key.pk)), 401, "AUTHENTICATION_REQUIRED")
    citizen.api_key.refresh_from_db()
    assert citizen.api_key.revoked_at is None


def test_revoke_with_bad_key_is_401(citizen):
    assert_error(bearer("cat_forged").delete(api_key_url(citizen.api_key.pk)), 401, "INVALID_API_KEY")


def test_key_detail_only_supports_delete(citizen):
    assert_error(citizen.get(api_key_url(citizen.api_key.pk)), 405, "METHOD_NOT_ALLOWED")
    assert_error(citizen.put(api_key_url(citizen.api_key.pk), {"name": "x"}), 405, "METHOD_NOT_ALLOWED")


# --- nothing in plain text -------------------------------------------------------------


def test_no_credential_is_stored_in_plain_text(citizen, staff_member, administrator):
    secrets: list[str] = [citizen.secret, staff_member.secret, administrator.secret]

    created = assert_ok(citizen.post(API_KEYS, {"name": "plain"}), 201)
    secrets.append(created["key"])
    replayed = assert_ok(citizen.post(API_KEYS, {"name": "idem"}, HTTP_IDEMPOTENCY_KEY="idem-1"), 201)
    secrets.append(replayed["key"])

    first = login_tokens("citizen")
    secrets += [first["access_token"], first["refresh_token"]]
    rotated = assert_ok(Api().call("post", REFRESH, {"refresh_token": first["refresh_token"]}))
    secrets += [rotated["access_token"], rotated["refresh_token"]]
    remembered = login_tokens("staff", remember_me=True)
    secrets += [remembered["access_token"], remembered["refresh_token"]]

    password = "a password nobody should ever see 9"
    assert_ok(Api().call("post", REGISTER, {"email": "new@example.org", "password": password, "name": "N"}), 201)
    assert_ok(
        administrator.post(
            USERS,
            {"username": "made", "email": "made@example.org", "password": password, "role": "staff"},
            HTTP_IDEMPOTENCY_KEY="user-1",
        ),
        201,
    )
    secrets.append(password)

    dump = database_text()
    assert "cai_" in dump  # the dump really contains the key rows (their public prefixes)
    for secret in secrets:
        assert secret and secret not in dump
        if secret.startswith(("cai_", "cat_", "crt_")):
            # Not even the random part without its recognisable prefix.
            assert secret[-32:] not in dump
