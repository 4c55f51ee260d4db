from django.contrib import admin

from apps.webhooks.models import Attempt, Delivery, Endpoint, Event


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "owner", "active", "disabled_reason", "failing_since", "created_at"]
    list_filter = ["active"]
    search_fields = ["url", "owner__username", "description"]
    exclude = ["secret_encrypted"]
    readonly_fields = ["failing_since", "created_at", "updated_at"]


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    readonly_fields = ["attempted_at", "status_code", "latency_ms", "response_excerpt", "error"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "endpoint", "event", "status", "attempt_count", "next_attempt_at", "last_status_code"]
    list_filter = ["status"]
    search_fields = ["id", "endpoint__url"]
    readonly_fields = [f.name for f in Delivery._meta.fields]
    inlines = [AttemptInline]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "created_at"]
    list_filter = ["type"]
    readonly_fields = ["id", "type", "data", "created_at"]
