from __future__ import annotations

from collections.abc import ValuesView
from typing import Any

from django.http.response import HttpResponseBase, ResponseHeaders
from rest_framework.response import Response


class ApiHeaders(ResponseHeaders):
    """Django's response headers, answering the three lookups every response meets without
    raising an exception.

    Mapping finds a missing header for ``in`` and ``get()`` by catching the KeyError of
    ``[]``, and its ``items()`` looks every header up again by name. SecurityMiddleware,
    CommonMiddleware, XFrameOptionsMiddleware and the WSGI handler ask these of every
    response: about 3% of a cached, authenticated API request's instructions (callgrind).
    The same answers, read from the store directly; setting a header is Django's own."""

    def __contains__(self, key: object) -> bool:
        return key.lower() in self._store  # type: ignore[attr-defined]  # not a str: raises, as Mapping's

    def get(self, key: str, default: Any = None) -> Any:
        item = self._store.get(key.lower())
        return default if item is None else item[1]

    def items(self) -> ValuesView[tuple[str, str]]:  # type: ignore[override]
        return self._store.values()  # (name as it was set, value), in the order set


def use_api_headers(response: HttpResponseBase) -> None:
    """Gives a finished response of ours ApiHeaders (the same store, another class)."""
    if type(response.headers) is ResponseHeaders:
        response.headers.__class__ = ApiHeaders


def envelope(data: Any, status: int = 200, **top_level: Any) -> Response:
    """A response whose envelope gets extra top-level members (seed 001's ``message``)."""
    response = Response(data, status=status)
    if top_level:
        response.envelope_extra = top_level
    return response


def message(text: str, status: int = 200, **data: Any) -> Response:
    """Seed 001 answers deletes and logouts with a top-level message; it is in data too."""
    return envelope({"message": text, **data}, status=status, message=text)
