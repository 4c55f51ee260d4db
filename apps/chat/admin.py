"""Conversations in the Django admin: staff (``chat.view_all``) read them, an escalated one
included, and close them once a person has followed up; administrators (``chat.delete``)
may delete one, e.g. when a citizen asks for their data to be erased. Transcripts are
records: nobody edits them or adds messages here."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.chat.models import Conversation, Feedback, Message
from apps.chat.services import conversation_close
from apps.core.admin import RolePermissionAdminMixin
from apps.core.permissions import user_has

VIEW = "chat.view_all"


class MessageInline(RolePermissionAdminMixin, admin.TabularInline):
    model = Message
    fk_name = "conversation"
    extra = 0
    can_delete = False
    fields = ["created_at", "role", "content", "intent", "sentiment", "confidence", "agent_id"]
    readonly_fields = fields
    view_permission = VIEW


@admin.register(Conversation)
class ConversationAdmin(RolePermissionAdminMixin, admin.ModelAdmin):
    list_display = ["id", "title", "owner", "status", "created_at", "updated_at", "escalated_at"]
    list_filter = ["status"]
    search_fields = ["id", "title", "owner__username"]
    readonly_fields = [
        "id",
        "owner",
        "api_key",
        "anonymous_key",
        "title",
        "status",
        "state",
        "client_context",
        "concern",
        "created_at",
        "updated_at",
        "escalated_at",
        "closed_at",
    ]
    inlines = [MessageInline]
    actions = ["close"]
    view_permission = VIEW

    def has_delete_permission(self, request: HttpRequest, obj: Conversation | None = None) -> bool:
        return user_has(request.user, "chat.delete")

    def has_close_permission(self, request: HttpRequest) -> bool:
        return user_has(request.user, VIEW)

    @admin.action(description="Close the selected conversations (followed up)", permissions=["close"])
    def close(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        closed = sum(conversation_close(conversation=c, reason="staff") for c in queryset)
        self.message_user(request, f"Closed {closed} conversation(s).", messages.SUCCESS)


@admin.register(Feedback)
class FeedbackAdmin(RolePermissionAdminMixin, admin.ModelAdmin):
    list_display = ["message", "rating", "created_at"]
    list_filter = ["rating"]
    view_permission = VIEW
