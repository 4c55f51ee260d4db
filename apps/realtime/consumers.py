"""The three sockets.

``/api/v1/ws/chat`` (seed 001) — ``ChatConsumer``
    client ``{"type": "message", "session_id"?, "message", "context"?, "user_message_id"?, "id"?}``
    server ``{"type": "response", <the fields of POST /chat/message>, "timestamp", "reply_to"?}``
    also ``ping`` → ``{"type": "pong"}``; errors ``{"type": "error", "error": {code, message,
    details}, "timestamp"}``. No frame is sent on connect.

``/api/v1/ws/chat/{session_id}?token=`` (seed 002) — ``AgentChatConsumer``, envelope
``{type, data, timestamp, id}``; a client frame's ``id`` comes back as ``reply_to``.
    on connect   ``connection`` {status: "connected", session_id, message, authenticated, created}
    ``chat_message`` {message, context?, user_message_id?, stream?=true}
                 → ``agent_response_chunk`` {agent_id, agent_name, chunk, index, user_message_id} ...
                 → ``agent_response`` {agent_id, agent_name, message, confidence, intent, sentiment,
                   suggested_actions, requires_input, metadata {processing_time_ms, sources, engine},
                   session_id, message_id, user_message_id, escalated, chunks}
    ``subscribe_investigation`` {investigation_id} → ``subscribed`` {investigation_id, subscriptions}
    ``unsubscribe_investigation`` {investigation_id} → ``unsubscribed`` {investigation_id, was_subscribed}
    then ``investigation_update`` {investigation_id, status, progress, ...} as the analytics
    side publishes them; ``ping`` → ``pong``.

``/api/v1/ws/notifications`` — ``NotificationsConsumer``, same envelope.
    authenticated by cookie or ``?token=`` → ``connection`` {status: "connected", ...} at once;
    otherwise ``connection`` {status: "authentication_required"} and the first frame must be
    ``{"type": "auth", "token"}`` within REALTIME_AUTH_TIMEOUT seconds (else 4401).
    Then frames named after the event: ``concern.created``, ``concern.updated``,
    ``chat.escalated`` (staff), own ``concern.*`` (citizens), everything (administrators).

Every socket: ``error`` {code, message, details} for malformed JSON, unknown types, frames
over REALTIME_MAX_FRAME_BYTES and more than REALTIME_MESSAGES_PER_MINUTE frames, and the
socket stays open; a server ``ping`` after REALTIME_PING_SECONDS of client silence (answer
with ``pong`` or anything), close 4408 after REALTIME_IDLE_SECONDS. Close codes: 4400 bad
session id, 4401 bad/missing credential, 4403 role not allowed, 4404 someone else's
conversation, 4408 idle, 1008 flooding.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions as drf_exceptions

from apps.accounts.roles import Role
from apps.chat import services as chat
from apps.chat.api.serializers import MessageSerializer
from apps.chat.api.views import answer_payload
from apps.chat.engine.agents import AGENTS
from apps.chat.streaming import AnswerStream
from apps.core.clock import utc_now_iso
from apps.core.exceptions import describe
from apps.realtime import frames
from apps.realtime.auth import Identity, Refused, anonymous_key, authenticate_secret, identify
from apps.realtime.base import RealtimeConsumer

logger = logging.getLogger("apps.realtime")

STAFF_RECEIVES = ["concern.created", "concern.updated", "chat.escalated"]
OWN_RECEIVES = ["concern.created", "concern.updated"]


def explain(exc: BaseException) -> tuple[str, str, Any]:
    """(code, message, details) of an exception raised by a service, as the REST API
    would report it; unexpected ones are logged by type only and answered vaguely."""
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, drf_exceptions.APIException):
        _, code, message, details = describe(exc)
        return code, message, details
    logger.error("Real-time chat failed: %s", type(exc).__name__)
    return frames.PROCESSING_ERROR, "Sorry, something went wrong while answering.", {}


def form_errors(form: MessageSerializer) -> tuple[str, str, Any]:
    return explain(drf_exceptions.ValidationError(form.errors))


def reply_id(frame: dict[str, Any]) -> str | None:
    value = frame.get("id")
    return value[:100] if isinstance(value, str) else None


class ChatConsumer(RealtimeConsumer):
    """Seed 001: one ``message`` in, one ``response`` out, over POST /chat/message's
    services, fields and ownership rules."""

    client_types = ("message", "ping", "pong")
    principal: chat.Principal

    def error_frame(self, code: str, message: str, details: Any) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {"code": code, "message": message, "details": details or {}},
            "timestamp": utc_now_iso(),
        }

    def ping_frame(self) -> dict[str, Any]:
        return {"type": "ping", "idle_timeout": self.limits.idle_seconds, "timestamp": utc_now_iso()}

    async def opened(self) -> None:
        self.identity = await identify(self.scope)
        key = "" if self.identity.authenticated else await anonymous_key(self.scope)
        self.principal = self.identity.principal(key)

    async def handle(self, kind: str, frame: dict[str, Any]) -> None:
        if kind == "message":
            await self.message(frame)
        elif kind == "ping":
            await self.send_frame({"type": "pong", "timestamp": utc_now_iso()})
        elif kind != "pong":
            await self.unknown(kind)

    async def message(self, frame: dict[str, Any]) -> None:
        reply_to = reply_id(frame)
        body = {key: value for key, value in frame.items() if key not in ("type", "id")}
        form = MessageSerializer(data=body)
        if not form.is_valid():
            await self.send_error(*form_errors(form))
            return
        if not await self.spend_api_budget():
            return
        try:
            payload = await database_sync_to_async(self.exchange)(form.validated_data)
        except Exception as exc:
            await self.send_error(*explain(exc))
            return
        response: dict[str, Any] = {"type": "response", **payload, "timestamp": utc_now_iso()}
        if reply_to is not None:
            response["reply_to"] = reply_to
        await self.send_frame(response)

    def exchange(self, data: dict[str, Any]) -> dict[str, Any]:
        """Runs in the database thread: exactly what POST /chat/message does."""
        prepared, answer = chat.conversation_exchange(
            principal=self.principal,
            session_id=data["session"],
            context=data.get("context"),
            user=self.identity.user,
            text=data["text"],
            user_message_id=data.get("user_message_id"),
        )
        return answer_payload(prepared, answer)


class EnvelopeConsumer(RealtimeConsumer):
    """Seed 002's envelope; answers carry the client frame's ``id`` as ``reply_to``."""

    async def reply(self, kind: str, data: dict[str, Any], frame: dict[str, Any] | None = None) -> None:
        message = frames.envelope(kind, data)
        if frame is not None and (reply_to := reply_id(frame)) is not None:
            message["reply_to"] = reply_to
        await self.send_frame(message)

    async def reply_error(self, frame: dict[str, Any], code: str, message: str, details: Any = None) -> None:
        error = self.error_frame(code, message, details)
        if (reply_to := reply_id(frame)) is not None:
            error["reply_to"] = reply_to
        await self.send_frame(error)


class AgentChatConsumer(EnvelopeConsumer):
    """Seed 002: a conversation named in the URL, answers streamed as chunks, and
    investigation progress for the investigations the client follows."""

    client_types = ("chat_message", "subscribe_investigation", "unsubscribe_investigation", "ping", "pong")
    conversation: Any
    investigations: set[str]

    async def opened(self) -> None:
        self.investigations = set()
        self.identity = await identify(self.scope)
        key = "" if self.identity.authenticated else await anonymous_key(self.scope)
        session_id = self.scope["url_route"]["kwargs"]["session_id"]
        try:
            self.conversation, created = await database_sync_to_async(chat.conversation_get_or_create)(
                principal=self.identity.principal(key), session_id=session_id
            )
        except DjangoValidationError as exc:
            code, message, details = explain(exc)
            raise Refused(frames.CLOSE_BAD_REQUEST, code, message, details) from None
        except drf_exceptions.NotFound:
            raise Refused(frames.CLOSE_NOT_FOUND, frames.RESOURCE_NOT_FOUND, "No conversation with this id.") from None
        user = self.identity.user
        await self.reply(
            "connection",
            {
                "status": "connected",
                "session_id": self.conversation.pk,
                "message": "Connected to CitizenAI in real time.",
                "authenticated": user is not None,
                "user_id": str(user.pk) if user is not None else None,
                "created": created,
            },
        )

    async def handle(self, kind: str, frame: dict[str, Any]) -> None:
        if kind == "chat_message":
            await self.chat_message(frame)
        elif kind == "subscribe_investigation":
            await self.subscribe_investigation(frame)
        elif kind == "unsubscribe_investigation":
            await self.unsubscribe_investigation(frame)
        elif kind == "ping":
            await self.reply("pong", {}, frame)
        elif kind != "pong":
            await self.unknown(kind)

    async def chat_message(self, frame: dict[str, Any]) -> None:
        data = frame.get("data", {})
        if not isinstance(data, dict):
            await self.reply_error(
                frame, frames.VALIDATION_ERROR, "data must be an object.", {"data": ["Expected an object."]}
            )
            return
        form = MessageSerializer(data={**data, "session_id": self.conversation.pk})
        if not form.is_valid():
            await self.reply_error(frame, *form_errors(form))
            return
        if not await self.spend_api_budget():
            return
        validated = form.validated_data
        try:
            await self.answer(frame, validated["text"], validated.get("user_message_id"), validated.get("stream", True))
        except Exception as exc:
            await self.reply_error(frame, *explain(exc))

    async def answer(self, frame: dict[str, Any], text: str, user_message_id: Any, stream: bool) -> None:
        """The seed 002 stream, driving the same services as SSE (apps.chat.api.views.
        stream_events): database work in the database thread, the (optional) LLM in a
        worker thread, the event loop free in between."""
        prepared = await database_sync_to_async(chat.exchange_prepare)(
            conversation=self.conversation, user=self.identity.user, text=text, user_message_id=user_message_id
        )
        agent = {"agent_id": prepared.agent_id, "agent_name": AGENTS[prepared.agent_id]["name"]}
        # Without ``stream`` no piece is shown, so an LLM answer that breaks off is replaced
        # by the embedded one; and the answer is stored even if the socket goes meanwhile.
        answering = AnswerStream(prepared, shown=stream, database=database_sync_to_async)
        index = 0
        try:
            async for piece in answering.pieces():
                if stream:
                    await self.reply(
                        "agent_response_chunk",
                        {**agent, "chunk": piece, "index": index, "user_message_id": str(prepared.user_message.pk)},
                        frame,
                    )
                index += 1
            answer = await answering.finish()
        finally:
            await answering.settle()
        await self.reply("agent_response", {**answer_payload(prepared, answer), "chunks": index}, frame)

    def investigation_id(self, frame: dict[str, Any]) -> str | None:
        data = frame.get("data")
        value = data.get("investigation_id") if isinstance(data, dict) else None
        if isinstance(value, str) and frames.INVESTIGATION_ID.match(value):
            return value
        return None

    async def subscribe_investigation(self, frame: dict[str, Any]) -> None:
        investigation_id = self.investigation_id(frame)
        if investigation_id is None:
            await self.reply_error(
                frame,
                frames.VALIDATION_ERROR,
                "Request validation failed.",
                {"investigation_id": ["Give an id of 1 to 64 letters, digits, '_' or '-'."]},
            )
            return
        permission = settings.REALTIME_INVESTIGATION_PERMISSION
        if not self.identity.has(permission):
            await self.reply_error(
                frame, frames.PERMISSION_DENIED, f"Following investigations requires the permission {permission}."
            )
            return
        if investigation_id not in self.investigations and len(self.investigations) >= self.limits.max_subscriptions:
            await self.reply_error(
                frame,
                frames.VALIDATION_ERROR,
                f"At most {self.limits.max_subscriptions} investigations per connection.",
                {"investigation_id": ["Unsubscribe from another investigation first."]},
            )
            return
        await self.join(frames.investigation_group(investigation_id))
        self.investigations.add(investigation_id)
        await self.reply(
            "subscribed", {"investigation_id": investigation_id, "subscriptions": sorted(self.investigations)}, frame
        )

    async def unsubscribe_investigation(self, frame: dict[str, Any]) -> None:
        investigation_id = self.investigation_id(frame)
        if investigation_id is None:
            await self.reply_error(
                frame,
                frames.VALIDATION_ERROR,
                "Request validation failed.",
                {"investigation_id": ["Give an id of 1 to 64 letters, digits, '_' or '-'."]},
            )
            return
        was_subscribed = investigation_id in self.investigations
        if was_subscribed:
            self.investigations.discard(investigation_id)
            await self.leave(frames.investigation_group(investigation_id))
        await self.reply(
            "unsubscribed",
            {"investigation_id": investigation_id, "was_subscribed": was_subscribed},
            frame,
        )

    async def investigation_update(self, event: dict[str, Any]) -> None:
        """Channel-layer message from apps.realtime.bridge.investigation_update_send."""
        if event.get("investigation_id") in self.investigations:
            await self.send_frame(
                frames.envelope(
                    "investigation_update",
                    event.get("data", {}),
                    frame_id=event.get("id"),
                    timestamp=event.get("timestamp"),
                )
            )


class NotificationsConsumer(EnvelopeConsumer):
    """Domain events for staff dashboards and citizens' own concerns."""

    client_types = ("auth", "ping", "pong")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: deque[str] = deque(maxlen=32)

    async def opened(self) -> None:
        identity = await identify(self.scope)
        if identity.authenticated:
            await self.subscribe(identity)
            return
        self.auth_deadline = self.last_activity + self.limits.auth_timeout
        await self.reply(
            "connection",
            {
                "status": "authentication_required",
                "message": 'Send {"type": "auth", "token": "<API key or access token>"} first.',
                "timeout_seconds": self.limits.auth_timeout,
            },
        )

    async def subscribe(self, identity: Identity, frame: dict[str, Any] | None = None) -> None:
        staff = identity.has("concerns.view_all")
        if not staff and not identity.has("concerns.view_own"):
            raise Refused(frames.CLOSE_FORBIDDEN, frames.PERMISSION_DENIED, "This role does not receive notifications.")
        admin = getattr(identity.user, "role", None) == Role.ADMINISTRATOR
        self.identity = identity
        self.auth_deadline = None
        await self.join(frames.user_group(identity.user.pk))
        if staff:
            await self.join(frames.STAFF_GROUP)
        if admin:
            await self.join(frames.ADMIN_GROUP)
        await self.reply(
            "connection",
            {
                "status": "connected",
                "authenticated": True,
                "user_id": str(identity.user.pk),
                "role": getattr(identity.user, "role", ""),
                "scope": "all" if admin else "staff" if staff else "own",
                "events": ["*"] if admin else STAFF_RECEIVES if staff else OWN_RECEIVES,
                "message": "Connected to CitizenAI notifications.",
            },
            frame,
        )

    async def handle(self, kind: str, frame: dict[str, Any]) -> None:
        if not self.identity.authenticated:
            try:
                if kind != "auth":
                    raise Refused(
                        frames.CLOSE_UNAUTHORIZED,
                        frames.AUTHENTICATION_REQUIRED,
                        'Authenticate first with {"type": "auth", "token": ...}.',
                    )
                await self.subscribe(await authenticate_secret(frame.get("token")), frame)
            except Refused as failure:
                await self.refuse(failure)
            return
        if kind == "ping":
            await self.reply("pong", {}, frame)
        elif kind == "auth":
            await self.reply_error(frame, frames.ALREADY_AUTHENTICATED, "This socket is already authenticated.")
        elif kind != "pong":
            await self.unknown(kind)

    async def realtime_event(self, event: dict[str, Any]) -> None:
        """Channel-layer message from apps.realtime.bridge: the frame, serialised once."""
        event_id = event.get("id", "")
        if event_id in self.seen:
            return
        self.seen.append(event_id)
        await self.send_text(event["text"])


class UnknownPathConsumer(AsyncWebsocketConsumer):
    """Any other WebSocket path: the handshake is refused at once (HTTP 403). Without a
    route the router raised, and the client waited for a handshake that never came."""

    async def connect(self) -> None:
        await self.close()
