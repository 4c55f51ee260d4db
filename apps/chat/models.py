from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


def new_conversation_id() -> str:
    return str(uuid.uuid4())


class ConversationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ESCALATED = "escalated", "Escalated to a person"
    CLOSED = "closed", "Closed"


class Conversation(models.Model):
    """Seed 001's and 002's session, seed 003's thread and seed 004's chat are this one model.

    It belongs to whoever created it: a user (token or cookie), an API key, or an anonymous
    browser session. Clients may choose the id (``[A-Za-z0-9_-]{1,64}``).
    """

    id = models.CharField(primary_key=True, max_length=64, default=new_conversation_id)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="conversations"
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    anonymous_key = models.CharField(max_length=64, blank=True, db_index=True)
    title = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=ConversationStatus.choices, default=ConversationStatus.ACTIVE)
    # The assistant's working memory: intake progress, streaks of negative or unsure turns.
    state = models.JSONField(default=dict, blank=True)
    client_context = models.JSONField(default=dict, blank=True)
    concern = models.ForeignKey(
        "concerns.Concern", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner", "-updated_at"], name="conversation_owner_idx")]

    def __str__(self) -> str:
        return self.title or self.id


class Role(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField()
    intent = models.CharField(max_length=40, blank=True)
    sentiment = models.CharField(max_length=10, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    agent_id = models.CharField(max_length=40, blank=True)
    # Assistant replies point at the user message they answer.
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    metadata = models.JSONField(default=dict, blank=True)
    # A user message keeps the conversation's state from before it, so that editing it (seed
    # 003) goes back to that point: a report half-taken stays as it was then.
    state_before = models.JSONField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="message_conversation_idx"),
            models.Index(fields=["created_at"], name="message_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:50]}"

    @property
    def episode_id(self) -> str | None:
        """Seed 003's episode of an answer: the question it answers."""
        return str(self.reply_to_id) if self.reply_to_id else None


class Feedback(models.Model):
    """A citizen's rating of one answer; the mean is the satisfaction score."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="feedback")
    rating = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.rating}/5 for {self.message_id}"
