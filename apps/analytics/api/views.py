"""Analytics API (seed 001): dashboard, metric series, exports and structured queries.

Every endpoint requires the role permission ``analytics.view`` (staff and administrators):
no credentials is 401, a citizen is 403.

Validation (see ``apps.analytics.api.serializers``): a query parameter that cannot be
parsed (a malformed date, filters that are not JSON, a non-boolean flag) is a 400
``VALIDATION_ERROR`` as SPEC §2 says for bad query parameters; a parsed but unacceptable
value (unknown metric, granularity, format or filter key, end before start, a range over
366 days, a missing required parameter) and any invalid query body field is a 422
``VALIDATION_ERROR``. Either way ``error.details`` names each offending field.
"""

from __future__ import annotations

from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response

from apps.analytics import exports, selectors
from apps.analytics.api import serializers as s
from apps.analytics.definitions import DASHBOARD_METRICS, DATE_RANGES, EXPORT_FORMATS, GRANULARITIES, METRIC_TYPES
from apps.core.api.base import ApiView
from apps.core.permissions import require

CanView = require("analytics.view")

RANGE_PARAMETERS = [
    OpenApiParameter(
        "date_range",
        str,
        description=f"One of {', '.join([*DATE_RANGES, 'custom'])}: the N days ending today, today included.",
        enum=[*DATE_RANGES, "custom"],
    ),
    OpenApiParameter("start_date", OpenApiTypes.DATE, description="First day (YYYY-MM-DD) of a custom range."),
    OpenApiParameter("end_date", OpenApiTypes.DATE, description="Last day (YYYY-MM-DD, included) of a custom range."),
    OpenApiParameter(
        "metrics", str, description=f"Comma-separated subset of {', '.join(DASHBOARD_METRICS)}; default all."
    ),
]
ERRORS = {
    400: OpenApiResponse(description="A parameter could not be parsed."),
    401: OpenApiResponse(description="No credentials."),
    403: OpenApiResponse(description="Missing analytics.view."),
    422: OpenApiResponse(description="A parameter or field is not acceptable; details name it."),
}


class DashboardView(ApiView):
    """Summary, conversations per day, sentiment shares and concern counts for a range."""

    permission_classes = [CanView]

    @extend_schema(
        operation_id="analytics_dashboard",
        parameters=RANGE_PARAMETERS,
        responses={200: s.DashboardSerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        params = s.dashboard_params(request.query_params)
        return Response(selectors.dashboard_get(period=params.period, metrics=params.metrics))


class MetricView(ApiView):
    """One metric as a series with a data point per bucket (zeros included)."""

    permission_classes = [CanView]

    @extend_schema(
        operation_id="analytics_metric",
        parameters=[
            OpenApiParameter("metric_type", str, OpenApiParameter.PATH, enum=list(METRIC_TYPES)),
            OpenApiParameter("granularity", str, enum=list(GRANULARITIES), description="Default daily."),
            OpenApiParameter("start_date", OpenApiTypes.DATE, required=True),
            OpenApiParameter("end_date", OpenApiTypes.DATE, required=True, description="Included."),
            OpenApiParameter(
                "filters",
                str,
                description=(
                    "JSON object {name: value or [values]}. conversations: status; sentiment: sentiment, intent; "
                    "concerns: category, priority, status; performance: agent_id, intent."
                ),
            ),
        ],
        responses={200: s.MetricSeriesSerializer, **ERRORS},
    )
    def get(self, request: Request, metric_type: str) -> Response:
        params = s.metric_params(metric_type, request.query_params)
        return Response(
            selectors.metric_series(
                metric_type=params.metric_type,
                granularity=params.granularity,
                period=params.period,
                filters=params.filters,
            )
        )


class IgnoreFormatNegotiation(DefaultContentNegotiation):
    """``format`` is the export's own parameter here, not REST framework's format override:
    errors are rendered by the first (envelope) renderer whatever it says."""

    def select_renderer(self, request: Request, renderers: list[Any], format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


class ExportView(ApiView):
    """The analytics of a range as a file (CSV, JSON, XLSX or PDF), streamed."""

    permission_classes = [CanView]
    content_negotiation_class = IgnoreFormatNegotiation

    @extend_schema(
        operation_id="analytics_export",
        parameters=[
            OpenApiParameter("format", str, required=True, enum=list(EXPORT_FORMATS)),
            *RANGE_PARAMETERS,
            OpenApiParameter(
                "include_details", bool, description="Also list every concern of the range (default false)."
            ),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/json"): OpenApiTypes.BINARY,
            (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): OpenApiTypes.BINARY,
            (200, "application/pdf"): OpenApiTypes.BINARY,
            **ERRORS,
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        params = s.export_params(request.query_params)
        return exports.export_response(
            fmt=params.fmt,
            period=params.period,
            metrics=params.metrics,
            include_details=params.include_details,
            asgi=isinstance(request._request, ASGIRequest),
        )


class QueryView(ApiView):
    """A structured query: one aggregate of one metric, grouped and filtered by whitelisted
    names only (never SQL)."""

    permission_classes = [CanView]

    @extend_schema(
        operation_id="analytics_query",
        request=s.StructuredQuerySerializer,
        responses={200: s.QueryResultSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        form = s.StructuredQuerySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        return Response(
            selectors.query_run(
                metric=data["metric"],
                aggregate=data["aggregate"],
                field_name=data["field"],
                group_by=data["group_by"],
                filters=data["filters"],
                period=data["period"],
                limit=data["limit"],
            )
        )
