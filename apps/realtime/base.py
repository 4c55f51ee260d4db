"""What every CitizenAI socket does: frame checks (size, JSON, rate), error frames that
keep the connection open, an idle watchdog with server pings, periodic re-checks of the
credential, and group membership that is cleaned up on disconnect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from typing import Any

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from apps.core.parsers import json_loads
from apps.core.ratelimit import tier_hit
from apps.realtime import frames
from apps.realtime.auth import ANONYMOUS, Identity, Refused, client_ip, still_valid

logger = logging.getLogger("apps.realtime")

# Group joins and leaves in flight at once per process: a burst of sockets opening or
# closing together must not exhaust the channel layer's connection pool.
GROUP_OPS_CONCURRENCY = 32
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def group_ops_gate() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(GROUP_OPS_CONCURRENCY)
    return gate


class RealtimeConsumer(AsyncWebsocketConsumer):
    """Subclasses implement ``opened()`` (after accept) and ``handle(kind, frame)``."""

    #: the frame types a client may send, for UNKNOWN_MESSAGE_TYPE details
    client_types: tuple[str, ...] = ()

    identity: Identity = ANONYMOUS
    limits: frames.Limits
    budget: frames.SlidingWindow
    joined: set[str]
    closed = False
    last_activity = 0.0
    last_ping = 0.0
    next_recheck = 0.0
    auth_deadline: float | None = None
    timer: asyncio.TimerHandle | None = None
    chore: asyncio.Future[None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.joined = set()

    # --- lifecycle ---------------------------------------------------------------------

    async def connect(self) -> None:
        self.limits = frames.Limits.current()
        self.budget = frames.SlidingWindow(self.limits.messages_per_minute)
        now = time.monotonic()
        self.last_activity = self.last_ping = now
        self.next_recheck = now + self.limits.reauth_seconds
        await self.accept()
        try:
            await self.opened()
        except Refused as failure:
            await self.refuse(failure)
            return
        self.arm()

    async def opened(self) -> None:
        """Authenticate and greet; raise Refused to close with its code."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``aclose_old_connections()`` before every message:
        that is a hop to the database thread per frame and per socket, serialised, so one
        event fanned out to 1,000 sockets queued 1,000 thread hops (most of a second). These
        consumers touch the database only through ``database_sync_to_async``, which closes
        stale connections in that thread before and after each call."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def disconnect(self, code: int) -> None:
        self.closed = True
        self.disarm()
        for group in list(self.joined):
            await self.leave(group)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        self.disarm()
        await super().close(code=code, reason=reason)

    async def refuse(self, failure: Refused) -> None:
        """An error frame naming the problem, then the close code (4401, 4403, ...)."""
        await self.send_error(failure.code, failure.message, failure.details)
        await self.close(code=failure.close_code, reason=failure.message[:100])

    # --- groups ------------------------------------------------------------------------

    async def join(self, group: str) -> None:
        if self.channel_layer is None:
            return
        async with group_ops_gate():
            await self.channel_layer.group_add(group, self.channel_name)
        self.joined.add(group)

    async def leave(self, group: str) -> None:
        self.joined.discard(group)
        if self.channel_layer is None:
            return
        try:
            async with group_ops_gate():
                await self.channel_layer.group_discard(group, self.channel_name)
        except Exception as exc:  # the layer may be gone while a socket closes
            logger.warning("Leaving %s failed: %s", group, type(exc).__name__)

    # --- sending -------------------------------------------------------------------------

    async def send_frame(self, frame: dict[str, Any]) -> None:
        if not self.closed:
            await self.send(text_data=frames.dumps(frame))

    async def send_text(self, text: str) -> None:
        if not self.closed:
            await self.send(text_data=text)

    def error_frame(self, code: str, message: str, details: Any) -> dict[str, Any]:
        return frames.envelope("error", {"code": code, "message": message, "details": details or {}})

    async def send_error(self, code: str, message: str, details: Any = None) -> None:
        await self.send_frame(self.error_frame(code, message, details))

    def ping_frame(self) -> dict[str, Any]:
        return frames.envelope("ping", {"idle_timeout": self.limits.idle_seconds})

    # --- receiving ------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closed:
            return
        self.last_activity = time.monotonic()
        size = len(text_data.encode("utf-8")) if text_data is not None else len(bytes_data or b"")
        if size > self.limits.max_frame_bytes:
            await self.send_error(
                frames.PAYLOAD_TOO_LARGE,
                f"Frames are limited to {self.limits.max_frame_bytes} bytes.",
                {"max_bytes": self.limits.max_frame_bytes, "size": size},
            )
            return
        if not self.budget.allow():
            if self.budget.abusive:
                await self.close(code=frames.CLOSE_POLICY, reason="rate limit exceeded")
                return
            retry = self.budget.retry_after()
            await self.send_error(
                frames.RATE_LIMIT_EXCEEDED,
                f"Rate limit exceeded; retry in {max(1, round(retry))} seconds.",
                {"limit": self.limits.messages_per_minute, "window_seconds": 60, "retry_after": round(retry, 1)},
            )
            return
        if text_data is None:
            await self.send_error(frames.VALIDATION_ERROR, "Send JSON text frames.", {"frame": ["Binary frame."]})
            return
        try:
            frame = json_loads(text_data)
        except ValueError:
            await self.send_error(frames.VALIDATION_ERROR, "Malformed JSON.", {"frame": ["Not valid JSON."]})
            return
        if not isinstance(frame, dict):
            await self.send_error(
                frames.VALIDATION_ERROR, "A frame is a JSON object.", {"frame": ["Expected a JSON object."]}
            )
            return
        kind = frame.get("type")
        if not isinstance(kind, str) or not kind:
            await self.send_error(
                frames.VALIDATION_ERROR, "A frame needs a type.", {"type": ["This field is required."]}
            )
            return
        await self.handle(kind, frame)

    async def handle(self, kind: str, frame: dict[str, Any]) -> None:
        await self.unknown(kind)

    async def unknown(self, kind: str) -> None:
        await self.send_error(
            frames.UNKNOWN_MESSAGE_TYPE,
            f"Unknown message type {kind[:50]!r}.",
            {"type": kind[:50], "supported": list(self.client_types)},
        )

    # --- the shared REST budget ---------------------------------------------------------

    async def spend_api_budget(self) -> bool:
        """A chat message costs what POST /chat/message costs: one request of the caller's
        tier budget (per API key, user or client address), shared with the REST API and
        across processes. False (and an error frame) when it is spent."""
        if not settings.RATE_LIMIT_ENABLED:
            return True
        tier, who = self.identity.rate_bucket(client_ip(self.scope))
        budget = await sync_to_async(tier_hit, thread_sensitive=False)(tier, who)
        if not budget.exceeded:
            return True
        wait = max(1, round(budget.wait()))
        await self.send_error(
            frames.RATE_LIMIT_EXCEEDED,
            f"Rate limit exceeded; retry in {wait} seconds.",
            {"limit": budget.limit, "tier": tier, "retry_after": wait},
        )
        return False

    # --- the watchdog -------------------------------------------------------------------
    # One timer handle per socket (no task in between): it fires at the next deadline and
    # only then starts a short task if there is something to send.

    def arm(self) -> None:
        """Schedule the watchdog for the earliest deadline."""
        if self.closed:
            return
        limits = self.limits
        wake = min(
            self.last_activity + limits.idle_seconds,
            max(self.last_activity, self.last_ping) + limits.ping_seconds,
            self.next_recheck,
            self.auth_deadline if self.auth_deadline is not None else float("inf"),
        )
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(max(0.02, wake - time.monotonic()), self.on_timer)

    def on_timer(self) -> None:
        self.timer = None
        if not self.closed:
            self.chore = asyncio.ensure_future(self.watch())

    async def watch(self) -> None:
        """Closes a socket that never authenticated (4401) or stayed silent (4408), pings a
        silent client, and re-checks the credential and refreshes group membership every
        REALTIME_REAUTH_SECONDS; then re-arms the timer."""
        limits = self.limits
        try:
            now = time.monotonic()
            if self.auth_deadline is not None and now >= self.auth_deadline:
                await self.refuse(
                    Refused(
                        frames.CLOSE_UNAUTHORIZED,
                        frames.AUTHENTICATION_REQUIRED,
                        f"Send {{'type': 'auth', 'token': ...}} within {limits.auth_timeout:g} seconds.",
                    )
                )
                return
            if now - self.last_activity >= limits.idle_seconds:
                await self.close(code=frames.CLOSE_IDLE, reason="idle")
                return
            if now - max(self.last_activity, self.last_ping) >= limits.ping_seconds:
                self.last_ping = now
                await self.send_frame(self.ping_frame())
            if now >= self.next_recheck:
                self.next_recheck = now + limits.reauth_seconds
                await self.recheck()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a watchdog failure must not leave a half-dead socket
            logger.warning("Socket watchdog failed: %s", type(exc).__name__)
            with contextlib.suppress(Exception):
                await self.close(code=1011)
        finally:
            self.chore = None
        self.arm()

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.chore is not None and self.chore is not asyncio.current_task():
            self.chore.cancel()
            self.chore = None

    async def recheck(self) -> None:
        if self.identity.authenticated and not await still_valid(self.identity, self.scope):
            await self.refuse(
                Refused(frames.CLOSE_UNAUTHORIZED, frames.INVALID_API_KEY, "The credential is no longer valid.")
            )
            return
        for group in list(self.joined):
            await self.join(group)
