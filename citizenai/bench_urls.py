"""URLconf for bench/foundation.py only (selected by bench/bench_settings.py, never by the
site's settings): every route of citizenai.urls plus a fixed JSON view to measure Django
itself against."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from citizenai import urls as site_urls

# About the size of the envelope GET /api/v1/auth/validate returns.
BARE_BODY = (
    b'{"success":true,"data":{"valid":true,"user":{"id":"00000000-0000-0000-0000-000000000000",'
    b'"username":"bench","role":"citizen"},"auth_type":"api_key","expires_at":null},'
    b'"metadata":{"timestamp":"2025-01-01T00:00:00Z","request_id":"00000000000000000000000000000000"}}'
)


def bare_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(BARE_BODY, content_type="application/json")


urlpatterns = [
    path("bench/bare", bare_view),
    path("", include(site_urls)),
]

handler400 = site_urls.handler400
handler403 = site_urls.handler403
handler404 = site_urls.handler404
handler500 = site_urls.handler500
