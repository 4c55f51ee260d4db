"""drf-spectacular post-processing: document the envelope every response is wrapped in."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "required": ["success", "error", "metadata"],
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
            },
        },
        "metadata": {"$ref": "#/components/schemas/Metadata"},
    },
}

METADATA_SCHEMA = {
    "type": "object",
    "properties": {
        "timestamp": {"type": "string", "format": "date-time"},
        "request_id": {"type": "string"},
        "version": {"type": "string"},
    },
}

PAGINATION_SCHEMA = {
    "type": "object",
    "properties": {
        "page": {"type": "integer"},
        "per_page": {"type": "integer"},
        "total": {"type": "integer"},
        "pages": {"type": "integer"},
        "next_cursor": {"type": "string", "nullable": True},
        "prev_cursor": {"type": "string", "nullable": True},
        "has_more": {"type": "boolean"},
    },
}


def wrap_in_envelope(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Metadata"] = METADATA_SCHEMA
    schemas["Error"] = ERROR_SCHEMA
    schemas["Pagination"] = PAGINATION_SCHEMA
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status, response in list(responses.items()):
                content = response.get("content", {}).get("application/json")
                if not content or not str(status).startswith("2"):
                    continue
                inner = content.get("schema", {})
                content["schema"] = {
                    "type": "object",
                    "required": ["success", "data", "metadata"],
                    "properties": {
                        "success": {"type": "boolean", "enum": [True]},
                        "data": inner,
                        "pagination": {"$ref": "#/components/schemas/Pagination"},
                        "metadata": {"$ref": "#/components/schemas/Metadata"},
                    },
                }
            responses.setdefault(
                "default",
                {
                    "description": "Error in the envelope",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            )
    return result
