from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import TemplateView

from apps.core.api.views import ApiNotFoundView, SchemaView, SwaggerView

api_v1 = [
    path("", include("apps.core.api.urls")),
    path("", include("apps.accounts.api.urls")),
    path("", include("apps.concerns.api.urls")),
    path("", include("apps.webhooks.api.urls")),
    path("", include("apps.chat.api.urls")),
    path("", include("apps.analytics.api.urls")),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

# The API first: most requests are API calls, and patterns are tried in order.
urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("accounts/", include("apps.accounts.urls")),
    path("assistant/", include("apps.chat.urls")),
    path("concerns/", include("apps.concerns.urls")),
    path("staff/", include("apps.analytics.urls")),
    path("admin/", admin.site.urls),
    path("open311/v2/", include("apps.open311.urls")),
    re_path(r"^api/", ApiNotFoundView.as_view()),
]

handler400 = "apps.core.views.bad_request"
handler403 = "apps.core.views.permission_denied"
handler404 = "apps.core.views.not_found"
handler500 = "apps.core.views.server_error"
