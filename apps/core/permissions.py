"""Permission classes by role permission name (e.g. ``users.manage``).

Every API view states its callers with one of these or with ``Public``; the roles and their
permission lists are defined in ``apps.accounts.roles``.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request

from apps.core.net import is_from_this_site

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


class NotCrossSiteOnCookies(BasePermission):
    """For a GET that acts (GET /chat/stream, for EventSource, files reports and escalates):
    another site could otherwise act with a visitor's cookies just by linking to it, since
    SameSite=Lax cookies go with a top-level navigation and no CSRF check covers a GET. So a
    request that carries cookies and no credential of its own (a header, ?token=) must show
    it comes from this site (apps.core.net.is_from_this_site)."""

    message = (
        "A request this site did not make cannot act with this browser's cookies; "
        "send an Authorization header or ?token= instead."
    )

    def has_permission(self, request: Request, view: Any) -> bool:
        django_request = request._request
        if request.auth is None and django_request.COOKIES and not is_from_this_site(django_request):
            # Raised, not returned: DRF would answer an anonymous caller 401, as if signing in helped.
            raise PermissionDenied(self.message)
        return True
