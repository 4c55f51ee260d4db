from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import suppress
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.authentication import (
    BearerAuthentication,
    CsrfSessionAuthentication,
    QueryTokenAuthentication,
)
from apps.chat import selectors, services
from apps.chat.api import serializers as s
from apps.chat.engine.agents import AGENTS
from apps.chat.models import Message
from apps.chat.streaming import AnswerStream
from apps.core.api.base import ApiView
from apps.core.clock import utc_now_iso
from apps.core.context import current_request_id, request_id_var
from apps.core.exceptions import BadRequest, log_unhandled
from apps.core.idempotency import StreamProgress
from apps.core.pagination import EnvelopePagination
from apps.core.permissions import NotCrossSiteOnCookies, Public

CHAT_PERMISSIONS = [Public]  # anonymous use is allowed for the citizen widget (rate-limited by IP)


def answer_payload(prepared: services.Prepared, answer: Message) -> dict[str, Any]:
    conversation_id = prepared.conversation.pk
    metadata = answer.metadata
    return {
        "response": answer.content,
        "message": answer.content,
        "confidence": prepared.understanding.confidence,
        "intent": prepared.understanding.intent,
        "sentiment": prepared.understanding.sentiment,
        "session_id": conversation_id,
        "conversation_id": conversation_id,
        "thread_id": conversation_id,
        "agent_id": prepared.agent_id,
        "agent_name": AGENTS[prepared.agent_id]["name"],
        "suggested_actions": prepared.reply.suggested_actions,
        "requires_input": prepared.reply.requires_input,
        "message_id": str(answer.pk),
        "user_message_id": str(prepared.user_message.pk),
        "episode_id": answer.episode_id,  # seed 003
        "escalated": prepared.conversation.status == "escalated" or bool(prepared.escalation),
        "metadata": {
            "processing_time_ms": metadata["processing_time_ms"],
            "sources": metadata["sources"],
            "engine": metadata["engine"],
            **({"concern": metadata["concern"]} if "concern" in metadata else {}),
            **({"fallback_reason": metadata["fallback_reason"]} if "fallback_reason" in metadata else {}),
        },
    }


def _expires_at(conversation: Any) -> str:
    expiry = conversation.updated_at + timedelta(minutes=settings.CHAT_IDLE_MINUTES)
    return expiry.isoformat().replace("+00:00", "Z")


class SessionView(ApiView):
    permission_classes = CHAT_PERMISSIONS

    @extend_schema(request=s.SessionCreateSerializer, responses={201: dict}, auth=[])
    def post(self, request: Request) -> Response:
        form = s.SessionCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        conversation, _ = services.conversation_get_or_create(
            principal=services.principal_for(request),
            session_id=form.validated_data.get("session_id"),
            title=form.validated_data["title"],
            context=form.validated_data.get("context"),
        )
        return Response(
            {
                "session_id": conversation.pk,
                "thread_id": conversation.pk,
                "created_at": conversation.created_at,
                "expires_at": _expires_at(conversation),
            },
            status=status.HTTP_201_CREATED,
        )


class MessageView(ApiView):
    """One message to the assistant and its answer (seeds 001, 002 and 003 fields)."""

    permission_classes = CHAT_PERMISSIONS

    @extend_schema(request=s.MessageSerializer, responses={200: dict}, auth=[])
    def post(self, request: Request) -> Response:
        form = s.MessageSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        prepared, answer = services.conversation_exchange(
            principal=services.principal_for(request),
            session_id=data["session"],
            context=data.get("context"),
            user=request.user,
            text=data["text"],
            user_message_id=data.get("user_message_id"),
        )
        return Response(answer_payload(prepared, answer))


class HistoryView(ApiView):
    """Seed 001's history: one item per exchange (the message and its response)."""

    permission_classes = CHAT_PERMISSIONS
    result_key = "messages"
    cursor_field = "created_at"
    default_limit = 50

    @extend_schema(parameters=[OpenApiParameter("session_id", str, required=True)], responses={200: dict}, auth=[])
    def get(self, request: Request) -> Response:
        session_id = request.query_params.get("session_id")
        if not session_id:
            raise BadRequest(details={"session_id": ["This query parameter is required."]})
        if not services.SESSION_ID.match(session_id):
            raise BadRequest(details={"session_id": ["Letters, digits, - and _, at most 64."]})
        conversation = services.conversation_get(principal=services.principal_for(request), session_id=session_id)
        paginator = EnvelopePagination()
        page = paginator.paginate_queryset(selectors.exchanges(conversation=conversation), request, view=self)
        items = [selectors.exchange_item(message) for message in page]
        response = paginator.get_paginated_response(items)
        response.data = {
            "messages": items,
            "session_info": {
                "session_id": conversation.pk,
                "started_at": conversation.created_at,
                "status": conversation.status,
                "message_count": conversation.messages.count(),
            },
        }
        return response


class FeedbackView(ApiView):
    permission_classes = CHAT_PERMISSIONS

    @extend_schema(request=s.FeedbackSerializer, responses={201: dict}, auth=[])
    def post(self, request: Request) -> Response:
        form = s.FeedbackSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        feedback = services.feedback_create(
            principal=services.principal_for(request),
            message_id=form.validated_data["message_id"],
            rating=form.validated_data["rating"],
            comment=form.validated_data["comment"],
            session_id=form.validated_data.get("session_id"),
        )
        return Response(
            {"message_id": str(feedback.message_id), "rating": feedback.rating, "created_at": feedback.created_at},
            status=status.HTTP_201_CREATED,
        )


class AgentsView(ApiView):
    permission_classes = [Public]

    @extend_schema(responses={200: dict}, auth=[])
    def get(self, request: Request) -> Response:
        return Response({"agents": [{"id": key, **value} for key, value in AGENTS.items()]})


def _thread_page(view: ApiView, request: Request, rows: QuerySet, serializer: type) -> Response:
    """Seed 003's page of a thread list: its `meta.total` beside the usual pagination block,
    which takes `page`/`page_size` as well as `limit`/`offset` and `per_page`."""
    paginator = EnvelopePagination()
    response = paginator.get_paginated_response(
        serializer(paginator.paginate_queryset(rows, request, view), many=True).data
    )
    response.envelope_extra["meta"] = {"total": paginator.pagination["total"]}
    return response


class ThreadListView(ApiView):
    """Seed 003: the caller's threads, newest first, `page`/`page_size` (default 10, max 100)."""

    permission_classes = CHAT_PERMISSIONS
    default_limit, max_limit = 10, 100

    @extend_schema(responses={200: s.ThreadSerializer(many=True)}, auth=[])
    def get(self, request: Request) -> Response:
        threads = selectors.conversation_list(principal=services.principal_for(request))
        return _thread_page(self, request, threads, s.ThreadSerializer)


class ThreadDetailView(ApiView):
    permission_classes = CHAT_PERMISSIONS

    @extend_schema(responses={200: s.ThreadDetailSerializer}, auth=[])
    def get(self, request: Request, thread_id: str) -> Response:
        conversation = services.conversation_get(principal=services.principal_for(request), session_id=thread_id)
        conversation.message_count = conversation.messages.count()  # type: ignore[attr-defined]
        return Response(s.ThreadDetailSerializer(conversation).data)


class ThreadMessagesView(ApiView):
    """Seed 003: messages of a thread, oldest first, `page`/`page_size` (default 50, max 200)."""

    permission_classes = CHAT_PERMISSIONS
    default_limit, max_limit = 50, 200

    @extend_schema(responses={200: s.ThreadMessageSerializer(many=True)}, auth=[])
    def get(self, request: Request, thread_id: str) -> Response:
        conversation = services.conversation_get(principal=services.principal_for(request), session_id=thread_id)
        messages = conversation.messages.order_by("created_at", "id")
        return _thread_page(self, request, messages, s.ThreadMessageSerializer)


def sse(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event, default=str)}\n\n".encode()


class StreamNegotiation(DefaultContentNegotiation):
    """The stream is not rendered by DRF, so a client's `Accept: text/event-stream` (what
    EventSource always sends) must not end in 406: errors before the stream starts (400,
    401, 429) are rendered as the usual JSON envelope whatever the client accepts."""

    def select_renderer(self, request: Request, renderers: list[Any], format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


class StreamView(ApiView):
    """Server-Sent Events (seed 002): start, detecting, intent, agent_selected, chunk…, complete
    — or error. POST takes the JSON body; GET takes query parameters for EventSource."""

    permission_classes = CHAT_PERMISSIONS
    method_permissions = {"GET": [*CHAT_PERMISSIONS, NotCrossSiteOnCookies]}
    authentication_classes = [BearerAuthentication, QueryTokenAuthentication, CsrfSessionAuthentication]
    content_negotiation_class = StreamNegotiation
    http_method_names = ["get", "post", "options"]  # a HEAD (a link checker) must not start an exchange

    @extend_schema(request=s.MessageSerializer, responses={(200, "text/event-stream"): str}, auth=[])
    def post(self, request: Request) -> StreamingHttpResponse:
        return self._stream(request, request.data)

    @extend_schema(
        parameters=[
            OpenApiParameter("message", str, required=True),
            OpenApiParameter("session_id", str),
            OpenApiParameter("thread_id", str),
            OpenApiParameter("user_message_id", str, description="Edit this earlier message (seed 003)."),
            OpenApiParameter(
                "token",
                str,
                description="An access token (never an API key), for EventSource, which cannot send headers.",
            ),
        ],
        responses={(200, "text/event-stream"): str},
        auth=[],
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        data = {
            key: request.query_params.get(key)
            for key in ("message", "session_id", "thread_id", "user_message_id")
            if key in request.query_params
        }
        return self._stream(request, data)

    def _stream(self, request: Request, body: Any) -> StreamingHttpResponse:
        form = s.MessageSerializer(data=body)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        services.user_message_id_check(session_id=data["session"], user_message_id=data.get("user_message_id"))
        conversation, _ = services.conversation_get_or_create(
            principal=services.principal_for(request), session_id=data["session"]
        )
        user = request.user if request.user.is_authenticated else None
        progress = StreamProgress()
        response = StreamingHttpResponse(
            stream_events(
                conversation, user, data["text"], data.get("user_message_id"), current_request_id(), progress
            ),
            content_type="text/event-stream",
        )
        response.stream_progress = progress  # type: ignore[attr-defined]  # for the Idempotency-Key
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response


async def stream_events(
    conversation: Any, user: Any, text: str, user_message_id: Any, request_id: str, progress: StreamProgress
) -> AsyncIterator[bytes]:
    """The event stream. Database work and the (optional) LLM run in threads so the event
    loop keeps sending; apps.chat.streaming stores the answer even when the client leaves."""
    # The middleware's request id is gone by the time the body is sent: the log lines of the
    # stream keep it.
    token = request_id_var.set(request_id)
    answering: AnswerStream | None = None
    try:
        yield sse({"type": "start", "timestamp": utc_now_iso(), "session_id": conversation.pk})
        yield sse({"type": "detecting", "message": "Understanding your message..."})
        prepared = await sync_to_async(services.exchange_prepare)(
            conversation=conversation, user=user, text=text, user_message_id=user_message_id
        )
        progress.committed = True  # the question is stored, and what it filed or escalated
        answering = AnswerStream(prepared)
        yield sse(
            {
                "type": "intent",
                "intent": prepared.understanding.intent,
                "confidence": prepared.understanding.confidence,
                "sentiment": prepared.understanding.sentiment,
            }
        )
        yield sse(
            {"type": "agent_selected", "agent_id": prepared.agent_id, "agent_name": AGENTS[prepared.agent_id]["name"]}
        )
        async for piece in answering.pieces():
            yield sse({"type": "chunk", "content": piece})
        payload = answer_payload(prepared, await answering.finish())
        progress.complete = True  # before the last yield: a client that leaves now has it all
        yield sse(
            {
                "type": "complete",
                "suggested_actions": payload["suggested_actions"],
                "message_id": payload["message_id"],
                "user_message_id": payload["user_message_id"],
                "session_id": payload["session_id"],
                "agent_id": payload["agent_id"],
                "episode_id": payload["episode_id"],
                "metadata": payload["metadata"],
            }
        )
    except Exception as exc:  # the stream has started: report in-band, log without details
        log_unhandled(exc)
        yield sse({"type": "error", "message": "Sorry, something went wrong while answering."})
    finally:
        if answering is not None:
            await answering.settle()
        with suppress(ValueError):  # finalised in another context: nothing of ours to reset there
            request_id_var.reset(token)
