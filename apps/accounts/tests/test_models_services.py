"""Accounts models and services below the API: role flags, demo data, purging."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from apps.accounts import demo, services
from apps.accounts.models import AuthSession, User
from apps.accounts.roles import Role
from apps.accounts.tasks import purge_expired
from conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "is_staff", "is_superuser"),
    [(Role.CITIZEN, False, False), (Role.STAFF, True, False), (Role.ADMINISTRATOR, True, True)],
)
def test_django_flags_follow_the_role(role, is_staff, is_superuser):
    user = make_user("someone", Role.CITIZEN, is_staff=True, is_superuser=True)
    assert (user.is_staff, user.is_superuser) == (False, False)
    user.role = role
    user.save(update_fields=["role"])
    stored = User.objects.get(pk=user.pk)
    assert (stored.is_staff, stored.is_superuser) == (is_staff, is_superuser)


def test_createsuperuser_makes_an_administrator():
    user = User.objects.create_superuser("root", "root@example.org", "a long enough passphrase 1")
    assert user.role == Role.ADMINISTRATOR
    assert "users.manage" in user.permissions


def test_user_update_service_refuses_own_role_change():
    user = make_user("self", Role.STAFF)
    with pytest.raises(PermissionDenied):
        services.user_update(user=user, actor=user, data={"role": Role.ADMINISTRATOR})
    assert User.objects.get(pk=user.pk).role == Role.STAFF


def test_purge_removes_only_long_expired_sessions():
    user = make_user("someone", Role.CITIZEN)
    now = timezone.now()

    def session(expires_at, marker):
        return AuthSession.objects.create(
            user=user,
            access_token_hash=marker * 64,
            refresh_token_hash=marker.upper() * 64,
            access_expires_at=expires_at,
            expires_at=expires_at,
        )

    old = session(now - timedelta(days=31), "a")
    recent = session(now - timedelta(days=1), "b")
    live = session(now + timedelta(days=1), "c")
    assert purge_expired() == 1
    remaining = set(AuthSession.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, live.pk}
    assert old.pk not in remaining


def test_demo_accounts_are_created_once_with_random_passwords():
    lines: list[str] = []
    demo.load(lines.append)
    roles = dict(User.objects.values_list("username", "role"))
    assert roles == {"admin": Role.ADMINISTRATOR, "staff": Role.STAFF, "citizen": Role.CITIZEN}
    passwords = [line.rsplit("password: ", 1)[1] for line in lines]
    assert len(passwords) == 3 and len(set(passwords)) == 3
    assert User.objects.get(username="citizen").check_password(passwords[2])
    assert "password" not in passwords

    again: list[str] = []
    demo.load(again.append)
    assert all("already exists" in line for line in again)
    assert User.objects.count() == 3
