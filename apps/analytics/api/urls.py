from django.urls import path

from apps.analytics.api import views

urlpatterns = [
    path("analytics/dashboard", views.DashboardView.as_view(), name="analytics-dashboard"),
    path("analytics/metrics/<str:metric_type>", views.MetricView.as_view(), name="analytics-metric"),
    path("analytics/export", views.ExportView.as_view(), name="analytics-export"),
    path("analytics/query", views.QueryView.as_view(), name="analytics-query"),
]
