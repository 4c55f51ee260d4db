"""The chat sockets: seed 001 (/api/v1/ws/chat) and seed 002 (/api/v1/ws/chat/{session_id})."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from apps.chat.models import Conversation, Message
from apps.realtime import bridge
from apps.realtime.tests.helpers import (
    CHAT_TIMEOUT,
    connected,
    expect_close,
    receive,
    receive_type,
    run_async,
    still_open,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

# The fields POST /chat/message answers with (apps.chat.api.views.answer_payload).
ANSWER_FIELDS = {
    "response",
    "message",
    "confidence",
    "intent",
    "sentiment",
    "session_id",
    "conversation_id",
    "thread_id",
    "agent_id",
    "agent_name",
    "suggested_actions",
    "requires_input",
    "message_id",
    "user_message_id",
    "escalated",
    "metadata",
}


# --- seed 001 -------------------------------------------------------------------------


@run_async
async def test_seed_001_round_trip_anonymous(db):
    socket = await connected("/api/v1/ws/chat")
    await socket.send_json_to({"type": "message", "session_id": "session_123", "message": "Hello"})
    answer = await receive(socket, timeout=CHAT_TIMEOUT)
    assert answer["type"] == "response"
    assert set(answer) >= ANSWER_FIELDS
    assert answer["session_id"] == "session_123"
    assert answer["response"] and answer["response"] == answer["message"]
    assert 0 <= answer["confidence"] <= 1
    assert answer["intent"] == "greeting"
    assert answer["sentiment"] in {"positive", "neutral", "negative"}
    assert "processing_time_ms" in answer["metadata"]

    await socket.send_json_to({"type": "message", "session_id": "session_123", "message": "When is city hall open?"})
    second = await receive_type(socket, "response", timeout=CHAT_TIMEOUT)
    assert second["session_id"] == "session_123"
    conversation = await database_sync_to_async(Conversation.objects.get)(pk="session_123")
    assert conversation.owner_id is None and conversation.anonymous_key
    assert await database_sync_to_async(Message.objects.filter(conversation=conversation).count)() == 4
    await socket.disconnect()


@run_async
async def test_seed_001_new_session_when_none_given_and_reply_to(citizen):
    socket = await connected(f"/api/v1/ws/chat?token={citizen.secret}")
    await socket.send_json_to({"type": "message", "message": "Hi there", "id": "req-1"})
    answer = await receive_type(socket, "response", timeout=CHAT_TIMEOUT)
    assert answer["reply_to"] == "req-1"
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=answer["session_id"])
    assert conversation.api_key_id == citizen.api_key.pk
    await socket.disconnect()


@run_async
async def test_seed_001_someone_elses_session_is_not_found(citizen, staff_member):
    mine = await connected(f"/api/v1/ws/chat?token={citizen.secret}")
    await mine.send_json_to({"type": "message", "session_id": "private-1", "message": "Hello"})
    await receive_type(mine, "response", timeout=CHAT_TIMEOUT)

    theirs = await connected(f"/api/v1/ws/chat?token={staff_member.secret}")
    await theirs.send_json_to({"type": "message", "session_id": "private-1", "message": "Hello"})
    error = await receive_type(theirs, "error", timeout=CHAT_TIMEOUT)
    assert error["error"]["code"] == "RESOURCE_NOT_FOUND"
    # An anonymous socket cannot read it either.
    anonymous = await connected("/api/v1/ws/chat")
    await anonymous.send_json_to({"type": "message", "session_id": "private-1", "message": "Hello"})
    assert (await receive_type(anonymous, "error", timeout=CHAT_TIMEOUT))["error"]["code"] == "RESOURCE_NOT_FOUND"
    await still_open(theirs)
    for socket in (mine, theirs, anonymous):
        await socket.disconnect()


@run_async
async def test_seed_001_validation_errors_keep_the_socket_open(db):
    socket = await connected("/api/v1/ws/chat")
    await socket.send_json_to({"type": "message", "session_id": "x"})
    error = await receive_type(socket, "error")
    assert error["error"]["code"] == "VALIDATION_ERROR"
    assert "message" in error["error"]["details"]
    await socket.send_json_to({"type": "message", "session_id": "bad id!", "message": "Hello"})
    assert "session_id" in (await receive_type(socket, "error"))["error"]["details"]
    await socket.send_json_to({"type": "message", "message": "x" * 1001})
    assert (await receive_type(socket, "error"))["error"]["code"] == "VALIDATION_ERROR"
    await socket.send_json_to({"type": "subscribe"})
    assert (await receive_type(socket, "error"))["error"]["code"] == "UNKNOWN_MESSAGE_TYPE"
    await still_open(socket)
    await socket.disconnect()


# --- seed 002 -------------------------------------------------------------------------


async def open_session(path: str) -> tuple:
    socket = await connected(path)
    hello = await receive_type(socket, "connection")
    return socket, hello


@run_async
async def test_seed_002_connection_chat_message_and_agent_response(citizen):
    socket, hello = await open_session(f"/api/v1/ws/chat/abc123?token={citizen.secret}")
    assert set(hello) == {"type", "data", "timestamp", "id"}
    assert hello["data"]["status"] == "connected"
    assert hello["data"]["session_id"] == "abc123"
    assert hello["data"]["message"]

    await socket.send_json_to({"type": "chat_message", "data": {"message": "Hello", "context": {}}, "id": "m1"})
    chunks = []
    while True:
        frame = await receive(socket, timeout=CHAT_TIMEOUT)
        assert frame["reply_to"] == "m1"
        if frame["type"] != "agent_response_chunk":
            break
        assert frame["data"]["index"] == len(chunks)
        chunks.append(frame["data"]["chunk"])
    assert frame["type"] == "agent_response", frame
    data = frame["data"]
    assert {"agent_id", "agent_name", "message", "confidence", "metadata", "suggested_actions"} <= set(data)
    assert data["agent_id"] == "assistant"
    assert data["message"] == "".join(chunks)
    assert data["chunks"] == len(chunks) > 0
    assert data["metadata"]["processing_time_ms"] >= 0
    assert data["session_id"] == "abc123"

    # Without streaming only the final answer comes.
    await socket.send_json_to({"type": "chat_message", "data": {"message": "thanks", "stream": False}})
    assert (await receive(socket, timeout=CHAT_TIMEOUT))["type"] == "agent_response"

    await socket.send_json_to({"type": "ping", "data": {}, "id": "p1"})
    pong = await receive_type(socket, "pong")
    assert pong["reply_to"] == "p1" and pong["data"] == {}
    await socket.disconnect()

    # The conversation survives the socket: the same caller reconnects to it.
    again, hello = await open_session(f"/api/v1/ws/chat/abc123?token={citizen.secret}")
    assert hello["data"]["created"] is False
    await again.disconnect()


@run_async
async def test_seed_002_session_ids(citizen, staff_member):
    socket, _ = await open_session(f"/api/v1/ws/chat/owned-by-citizen?token={citizen.secret}")
    await socket.disconnect()

    other = await connected(f"/api/v1/ws/chat/owned-by-citizen?token={staff_member.secret}")
    assert (await receive_type(other, "error"))["data"]["code"] == "RESOURCE_NOT_FOUND"
    await expect_close(other, 4404)

    bad = await connected(f"/api/v1/ws/chat/{'x' * 65}?token={citizen.secret}")
    assert (await receive_type(bad, "error"))["data"]["code"] == "VALIDATION_ERROR"
    await expect_close(bad, 4400)


@run_async
async def test_seed_002_investigation_subscriptions(staff_member):
    socket, _ = await open_session(f"/api/v1/ws/chat/inv-watch?token={staff_member.secret}")
    investigation = "123e4567-e89b-12d3-a456-426614174000"
    await socket.send_json_to(
        {"type": "subscribe_investigation", "data": {"investigation_id": investigation}, "id": "s1"}
    )
    ack = await receive_type(socket, "subscribed")
    assert ack["data"]["investigation_id"] == investigation and ack["reply_to"] == "s1"

    progress = {"status": "processing", "progress": 0.75, "current_phase": "analyzing_patterns"}
    await database_sync_to_async(bridge.investigation_update_send)(investigation, progress)
    update = await receive_type(socket, "investigation_update")
    assert update["data"] == {"investigation_id": investigation, **progress}

    await socket.send_json_to({"type": "unsubscribe_investigation", "data": {"investigation_id": investigation}})
    ack = await receive_type(socket, "unsubscribed")
    assert ack["data"] == {"investigation_id": investigation, "was_subscribed": True}
    await database_sync_to_async(bridge.investigation_update_send)(investigation, {"status": "completed"})
    assert await socket.receive_nothing(timeout=0.3)

    await socket.send_json_to({"type": "subscribe_investigation", "data": {"investigation_id": "../etc"}})
    assert (await receive_type(socket, "error"))["data"]["code"] == "VALIDATION_ERROR"
    await still_open(socket)
    await socket.disconnect()


@run_async
async def test_seed_002_investigations_need_the_permission(citizen):
    socket, _ = await open_session(f"/api/v1/ws/chat/citizen-inv?token={citizen.secret}")
    await socket.send_json_to({"type": "subscribe_investigation", "data": {"investigation_id": "inv-1"}})
    assert (await receive_type(socket, "error"))["data"]["code"] == "PERMISSION_DENIED"
    await still_open(socket)
    await socket.disconnect()


@run_async
async def test_seed_002_anonymous_session_is_its_own(db):
    socket, hello = await open_session("/api/v1/ws/chat/anon-1")
    assert hello["data"]["authenticated"] is False
    await socket.send_json_to({"type": "chat_message", "data": {"message": "Hello", "stream": False}})
    assert (await receive(socket, timeout=CHAT_TIMEOUT))["type"] == "agent_response"
    await socket.disconnect()
    # Another anonymous socket without the browser session is someone else.
    other = await connected("/api/v1/ws/chat/anon-1")
    await expect_close(other, 4404)


# --- frames that are wrong ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", "VALIDATION_ERROR"),
        ("[" * 5000 + "]" * 5000, "VALIDATION_ERROR"),  # too deep for the decoder: not a crash
        ("[1, 2, 3]", "VALIDATION_ERROR"),
        ('"just a string"', "VALIDATION_ERROR"),
        ('{"data": {}}', "VALIDATION_ERROR"),
        ('{"type": 7}', "VALIDATION_ERROR"),
        ('{"type": "launch_rockets", "data": {}}', "UNKNOWN_MESSAGE_TYPE"),
        ('{"type": "chat_message", "data": "hello"}', "VALIDATION_ERROR"),
        ('{"type": "chat_message", "data": {"message": ""}}', "VALIDATION_ERROR"),
        ('{"type": "chat_message", "data": {"message": "hi", "unexpected": 1}}', "VALIDATION_ERROR"),
    ],
)
@run_async
async def test_malformed_frames_get_an_error_and_the_socket_stays_open(citizen, text, code):
    socket, _ = await open_session(f"/api/v1/ws/chat/frames?token={citizen.secret}")
    await socket.send_to(text_data=text)
    error = await receive_type(socket, "error")
    assert error["data"]["code"] == code
    assert set(error["data"]) == {"code", "message", "details"}
    await still_open(socket)
    await socket.disconnect()


@run_async
async def test_binary_frames_get_an_error(staff_member):
    socket = await connected(f"/api/v1/ws/notifications?token={staff_member.secret}")
    await receive_type(socket, "connection")
    await socket.send_to(bytes_data=b"\x00\x01")
    assert (await receive_type(socket, "error"))["data"]["code"] == "VALIDATION_ERROR"
    await still_open(socket)
    await socket.disconnect()


@pytest.mark.parametrize("path", ["/api/v1/ws/chat", "/api/v1/ws/chat/big-frames", "/api/v1/ws/notifications"])
@run_async
async def test_oversized_frames_are_refused_and_the_socket_stays_open(staff_member, settings, path):
    settings.REALTIME_MAX_FRAME_BYTES = 1024
    socket = await connected(f"{path}?token={staff_member.secret}")
    if path != "/api/v1/ws/chat":
        await receive_type(socket, "connection")
    await socket.send_json_to({"type": "chat_message", "data": {"message": "é" * 600}})  # 1200+ bytes
    error = await receive_type(socket, "error")
    body = error.get("data") or error["error"]
    assert body["code"] == "PAYLOAD_TOO_LARGE"
    assert body["details"]["max_bytes"] == 1024
    await still_open(socket)
    await socket.disconnect()


@run_async
async def test_rate_limit_per_connection(staff_member, settings):
    settings.REALTIME_MESSAGES_PER_MINUTE = 5
    socket, _ = await open_session(f"/api/v1/ws/chat/limits?token={staff_member.secret}")
    for _ in range(5):
        await socket.send_json_to({"type": "ping", "data": {}})
        await receive_type(socket, "pong")
    await socket.send_json_to({"type": "ping", "data": {}})
    error = await receive_type(socket, "error")
    assert error["data"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert error["data"]["details"]["limit"] == 5
    assert 0 < error["data"]["details"]["retry_after"] <= 60
    # Still open: the next frames are refused the same way, not dropped silently.
    await socket.send_json_to({"type": "ping", "data": {}})
    assert (await receive_type(socket, "error"))["data"]["code"] == "RATE_LIMIT_EXCEEDED"
    # A new connection has its own budget.
    fresh, _ = await open_session(f"/api/v1/ws/chat/limits?token={staff_member.secret}")
    await still_open(fresh)
    await fresh.disconnect()
    # Flooding past twice the budget closes the socket (1008).
    for _ in range(5):
        await socket.send_json_to({"type": "ping", "data": {}})
    await expect_close(socket, 1008)


@run_async
async def test_chat_messages_spend_the_shared_api_budget(db, settings):
    settings.RATE_LIMITS_PER_MINUTE = {**settings.RATE_LIMITS_PER_MINUTE, "anonymous": 1}
    socket = await connected("/api/v1/ws/chat")
    await socket.send_json_to({"type": "message", "message": "Hello"})
    await receive_type(socket, "response", timeout=CHAT_TIMEOUT)
    await socket.send_json_to({"type": "message", "message": "Hello again"})
    error = await receive_type(socket, "error")
    assert error["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert error["error"]["details"]["tier"] == "anonymous"
    await still_open(socket)  # pings cost nothing from the API budget
    await socket.disconnect()


# --- with an LLM provider ------------------------------------------------------------------


def _knowledge() -> None:
    from apps.knowledge.content import ARTICLES
    from apps.knowledge.models import Article

    for item in ARTICLES:
        Article.objects.get_or_create(title=item["title"], defaults=item)


def _llm(base_url: str):
    from django.test import override_settings

    return override_settings(LLM_BASE_URL=base_url, LLM_MODEL="city-model", LLM_API_KEY="sk-test")


@run_async
async def test_an_unstreamed_answer_that_breaks_off_is_the_embedded_one(citizen):
    """stream=False showed nobody the provider's part, so it is not kept cut short."""
    from apps.chat.tests.fake_llm import fake_llm

    await database_sync_to_async(_knowledge)()
    with fake_llm(tokens=["City Hall ", "opens "], end="") as llm, _llm(llm.base_url):
        socket, _ = await open_session(f"/api/v1/ws/chat/llm-quiet?token={citizen.secret}")
        await socket.send_json_to(
            {"type": "chat_message", "data": {"message": "What are your office hours?", "stream": False}}
        )
        answer = await receive_type(socket, "agent_response", timeout=CHAT_TIMEOUT)
        await socket.disconnect()
    assert answer["data"]["metadata"]["engine"] == "embedded"
    assert "8:30 am to 5:00 pm" in answer["data"]["message"]
