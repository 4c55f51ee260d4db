"""The Swagger UI at /api/v1/docs/ works offline: every file it loads is one of ours."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

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


@pytest.mark.parametrize("path", ["/api/v1/schema/", "/api/v1/docs/"])
@pytest.mark.parametrize(
    ("method", "headers", "query", "status", "code"),
    [
        ("post", {}, {}, 405, "METHOD_NOT_ALLOWED"),
        ("get", {"HTTP_ACCEPT": "text/csv"}, {}, 406, None),
        ("get", {"HTTP_AUTHORIZATION": "Bearer cai_bad_bad"}, {}, 401, "INVALID_API_KEY"),
        ("get", {}, {"format": "xml"}, 400, "VALIDATION_ERROR"),  # a bad query parameter (SPEC §2)
        ("post", {"CONTENT_LENGTH": "99999999"}, {}, 413, "PAYLOAD_TOO_LARGE"),
    ],
)
def test_schema_and_docs_errors_are_the_envelope_with_the_headers(db, path, method, headers, query, status, code):
    response = getattr(Client(), method)(path, query, **headers)
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False and body["metadata"]["request_id"]
    if code:
        assert body["error"]["code"] == code
    assert response["X-RateLimit-Limit"] == "30" and "X-RateLimit-Remaining" in response


def test_the_schema_itself_still_comes_as_yaml_and_json(stranger):
    assert stranger.client.get("/api/v1/schema/")["Content-Type"].startswith("application/vnd.oai.openapi")
    schema = stranger.client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["openapi"].startswith("3.") and "/api/v1/auth/validate" in schema["paths"]
