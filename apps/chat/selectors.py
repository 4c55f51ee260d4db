from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.chat.models import Conversation, Message, Role
from apps.core.prepared import PreparedLookup

# Every message reads its conversation, and compiling that query cost more CPU than running
# it (bench/chat.py BENCH_PROFILE): compiled once per process. The marker is no session id
# (apps.chat.services.SESSION_ID), so no caller passes it.
_MARKER = "!conversation-marker!"
_by_id = PreparedLookup(
    field=Conversation._meta.pk,
    marker=_MARKER,
    build=lambda value: Conversation.objects.filter(pk=value).order_by()[:1],
)
_by_id_locked = PreparedLookup(
    field=Conversation._meta.pk,
    marker=_MARKER,
    build=lambda value: Conversation.objects.select_for_update().filter(pk=value).order_by()[:1],
)


def conversation_by_id(*, session_id: str, lock: bool = False) -> Conversation | None:
    """The conversation, read with FOR UPDATE when ``lock`` (inside a transaction)."""
    found = (_by_id_locked if lock else _by_id)(session_id)
    return found[0] if found else None


def conversation_list(*, principal: Any) -> QuerySet[Conversation]:
    conversations = Conversation.objects.order_by("-updated_at", "-id")
    if principal.api_key is not None:
        return conversations.filter(api_key=principal.api_key)
    if principal.user is not None:
        return conversations.filter(owner=principal.user, api_key__isnull=True)
    return conversations.filter(anonymous_key=principal.anonymous_key, owner__isnull=True)


def exchanges(*, conversation: Conversation) -> QuerySet[Message]:
    """User messages with their answer prefetched: seed 001 history items."""
    return (
        Message.objects.filter(conversation=conversation, role=Role.USER)
        .prefetch_related("replies")
        .order_by("created_at", "id")
    )


def exchange_item(message: Message) -> dict[str, Any]:
    replies = list(message.replies.all())
    answer = replies[-1] if replies else None
    return {
        "id": str(message.pk),
        "message": message.content,
        "response": answer.content if answer else None,
        "response_id": str(answer.pk) if answer else None,
        "timestamp": message.created_at,
        "intent": message.intent,
        "sentiment": message.sentiment,
        "agent_id": answer.agent_id if answer else None,
    }


def conversation_last_messages(*, conversation: Conversation, count: int) -> list[dict[str, Any]]:
    """The last ``count`` messages, oldest first, as role and content."""
    recent = conversation.messages.order_by("-created_at", "-id").values("role", "content")[:count]
    return list(reversed(recent))
