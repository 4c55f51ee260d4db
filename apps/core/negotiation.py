"""Content negotiation that skips parsing for the Accept headers nearly every client sends.

DRF parses and ranks the Accept header on every request, about a tenth of an authenticated
request's CPU (bench/profile_stack.py). With no header, ``*/*`` or the first renderer's own
media type the answer is always the first renderer, so it is returned at once; anything
else (``text/event-stream``, a list with qualities, ``?format=``) takes DRF's full path and
gets exactly the answer it did before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.http import Http404
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from apps.core.exceptions import BadRequest


class FastContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Sequence[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str] | Any:
        meta = request._request.META  # not request.META: DRF's proxy costs an exception first
        accept = meta.get("HTTP_ACCEPT", "*/*")
        if (
            renderers
            and not format_suffix
            and (not meta.get("QUERY_STRING") or self.settings.URL_FORMAT_OVERRIDE not in request.query_params)
        ):
            first = renderers[0]
            if accept in ("*/*", first.media_type):
                return first, first.media_type
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except Http404:
            if format_suffix:  # a path's suffix (.xml): that path does not exist
                raise
            # ?format=: a bad query parameter is a 400 (SPEC §2), not DRF's 404.
            known = ", ".join(sorted({renderer.format for renderer in renderers}))
            raise BadRequest(details={self.settings.URL_FORMAT_OVERRIDE: [f"Unknown format; use {known}."]}) from None
