from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.contrib.sessions import middleware as session_middleware
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

from apps.core.context import accept_request_id, request_id_var
from apps.core.envelope import error_json_response, is_api_path
from apps.core.exceptions import log_unhandled
from apps.core.net import claims_bearer

access_logger = logging.getLogger("apps.access")

Handler = Callable[[HttpRequest], HttpResponse]


class RequestIdMiddleware:
    """Accepts or creates X-Request-ID, echoes it, adds the rate-limit headers the throttle
    recorded and writes one access-log line per request."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = accept_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        token = request_id_var.set(request_id)
        request.request_id = request_id  # type: ignore[attr-defined]
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            budget = getattr(request, "ratelimit", None)
            if budget is not None:
                response["X-RateLimit-Limit"] = str(budget.limit)
                response["X-RateLimit-Remaining"] = str(max(0, budget.remaining))
                response["X-RateLimit-Reset"] = str(budget.reset)
            if access_logger.isEnabledFor(logging.INFO):  # the line's fields cost more than the check
                user = getattr(request, "user", None)
                access_logger.info(
                    "%s %s %s",
                    request.method,
                    request.path,
                    response.status_code,
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "user_id": str(user.pk) if user is not None and user.is_authenticated else None,
                    },
                )
            return response
        finally:
            request_id_var.reset(token)


class ApiBodySizeMiddleware:
    """Refuses oversized API bodies from Content-Length before anything reads them."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_path(request.path):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return error_json_response(400, "VALIDATION_ERROR", "Invalid Content-Length header.", {})
            content_type = request.META.get("CONTENT_TYPE", "")
            limit = (
                settings.API_MAX_UPLOAD_BYTES if content_type.startswith("multipart/") else settings.API_MAX_JSON_BYTES
            )
            if length > limit:
                return error_json_response(
                    413,
                    "PAYLOAD_TOO_LARGE",
                    f"The request body exceeds {limit} bytes.",
                    {"max_bytes": limit},
                )
        return self.get_response(request)


class ApiExceptionMiddleware:
    """Last line for API paths: an exception outside DRF still yields the error envelope,
    whatever DEBUG says."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None
        if isinstance(exception, Http404):
            return error_json_response(404, "RESOURCE_NOT_FOUND", "The requested resource was not found.")
        if isinstance(exception, PermissionDenied):
            return error_json_response(403, "PERMISSION_DENIED", "You do not have permission.")
        log_unhandled(exception)
        return error_json_response(500, "INTERNAL_ERROR", "An internal error occurred.")


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_program_read(request: HttpRequest) -> bool:
    """An API read that only a program makes: bearer credentials and no cookies.

    Such a request has no session, no signed-in browser user and no messages to show:
    BearerAuthentication either answers it or refuses it (a first word that starts with
    "bearer" is never passed over to the session), and a safe method needs no CSRF check.
    A cookie, another scheme, an unsafe method or a page gets everything as before."""
    meta = request.META
    return (
        not meta.get("HTTP_COOKIE")
        and claims_bearer(meta.get("HTTP_AUTHORIZATION", "")[:6].encode("latin-1", "replace"))
        and request.method in _SAFE_METHODS
        and is_api_path(request.path_info)
    )


class BrowserStateMixin:
    """For middleware that serve a browser's state (session, request.user, messages): a
    program's read (is_program_read) skips them. Sessions, authentication and messages
    together cost about 6% of a cached, authenticated API read's instructions (callgrind)
    for nothing there. Subclasses of Django's own, so the admin's checks still find them."""

    get_response: Handler

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_program_read(request):
            return self.get_response(request)
        return super().__call__(request)  # type: ignore[misc]


class SessionMiddleware(BrowserStateMixin, session_middleware.SessionMiddleware):
    pass


class AuthenticationMiddleware(BrowserStateMixin, auth_middleware.AuthenticationMiddleware):
    pass


class LazyMessageMiddleware(BrowserStateMixin, MessageMiddleware):
    """Django's MessageMiddleware, making the message storage only when something uses it.

    Django makes it for every request, with a cookie signer, which cost about a tenth of a
    cached, authenticated API request's CPU (bench/profile_stack.py); API requests never
    use messages, and a page only when it adds or shows one."""

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        messages = getattr(request, "_messages", None)
        if isinstance(messages, SimpleLazyObject) and messages._wrapped is empty:
            return response  # never used: nothing to store
        return super().process_response(request, response)
