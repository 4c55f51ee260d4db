"""SPEC §3 browser pages: sign up, sign in, sign out and the account page with API keys."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from apps.accounts.models import ApiKey, AuthSession, User
from apps.accounts.roles import Role
from apps.accounts.tests.helpers import (
    LOGIN,
    SIGN_IN,
    VALIDATE,
    assert_error,
    assert_ok,
    bearer,
    database_text,
    form_csrf_token,
    signed_in_browser,
)
from conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db

SIGN_UP = "/accounts/sign-up/"
SIGN_OUT = "/accounts/sign-out/"
ACCOUNT = "/accounts/"
NEW_PASSWORD = "my very own long passphrase 64"
BAD_LOGIN = "The username or password is not correct."


def _revoke_url(key_id) -> str:
    return f"/accounts/api-keys/{key_id}/revoke/"


def _html(response) -> str:
    return response.content.decode()


def _main_form(html: str) -> str:
    """The page's own form (inside <main>), not the header's sign-out form."""
    main = html[html.index("<main") :]
    return main[main.index("<form") : main.index("</form>")]


def _new_key_secret(html: str) -> str | None:
    match = re.search(r'<code id="new-api-key">([^<]+)</code>', html)
    return match.group(1) if match else None


# --- sign up ---------------------------------------------------------------------------


def test_sign_up_page_renders_the_form(db):
    response = Client().get(SIGN_UP)
    assert response.status_code == 200
    html = _html(response)
    for name in ("name", "email", "password"):
        assert f'name="{name}"' in html
    assert "csrfmiddlewaretoken" in html


def test_sign_up_then_land_on_the_account_page(db):
    client = Client(enforce_csrf_checks=True)
    token = form_csrf_token(client, SIGN_UP)
    body = {"name": "Robin Resident", "email": "robin@example.org", "password": NEW_PASSWORD}
    response = client.post(SIGN_UP, {**body, "csrfmiddlewaretoken": token}, follow=True)
    assert response.redirect_chain == [(ACCOUNT, 302)]
    assert response.status_code == 200
    html = _html(response)
    assert "Your account" in html
    assert "robin@example.org" in html
    assert "Welcome! Your account is ready." in html
    assert "You have no API keys." in html

    user = User.objects.get(email="robin@example.org")
    assert user.role == Role.CITIZEN
    assert (user.first_name, user.last_name) == ("Robin", "Resident")
    assert user.check_password(NEW_PASSWORD)
    assert response.wsgi_request.user == user


def test_sign_up_with_taken_email_shows_the_error(db):
    make_user("robin", Role.CITIZEN)  # robin@example.org
    body = {"name": "Robin Again", "email": "ROBIN@example.org", "password": NEW_PASSWORD}
    response = Client().post(SIGN_UP, body)
    assert response.status_code == 400
    form = _main_form(_html(response))
    assert "already exists" in form
    assert User.objects.filter(email__iexact="robin@example.org").count() == 1


def test_sign_up_with_weak_password_shows_the_error_on_the_field(db):
    response = Client().post(SIGN_UP, {"name": "Weak", "email": "weak@example.org", "password": "password"})
    assert response.status_code == 400
    assert 'id="id_password_error"' in _html(response)
    assert "too common" in _html(response)
    assert not User.objects.filter(email="weak@example.org").exists()


def test_a_password_like_the_address_is_refused_naming_the_address(db):
    """The username is the address on sign-up: the refusal said "too similar to the username",
    a field the form does not have."""
    response = Client().post(SIGN_UP, {"name": "Robin", "email": "robinhood@example.org", "password": "robinhood1"})
    assert response.status_code == 400
    html = _html(response)
    assert "too similar to the email address" in html
    assert "username" not in html.lower()
    assert not User.objects.exists()


def test_several_errors_of_one_field_share_one_described_element(db):
    """Each error had the field's error id, so two errors made duplicate ids; the input's
    aria-describedby names the one element that holds them all. The title says Error."""
    response = Client().post(SIGN_UP, {"name": "Weak", "email": "weak@example.org", "password": "12345678"})
    html = _html(response)
    assert html.count('id="id_password_error"') == 1
    assert "too common" in html and "entirely numeric" in html
    assert re.search(r'<input[^>]*aria-describedby="[^"]*id_password_error', html)
    assert "<title>Error: Sign up" in html
    assert 'role="alert"' in html


def test_sign_up_with_missing_fields_is_400(db):
    response = Client().post(SIGN_UP, {"email": "not-an-email"})
    assert response.status_code == 400
    html = _html(response)
    for field in ("name", "email", "password"):
        assert f'id="id_{field}_error"' in html
    assert not User.objects.exists()


def test_sign_up_is_rate_limited_per_address(db):
    client = Client()
    limit = settings.RATE_LIMITS_PER_MINUTE["login"]
    for number in range(limit):
        body = {"name": f"User {number}", "email": f"user{number}@example.org", "password": NEW_PASSWORD}
        assert client.post(SIGN_UP, body).status_code == 302
        client.logout()
    body = {"name": "One More", "email": "more@example.org", "password": NEW_PASSWORD}
    response = client.post(SIGN_UP, body)
    assert response.status_code == 429
    assert "Too many attempts" in _main_form(_html(response))
    assert User.objects.count() == limit


def test_sign_up_requiresform_csrf_token(db):
    client = Client(enforce_csrf_checks=True)
    body = {"name": "No Token", "email": "nt@example.org", "password": NEW_PASSWORD}
    refused = client.post(SIGN_UP, body)
    assert refused.status_code == 403
    assert "reload the page and try again" in _html(refused)  # not just "no permission"
    assert not User.objects.exists()


# --- sign in ---------------------------------------------------------------------------


def test_sign_in_page_renders_the_form(db):
    response = Client().get(SIGN_IN)
    assert response.status_code == 200
    html = _html(response)
    assert 'name="identifier"' in html and 'name="password"' in html
    assert 'type="password"' in html


def test_sign_in_lands_on_the_account_page(db):
    make_user("citizen", Role.CITIZEN)
    client = Client()
    response = client.post(SIGN_IN, {"identifier": "citizen", "password": PASSWORD}, follow=True)
    assert response.redirect_chain == [(ACCOUNT, 302)]
    assert "citizen@example.org" in _html(response)
    # Without "keep me signed in" the cookie ends with the browser session.
    assert client.session.get_expire_at_browser_close()


def test_sign_in_with_email_and_remember_me(db):
    make_user("citizen", Role.CITIZEN)
    client = Client()
    response = client.post(SIGN_IN, {"identifier": "citizen@example.org", "password": PASSWORD, "remember_me": "on"})
    assert response.status_code == 302
    assert not client.session.get_expire_at_browser_close()
    assert client.session.get_expiry_age() == settings.REMEMBER_ME_TTL  # as the API's remember_me


def test_sign_in_without_remember_me_ends_with_the_browser(db):
    make_user("citizen", Role.CITIZEN)
    client = Client()
    assert client.post(SIGN_IN, {"identifier": "citizen", "password": PASSWORD}).status_code == 302
    assert client.session.get_expire_at_browser_close()


def test_sign_in_with_bad_password_shows_the_error_next_to_the_form(db):
    make_user("citizen", Role.CITIZEN)
    client = Client()
    response = client.post(SIGN_IN, {"identifier": "citizen", "password": "wrong password"})
    assert response.status_code == 400
    form = _main_form(_html(response))
    assert BAD_LOGIN in form
    assert 'role="alert"' in form
    # The identifier is kept, the password is not echoed back.
    assert 'value="citizen"' in form
    assert "wrong password" not in _html(response)
    assert "_auth_user_id" not in client.session


def test_sign_in_with_unknown_user_shows_the_same_error(db):
    response = Client().post(SIGN_IN, {"identifier": "nobody", "password": "whatever it is"})
    assert response.status_code == 400
    assert BAD_LOGIN in _main_form(_html(response))


def test_sign_in_with_empty_form_is_400(db):
    response = Client().post(SIGN_IN, {})
    assert response.status_code == 400
    assert 'id="id_identifier_error"' in _html(response)
    assert 'id="id_password_error"' in _html(response)


def test_sign_in_locks_out_after_repeated_failures(db):
    make_user("citizen", Role.CITIZEN)
    client = Client()
    for _ in range(settings.LOGIN_LOCKOUT_THRESHOLD):
        assert client.post(SIGN_IN, {"identifier": "citizen", "password": "bad"}).status_code == 400
    response = client.post(SIGN_IN, {"identifier": "citizen", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in _main_form(_html(response))
    minutes = -(-settings.LOGIN_LOCKOUT_SECONDS // 60)
    assert f"try again in {minutes} minutes" in _html(response)  # not "in 899 seconds"
    assert "_auth_user_id" not in client.session


def test_sign_in_is_rate_limited_per_address(db):
    client = Client()
    limit = settings.RATE_LIMITS_PER_MINUTE["login"]
    for attempt in range(limit):
        assert client.post(SIGN_IN, {"identifier": f"u{attempt}", "password": "bad"}).status_code == 400
    assert client.post(SIGN_IN, {"identifier": "last", "password": "bad"}).status_code == 429


def test_sign_in_follows_a_safe_next_only(db):
    make_user("citizen", Role.CITIZEN)
    body = {"identifier": "citizen", "password": PASSWORD}
    response = Client().post(f"{SIGN_IN}?next=/accounts/%3Ftab%3Dkeys", body)
    assert response.status_code == 302 and response["Location"] == "/accounts/?tab=keys"
    response = Client().post(f"{SIGN_IN}?next=https://evil.example.com/", body)
    assert response.status_code == 302 and response["Location"] == ACCOUNT


def test_sign_in_requiresform_csrf_token(db):
    make_user("citizen", Role.CITIZEN)
    client = Client(enforce_csrf_checks=True)
    response = client.post(SIGN_IN, {"identifier": "citizen", "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session
    token = form_csrf_token(client, SIGN_IN)
    response = client.post(SIGN_IN, {"identifier": "citizen", "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert response.status_code == 302


def test_session_cookie_from_sign_in_works_on_the_api(db):
    client, user = signed_in_browser()
    response = client.get(VALIDATE)
    data = assert_ok(response)
    assert data["auth_type"] == "session_cookie"
    assert data["user"]["id"] == str(user.pk)


def test_cookie_session_api_writes_needform_csrf_token(db):
    client, _ = signed_in_browser()
    response = client.post("/api/v1/auth/api-keys", {"name": "k"}, content_type="application/json")
    assert_error(response, 403, "PERMISSION_DENIED")
    assert not ApiKey.objects.exists()
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post(
        "/api/v1/auth/api-keys", {"name": "k"}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert_ok(response, 201)


# --- sign out --------------------------------------------------------------------------


def test_sign_out_by_get_asks_and_signs_nobody_out(db):
    client, user = signed_in_browser()
    page = client.get(SIGN_OUT)
    assert page.status_code == 200
    form = _main_form(_html(page))
    assert 'method="post"' in form and 'action="/accounts/sign-out/"' in form and "csrfmiddlewaretoken" in form
    assert user.username in _html(page)
    assert client.get(ACCOUNT).status_code == 200  # still signed in
    assert "not signed in" in _html(Client().get(SIGN_OUT))


def test_sign_out_requiresform_csrf_token(db):
    client, _ = signed_in_browser()
    assert client.post(SIGN_OUT).status_code == 403
    assert client.get(ACCOUNT).status_code == 200


def test_sign_out_ends_the_session(db):
    client, _ = signed_in_browser()
    token = form_csrf_token(client, ACCOUNT)
    response = client.post(SIGN_OUT, {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert response["Location"] == "/"
    response = client.get(ACCOUNT)
    assert response.status_code == 302
    assert response["Location"].startswith(SIGN_IN)


def test_sign_out_page_revokes_tokens_of_the_browsers_api_login(db):
    make_user("citizen", Role.CITIZEN)
    client = Client(enforce_csrf_checks=True)
    response = client.post(LOGIN, {"username": "citizen", "password": PASSWORD}, content_type="application/json")
    tokens = assert_ok(response)
    token = form_csrf_token(client, ACCOUNT)
    assert client.post(SIGN_OUT, {"csrfmiddlewaretoken": token}).status_code == 302
    assert AuthSession.objects.get(pk=tokens["session"]["id"]).revoked_at is not None
    assert_error(bearer(tokens["access_token"]).get(VALIDATE), 401, "INVALID_API_KEY")


# --- account page and API keys ---------------------------------------------------------


def test_account_page_requires_sign_in(db):
    response = Client().get(ACCOUNT)
    assert response.status_code == 302
    assert response["Location"] == f"{SIGN_IN}?next={ACCOUNT}"


def test_account_page_shows_the_user(db):
    client, _ = signed_in_browser("staffer", Role.STAFF)
    html = _html(client.get(ACCOUNT))
    assert "staffer" in html and "staffer@example.org" in html and "Staff" in html


def test_create_api_key_on_the_account_page_shows_it_once(db):
    client, user = signed_in_browser()
    token = form_csrf_token(client, ACCOUNT)
    response = client.post(ACCOUNT, {"name": "my script", "csrfmiddlewaretoken": token})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = _html(response)
    secret = _new_key_secret(html)
    assert secret and secret.startswith("cai_")
    assert "will not be shown again" in html
    key = ApiKey.objects.get(user=user)
    assert key.name == "my script"
    assert key.prefix in html

    assert secret not in database_text()
    # The key works on the API...
    assert assert_ok(bearer(secret).get(VALIDATE))["user"]["id"] == str(user.pk)
    # ...and the page never shows it again.
    again = _html(client.get(ACCOUNT))
    assert secret not in again
    assert _new_key_secret(again) is None
    assert "my script" in again and key.prefix in again


def test_the_key_form_sent_again_creates_no_second_key(db):
    """A reload of the page that showed the new key re-posts the form."""
    client, user = signed_in_browser()
    page = _html(client.get(ACCOUNT))
    token = form_csrf_token(client, ACCOUNT)
    form_id = re.search(r'name="form_id" value="([^"]+)"', page).group(1)
    body = {"name": "my script", "form_id": form_id, "csrfmiddlewaretoken": token}
    first = client.post(ACCOUNT, body)
    assert first.status_code == 200 and _new_key_secret(_html(first))
    again = client.post(ACCOUNT, body, follow=True)
    assert again.redirect_chain == [(ACCOUNT, 302)]
    assert "created already" in _html(again) and _new_key_secret(_html(again)) is None
    assert ApiKey.objects.filter(user=user).count() == 1
    next_form_id = re.search(r'name="form_id" value="([^"]+)"', _html(first)).group(1)
    assert next_form_id != form_id  # the next key made from that page is a new one
    assert client.post(ACCOUNT, {**body, "form_id": next_form_id, "name": "second"}).status_code == 200
    assert ApiKey.objects.filter(user=user).count() == 2


def test_create_api_key_with_expiry_on_the_account_page(db):
    client, user = signed_in_browser()
    token = form_csrf_token(client, ACCOUNT)
    when = (timezone.localtime() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(ACCOUNT, {"name": "brief", "expires_at": when, "csrfmiddlewaretoken": token})
    assert response.status_code == 200
    assert _new_key_secret(_html(response))
    assert ApiKey.objects.get(user=user).expires_at > timezone.now() + timedelta(days=2)


def test_administrators_choose_a_keys_tier_on_the_account_page(db):
    client, user = signed_in_browser("admin", Role.ADMINISTRATOR)
    assert 'name="tier"' in _html(client.get(ACCOUNT))
    token = form_csrf_token(client, ACCOUNT)
    response = client.post(ACCOUNT, {"name": "partner", "tier": "enterprise", "csrfmiddlewaretoken": token})
    assert response.status_code == 200 and _new_key_secret(_html(response))
    assert ApiKey.objects.get(user=user).tier == "enterprise"


def test_others_get_their_own_tier_whatever_they_send(db):
    client, user = signed_in_browser()
    assert 'name="tier"' not in _html(client.get(ACCOUNT))
    token = form_csrf_token(client, ACCOUNT)
    client.post(ACCOUNT, {"name": "mine", "tier": "enterprise", "csrfmiddlewaretoken": token})
    assert ApiKey.objects.get(user=user).tier == user.rate_tier != "enterprise"


def test_the_expiry_field_names_the_time_zone_it_is_read_in(db):
    client, _ = signed_in_browser()
    assert f"In {settings.TIME_ZONE} time" in _html(client.get(ACCOUNT))


def test_create_api_key_with_past_expiry_shows_the_error(db):
    client, user = signed_in_browser()
    token = form_csrf_token(client, ACCOUNT)
    response = client.post(ACCOUNT, {"name": "stale", "expires_at": "2001-01-01T00:00", "csrfmiddlewaretoken": token})
    assert response.status_code == 400
    html = _html(response)
    assert _new_key_secret(html) is None
    assert 'id="id_expires_at_error"' in html and "Must be in the future." in html
    assert not ApiKey.objects.filter(user=user).exists()


def test_create_api_key_without_a_name_shows_the_error(db):
    client, user = signed_in_browser()
    token = form_csrf_token(client, ACCOUNT)
    response = client.post(ACCOUNT, {"name": "", "csrfmiddlewaretoken": token})
    assert response.status_code == 400
    assert 'id="id_name_error"' in _html(response)
    assert _new_key_secret(_html(response)) is None
    assert not ApiKey.objects.filter(user=user).exists()


def test_create_api_key_on_the_account_page_requiresform_csrf_token(db):
    client, user = signed_in_browser()
    assert client.post(ACCOUNT, {"name": "forged"}).status_code == 403
    assert not ApiKey.objects.filter(user=user).exists()


def test_revoke_api_key_on_the_account_page(db):
    client, user = signed_in_browser()
    token = form_csrf_token(client, ACCOUNT)
    secret = _new_key_secret(_html(client.post(ACCOUNT, {"name": "short-lived", "csrfmiddlewaretoken": token})))
    key = ApiKey.objects.get(user=user)
    assert f'action="{_revoke_url(key.pk)}"' in _html(client.get(ACCOUNT))

    response = client.post(_revoke_url(key.pk), {"csrfmiddlewaretoken": token}, follow=True)
    assert response.redirect_chain == [(ACCOUNT, 302)]
    html = _html(response)
    assert "revoked" in html
    assert "You have no API keys." in html
    key.refresh_from_db()
    assert key.revoked_at is not None
    error = assert_error(bearer(secret).get(VALIDATE), 401, "INVALID_API_KEY")
    assert error["details"] == {"reason": "revoked"}
    # The form sent again (the back button): said so, not a "Page not found".
    again = client.post(_revoke_url(key.pk), {"csrfmiddlewaretoken": token}, follow=True)
    assert again.redirect_chain == [(ACCOUNT, 302)]
    assert "was already revoked" in _html(again)


def test_revoke_requires_post_andform_csrf_token(db):
    client, user = signed_in_browser()
    key = ApiKey.objects.create(user=user, name="k", prefix="cai_00000000", key_hash="0" * 64)
    assert client.get(_revoke_url(key.pk)).status_code == 405
    assert client.post(_revoke_url(key.pk)).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None


def test_cannot_revoke_someone_elses_key_on_the_account_page(db):
    client, _ = signed_in_browser()
    other = make_user("other", Role.CITIZEN)
    key = ApiKey.objects.create(user=other, name="theirs", prefix="cai_11111111", key_hash="1" * 64)
    token = form_csrf_token(client, ACCOUNT)
    assert client.post(_revoke_url(key.pk), {"csrfmiddlewaretoken": token}).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_revoke_requires_sign_in(db):
    other = make_user("other", Role.CITIZEN)
    key = ApiKey.objects.create(user=other, name="theirs", prefix="cai_11111111", key_hash="1" * 64)
    response = Client().post(_revoke_url(key.pk))
    assert response.status_code == 302
    assert response["Location"].startswith(SIGN_IN)
    key.refresh_from_db()
    assert key.revoked_at is None


# --- Django admin ----------------------------------------------------------------------


def test_admin_pages_never_show_credential_hashes(db):
    client, admin = signed_in_browser("boss", Role.ADMINISTRATOR)
    key = ApiKey.objects.create(user=admin, name="k", prefix="cai_abcdef01", key_hash="f" * 64)
    session = AuthSession.objects.create(
        user=admin,
        access_token_hash="a" * 64,
        refresh_token_hash="b" * 64,
        access_expires_at=timezone.now(),
        expires_at=timezone.now() + timedelta(days=1),
    )
    pages = [
        "/admin/accounts/apikey/",
        f"/admin/accounts/apikey/{key.pk}/change/",
        "/admin/accounts/authsession/",
        f"/admin/accounts/authsession/{session.pk}/change/",
        "/admin/accounts/user/",
        f"/admin/accounts/user/{admin.pk}/change/",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        html = _html(response)
        assert "f" * 64 not in html and "a" * 64 not in html and "b" * 64 not in html
    # Keys and sessions are created by their owners, never typed into the admin.
    assert client.get("/admin/accounts/apikey/add/").status_code == 403
    assert client.get("/admin/accounts/authsession/add/").status_code == 403


def test_citizens_and_staff_roles_map_to_admin_access(db):
    citizen_client, _ = signed_in_browser("citizen", Role.CITIZEN)
    assert citizen_client.get("/admin/").status_code == 302  # to the admin login
    staff_client, _ = signed_in_browser("staffer", Role.STAFF)
    assert staff_client.get("/admin/").status_code == 200
