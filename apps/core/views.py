"""Error pages: the envelope under /api/, templates elsewhere."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.core.envelope import error_json_response, is_api_path


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return error_json_response(404, "RESOURCE_NOT_FOUND", "The requested resource was not found.")
    return render(request, "errors/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path):
        return error_json_response(500, "INTERNAL_ERROR", "An internal error occurred.")
    return render(request, "errors/500.html", status=500)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return error_json_response(403, "PERMISSION_DENIED", "You do not have permission.")
    return render(request, "errors/403.html", status=403)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return error_json_response(400, "VALIDATION_ERROR", "Bad request.")
    return render(request, "errors/400.html", status=400)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if is_api_path(request.path):
        return error_json_response(
            403, "PERMISSION_DENIED", "CSRF verification failed; send the CSRF token or use a bearer credential."
        )
    return render(request, "errors/403.html", {"csrf": True}, status=403)
