"""Base classes every API view builds on: envelope, errors, rate limits, idempotency."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from django.http import HttpResponseBase
from rest_framework import exceptions, generics
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.core.idempotency import (
    Replay,
    idempotency_claim,
    idempotency_replay,
    idempotency_store,
)
from apps.core.responses import use_api_headers

_shared: dict[tuple[type, ...], tuple[Any, ...]] = {}


def _shared_instances(classes: Sequence[type]) -> tuple[Any, ...]:
    key = tuple(classes)
    found = _shared.get(key)
    if found is None:
        found = _shared[key] = tuple(component() for component in key)
    return found


class SharedComponentsMixin:
    """DRF makes a view's parsers, authenticators and renderers anew for every request. Ours
    keep no state between calls, so one set per combination of classes serves every request
    and thread. (Throttles do keep state: each request still gets its own.)"""

    parser_classes: Sequence[type]
    authentication_classes: Sequence[type]
    renderer_classes: Sequence[type]

    def get_parsers(self) -> tuple[Any, ...]:
        return _shared_instances(self.parser_classes)

    def get_authenticators(self) -> tuple[Any, ...]:
        return _shared_instances(self.authentication_classes)

    def get_renderers(self) -> tuple[Any, ...]:
        return _shared_instances(self.renderer_classes)


class ThrottleFirstMixin:
    """Counts each request against the caller's budget as soon as the caller is known, before
    authentication can fail or permissions refuse it: a refused caller cannot hammer an
    endpoint without limit, and 401s and 403s carry the X-RateLimit-* headers too (SPEC §2)."""

    def perform_authentication(self, request: Request) -> None:
        try:
            super().perform_authentication(request)  # type: ignore[misc]
        finally:
            # A failed authentication leaves the request anonymous: counted by address.
            self.check_throttles(request)

    _throttles_checked = False

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        # What fails before authentication (content negotiation: 406, an unknown ?format=:
        # 400) is counted here, so that its answer carries the X-RateLimit-* headers too, and
        # a caller over budget gets the 429 as anywhere else.
        if not self._throttles_checked and not isinstance(exc, exceptions.Throttled):
            request = getattr(self, "request", None)
            if isinstance(request, Request):
                with contextlib.suppress(exceptions.APIException):  # a bad key: counted by address
                    request.user  # noqa: B018
                try:
                    self.check_throttles(request)
                except exceptions.Throttled as throttled:  # over budget: that is the answer
                    exc = throttled
        return super().handle_exception(exc)  # type: ignore[misc]

    def check_throttles(self, request: Request) -> None:
        # DRF calls this again after the permission check; each request (a view instance of
        # its own) counts once. The flag is on the view: a miss on DRF's Request costs two
        # exceptions.
        if self._throttles_checked:
            return
        self._throttles_checked = True
        super().check_throttles(request)  # type: ignore[misc]


class BodySizeMixin:
    """Raises the refusal ApiBodySizeMiddleware left (a body over the limit, a Content-Length
    that is not a number) once the caller has been counted, so the answer carries the
    X-RateLimit-* headers, and before permissions."""

    def check_permissions(self, request: Request) -> None:
        refusal = getattr(request._request, "body_refusal", None)
        if refusal is not None:
            raise refusal
        super().check_permissions(request)  # type: ignore[misc]


class IdempotentMixin:
    """POSTs carrying Idempotency-Key are answered once and replayed after that.

    ``idempotent = False`` turns it off for answers that must never be stored (fresh
    tokens); ``idempotency_redact`` names members of ``data`` that are shown once and so are
    blanked in the stored replay (a new API key's secret, a webhook signing secret)."""

    idempotent = True
    idempotency_redact: tuple[str, ...] = ()
    _idempotency_record = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        if self.idempotent:
            self._idempotency_record = idempotency_claim(request=request)

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        if isinstance(exc, Replay):
            return idempotency_replay(exc.record)
        return super().handle_exception(exc)  # type: ignore[misc]

    def finalize_response(
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        if self._idempotency_record is not None:
            idempotency_store(record=self._idempotency_record, response=response, redact=self.idempotency_redact)
            self._idempotency_record = None
        return response


class MethodPermissionsMixin:
    """Lets a view declare who may call each method:
    ``method_permissions = {"GET": [Public], "PUT": [require("concerns.update")]}``.
    Methods not listed fall back to ``permission_classes``."""

    method_permissions: dict[str, list[type[BasePermission]]] = {}

    def get_permissions(self) -> list[BasePermission]:
        request = getattr(self, "request", None)
        classes = self.method_permissions.get(request._request.method) if request is not None else None
        if classes is None:
            return super().get_permissions()  # type: ignore[misc]
        return [permission() for permission in classes]


_allow_headers: dict[type, dict[str, str]] = {}


class ApiHeadersMixin:
    """Every answer of an API view gets ApiHeaders, for the middleware and server that read
    its headers next, and the Allow header DRF adds is worked out once per view class (DRF
    asks the view for each of nine methods on every request: about 0.6% of a cached,
    authenticated request's instructions, callgrind). A view class's methods do not change;
    a ViewSet's bound actions would, which is why none of ours is one."""

    @property
    def default_response_headers(self) -> dict[str, str]:
        headers = _allow_headers.get(type(self))
        if headers is None:
            headers = _allow_headers[type(self)] = super().default_response_headers  # type: ignore[misc]
        return dict(headers)  # a copy: finalize_response pops Vary from the one it gets

    def finalize_response(
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        use_api_headers(response)
        return response


class ApiView(
    ApiHeadersMixin,
    SharedComponentsMixin,
    ThrottleFirstMixin,
    BodySizeMixin,
    IdempotentMixin,
    MethodPermissionsMixin,
    APIView,
):
    pass


class GenericApiView(
    ApiHeadersMixin,
    SharedComponentsMixin,
    ThrottleFirstMixin,
    BodySizeMixin,
    IdempotentMixin,
    MethodPermissionsMixin,
    generics.GenericAPIView,
):
    pass
