"""Threshold rules in the Django admin: staff (``analytics.view``) see them, administrators
(``analytics.manage``) create, change and delete them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.analytics.models import ThresholdRule
from apps.analytics.services import threshold_evaluate
from apps.core.permissions import user_has


@admin.register(ThresholdRule)
class ThresholdRuleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "category",
        "threshold",
        "window_hours",
        "active",
        "currently_exceeded",
        "last_value",
        "last_checked_at",
        "last_fired_at",
    )
    list_filter = ("kind", "active", "currently_exceeded")
    search_fields = ("name",)
    readonly_fields = ("currently_exceeded", "last_value", "last_checked_at", "last_fired_at")
    fields = ("name", "kind", "category", "threshold", "window_hours", "active", *readonly_fields)
    actions = ["check_now"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_has(request.user, "analytics.view")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_has(request.user, "analytics.view")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return user_has(request.user, "analytics.manage")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_has(request.user, "analytics.manage")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_has(request.user, "analytics.manage")

    @admin.action(description="Check the selected rules now", permissions=["change"])
    def check_now(self, request: HttpRequest, queryset: QuerySet[ThresholdRule]) -> None:
        fired = sum(threshold_evaluate(rule=rule) for rule in queryset.select_related("category"))
        self.message_user(request, f"Checked {queryset.count()} rule(s); {fired} fired.", messages.INFO)
