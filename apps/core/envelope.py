"""The response envelope of SPEC §2, shared by the DRF renderer and plain Django views."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

from apps.core.clock import utc_now_iso
from apps.core.conf import hot_settings
from apps.core.context import current_request_id


def metadata() -> dict[str, str]:
    return {
        "timestamp": utc_now_iso(),
        "request_id": current_request_id(),
        "version": hot_settings.API_VERSION,
    }


def success_body(data: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "data": data}
    if extra:
        body.update(extra)
    body["metadata"] = metadata()
    return body


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {
        "success": False,
        "error": {"code": code, "message": message, "details": details or {}},
        "metadata": metadata(),
    }


def error_json_response(status: int, code: str, message: str, details: Any = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status)


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")
