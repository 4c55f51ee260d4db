from __future__ import annotations

from typing import Any

from rest_framework.response import Response


def envelope(data: Any, status: int = 200, **top_level: Any) -> Response:
    """A response whose envelope gets extra top-level members (seed 001's ``message``)."""
    response = Response(data, status=status)
    if top_level:
        response.envelope_extra = top_level
    return response


def message(text: str, status: int = 200, **data: Any) -> Response:
    """Seed 001 answers deletes and logouts with a top-level message; it is in data too."""
    return envelope({"message": text, **data}, status=status, message=text)
