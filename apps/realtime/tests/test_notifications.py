"""Who receives which event on /api/v1/ws/notifications, and the bridge's promises: after
commit only, once per socket, never breaking the publisher."""

from __future__ import annotations

import logging

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from apps.concerns.models import Concern
from apps.core.events import event_publish
from apps.realtime import bridge
from apps.realtime.tests.helpers import (
    connected,
    create_concern,
    make_concern,
    receive_type,
    run_async,
    update_concern,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

NOTIFICATIONS = "/api/v1/ws/notifications"


async def listen(persona):
    socket = await connected(f"{NOTIFICATIONS}?token={persona.secret}")
    await receive_type(socket, "connection")
    return socket


@pytest.fixture
def other_citizen(db):
    from conftest import make_persona

    return make_persona("neighbour", "citizen")


@run_async
async def test_staff_get_every_concern_citizens_only_their_own(citizen, other_citizen, staff_member, administrator):
    staff, owner, other, admin = [await listen(p) for p in (staff_member, citizen, other_citizen, administrator)]

    concern = await create_concern(citizen.user)
    for socket in (staff, owner, admin):
        frame = await receive_type(socket, "concern.created")
        assert set(frame) == {"type", "data", "timestamp", "id"}
        assert frame["data"]["tracking_number"] == concern.tracking_number
        assert frame["data"]["submitted_by"] == str(citizen.user.pk)
    assert await other.receive_nothing(timeout=0.3)

    await update_concern(concern, staff_member.user, status="in_progress", message="Crew on the way.")
    for socket in (staff, owner, admin):
        frame = await receive_type(socket, "concern.updated")
        assert frame["data"]["status"] == "in_progress"
        assert frame["data"]["previous_status"] == "submitted"
    assert await other.receive_nothing(timeout=0.3)

    # A concern of someone else (here: filed without an account) reaches staff only.
    await create_concern(None, title="Graffiti on the bridge")
    assert (await receive_type(staff, "concern.created"))["data"]["title"] == "Graffiti on the bridge"
    assert await owner.receive_nothing(timeout=0.3)
    assert await other.receive_nothing(timeout=0.1)
    for socket in (staff, owner, other, admin):
        await socket.disconnect()


@run_async
async def test_escalations_go_to_staff_and_other_events_to_administrators(citizen, staff_member, administrator):
    staff, owner, admin = [await listen(p) for p in (staff_member, citizen, administrator)]

    @database_sync_to_async
    def publish(event, data):
        with transaction.atomic():
            event_publish(event=event, data=data)

    escalation = {"session_id": "s1", "reason": "requested", "user_id": str(citizen.user.pk), "last_message": "help"}
    await publish("chat.escalated", escalation)
    assert (await receive_type(staff, "chat.escalated"))["data"]["session_id"] == "s1"
    assert (await receive_type(admin, "chat.escalated"))["data"]["reason"] == "requested"
    assert await owner.receive_nothing(timeout=0.3)

    await publish("analytics.threshold", {"metric": "pending_concerns", "value": 120})
    assert (await receive_type(admin, "analytics.threshold"))["data"]["value"] == 120
    assert await staff.receive_nothing(timeout=0.3)
    assert await owner.receive_nothing(timeout=0.1)
    for socket in (staff, owner, admin):
        await socket.disconnect()


@run_async
async def test_staff_member_receives_their_own_concern_once(staff_member):
    socket = await listen(staff_member)
    await create_concern(staff_member.user)  # staff group and own user group: one frame
    await receive_type(socket, "concern.created")
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


@run_async
async def test_nothing_is_sent_for_a_rolled_back_change(citizen, staff_member):
    socket = await listen(staff_member)

    @database_sync_to_async
    def create_and_roll_back():
        with pytest.raises(RuntimeError), transaction.atomic():
            make_concern(citizen.user)
            raise RuntimeError("rolled back")

    await create_and_roll_back()
    assert await socket.receive_nothing(timeout=0.3)
    assert not await database_sync_to_async(Concern.objects.exists)()
    await socket.disconnect()


@run_async
async def test_frames_wait_for_the_commit(citizen, staff_member):
    socket = await listen(staff_member)
    seen_before_commit: list[bool] = []

    @database_sync_to_async
    def create_slowly():
        with transaction.atomic():
            make_concern(citizen.user)
            # Still inside the outer transaction: nothing may have been scheduled to send.
            seen_before_commit.append(bool(transaction.get_connection().run_on_commit))

    await create_slowly()
    assert seen_before_commit == [True]
    await receive_type(socket, "concern.created")
    await socket.disconnect()


def test_a_failing_channel_layer_never_breaks_the_publisher(citizen, monkeypatch, caplog):
    class BrokenLayer:
        async def group_send(self, group, message):
            raise ConnectionError("redis is down")

    monkeypatch.setattr(bridge, "get_channel_layer", lambda: BrokenLayer())
    with caplog.at_level(logging.WARNING, logger="apps.realtime"):
        concern = make_concern(citizen.user)
    assert Concern.objects.filter(pk=concern.pk).exists()
    assert "Real-time delivery of concern.created failed (ConnectionError)" in caplog.text
    assert citizen.secret not in caplog.text


def test_a_hanging_channel_layer_is_bounded(citizen, monkeypatch, settings, caplog):
    import asyncio

    class HangingLayer:
        async def group_send(self, group, message):
            await asyncio.sleep(30)

    settings.REALTIME_PUBLISH_TIMEOUT = 0.2
    monkeypatch.setattr(bridge, "get_channel_layer", lambda: HangingLayer())
    with caplog.at_level(logging.WARNING, logger="apps.realtime"):
        make_concern(citizen.user)
    assert "Real-time delivery of concern.created failed (TimeoutError)" in caplog.text


def test_routes():
    assert bridge.routes("concern.created", {"submitted_by": "u1"}) == [
        "notifications.staff",
        "notifications.user.u1",
    ]
    assert bridge.routes("concern.updated", {"submitted_by": None}) == ["notifications.staff"]
    assert bridge.routes("chat.escalated", {"user_id": "u1"}) == ["notifications.staff"]
    assert bridge.routes("document.created", {}) == ["notifications.admin"]
