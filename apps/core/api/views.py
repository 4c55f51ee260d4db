from __future__ import annotations

import os
import time

import psutil
from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import serializers
from rest_framework.exceptions import APIException, NotFound, Throttled
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core import health
from apps.core.api.base import ApiView, BodySizeMixin, ThrottleFirstMixin
from apps.core.clock import utc_now_iso
from apps.core.permissions import Public, require
from apps.core.renderers import EnvelopeRenderer

STARTED_AT = time.time()


def _megabytes(value: float) -> str:
    return f"{round(value / (1024 * 1024))}MB"


class HealthView(ApiView):
    """Liveness and readiness: real checks of each component; 503 when a required one fails."""

    permission_classes = [Public]

    @extend_schema(
        responses=inline_serializer(
            "Health",
            {
                "status": serializers.CharField(),
                "timestamp": serializers.DateTimeField(),
                "version": serializers.CharField(),
                "uptime": serializers.IntegerField(),
                "components": serializers.DictField(child=serializers.CharField()),
                "metrics": serializers.DictField(child=serializers.CharField()),
            },
        ),
        auth=[],
    )
    def get(self, request: Request) -> Response:
        ok, components, timings = health.run_checks()
        degraded = any(status == health.UNHEALTHY for status in components.values())
        process = psutil.Process(os.getpid())
        disk = psutil.disk_usage(str(settings.MEDIA_ROOT) if settings.MEDIA_ROOT.exists() else "/")
        data = {
            "status": "healthy" if not degraded else ("degraded" if ok else "unhealthy"),
            "timestamp": utc_now_iso(),
            "version": settings.APP_VERSION,
            "uptime": int(time.time() - STARTED_AT),
            "components": components,
            "response_times_ms": timings,
            "metrics": {
                "memory_usage": _megabytes(process.memory_info().rss),
                "cpu_usage": f"{psutil.cpu_percent(interval=None):.0f}%",
                "disk_usage": f"{disk.percent:.0f}%",
            },
        }
        if not ok:
            # Any status >= 400 is rendered as the error envelope, which needs code and message;
            # monitors find the component report in error.details.
            return Response(
                {"code": "SERVICE_UNAVAILABLE", "message": "A required component is unavailable.", "details": data},
                status=503,
            )
        return Response(data)


class InfoView(ApiView):
    permission_classes = [require("system.view")]

    @extend_schema(
        responses=inline_serializer(
            "SystemInfo",
            {
                "version": serializers.CharField(),
                "build": serializers.CharField(),
                "environment": serializers.CharField(),
                "features": serializers.ListField(child=serializers.CharField()),
                "limits": serializers.DictField(),
            },
        )
    )
    def get(self, request: Request) -> Response:
        limits = settings.RATE_LIMITS_PER_MINUTE
        return Response(
            {
                "version": settings.APP_VERSION,
                "build": settings.BUILD,
                "environment": settings.ENVIRONMENT,
                "features": sorted(app.split(".")[-1] for app in settings.INSTALLED_APPS if app.startswith("apps.")),
                "backends": {
                    "database": "postgresql" if settings.IS_POSTGRES else "sqlite",
                    "cache": "redis" if settings.REDIS_URL else "local-memory",
                    "channel_layer": "redis" if settings.REDIS_URL else "in-memory",
                    "tasks": "celery" if settings.CELERY_BROKER_URL else "in-process",
                },
                "limits": {
                    "max_json_body": _megabytes(settings.API_MAX_JSON_BYTES),
                    "max_upload_body": _megabytes(settings.API_MAX_UPLOAD_BYTES),
                    "rate_limit": {tier: f"{limit}/minute" for tier, limit in limits.items()},
                    "session_timeout": f"{settings.ACCESS_TOKEN_TTL // 60} minutes",
                },
            }
        )


class ApiNotFoundView(ApiView):
    """Any unknown path under /api/ answers 404 in the envelope, whatever the method.

    Counted like any request first, so that probing made-up paths is limited too and the
    answer carries the X-RateLimit-* headers: against the caller's own budget when the
    credentials are good (a client behind a busy address must not be refused for its typo),
    else against the address. Bad credentials do not turn the 404 into a 401 or 403."""

    permission_classes = [Public]
    schema = None
    idempotent = False
    keep_resolved = False  # apps/core/handlers.py

    def perform_authentication(self, request: Request) -> None:
        try:
            super().perform_authentication(request)  # counts the caller, whoever it turned out to be
        except Throttled:
            raise
        except APIException:  # a bad key, or a cookie without its CSRF token
            pass

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        super().initial(request, *args, **kwargs)
        raise NotFound("The requested resource was not found.")


class EnvelopedErrorsMixin:
    """For another package's API view that renders something else (the schema's YAML, Swagger
    UI's HTML): its errors are the error envelope in JSON like every other API error."""

    request: Request

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)  # type: ignore[misc]
        self.request.accepted_renderer = EnvelopeRenderer()
        self.request.accepted_media_type = EnvelopeRenderer.media_type
        return response


class SchemaView(ThrottleFirstMixin, BodySizeMixin, EnvelopedErrorsMixin, SpectacularAPIView):
    """The OpenAPI schema (public), counted and refused like any API request."""

    permission_classes = [Public]


class SwaggerView(ThrottleFirstMixin, BodySizeMixin, EnvelopedErrorsMixin, SpectacularSwaggerView):
    """Swagger UI (public), counted and refused like any API request."""

    permission_classes = [Public]
