"""Helpers of the real-time tests (not a test module itself)."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import transaction

from apps.accounts.models import User
from apps.concerns import services as concern_services
from apps.concerns.models import Category, Concern
from apps.realtime.auth import websocket_stack
from citizenai.routing import websocket_urlpatterns

ORIGIN = b"http://testserver"
TIMEOUT = 3.0
CHAT_TIMEOUT = 20.0  # the first answer may load the intent classifier

APPLICATION = websocket_stack(URLRouter(websocket_urlpatterns))


def run_async(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Runs an async test on its own event loop; the database thread is the test's."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        async_to_sync(test)(*args, **kwargs)

    return wrapper


def communicator(
    path: str, *, origin: bytes | None = ORIGIN, cookie: str | None = None, headers: list[tuple[bytes, bytes]] = ()
) -> WebsocketCommunicator:
    all_headers = list(headers)
    if origin is not None:
        all_headers.append((b"origin", origin))
    if cookie is not None:
        all_headers.append((b"cookie", cookie.encode()))
    all_headers.append((b"host", b"testserver"))
    return WebsocketCommunicator(APPLICATION, path, headers=all_headers)


async def connected(path: str, **kwargs: Any) -> WebsocketCommunicator:
    socket = communicator(path, **kwargs)
    ok, _ = await socket.connect(timeout=TIMEOUT)
    assert ok, f"{path} was refused"
    return socket


async def receive(socket: WebsocketCommunicator, timeout: float = TIMEOUT) -> dict[str, Any]:
    return json.loads(await socket.receive_from(timeout=timeout))


async def receive_type(socket: WebsocketCommunicator, kind: str, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next frame, asserting its type."""
    frame = await receive(socket, timeout)
    assert frame["type"] == kind, frame
    return frame


async def expect_close(socket: WebsocketCommunicator, code: int, timeout: float = TIMEOUT) -> None:
    """Skips frames until the server closes; asserts the close code."""
    while True:
        output = await socket.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            assert output.get("code") == code, output
            return


async def still_open(socket: WebsocketCommunicator) -> None:
    """The socket answers a ping with a pong (and was not closed)."""
    await socket.send_json_to({"type": "ping", "data": {}})
    frame = await receive(socket)
    assert frame["type"] == "pong", frame


def make_concern(user: User | None, title: str = "Broken street light") -> Concern:
    with transaction.atomic():
        return concern_services.concern_create(
            title=title,
            description="The light on Main St has been out for a week.",
            category=Category.objects.get(code="infrastructure"),
            priority="high",
            location="Main St",
            submitted_by=user,
        )


create_concern = database_sync_to_async(make_concern)


@database_sync_to_async
def update_concern(concern: Concern, actor: User, **changes: Any) -> Concern:
    return concern_services.concern_update(concern=concern, actor=actor, **changes)
