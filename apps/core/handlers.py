"""Django's WSGI and ASGI handlers, resolving each URL path once per process.

Django walks the URLconf's patterns for every request; for an API path that is several
nested includes and regular expressions, about a tenth of a cached, authenticated request's
CPU (bench/profile_stack.py). The URLconf does not change while a process runs, so the
match for a path is kept (up to RESOLVED_KEPT paths, then started afresh) and each request
gets its own copy, with its own kwargs. Paths that do not resolve are not kept, nor those a
view marks ``keep_resolved = False`` (the catch-all answering 404 under /api/: a scanner's
made-up paths would push out the real ones). A change of
ROOT_URLCONF (tests) forgets everything, as Django's own URL caches do.
"""

from __future__ import annotations

import gc
from typing import Any

from django.conf import settings
from django.core.cache import close_caches
from django.core.cache.backends.base import BaseCache
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started, setting_changed
from django.db import reset_queries
from django.dispatch import receiver
from django.http import HttpRequest
from django.urls import ResolverMatch, get_resolver
from django.utils.module_loading import import_string

RESOLVED_KEPT = 4096
_resolved: dict[str, ResolverMatch] = {}


class ResolveOnceMixin(BaseHandler):
    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        if hasattr(request, "urlconf"):  # a middleware chose another URLconf for this request
            return super().resolve_request(request)
        kept = _resolved.get(request.path_info)
        if kept is None:
            match = super().resolve_request(request)  # Resolver404 propagates, nothing is kept
            if not getattr(getattr(match.func, "view_class", None), "keep_resolved", True):
                return match
            if len(_resolved) >= RESOLVED_KEPT:
                _resolved.clear()
            _resolved[request.path_info] = _copy(match)
            return match
        match = _copy(kept)
        request.resolver_match = match
        return match


def _copy(match: ResolverMatch) -> ResolverMatch:
    # ResolverMatch refuses pickling, so copy.copy() cannot make one.
    clone = object.__new__(ResolverMatch)
    clone.__dict__.update(match.__dict__)
    clone.kwargs = dict(match.kwargs)  # view middleware and views may change their own
    return clone


class ResolveOnceWSGIHandler(ResolveOnceMixin, WSGIHandler):
    pass


class ResolveOnceASGIHandler(ResolveOnceMixin, ASGIHandler):
    pass


@receiver(setting_changed)
def _urlconf_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "ROOT_URLCONF":
        _resolved.clear()


def wsgi_application() -> ResolveOnceWSGIHandler:
    """As django.core.wsgi.get_wsgi_application(), with what lives as long as the process
    frozen out of garbage collection (freeze_startup_objects)."""
    import django

    django.setup(set_prefix=False)
    handler = ResolveOnceWSGIHandler()
    idle_request_receivers_disconnect()
    freeze_startup_objects()
    return handler


def asgi_application() -> ResolveOnceASGIHandler:
    """As django.core.asgi.get_asgi_application()."""
    import django

    django.setup(set_prefix=False)
    idle_request_receivers_disconnect()
    return ResolveOnceASGIHandler()


def idle_request_receivers_disconnect() -> None:
    """Disconnects two receivers Django runs for every request that do nothing here:
    reset_queries empties each database connection's query log, which only DEBUG fills (a
    CaptureQueriesContext disconnects it itself while it counts), and close_caches calls each
    cache's close(), which for every configured backend is BaseCache's, doing nothing. Each
    still walks the connections through asgiref's Local, together about 7% of a cached,
    authenticated request's instructions (callgrind). Only the servers' application
    factories call this: tests keep Django's receivers."""
    if not settings.DEBUG:
        request_started.disconnect(reset_queries)
    if all(_closes_nothing(alias["BACKEND"]) for alias in settings.CACHES.values()):
        request_finished.disconnect(close_caches)


def _closes_nothing(backend: str) -> bool:
    return getattr(import_string(backend), "close", None) is BaseCache.close


def freeze_startup_objects() -> None:
    """Imports the URLconf (and with it every view), then moves everything alive so far out
    of the collector's sight: a full collection scanned all of it, which cost about a tenth
    of a cached, authenticated API request's instructions (callgrind, bench/profile_stack.py).
    Objects made later are collected as before."""
    get_resolver().url_patterns  # noqa: B018 - imported for its side effect
    gc.collect()
    gc.freeze()
