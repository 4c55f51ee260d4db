"""Knowledge articles in the Django admin, managed by staff (``knowledge.manage``); saving or
deleting one refreshes the search index (apps/knowledge/signals.py)."""

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.utils import timezone

from apps.core.admin import RolePermissionAdminMixin
from apps.knowledge.models import Article


@admin.register(Article)
class ArticleAdmin(RolePermissionAdminMixin, admin.ModelAdmin):
    list_display = ["title", "category", "published", "updated_at"]
    list_filter = ["published", "category"]
    search_fields = ["title", "body"]
    view_permission = manage_permission = "knowledge.manage"
    readonly_fields = ["created_at", "updated_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # a bare city.example.org/...

    def save_model(self, request: HttpRequest, obj: Article, form: Any, change: bool) -> None:
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)
