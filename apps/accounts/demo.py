"""Demo accounts: one per role, with random passwords printed once."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from apps.accounts.models import User
from apps.accounts.roles import Role

DEMO_USERS = [
    ("admin", "admin@example.org", Role.ADMINISTRATOR, "Ada", "Admin"),
    ("staff", "staff@example.org", Role.STAFF, "Sam", "Staff"),
    ("citizen", "citizen@example.org", Role.CITIZEN, "Chris", "Citizen"),
]


def load(write: Callable[[str], None]) -> None:
    for username, email, role, first, last in DEMO_USERS:
        if User.objects.filter(username=username).exists():
            write(f"  {role:<14} {username:<10} already exists (password unchanged)")
            continue
        password = secrets.token_urlsafe(12)
        user = User(username=username, email=email, role=role, first_name=first, last_name=last)
        user.set_password(password)
        user.save()
        write(f"  {role:<14} {username:<10} password: {password}")
