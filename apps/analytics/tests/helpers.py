"""Fixture builders for the analytics tests (not a test module): rows at exact instants."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from apps.chat.models import Conversation, Feedback, Message
from apps.concerns.models import Category, Concern

_numbers = itertools.count(1)

DASHBOARD = "/api/v1/analytics/dashboard"
METRICS = "/api/v1/analytics/metrics/"
EXPORT = "/api/v1/analytics/export"
QUERY = "/api/v1/analytics/query"


def concern_make(
    *,
    at: datetime,
    category: str = "roads",
    priority: str = "medium",
    status: str = "submitted",
    eta: datetime | None = None,
    deleted: bool = False,
    resolved_at: datetime | None = None,
    **extra: Any,
) -> Concern:
    number = next(_numbers)
    return Concern.all_objects.create(
        tracking_number=f"TRK-2099-{number:06d}",
        title=f"Concern {number}",
        description="A test concern.",
        category=Category.objects.get(code=category),
        priority=priority,
        status=status,
        submitted_at=at,
        last_updated=at,
        estimated_resolution=eta if eta is not None else at + timedelta(days=3),
        resolved_at=resolved_at,
        deleted_at=at if deleted else None,
        **extra,
    )


def conversation_make(*, at: datetime, status: str = "active", owner: Any = None, minutes: int = 5) -> Conversation:
    return Conversation.objects.create(
        owner=owner,
        status=status,
        created_at=at,
        updated_at=at + timedelta(minutes=minutes),
        escalated_at=at if status == "escalated" else None,
    )


def exchange_make(
    *,
    at: datetime,
    sentiment: str = "neutral",
    intent: str = "services_inquiry",
    agent_id: str = "guide",
    processing_ms: float = 1000.0,
    conversation: Conversation | None = None,
    rating: int | None = None,
) -> tuple[Message, Message]:
    """A citizen message and the assistant's answer at ``at``; optional feedback on it."""
    conversation = conversation or conversation_make(at=at)
    user = Message.objects.create(
        conversation=conversation,
        role="user",
        content="hello",
        intent=intent,
        sentiment=sentiment,
        confidence=0.9,
        agent_id=agent_id,
        created_at=at,
    )
    answer = Message.objects.create(
        conversation=conversation,
        role="assistant",
        content="hi",
        intent=intent,
        sentiment=sentiment,
        confidence=0.9,
        agent_id=agent_id,
        reply_to=user,
        created_at=at,
        metadata={"processing_time_ms": processing_ms},
    )
    if rating is not None:
        Feedback.objects.create(message=answer, rating=rating, created_at=at)
    return user, answer
