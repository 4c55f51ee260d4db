from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.chat.models import Conversation, Message, Role


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
