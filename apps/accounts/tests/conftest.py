from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from apps.core import ratelimit


@pytest.fixture(autouse=True)
def _pinned_rate_limit_clock(monkeypatch: pytest.MonkeyPatch) -> float:
    """Rate limits count in fixed one-minute windows: pin their clock mid-window so a test
    that makes N+1 requests never straddles a boundary and sees its counter reset."""
    now = time.time()
    instant = now - now % ratelimit.WINDOW_SECONDS + 30.25
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: instant))
    return instant
