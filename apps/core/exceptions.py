"""API errors and the single handler that turns every exception into the error envelope."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger("apps.core.errors")


class ApiError(exceptions.APIException):
    """An error with an explicit envelope code; subclasses fix status and code."""

    status_code = status.HTTP_400_BAD_REQUEST
    error_code = "VALIDATION_ERROR"
    default_detail = "Invalid request."

    def __init__(self, message: str | None = None, details: Any = None) -> None:
        super().__init__(message or self.default_detail)
        self.message = message or str(self.default_detail)
        self.details = details or {}


class BadRequest(ApiError):
    """400 for malformed input that is not a field validation failure (e.g. query params)."""

    default_detail = "Invalid request parameters."


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    error_code = "CONFLICT"
    default_detail = "The request conflicts with the current state of the resource."


class PayloadTooLarge(ApiError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    error_code = "PAYLOAD_TOO_LARGE"
    default_detail = "The request body is too large."


class UnsupportedMediaType(ApiError):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    error_code = "UNSUPPORTED_MEDIA_TYPE"
    default_detail = "Unsupported media type."


class InvalidCredentials(exceptions.AuthenticationFailed):
    """401 INVALID_API_KEY: a bearer credential was given but is unknown, expired or revoked."""

    default_code = "INVALID_API_KEY"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.details = {"reason": reason}


_STATUS_CODES: dict[int, str] = {
    400: "VALIDATION_ERROR",
    401: "AUTHENTICATION_REQUIRED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMIT_EXCEEDED",
}


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as one entry per field, nested fields dotted."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for field, messages in flatten_errors(value, name).items():
                flat.setdefault(field, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            flat[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                name = f"{prefix}.{index}" if prefix else str(index)
                for field, messages in flatten_errors(item, name).items():
                    flat.setdefault(field, []).extend(messages)
    else:
        flat[prefix or "non_field_errors"] = [str(detail)]
    return flat


def describe(exc: exceptions.APIException) -> tuple[int, str, str, Any]:
    """(status, code, message, details) for an API exception."""
    if isinstance(exc, ApiError):
        return exc.status_code, exc.error_code, exc.message, exc.details
    if isinstance(exc, exceptions.ValidationError):
        details = flatten_errors(exc.detail)
        return 422, "VALIDATION_ERROR", "Request validation failed.", details
    if isinstance(exc, exceptions.ParseError):
        return 400, "VALIDATION_ERROR", "Malformed request body.", {"body": [str(exc.detail)]}
    if isinstance(exc, InvalidCredentials):
        return 401, "INVALID_API_KEY", str(exc.detail), exc.details
    if isinstance(exc, exceptions.NotAuthenticated):
        return 401, "AUTHENTICATION_REQUIRED", "Authentication credentials were not provided.", {}
    if isinstance(exc, exceptions.Throttled):
        message = getattr(exc, "envelope_message", None) or "Rate limit exceeded."
        if exc.wait is not None and not hasattr(exc, "envelope_message"):
            message = f"Rate limit exceeded; retry in {int(exc.wait) or 1} seconds."
        return 429, "RATE_LIMIT_EXCEEDED", message, {}
    code = _STATUS_CODES.get(exc.status_code, "ERROR")
    return exc.status_code, code, str(exc.detail), {}


def log_unhandled(exc: BaseException) -> None:
    """Log an unexpected error by type and location; the full traceback (which may quote
    values such as connection strings) only when LOG_TRACEBACKS is on."""
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f"{frame[0].filename}:{frame[0].lineno}" if frame else "unknown"
    logger.error(
        "Unhandled %s at %s",
        type(exc).__name__,
        where,
        exc_info=exc if settings.LOG_TRACEBACKS else None,
        extra={"error_type": type(exc).__name__},
    )


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("The requested resource was not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )

    if not isinstance(exc, exceptions.APIException):
        log_unhandled(exc)
        response = Response(
            {"code": "INTERNAL_ERROR", "message": "An internal error occurred.", "details": {}},
            status=500,
        )
        response.exception = True
        return response

    status_code, code, message, details = describe(exc)
    response = Response({"code": code, "message": message, "details": details}, status=status_code)
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        response["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        response["WWW-Authenticate"] = auth_header
    response.exception = True
    return response
