"""The Swagger UI at /api/v1/docs/ works offline: every file it loads is one of ours."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.staticfiles import finders

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
SCRIPT_URL = re.compile(r"""["']([^"'\s]+\.(?:js|css|png))["']""")


def test_swagger_ui_loads_nothing_from_another_host(stranger):
    response = stranger.client.get("/api/v1/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assets = set(ASSET.findall(page)) | set(SCRIPT_URL.findall(page))
    static = [url for url in assets if url.startswith(settings.STATIC_URL)]
    assert any(url.endswith("swagger-ui-bundle.js") for url in static), assets
    assert not [url for url in assets if url.startswith(("http:", "https:", "//"))], assets
    for url in static:
        assert finders.find(url.removeprefix(settings.STATIC_URL)), f"{url} is not a static file of the project"


def test_swagger_ui_points_at_the_schema(stranger):
    page = stranger.client.get("/api/v1/docs/").content.decode()
    assert "/api/v1/schema/" in page
