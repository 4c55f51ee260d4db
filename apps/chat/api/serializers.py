from __future__ import annotations

import unicodedata
from typing import Any

from django.conf import settings
from rest_framework import serializers

from apps.chat.models import Conversation, Message
from apps.chat.services import SESSION_ID
from apps.core.serializers import StrictIntegerField, StrictSerializer, TextField, TextRegexField, UUIDStringField


def is_blank(text: str) -> bool:
    """Nothing a person could read: spaces of any kind, and invisible format and control
    characters (zero-width spaces, joiners, a byte-order mark) that str.strip() leaves."""
    return all(unicodedata.category(character)[0] in "ZC" for character in text)


class SessionCreateSerializer(StrictSerializer):
    session_id = TextRegexField(SESSION_ID, required=False)
    user_id = TextField(required=False, max_length=64)  # seed 001; the owner is always the caller
    title = TextField(required=False, max_length=200, allow_blank=True, default="")
    context = serializers.DictField(required=False)


class MessageSerializer(StrictSerializer):
    """Seed 001/002 `message` or seed 003 `content`; `session_id` or seed 003's `thread_id`."""

    message = TextField(required=False, trim_whitespace=True)
    content = TextField(required=False, trim_whitespace=True)
    session_id = TextRegexField(SESSION_ID, required=False)
    thread_id = TextRegexField(SESSION_ID, required=False)
    user_message_id = UUIDStringField(required=False)
    context = serializers.DictField(required=False)
    stream = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        text = attrs.get("message") or attrs.get("content")
        if not text or is_blank(text):
            raise serializers.ValidationError({"message": ["This field is required and may not be blank."]})
        limit = settings.CHAT_MAX_MESSAGE_LENGTH
        if len(text) > limit:
            raise serializers.ValidationError({"message": [f"Ensure this field has no more than {limit} characters."]})
        if attrs.get("session_id") and attrs.get("thread_id") and attrs["session_id"] != attrs["thread_id"]:
            raise serializers.ValidationError({"thread_id": ["Give session_id or thread_id, not two different ids."]})
        attrs["text"] = text
        attrs["session"] = attrs.get("session_id") or attrs.get("thread_id")
        return attrs


class FeedbackSerializer(StrictSerializer):
    message_id = UUIDStringField()
    rating = StrictIntegerField(min_value=1, max_value=5)
    comment = TextField(required=False, allow_blank=True, max_length=2000, default="")
    session_id = TextRegexField(SESSION_ID, required=False)


class ThreadSerializer(serializers.ModelSerializer):
    class Meta:
        model = Conversation
        fields = ["id", "title", "status", "created_at", "updated_at"]


class ThreadDetailSerializer(ThreadSerializer):
    message_count = serializers.IntegerField()

    class Meta(ThreadSerializer.Meta):
        fields = [*ThreadSerializer.Meta.fields, "message_count"]


class ThreadMessageSerializer(serializers.ModelSerializer):
    thread_id = serializers.CharField(source="conversation_id")
    episode_id = serializers.CharField(read_only=True, allow_null=True)  # Message.episode_id

    class Meta:
        model = Message
        fields = [
            "id",
            "thread_id",
            "role",
            "content",
            "intent",
            "sentiment",
            "confidence",
            "agent_id",
            "created_at",
            "episode_id",
        ]
