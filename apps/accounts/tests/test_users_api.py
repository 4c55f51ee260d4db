"""SPEC §3 / seed 001 users: admin list and create; read, update, delete one user; nobody
raises their own role."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from apps.accounts.models import ApiKey, AuthSession, User
from apps.accounts.roles import ADMINISTRATOR_PERMISSIONS, CITIZEN_PERMISSIONS, STAFF_PERMISSIONS, Role
from apps.accounts.tests.helpers import (
    LOGIN,
    USERS,
    VALIDATE,
    assert_error,
    assert_field_errors,
    assert_ok,
    assert_rate_limited,
    bearer,
    login,
    login_tokens,
    post_raw,
    put_raw,
    user_url,
)
from conftest import PASSWORD, Api, make_user

pytestmark = pytest.mark.django_db

LIST_FIELDS = {"id", "username", "email", "role", "active", "created_at", "last_login"}
DETAIL_FIELDS = LIST_FIELDS | {"permissions", "profile", "rate_tier"}
NEW_PASSWORD = "a brand new long passphrase 31"


def _new_user_body(**overrides):
    body = {"username": "newbie", "email": "newbie@example.org", "password": NEW_PASSWORD, "role": "staff"}
    body.update(overrides)
    return body


# --- list ------------------------------------------------------------------------------


def test_admin_lists_users(administrator, citizen, staff_member):
    response = administrator.get(USERS)
    data = assert_ok(response)
    users = data["users"]
    assert {user["username"] for user in users} == {"admin", "citizen", "staff"}
    for user in users:
        assert set(user) == LIST_FIELDS
        assert "password" not in user
    assert response.json()["pagination"] == {"page": 1, "per_page": 50, "total": 3, "pages": 1}


def test_list_filters_by_role(administrator, citizen, staff_member):
    users = assert_ok(administrator.get(USERS, {"role": "citizen"}))["users"]
    assert [user["username"] for user in users] == ["citizen"]
    users = assert_ok(administrator.get(USERS, {"role": "administrator"}))["users"]
    assert [user["username"] for user in users] == ["admin"]


def test_list_filters_by_active(administrator, citizen):
    make_user("dormant", Role.CITIZEN, is_active=False)
    inactive = assert_ok(administrator.get(USERS, {"active": "false"}))["users"]
    assert [(user["username"], user["active"]) for user in inactive] == [("dormant", False)]
    active = assert_ok(administrator.get(USERS, {"active": "true"}))["users"]
    assert {user["username"] for user in active} == {"admin", "citizen"}
    combined = assert_ok(administrator.get(USERS, {"active": "true", "role": "citizen"}))["users"]
    assert [user["username"] for user in combined] == ["citizen"]


def test_user_search_by_name_or_email(administrator, citizen):
    make_user("zed", Role.CITIZEN, last_name="Quimby")
    found = assert_ok(administrator.get(USERS, {"q": "quimb"}))["users"]
    assert [user["username"] for user in found] == ["zed"]
    found = assert_ok(administrator.get(USERS, {"q": "CITIZEN@"}))["users"]
    assert [user["username"] for user in found] == ["citizen"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"role": "emperor"}, "role"),
        ({"active": "maybe"}, "active"),
        ({"limit": "0"}, "limit"),
        ({"limit": "lots"}, "limit"),
        ({"limit": "1000"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"page": "0"}, "page"),
        ({"cursor": "!!not-a-cursor!!"}, "cursor"),
    ],
)
def test_list_bad_query_parameters_are_400(administrator, params, field):
    error = assert_error(administrator.get(USERS, params), 400, "VALIDATION_ERROR")
    assert field in error["details"]


def test_list_limit_and_offset(administrator):
    for number in range(5):
        make_user(f"user{number}", Role.CITIZEN)
    everyone = [user["id"] for user in assert_ok(administrator.get(USERS))["users"]]
    assert len(everyone) == 6
    response = administrator.get(USERS, {"limit": 2, "offset": 2})
    assert [user["id"] for user in assert_ok(response)["users"]] == everyone[2:4]
    assert response.json()["pagination"] == {"page": 2, "per_page": 2, "total": 6, "pages": 3}


def test_list_page_and_per_page(administrator):
    for number in range(4):
        make_user(f"user{number}", Role.CITIZEN)
    everyone = [user["id"] for user in assert_ok(administrator.get(USERS))["users"]]
    response = administrator.get(USERS, {"page": 3, "per_page": 2})
    assert [user["id"] for user in assert_ok(response)["users"]] == everyone[4:6]
    assert response.json()["pagination"] == {"page": 3, "per_page": 2, "total": 5, "pages": 3}
    beyond = administrator.get(USERS, {"page": 9, "per_page": 2})
    assert assert_ok(beyond)["users"] == []


def test_list_cursor_walks_every_user_once(administrator):
    for number in range(6):
        make_user(f"user{number}", Role.CITIZEN)
    seen: list[str] = []
    response = administrator.get(USERS, {"cursor": "", "limit": 3})
    pages = 0
    while True:
        pages += 1
        seen += [user["id"] for user in assert_ok(response)["users"]]
        pagination = response.json()["pagination"]
        if not pagination["has_more"]:
            assert pagination["next_cursor"] is None
            break
        response = administrator.get(USERS, {"cursor": pagination["next_cursor"], "limit": 3})
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == {str(pk) for pk in User.objects.values_list("pk", flat=True)}


@pytest.mark.parametrize("persona", ["citizen", "staff_member"])
def test_list_needs_users_manage(request, persona):
    caller = request.getfixturevalue(persona)
    assert_error(caller.get(USERS), 403, "PERMISSION_DENIED")


def test_list_without_credentials_is_401(stranger):
    assert_error(stranger.get(USERS), 401, "AUTHENTICATION_REQUIRED")


def test_list_with_bad_key_is_401(administrator):
    error = assert_error(bearer(administrator.secret + "x").get(USERS), 401, "INVALID_API_KEY")
    assert error["details"] == {"reason": "unknown"}


@override_settings(RATE_LIMITS_PER_MINUTE={**settings.RATE_LIMITS_PER_MINUTE, "standard": 2})
def test_users_are_throttled(administrator):
    assert_ok(administrator.get(USERS))
    assert_ok(administrator.get(user_url(administrator.user.pk)))
    assert_rate_limited(administrator.get(USERS), 2)
    assert_rate_limited(administrator.post(USERS, _new_user_body()), 2)
    assert not User.objects.filter(username="newbie").exists()


# --- create ----------------------------------------------------------------------------


def test_admin_creates_a_user(administrator):
    body = _new_user_body(profile={"first_name": "New", "last_name": "Bie", "department": "Roads"})
    data = assert_ok(administrator.post(USERS, body), 201)
    assert set(data) == DETAIL_FIELDS
    assert data["username"] == "newbie"
    assert data["email"] == "newbie@example.org"
    assert data["role"] == "staff"
    assert data["active"] is True
    assert data["permissions"] == sorted(STAFF_PERMISSIONS)
    assert data["profile"] == {"first_name": "New", "last_name": "Bie", "department": "Roads"}

    user = User.objects.get(pk=data["id"])
    assert user.role == Role.STAFF and user.is_staff and not user.is_superuser
    assert user.check_password(NEW_PASSWORD)
    assert_ok(login("newbie", NEW_PASSWORD))


def test_admin_creates_an_administrator(administrator):
    data = assert_ok(administrator.post(USERS, _new_user_body(role="administrator")), 201)
    assert data["permissions"] == sorted(ADMINISTRATOR_PERMISSIONS)
    user = User.objects.get(pk=data["id"])
    assert user.is_superuser and user.is_staff


def test_admin_creates_an_inactive_user_who_cannot_sign_in(administrator):
    data = assert_ok(administrator.post(USERS, _new_user_body(active=False)), 201)
    assert data["active"] is False
    assert_error(login("newbie", NEW_PASSWORD), 401, "AUTHENTICATION_REQUIRED")


def test_create_duplicate_username_is_422(administrator, citizen):
    assert_field_errors(administrator.post(USERS, _new_user_body(username="citizen")), "username")


def test_create_duplicate_email_is_422(administrator, citizen):
    assert_field_errors(administrator.post(USERS, _new_user_body(email="Citizen@Example.org")), "email")


@pytest.mark.parametrize(
    ("citizen_username", "fields", "taken"),
    [
        ("citizen", {"username": "CITIZEN"}, "username"),  # would pass for citizen
        ("citizen", {"username": "Citizen@Example.org"}, "username"),  # citizen's address
        ("citizen.login@example.org", {"email": "Citizen.Login@example.org"}, "email"),  # citizen's username
    ],
)
def test_a_name_someone_signs_in_with_is_not_given_to_another(administrator, citizen, citizen_username, fields, taken):
    User.objects.filter(pk=citizen.user.pk).update(username=citizen_username)
    assert_field_errors(administrator.post(USERS, _new_user_body(**fields)), taken)
    assert User.objects.count() == 2


def test_sign_in_by_address_reaches_the_addresses_owner_whatever_usernames_exist(citizen):
    """An account named with someone's address (made before names were checked, or directly
    in the database) does not capture their sign-in by address."""
    make_user("impostor", "citizen")
    User.objects.filter(username="impostor").update(username="citizen@example.org", email="imp@example.org")
    data = login_tokens("citizen@example.org")
    assert data["user"]["id"] == str(citizen.user.pk)
    data = assert_ok(Api().call("post", LOGIN, {"email": "Citizen@example.org", "password": PASSWORD}))
    assert data["user"]["username"] == "citizen"


def test_create_weak_password_is_422(administrator):
    assert_field_errors(administrator.post(USERS, _new_user_body(password="12345678")), "password")
    assert not User.objects.filter(username="newbie").exists()


def test_create_missing_fields_are_each_named(administrator):
    assert_field_errors(administrator.post(USERS, {}), "username", "email", "password", "role")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"role": "emperor"}, "role"),
        ({"role": ["staff"]}, "role"),
        ({"email": "nope"}, "email"),
        ({"username": "has spaces"}, "username"),
        ({"username": "x" * 151}, "username"),
        ({"username": 12345}, "username"),
        ({"password": 123456789012345}, "password"),
        ({"password": ["x"]}, "password"),
        ({"active": "sometimes"}, "active"),
        ({"profile": "Roads"}, "profile"),
        ({"profile": {"department": "x" * 101}}, "profile.department"),
        ({"profile": {"shoe_size": 44}}, "profile.shoe_size"),
        ({"is_superuser": True}, "is_superuser"),
        ({"rate": "premium"}, "rate"),
    ],
)
def test_create_invalid_fields_are_422(administrator, overrides, field):
    assert_field_errors(administrator.post(USERS, _new_user_body(**overrides)), field)
    assert not User.objects.filter(email="newbie@example.org").exists()


def test_create_malformed_json_is_400(administrator):
    assert_error(post_raw(administrator.client, USERS, "{'single': 'quotes'}"), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("persona", ["citizen", "staff_member"])
def test_create_needs_users_manage(request, persona):
    caller = request.getfixturevalue(persona)
    assert_error(caller.post(USERS, _new_user_body(role="administrator")), 403, "PERMISSION_DENIED")
    assert not User.objects.filter(username="newbie").exists()


def test_create_without_credentials_is_401(stranger):
    assert_error(stranger.post(USERS, _new_user_body()), 401, "AUTHENTICATION_REQUIRED")


def test_create_with_bad_key_is_401(db):
    assert_error(bearer("cai_12345678_bad").call("post", USERS, _new_user_body()), 401, "INVALID_API_KEY")


def test_create_with_idempotency_key_creates_once(administrator):
    first = administrator.post(USERS, _new_user_body(), HTTP_IDEMPOTENCY_KEY="new-user")
    again = administrator.post(USERS, _new_user_body(), HTTP_IDEMPOTENCY_KEY="new-user")
    assert first.status_code == again.status_code == 201
    assert first.json()["data"]["id"] == again.json()["data"]["id"]
    other = administrator.post(USERS, _new_user_body(username="other"), HTTP_IDEMPOTENCY_KEY="new-user")
    assert_error(other, 409, "CONFLICT")
    assert User.objects.filter(email="newbie@example.org").count() == 1


# --- read ------------------------------------------------------------------------------


def test_admin_reads_any_user(administrator, citizen):
    citizen.user.first_name, citizen.user.department = "Chris", "Parks"
    citizen.user.save()
    data = assert_ok(administrator.get(user_url(citizen.user.pk)))
    assert set(data) == DETAIL_FIELDS
    assert data["id"] == str(citizen.user.pk)
    assert data["role"] == "citizen"
    assert data["permissions"] == sorted(CITIZEN_PERMISSIONS)
    assert data["profile"] == {"first_name": "Chris", "last_name": "", "department": "Parks"}
    assert data["rate_tier"] == "standard"


def test_user_reads_own_profile(citizen):
    assert assert_ok(citizen.get(user_url(citizen.user.pk)))["username"] == "citizen"


@pytest.mark.parametrize("persona", ["citizen", "staff_member"])
def test_non_admin_cannot_read_others(request, persona, administrator):
    caller = request.getfixturevalue(persona)
    assert_error(caller.get(user_url(administrator.user.pk)), 403, "PERMISSION_DENIED")


def test_non_admin_gets_403_for_unknown_ids_too(citizen):
    """A non-admin learns nothing about which ids exist."""
    assert_error(citizen.get(user_url(uuid.uuid4())), 403, "PERMISSION_DENIED")


def test_read_unknown_user_is_404(administrator):
    assert_error(administrator.get(user_url(uuid.uuid4())), 404, "RESOURCE_NOT_FOUND")
    assert_error(administrator.get(f"{USERS}/not-a-uuid"), 404, "RESOURCE_NOT_FOUND")


def test_read_without_credentials_is_401(citizen, stranger):
    assert_error(stranger.get(user_url(citizen.user.pk)), 401, "AUTHENTICATION_REQUIRED")


def test_read_with_bad_key_is_401(citizen):
    assert_error(bearer("cai_00000000_x").get(user_url(citizen.user.pk)), 401, "INVALID_API_KEY")


# --- update ----------------------------------------------------------------------------


def test_user_updates_own_email_and_profile(citizen):
    body = {"email": "chris@example.org", "profile": {"first_name": "Chris", "last_name": "Citizen"}}
    response = citizen.put(user_url(citizen.user.pk), body)
    data = assert_ok(response)
    assert data["id"] == str(citizen.user.pk)
    assert data["message"] == "User updated successfully"
    assert response.json()["message"] == "User updated successfully"
    assert data["email"] == "chris@example.org"
    assert data["profile"]["first_name"] == "Chris"
    citizen.user.refresh_from_db()
    assert (citizen.user.email, citizen.user.last_name, citizen.user.role) == (
        "chris@example.org",
        "Citizen",
        "citizen",
    )


@pytest.mark.parametrize(
    ("persona", "change"),
    [
        ("citizen", {"role": "administrator"}),
        ("citizen", {"role": "staff"}),
        ("staff_member", {"role": "administrator"}),
        ("citizen", {"rate_tier": "enterprise"}),
        ("citizen", {"active": False}),
        ("administrator", {"role": "citizen"}),
        ("administrator", {"active": False}),
    ],
)
def test_nobody_changes_their_own_role_tier_or_active_flag(request, persona, change):
    caller = request.getfixturevalue(persona)
    before = User.objects.values("role", "rate_tier", "is_active").get(pk=caller.user.pk)
    body = {**change, "profile": {"department": "Sneaky"}}
    assert_error(caller.put(user_url(caller.user.pk), body), 403, "PERMISSION_DENIED")
    after = User.objects.values("role", "rate_tier", "is_active", "department").get(pk=caller.user.pk)
    assert after.pop("department") == ""  # nothing of the request was applied
    assert after == before


def test_sending_ones_current_role_unchanged_is_allowed(citizen, administrator):
    """A client that PUTs back what it read must not be refused for an unchanged role."""
    for caller, role in ((citizen, "citizen"), (administrator, "administrator")):
        body = {"role": role, "active": True, "profile": {"department": "Same"}}
        data = assert_ok(caller.put(user_url(caller.user.pk), body))
        assert data["role"] == role and data["active"] is True
        assert data["profile"]["department"] == "Same"


def test_user_cannot_raise_role_with_a_session_token_either(citizen):
    client = bearer(login_tokens("citizen")["access_token"])
    assert_error(client.call("put", user_url(citizen.user.pk), {"role": "administrator"}), 403, "PERMISSION_DENIED")
    citizen.user.refresh_from_db()
    assert citizen.user.role == Role.CITIZEN


def test_admin_changes_another_users_role(administrator, citizen):
    data = assert_ok(administrator.put(user_url(citizen.user.pk), {"role": "staff", "rate_tier": "premium"}))
    assert data["role"] == "staff"
    assert data["rate_tier"] == "premium"
    assert data["permissions"] == sorted(STAFF_PERMISSIONS)
    citizen.user.refresh_from_db()
    assert citizen.user.role == Role.STAFF and citizen.user.is_staff and not citizen.user.is_superuser
    # The change takes effect on the user's existing credentials.
    assert_ok(citizen.get(f"{USERS}/{citizen.user.pk}"))
    assert assert_ok(citizen.get(VALIDATE))["user"]["role"] == "staff"


def test_admin_deactivates_a_user_and_their_credentials_stop_working(administrator, citizen):
    tokens = login_tokens("citizen")
    data = assert_ok(administrator.put(user_url(citizen.user.pk), {"active": False}))
    assert data["active"] is False
    assert AuthSession.objects.get(pk=tokens["session"]["id"]).revoked_at is not None
    assert_error(citizen.get(VALIDATE), 401, "INVALID_API_KEY")
    assert_error(bearer(tokens["access_token"]).get(VALIDATE), 401, "INVALID_API_KEY")
    assert_error(login("citizen"), 401, "AUTHENTICATION_REQUIRED")
    # And back again.
    assert_ok(administrator.put(user_url(citizen.user.pk), {"active": True}))
    assert_ok(citizen.get(VALIDATE))


def test_staff_cannot_update_others(staff_member, citizen):
    assert_error(staff_member.put(user_url(citizen.user.pk), {"role": "staff"}), 403, "PERMISSION_DENIED")
    assert_error(staff_member.put(user_url(citizen.user.pk), {"email": "x@example.org"}), 403, "PERMISSION_DENIED")
    citizen.user.refresh_from_db()
    assert (citizen.user.role, citizen.user.email) == ("citizen", "citizen@example.org")


def test_user_changes_own_password_with_current_password(citizen):
    tokens = login_tokens("citizen")
    url = user_url(citizen.user.pk)
    assert_field_errors(citizen.put(url, {"password": NEW_PASSWORD}), "current_password")
    assert_field_errors(citizen.put(url, {"password": NEW_PASSWORD, "current_password": "wrong"}), "current_password")
    assert_field_errors(citizen.put(url, {"password": "123", "current_password": PASSWORD}), "password")
    assert_ok(citizen.put(url, {"password": NEW_PASSWORD, "current_password": PASSWORD}))

    assert_error(login("citizen", PASSWORD), 401, "AUTHENTICATION_REQUIRED")
    assert_ok(login("citizen", NEW_PASSWORD))
    # Changing the password signs out every token session.
    assert_error(bearer(tokens["access_token"]).get(VALIDATE), 401, "INVALID_API_KEY")


def test_admin_resets_another_users_password(administrator, citizen):
    assert_ok(administrator.put(user_url(citizen.user.pk), {"password": NEW_PASSWORD}))
    assert_ok(login("citizen", NEW_PASSWORD))


def test_a_new_address_replaces_the_old_one_as_the_sign_in_name(db):
    """A sign-up's username is its address: after a change of address the old one no longer
    signs in, and someone else may register it."""
    body = {"email": "Old.Address@example.org", "password": PASSWORD, "name": "Ana Lima"}
    assert Api().post("/api/v1/auth/register", body, format="json").status_code == 201
    token = Api().post(LOGIN, {"email": "old.address@example.org", "password": PASSWORD}, format="json")
    access = token.json()["data"]["access_token"]
    ana = Api()
    ana.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    user = User.objects.get(email="Old.Address@example.org")
    assert ana.put(user_url(user.pk), {"email": "New@example.org"}, format="json").status_code == 200
    old = Api().post(LOGIN, {"email": "old.address@example.org", "password": PASSWORD}, format="json")
    assert old.status_code == 401
    new = Api().post(LOGIN, {"email": "new@example.org", "password": PASSWORD}, format="json")
    assert new.status_code == 200
    other = {"email": "old.address@example.org", "password": PASSWORD, "name": "Someone Else"}
    assert Api().post("/api/v1/auth/register", other, format="json").status_code == 201


def test_an_address_too_long_for_a_username_still_signs_up_and_in(db):
    long_address = "a" * 64 + "@" + "b" * 60 + "." + "c" * 30 + ".example.org"  # 168: a username holds 150
    body = {"email": long_address, "password": PASSWORD, "name": "Ana Lima"}
    assert Api().post("/api/v1/auth/register", body, format="json").status_code == 201
    assert User.objects.get(email=long_address).username.startswith("user-")
    signed_in = Api().post(LOGIN, {"email": long_address, "password": PASSWORD}, format="json")
    assert signed_in.status_code == 200


def test_an_address_that_lost_a_race_is_a_422_not_a_500(citizen, staff_member, monkeypatch):
    """Two accounts taking the same address at once: the check passes for both, and the
    database's unique username refuses the second."""
    from apps.accounts import services

    User.objects.filter(pk=citizen.user.pk).update(username="citizen@example.org")
    User.objects.filter(pk=staff_member.user.pk).update(username="taken@example.org")
    monkeypatch.setattr(services, "_check_unique", lambda **kwargs: None)
    response = citizen.put(user_url(citizen.user.pk), {"email": "taken@example.org"})
    assert response.status_code == 422
    assert list(response.json()["error"]["details"]) == ["email"]


def test_a_chosen_username_stays_when_the_address_changes(citizen):
    assert citizen.put(user_url(citizen.user.pk), {"email": "chris@example.org"}).status_code == 200
    citizen.user.refresh_from_db()
    assert citizen.user.username == "citizen"


def test_update_to_taken_email_is_422(citizen, staff_member):
    assert_field_errors(citizen.put(user_url(citizen.user.pk), {"email": "STAFF@example.org"}), "email")


def test_update_to_an_address_that_is_another_users_username_is_422(citizen, staff_member):
    User.objects.filter(pk=staff_member.user.pk).update(username="staff.member@example.org")
    assert_field_errors(citizen.put(user_url(citizen.user.pk), {"email": "Staff.Member@example.org"}), "email")
    citizen.user.refresh_from_db()
    assert citizen.user.email == "citizen@example.org"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": 42}, "email"),
        ({"role": "emperor"}, "role"),
        ({"rate_tier": "gold"}, "rate_tier"),
        ({"active": "sometimes"}, "active"),
        ({"profile": ["Chris"]}, "profile"),
        ({"profile": {"first_name": "x" * 151}}, "profile.first_name"),
        ({"profile": {"first_name": 7}}, "profile.first_name"),
        ({"profile": {"nickname": "CC"}}, "profile.nickname"),
        ({"username": "renamed"}, "username"),
        ({"is_superuser": True}, "is_superuser"),
    ],
)
def test_update_invalid_fields_are_422(administrator, citizen, body, field):
    assert_field_errors(administrator.put(user_url(citizen.user.pk), body), field)
    citizen.user.refresh_from_db()
    assert (citizen.user.username, citizen.user.role, citizen.user.is_superuser) == ("citizen", "citizen", False)


def test_update_malformed_json_is_400(citizen):
    assert_error(put_raw(citizen.client, user_url(citizen.user.pk), '{"email":'), 400, "VALIDATION_ERROR")


def test_update_unknown_user_is_404(administrator):
    assert_error(administrator.put(user_url(uuid.uuid4()), {"email": "a@example.org"}), 404, "RESOURCE_NOT_FOUND")


def test_update_without_credentials_is_401(citizen, stranger):
    assert_error(stranger.put(user_url(citizen.user.pk), {"email": "a@example.org"}), 401, "AUTHENTICATION_REQUIRED")


def test_update_with_expired_key_is_401(citizen):
    ApiKey.objects.filter(pk=citizen.api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    error = assert_error(citizen.put(user_url(citizen.user.pk), {"email": "a@example.org"}), 401, "INVALID_API_KEY")
    assert error["details"] == {"reason": "expired"}


# --- delete ----------------------------------------------------------------------------


def test_admin_deletes_a_user(administrator, citizen):
    response = administrator.delete(user_url(citizen.user.pk))
    data = assert_ok(response)
    assert data["id"] == str(citizen.user.pk)
    assert response.json()["message"] == "User deleted successfully"
    assert not User.objects.filter(pk=citizen.user.pk).exists()
    assert not ApiKey.objects.filter(user_id=citizen.user.pk).exists()
    assert_error(citizen.get(VALIDATE), 401, "INVALID_API_KEY")
    assert_error(administrator.get(user_url(citizen.user.pk)), 404, "RESOURCE_NOT_FOUND")


def test_admin_cannot_delete_self(administrator):
    assert_error(administrator.delete(user_url(administrator.user.pk)), 409, "CONFLICT")
    assert User.objects.filter(pk=administrator.user.pk).exists()


@pytest.mark.parametrize("persona", ["citizen", "staff_member"])
def test_non_admin_cannot_delete_anyone(request, persona, administrator):
    caller = request.getfixturevalue(persona)
    assert_error(caller.delete(user_url(administrator.user.pk)), 403, "PERMISSION_DENIED")
    assert_error(caller.delete(user_url(caller.user.pk)), 403, "PERMISSION_DENIED")
    assert User.objects.filter(pk__in=[administrator.user.pk, caller.user.pk]).count() == 2


def test_delete_unknown_user_is_404(administrator):
    assert_error(administrator.delete(user_url(uuid.uuid4())), 404, "RESOURCE_NOT_FOUND")


def test_delete_without_credentials_is_401(citizen, stranger):
    assert_error(stranger.delete(user_url(citizen.user.pk)), 401, "AUTHENTICATION_REQUIRED")
    assert User.objects.filter(pk=citizen.user.pk).exists()


def test_delete_with_revoked_key_is_401(administrator, citizen):
    ApiKey.objects.filter(pk=administrator.api_key.pk).update(revoked_at=timezone.now())
    assert_error(administrator.delete(user_url(citizen.user.pk)), 401, "INVALID_API_KEY")
    assert User.objects.filter(pk=citizen.user.pk).exists()
