"""Threshold rules in the Django admin: staff (``analytics.view``) see them, administrators
(``analytics.manage``) create, change and delete them."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.analytics.models import ThresholdRule
from apps.analytics.services import threshold_evaluate
from apps.core.admin import RolePermissionAdminMixin


@admin.register(ThresholdRule)
class ThresholdRuleAdmin(RolePermissionAdminMixin, admin.ModelAdmin):
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
    view_permission, manage_permission = "analytics.view", "analytics.manage"

    @admin.action(description="Check the selected rules now", permissions=["change"])
    def check_now(self, request: HttpRequest, queryset: QuerySet[ThresholdRule]) -> None:
        fired = sum(threshold_evaluate(rule=rule) for rule in queryset.select_related("category"))
        self.message_user(request, f"Checked {queryset.count()} rule(s); {fired} fired.", messages.INFO)
