"""Request parsers that bound body size and accept the seed 000 ``{data, metadata}`` wrapper."""

from __future__ import annotations

import json
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser

from apps.core.exceptions import PayloadTooLarge


def json_loads(text: str | bytes) -> Any:
    """json.loads for text a client sent: nesting too deep for the decoder (``[[[…]]]`` a few
    thousand levels down, a body of a few kilobytes) is a ValueError like any other malformed
    JSON, not a RecursionError that ends as a 500."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def unwrap(parsed: Any) -> Any:
    """``{"data": {...}, "metadata": {...}}`` means the payload is ``data``."""
    if (
        isinstance(parsed, dict)
        and "data" in parsed
        and set(parsed) <= {"data", "metadata"}
        and isinstance(parsed["data"], dict)
    ):
        return parsed["data"]
    return parsed


def read_limited(stream: IO[bytes], limit: int) -> bytes:
    content = stream.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
    return content


class EnvelopeJSONParser(JSONParser):
    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        raw = read_limited(stream, settings.API_MAX_JSON_BYTES)
        if not raw.strip():
            return {}
        try:
            parsed = json_loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ParseError(f"JSON parse error: {exc}") from None
        return unwrap(parsed)


class LimitedFormParser(FormParser):
    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        from io import BytesIO

        raw = read_limited(stream, settings.API_MAX_JSON_BYTES)
        return super().parse(BytesIO(raw), media_type, parser_context)


class LimitedMultiPartParser(MultiPartParser):
    """Size is bounded by ApiBodySizeMiddleware from Content-Length before parsing starts."""
