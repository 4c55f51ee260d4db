from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.contrib.sessions import middleware as session_middleware
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

from apps.core.api.base import BodySizeMixin
from apps.core.conf import hot_settings
from apps.core.context import accept_request_id, request_id_var
from apps.core.envelope import error_json_response, is_api_path
from apps.core.exceptions import ApiError, BadRequest, PayloadTooLarge, log_unhandled
from apps.core.logging import access_record
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
                fields = {
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "user_id": str(user.pk) if user is not None and user.is_authenticated else None,
                }
                message = f"{request.method} {request.path} {response.status_code}"
                access_logger.handle(access_record(access_logger, message, fields))
            return response
        finally:
            request_id_var.reset(token)


class ApiBodySizeMiddleware:
    """Refuses API bodies that are oversized (or whose Content-Length is not a number)
    before anything reads them.

    Decided once the URL is resolved: an API view of ours (BodySizeMixin) is handed the
    refusal, so that it counts the caller first and its 413 carries the X-RateLimit-*
    headers like every other answer; anything else is answered here. Nothing before the
    view's refusal reads the body, with one exception answered here too: a form body with a
    cookie, which the CSRF check of a signed-in browser reads (DRF's SessionAuthentication
    looks for csrfmiddlewaretoken in request.POST) — a multipart upload spooled to disk."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., HttpResponse], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        refusal = body_refusal(request) if is_api_path(request.path) else None
        if refusal is None:
            return None
        view_class = getattr(view_func, "cls", None)
        content_type = request.META.get("CONTENT_TYPE", "")
        form = content_type.startswith(("multipart/", "application/x-www-form-urlencoded"))
        if (
            isinstance(view_class, type)
            and issubclass(view_class, BodySizeMixin)
            and not (form and request.META.get("HTTP_COOKIE"))
        ):
            request.body_refusal = refusal  # type: ignore[attr-defined]
            return None
        return error_json_response(refusal.status_code, refusal.error_code, refusal.message, refusal.details)


def body_refusal(request: HttpRequest) -> ApiError | None:
    """Why this request's body must not be read (a Content-Length that is not a number, or
    one over the limit for its content type), or None."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return BadRequest("Invalid Content-Length header.")
    multipart = request.META.get("CONTENT_TYPE", "").startswith("multipart/")
    limit = hot_settings.API_MAX_UPLOAD_BYTES if multipart else hot_settings.API_MAX_JSON_BYTES
    if length > limit:
        return PayloadTooLarge(f"The request body exceeds {limit} bytes.", {"max_bytes": limit})
    return None


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
