"""Permission classes by role permission name (e.g. ``users.manage``).

Every API view states its callers with one of these or with ``Public``; the roles and their
permission lists are defined in ``apps.accounts.roles``.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request

Public = AllowAny
Authenticated = IsAuthenticated


def user_has(user: Any, permission: str) -> bool:
    return bool(
        user is not None and user.is_authenticated and user.is_active and permission in getattr(user, "permissions", ())
    )


def require(*permissions: str) -> type[BasePermission]:
    """A permission class that admits users holding every named role permission."""

    class RequiresPermission(BasePermission):
        message = f"This action requires the permission {', '.join(permissions)}."

        def has_permission(self, request: Request, view: Any) -> bool:
            return all(user_has(request.user, permission) for permission in permissions)

    RequiresPermission.__name__ = "Requires_" + "_".join(p.replace(".", "_") for p in permissions)
    return RequiresPermission
