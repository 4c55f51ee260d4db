from django.contrib import admin

from apps.chat.models import Conversation, Feedback, Message


class MessageInline(admin.TabularInline):
    model = Message
    fk_name = "conversation"
    extra = 0
    can_delete = False
    fields = ["created_at", "role", "content", "intent", "sentiment", "confidence", "agent_id"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "owner", "status", "created_at", "updated_at", "escalated_at"]
    list_filter = ["status"]
    search_fields = ["id", "title", "owner__username"]
    readonly_fields = [
        "id",
        "owner",
        "api_key",
        "anonymous_key",
        "state",
        "client_context",
        "concern",
        "created_at",
        "updated_at",
        "escalated_at",
        "closed_at",
    ]
    inlines = [MessageInline]


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["message", "rating", "created_at"]
    list_filter = ["rating"]
