"""Request parsers that bound body size and accept the seed 000 ``{data, metadata}`` wrapper."""

from __future__ import annotations

import json
import math
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser

from apps.core.exceptions import PayloadTooLarge


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range")
    return number


def json_loads(text: str | bytes) -> Any:
    """json.loads for text a client sent, refusing what is not JSON (RFC 8259) with a
    ValueError like any other malformed JSON: NaN, Infinity and numbers too large for a
    float (1e999), which Python accepts but no database column or JSON encoder takes back,
    and nesting too deep for the decoder (``[[[…]]]`` a few thousand levels down, a body of
    a few kilobytes), which would be a RecursionError."""
    try:
        return json.loads(text, parse_constant=_not_json, parse_float=_finite_float)
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
