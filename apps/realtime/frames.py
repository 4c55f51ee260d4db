"""Frames, close codes, limits and group names shared by the consumers and the bridge.

Seed 002 envelope (the ``/ws/chat/{session_id}`` and ``/ws/notifications`` sockets)::

    {"type": "...", "data": {...}, "timestamp": "2025-01-19T12:00:00.000Z", "id": "<uuid>"}

Seed 001 frames (``/ws/chat``) are flat: ``{"type": "response", "response": ..., ...}``.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from apps.core.clock import utc_now_iso

# Close codes: 4000 + the HTTP status they mirror; 1008 is the standard "policy violation".
CLOSE_BAD_REQUEST = 4400  # the session id in the URL is malformed
CLOSE_UNAUTHORIZED = 4401  # bad or missing credential, or no first-message auth in time
CLOSE_FORBIDDEN = 4403  # authenticated, but the role may not use this socket
CLOSE_NOT_FOUND = 4404  # the conversation in the URL belongs to someone else
CLOSE_IDLE = 4408  # no client frame for REALTIME_IDLE_SECONDS
CLOSE_POLICY = 1008  # kept flooding after RATE_LIMIT_EXCEEDED

# Error codes in error frames (the REST codes of SPEC §2 where one fits).
VALIDATION_ERROR = "VALIDATION_ERROR"
UNKNOWN_MESSAGE_TYPE = "UNKNOWN_MESSAGE_TYPE"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
AUTHENTICATION_REQUIRED = "AUTHENTICATION_REQUIRED"
INVALID_API_KEY = "INVALID_API_KEY"
PERMISSION_DENIED = "PERMISSION_DENIED"
RESOURCE_NOT_FOUND = "RESOURCE_NOT_FOUND"
PROCESSING_ERROR = "PROCESSING_ERROR"
ALREADY_AUTHENTICATED = "ALREADY_AUTHENTICATED"

# Channel-layer groups.
STAFF_GROUP = "notifications.staff"
ADMIN_GROUP = "notifications.admin"
INVESTIGATION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def user_group(user_id: Any) -> str:
    return f"notifications.user.{user_id}"


def investigation_group(investigation_id: str) -> str:
    return f"investigation.{investigation_id}"


def envelope(kind: str, data: Any = None, *, frame_id: str | None = None, timestamp: str | None = None) -> dict:
    return {
        "type": kind,
        "data": {} if data is None else data,
        "timestamp": timestamp or utc_now_iso(),
        "id": frame_id or str(uuid.uuid4()),
    }


def dumps(frame: Any) -> str:
    return json.dumps(frame, default=str, separators=(",", ":"))


@dataclass(frozen=True)
class Limits:
    """The REALTIME_* settings, read when a socket opens (so tests can change them)."""

    auth_timeout: float
    max_frame_bytes: int
    messages_per_minute: int
    idle_seconds: float
    ping_seconds: float
    reauth_seconds: float
    max_subscriptions: int

    @classmethod
    def current(cls) -> Limits:
        return cls(
            auth_timeout=float(getattr(settings, "REALTIME_AUTH_TIMEOUT", 5)),
            max_frame_bytes=int(getattr(settings, "REALTIME_MAX_FRAME_BYTES", 16 * 1024)),
            messages_per_minute=int(getattr(settings, "REALTIME_MESSAGES_PER_MINUTE", 30)),
            idle_seconds=float(getattr(settings, "REALTIME_IDLE_SECONDS", 300)),
            ping_seconds=float(getattr(settings, "REALTIME_PING_SECONDS", 60)),
            reauth_seconds=float(getattr(settings, "REALTIME_REAUTH_SECONDS", 300)),
            max_subscriptions=int(getattr(settings, "REALTIME_MAX_SUBSCRIPTIONS", 20)),
        )


class SlidingWindow:
    """At most ``limit`` hits in any ``window`` seconds: a per-connection message budget."""

    __slots__ = ("hits", "limit", "refusals", "window")

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self.hits: deque[float] = deque()
        self.refusals: deque[float] = deque()

    def _prune(self, queue: deque[float], now: float) -> None:
        while queue and queue[0] <= now - self.window:
            queue.popleft()

    def allow(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self._prune(self.hits, now)
        if len(self.hits) >= self.limit:
            self._prune(self.refusals, now)
            self.refusals.append(now)
            return False
        self.hits.append(now)
        return True

    def retry_after(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        return max(0.0, self.hits[0] + self.window - now) if self.hits else 0.0

    @property
    def abusive(self) -> bool:
        """Refused more frames within the window than the budget itself."""
        return len(self.refusals) > self.limit
