"""Extra personas for tests that need a second member of a role."""

from __future__ import annotations

from apps.accounts.roles import Role


def other_staff():  # type: ignore[no-untyped-def]
    from conftest import make_persona

    return make_persona("staff2", Role.STAFF)


def other_citizen():  # type: ignore[no-untyped-def]
    from conftest import make_persona

    return make_persona("citizen2", Role.CITIZEN)
