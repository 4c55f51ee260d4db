from __future__ import annotations

from typing import Any

from rest_framework.renderers import JSONRenderer

from apps.core.envelope import metadata, success_body


class EnvelopeRenderer(JSONRenderer):
    """Wraps view data in the success envelope and handler output in the error envelope.

    A view adds top-level members (``pagination``, ``message``, seed 000's ``user``) by
    setting ``response.envelope_extra``.
    """

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> bytes:
        response = (renderer_context or {}).get("response")
        if response is None:
            return super().render(data, accepted_media_type, renderer_context)
        if response.status_code == 204:
            return b""
        if getattr(response, "exception", False) or response.status_code >= 400:
            body: dict[str, Any] = {"success": False, "error": data, "metadata": metadata()}
        else:
            body = success_body(data, getattr(response, "envelope_extra", None))
        return super().render(body, accepted_media_type, renderer_context)
