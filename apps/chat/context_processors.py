from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def chat_limits(request: HttpRequest) -> dict[str, Any]:
    """What the chat panel on every citizen page needs to say about messages."""
    return {"chat_max_length": settings.CHAT_MAX_MESSAGE_LENGTH}
