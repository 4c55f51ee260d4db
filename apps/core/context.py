"""Per-request values that logging and the envelope read without passing them around."""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # whole: fullmatch, as $ allows a final \n


def new_request_id() -> str:
    """req_ and 32 random hex digits (as many as a UUID's; uuid4() cost three times as much)."""
    return f"req_{os.urandom(16).hex()}"


def accept_request_id(candidate: str | None) -> str:
    """A client's X-Request-ID is echoed only if it is short and plain, so it cannot forge
    log lines or inflate headers; anything else is replaced by a generated id."""
    if candidate and _VALID_REQUEST_ID.fullmatch(candidate):
        return candidate
    return new_request_id()


def current_request_id() -> str:
    return request_id_var.get()
