"""Authentication on connect: cookie, ?token=, first-message auth; origins; 4401/4403;
re-checks of a credential that is revoked while the socket is open; idle timeout."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from apps.accounts.services import api_key_create, api_key_revoke, auth_session_create
from apps.realtime.tests.helpers import (
    communicator,
    connected,
    expect_close,
    receive,
    receive_type,
    run_async,
    still_open,
)
from conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

NOTIFICATIONS = "/api/v1/ws/notifications"


@run_async
async def test_api_key_in_query_authenticates(staff_member):
    socket = await connected(f"{NOTIFICATIONS}?token={staff_member.secret}")
    frame = await receive_type(socket, "connection")
    assert frame["data"]["status"] == "connected"
    assert frame["data"]["user_id"] == str(staff_member.user.pk)
    assert frame["data"]["scope"] == "staff"
    assert set(frame) == {"type", "data", "timestamp", "id"}
    await still_open(socket)
    await socket.disconnect()


@run_async
async def test_access_token_in_query_authenticates(citizen):
    issued = await database_sync_to_async(auth_session_create)(user=citizen.user)
    socket = await connected(f"{NOTIFICATIONS}?token={issued.access_token}")
    frame = await receive_type(socket, "connection")
    assert frame["data"]["status"] == "connected"
    assert frame["data"]["scope"] == "own"
    await socket.disconnect()


@pytest.mark.parametrize("path", [NOTIFICATIONS, "/api/v1/ws/chat", "/api/v1/ws/chat/abc123"])
@pytest.mark.parametrize("token", ["cai_not-a-real-key", "cat_not-a-real-token", "garbage", ""])
@run_async
async def test_bad_token_closes_4401(db, path, token):
    socket = await connected(f"{path}?token={token}")
    error = await receive(socket)
    assert error["type"] == "error"
    assert (error.get("data") or error.get("error"))["code"] == "INVALID_API_KEY"
    await expect_close(socket, 4401)


@run_async
async def test_first_message_auth(citizen):
    socket = await connected(NOTIFICATIONS)
    hello = await receive_type(socket, "connection")
    assert hello["data"]["status"] == "authentication_required"
    await socket.send_json_to({"type": "auth", "token": citizen.secret, "id": "a1"})
    frame = await receive_type(socket, "connection")
    assert frame["data"]["status"] == "connected"
    assert frame["data"]["events"] == ["concern.created", "concern.updated"]
    assert frame["reply_to"] == "a1"
    await socket.send_json_to({"type": "auth", "token": citizen.secret})
    assert (await receive_type(socket, "error"))["data"]["code"] == "ALREADY_AUTHENTICATED"
    await still_open(socket)
    await socket.disconnect()


@run_async
async def test_first_message_auth_with_bad_token_closes_4401(db):
    socket = await connected(NOTIFICATIONS)
    await receive_type(socket, "connection")
    await socket.send_json_to({"type": "auth", "token": "cai_wrong"})
    assert (await receive_type(socket, "error"))["data"]["code"] == "INVALID_API_KEY"
    await expect_close(socket, 4401)


@run_async
async def test_other_frames_before_auth_close_4401(db):
    socket = await connected(NOTIFICATIONS)
    await receive_type(socket, "connection")
    await socket.send_json_to({"type": "ping"})
    assert (await receive_type(socket, "error"))["data"]["code"] == "AUTHENTICATION_REQUIRED"
    await expect_close(socket, 4401)


@run_async
async def test_no_auth_within_the_timeout_closes_4401(db, settings):
    settings.REALTIME_AUTH_TIMEOUT = 0.3
    socket = await connected(NOTIFICATIONS)
    await receive_type(socket, "connection")
    assert (await receive_type(socket, "error", timeout=2))["data"]["code"] == "AUTHENTICATION_REQUIRED"
    await expect_close(socket, 4401)


@run_async
async def test_role_without_notifications_closes_4403(db):
    guest = await database_sync_to_async(make_user)("guest", "guest")  # a role with no permissions
    _, secret = await database_sync_to_async(api_key_create)(user=guest, name="guest")
    socket = await connected(f"{NOTIFICATIONS}?token={secret}")
    assert (await receive_type(socket, "error"))["data"]["code"] == "PERMISSION_DENIED"
    await expect_close(socket, 4403)


@run_async
async def test_foreign_origin_is_refused(staff_member):
    socket = communicator(f"{NOTIFICATIONS}?token={staff_member.secret}", origin=b"https://evil.example")
    ok, _ = await socket.connect()
    assert not ok  # closed before accept: the server answers the handshake with HTTP 403


@pytest.mark.parametrize("path", ["/api/v1/ws/nope", "/api/v1/ws/chat/bad id/..", "/ws", "/"])
@run_async
async def test_an_unknown_path_is_refused_at_once(db, path):
    """Without a route the router raised and the client waited for a handshake."""
    socket = communicator(path)
    ok, _ = await socket.connect(timeout=1)
    assert not ok  # closed before accept: HTTP 403


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@run_async
async def test_session_cookie_authenticates_a_browser(staff_member):
    cookie = await database_sync_to_async(_session_cookie)(staff_member.user)
    socket = await connected(NOTIFICATIONS, cookie=cookie)
    frame = await receive_type(socket, "connection")
    assert frame["data"]["status"] == "connected"
    assert frame["data"]["user_id"] == str(staff_member.user.pk)
    await socket.disconnect()


@run_async
async def test_cookie_without_origin_is_ignored(staff_member):
    """No Origin header: a non-browser client, let in on its token only (no CSWSH)."""
    cookie = await database_sync_to_async(_session_cookie)(staff_member.user)
    socket = await connected(NOTIFICATIONS, cookie=cookie, origin=None)
    assert (await receive_type(socket, "connection"))["data"]["status"] == "authentication_required"
    await socket.send_json_to({"type": "auth", "token": staff_member.secret})
    assert (await receive_type(socket, "connection"))["data"]["status"] == "connected"
    await socket.disconnect()


@run_async
async def test_revoked_key_is_closed_on_the_next_check(staff_member, settings):
    settings.REALTIME_REAUTH_SECONDS = 0.3
    socket = await connected(f"{NOTIFICATIONS}?token={staff_member.secret}")
    await receive_type(socket, "connection")
    await database_sync_to_async(api_key_revoke)(api_key=staff_member.api_key)
    assert (await receive_type(socket, "error", timeout=2))["data"]["code"] == "INVALID_API_KEY"
    await expect_close(socket, 4401)


@run_async
async def test_silent_client_gets_a_ping_then_is_closed(staff_member, settings):
    settings.REALTIME_PING_SECONDS = 0.2
    settings.REALTIME_IDLE_SECONDS = 0.7
    socket = await connected(f"{NOTIFICATIONS}?token={staff_member.secret}")
    await receive_type(socket, "connection")
    ping = await receive_type(socket, "ping", timeout=2)
    assert ping["data"]["idle_timeout"] == 0.7
    await expect_close(socket, 4408, timeout=3)


@run_async
async def test_client_traffic_keeps_the_socket_open(staff_member, settings):
    settings.REALTIME_PING_SECONDS = 0.2
    settings.REALTIME_IDLE_SECONDS = 0.5
    socket = await connected(f"{NOTIFICATIONS}?token={staff_member.secret}")
    await receive_type(socket, "connection")
    for _ in range(4):  # 0.8 s in all, past the idle timeout
        await receive_type(socket, "ping", timeout=2)
        await socket.send_json_to({"type": "pong"})
    await still_open(socket)
    await socket.disconnect()
