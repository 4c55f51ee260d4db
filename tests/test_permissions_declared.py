"""Every API view says who may call it (SPEC §3): ``permission_classes`` is set on the view
or on one of the project's own base classes, never left to REST framework's default."""

from __future__ import annotations

from collections.abc import Iterator

from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

# Third-party views whose access is configured in settings (SPECTACULAR_SETTINGS), should one
# be routed directly; the schema and Swagger UI are served by subclasses of ours.
ALLOWLIST = {"SpectacularAPIView", "SpectacularSwaggerView", "SpectacularRedocView", "SpectacularJSONAPIView"}

PROJECT_PACKAGES = ("apps.", "citizenai.")


def walk(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, object]]:
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from walk(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern.callback


def api_views() -> dict[str, type[APIView]]:
    views: dict[str, type[APIView]] = {}
    for route, callback in walk(get_resolver()):
        view_class = getattr(callback, "cls", None)
        if isinstance(view_class, type) and issubclass(view_class, APIView):
            views[route] = view_class
    return views


def declares_permissions(view_class: type[APIView]) -> bool:
    for klass in view_class.__mro__:
        if not klass.__module__.startswith(PROJECT_PACKAGES):
            continue
        if "permission_classes" in vars(klass):
            return True
    return False


def test_the_walk_finds_the_api():
    views = api_views()
    names = {view.__name__ for view in views.values()}
    # If these are missing the walk is broken and the test below would pass vacuously.
    assert {"HealthView", "InfoView", "LoginView", "UserListView"} <= names
    assert any(route.startswith("api/v1/") for route in views)


def test_every_api_view_declares_its_permissions():
    undeclared = sorted(
        f"{route} -> {view.__module__}.{view.__qualname__}"
        for route, view in api_views().items()
        if view.__name__ not in ALLOWLIST and not declares_permissions(view)
    )
    assert undeclared == [], "API views without explicit permission_classes:\n" + "\n".join(undeclared)


def test_the_check_catches_a_view_that_forgot():
    from apps.core.api.base import ApiView
    from apps.core.permissions import Public

    class Forgot(ApiView):
        pass

    class Said(ApiView):
        permission_classes = [Public]

    class Inherits(Said):
        pass

    Forgot.__module__ = Said.__module__ = Inherits.__module__ = "apps.example.views"
    assert declares_permissions(Forgot) is False
    assert declares_permissions(Said) is True
    assert declares_permissions(Inherits) is True
