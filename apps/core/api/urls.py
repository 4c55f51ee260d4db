from django.urls import path

from apps.core.api import views

urlpatterns = [
    path("system/health", views.HealthView.as_view(), name="system-health"),
    path("system/info", views.InfoView.as_view(), name="system-info"),
]
