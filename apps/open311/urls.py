"""GeoReport v2 routes. Each resource answers ``.xml`` and ``.json`` (the path suffix);
without a suffix it answers XML, the format every GeoReport v2 server must offer."""

from django.urls import re_path

from apps.open311 import views

app_name = "open311"

_FORMAT = r"(?:\.(?P<fmt>[^/.]+))?$"

urlpatterns = [
    re_path(r"^$", views.DiscoveryView.as_view(), name="root"),
    re_path(r"^discovery" + _FORMAT, views.DiscoveryView.as_view(), name="discovery"),
    re_path(r"^services" + _FORMAT, views.ServiceListView.as_view(), name="services"),
    re_path(r"^services/(?P<service_code>[^/.]+)" + _FORMAT, views.ServiceDefinitionView.as_view(), name="service"),
    re_path(r"^requests" + _FORMAT, views.RequestListView.as_view(), name="requests"),
    re_path(r"^requests/(?P<service_request_id>[^/.]+)" + _FORMAT, views.RequestDetailView.as_view(), name="request"),
    re_path(r"^tokens/(?P<token>[^/.]+)" + _FORMAT, views.TokenView.as_view(), name="token"),
    re_path(r"^.*?" + _FORMAT, views.NotFoundView.as_view(), name="not-found"),
]
