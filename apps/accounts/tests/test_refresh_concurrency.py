"""Several refreshes with the same token at once: one rotates, the others are a reuse.

Two clients presenting one refresh token at the same moment are, as far as the server can
tell, the owner and a thief: exactly one of them gets the new pair and the session then
ends for both, however the requests interleave. On PostgreSQL the losers wait on the
session's row lock and find it rotated; on SQLite (shared-cache, in memory) a loser that
cannot get the write lock fails at once with "locked" and tries again, as in
apps/concerns/tests/test_concurrency.py.
"""

from __future__ import annotations

import random
import time

import pytest
from django.db import OperationalError, connection

from apps.accounts import services
from apps.accounts.errors import RefreshFailed, RefreshReused
from apps.accounts.models import AuthSession, RetiredRefreshToken
from conftest import make_user
from tests.threads import run_side_by_side

THREADS = 4


def _refresh_with_retry(token: str) -> str:
    """What the service answered: "rotated", "reused" or "refused"."""
    for _attempt in range(2000):
        try:
            services.auth_session_refresh(refresh_token=token)
            return "rotated"
        except RefreshReused:
            return "reused"
        except RefreshFailed:
            return "refused"
        except OperationalError as exc:
            if not (connection.vendor == "sqlite" and "locked" in str(exc)):
                raise
            time.sleep(random.uniform(0.0005, 0.003))
    raise AssertionError("gave up waiting for the SQLite write lock")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # real commits, and the data the next tests expect
def test_concurrent_refreshes_with_one_token_rotate_once_and_sign_the_session_out() -> None:
    issued = services.auth_session_create(user=make_user("racer", "citizen"))
    outcomes: list[str] = []
    run_side_by_side(
        lambda: outcomes.append(_refresh_with_retry(issued.refresh_token)), THREADS, name="refresher", timeout=120
    )

    assert sorted(outcomes) == ["reused"] * (THREADS - 1) + ["rotated"]
    session = AuthSession.objects.get(pk=issued.session.pk)
    assert session.revoked_at is not None
    assert RetiredRefreshToken.objects.filter(session=session).count() == 1
