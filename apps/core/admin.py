"""Django admin access decided by role permissions (apps/accounts/roles.py).

Django's per-model permissions are given to no role: without this, only administrators
(superusers) would see a model, whatever permissions the staff role holds."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.core.permissions import user_has


class RolePermissionAdminMixin:
    """For a ModelAdmin or an inline: ``view_permission`` opens the model's pages,
    ``manage_permission`` adds, changes and deletes (None: nobody, a read-only record)."""

    view_permission: str
    manage_permission: str | None = None

    def _may_manage(self, request: HttpRequest) -> bool:
        return self.manage_permission is not None and user_has(request.user, self.manage_permission)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_has(request.user, self.view_permission)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_has(request.user, self.view_permission)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:  # inlines pass obj
        return self._may_manage(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request)
