from django.urls import path

from apps.webhooks.api import views

urlpatterns = [
    path("webhooks", views.EndpointListView.as_view(), name="webhooks"),
    path("webhooks/<uuid:endpoint_id>", views.EndpointDetailView.as_view(), name="webhook-detail"),
    path("webhooks/<uuid:endpoint_id>/test", views.EndpointTestView.as_view(), name="webhook-test"),
    path("webhooks/<uuid:endpoint_id>/rotate-secret", views.RotateSecretView.as_view(), name="webhook-rotate"),
    path("webhooks/<uuid:endpoint_id>/deliveries", views.DeliveryListView.as_view(), name="webhook-deliveries"),
    path(
        "webhooks/<uuid:endpoint_id>/deliveries/<uuid:delivery_id>/redeliver",
        views.RedeliverView.as_view(),
        name="webhook-redeliver",
    ),
]
