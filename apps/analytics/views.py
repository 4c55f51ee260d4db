"""Staff dashboard pages (server-rendered): summary cards, SVG charts with data tables,
the triage queue and export links. Signed-in users with ``analytics.view`` only: others
are sent to sign in (anonymous) or refused (403)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.analytics import charts, selectors
from apps.analytics.api.serializers import ParamErrors, range_params
from apps.analytics.definitions import DASHBOARD_METRICS, DATE_RANGES, EXPORT_FORMATS, period_for_range
from apps.core.permissions import user_has

DEFAULT_RANGE = "30d"
TRIAGE_LIMIT = 50


@require_GET
@login_required
def staff_dashboard(request: HttpRequest) -> HttpResponse:
    if not user_has(request.user, "analytics.view"):
        raise PermissionDenied("The staff dashboard is for staff.")
    errors = ParamErrors()
    period = range_params(request.GET, errors, default=DEFAULT_RANGE)
    problems = {**errors.unparsable, **errors.invalid}
    if period is None or problems:
        period = period_for_range(date_range=DEFAULT_RANGE)
    date_range = request.GET.get("date_range") or ("custom" if request.GET.get("start_date") else DEFAULT_RANGE)

    dashboard = selectors.dashboard_get(period=period, metrics=DASHBOARD_METRICS)
    concerns = selectors.metric_series(metric_type="concerns", granularity="daily", period=period, filters={})
    sentiment = selectors.metric_series(metric_type="sentiment", granularity="daily", period=period, filters={})
    labels = dashboard["conversations"]["dates"]
    conversations = dashboard["conversations"]["daily_counts"]
    resolved = [point["metadata"]["resolved"] for point in concerns["data_points"]]
    pending = [point["metadata"]["pending"] for point in concerns["data_points"]]
    span = f"{period.start.isoformat()} to {period.end.isoformat()}"
    peak = max(conversations, default=0)
    peak_day = labels[conversations.index(peak)] if peak else None

    daily_rows = [
        {
            "date": day,
            "conversations": conversations[index],
            "concerns": concerns["data_points"][index]["value"],
            "resolved": resolved[index],
            "pending": pending[index],
            **sentiment["data_points"][index]["metadata"],
        }
        for index, day in enumerate(labels)
    ]
    range_query = {"start_date": period.start.isoformat(), "end_date": period.end.isoformat(), "date_range": "custom"}
    export_base = reverse("analytics-export")
    exports = [
        {
            "format": fmt,
            "url": f"{export_base}?{urlencode({'format': fmt, **range_query})}",
            "details_url": f"{export_base}?{urlencode({'format': fmt, **range_query, 'include_details': 'true'})}",
        }
        for fmt in EXPORT_FORMATS
    ]
    context = {
        "period": period,
        "date_range": date_range,
        "ranges": [*DATE_RANGES, "custom"],
        "errors": problems,
        "dashboard": dashboard,
        "daily_rows": daily_rows,
        "conversations_chart": charts.bar_chart_svg(
            chart_id="chart-conversations",
            title=f"Conversations per day, {span}",
            summary=(
                f"{sum(conversations)} conversations in {period.days} days"
                + (f"; busiest day {peak_day} with {peak}." if peak_day else ".")
                + f" Trend against the previous {period.days} days: {dashboard['conversations']['trend']}."
            ),
            labels=labels,
            series=[charts.Series("conversations", conversations, "s-conversations")],
        ),
        "concerns_chart": charts.bar_chart_svg(
            chart_id="chart-concerns",
            title=f"Concerns submitted per day, {span}",
            summary=(
                f"{sum(resolved) + sum(pending)} concerns submitted: {sum(resolved)} now resolved or closed, "
                f"{sum(pending)} still open."
            ),
            labels=labels,
            series=[
                charts.Series("resolved", [float(v) for v in resolved], "s-resolved"),
                charts.Series("open", [float(v) for v in pending], "s-open"),
            ],
        ),
        "sentiment_chart": charts.share_bar_svg(
            chart_id="chart-sentiment", title=f"Sentiment of citizen messages, {span}", shares=dashboard["sentiment"]
        ),
        "triage": selectors.triage_queue(limit=TRIAGE_LIMIT),
        "open_count": selectors.open_concern_count(),
        "now": timezone.now(),
        "time_zone": settings.TIME_ZONE,
        "exports": exports,
    }
    return render(request, "analytics/dashboard.html", context, status=400 if problems else 200)
