"""SPEC §2: envelopes, error codes, request ids and body handling."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import override_settings

pytestmark = [pytest.mark.django_db, pytest.mark.urls("apps.core.tests.urls")]


def test_success_envelope_has_data_and_metadata(stranger):
    response = stranger.get("/api/v1/system/health")
    body = response.json()
    assert body["success"] is True
    assert set(body["metadata"]) == {"timestamp", "request_id", "version"}
    assert body["metadata"]["version"] == "v1"
    assert body["metadata"]["timestamp"].endswith("Z")
    assert body["data"]["status"] in {"healthy", "degraded"}


def test_unknown_api_path_is_404_envelope(stranger):
    response = stranger.get("/api/v1/no/such/thing")
    assert response.status_code == 404
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "RESOURCE_NOT_FOUND"
    assert body["metadata"]["request_id"] == response["X-Request-ID"]


def test_unknown_path_outside_api_is_html(stranger):
    response = stranger.get("/no/such/page/")
    assert response.status_code == 404
    assert "text/html" in response["Content-Type"]


@pytest.mark.parametrize(
    ("view", "status", "heading"),
    [
        ("not_found", 404, "Page not found"),
        ("server_error", 500, "Something went wrong"),
        ("permission_denied", 403, "Forbidden"),
        ("bad_request", 400, "Bad request"),
    ],
)
def test_error_pages_have_the_sites_look_and_need_no_database(rf, view, status, heading):
    """The site's stylesheet and header, a way back; nothing that reads the user or the
    session (no database here: a 500 may be about it)."""
    from apps.core import views

    request = rf.get("/somewhere/")
    response = getattr(views, view)(request) if view == "server_error" else getattr(views, view)(request, None)
    page = response.content.decode()
    assert response.status_code == status
    assert f"<h1>{heading}</h1>" in page
    assert "/static/css/site.css" in page and 'class="site-header"' in page
    assert 'href="/"' in page


def test_method_not_allowed_is_405_envelope(stranger):
    response = stranger.delete("/api/v1/system/health")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_malformed_json_is_400(stranger):
    response = stranger.client.post("/api/v1/test/echo", data="{not json", content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "body" in error["details"]


@pytest.mark.parametrize("path", ["/api/v1/test/echo", "/api/v1/auth/login", "/api/v1/auth/register"])
def test_json_nested_too_deeply_is_400_not_500(stranger, path):
    """A few kilobytes of brackets exhaust the decoder's recursion; that is malformed input."""
    deep = "[" * 5000 + "]" * 5000
    response = stranger.client.post(path, data=deep, content_type="application/json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "body" in error["details"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_nan_infinity_and_overflowing_numbers_are_400(citizen, number):
    """Python's decoder takes them; no JSON column or encoder gives them back (a 500 once
    stored). Seen on a chat message's context, checked here and where it was seen."""
    body = f'{{"message": "hi", "context": {{"x": {number}}}}}'
    for path in ("/api/v1/test/echo", "/api/v1/chat/message", "/api/v1/chat/session"):
        response = citizen.client.post(path, data=body, content_type="application/json")
        assert response.status_code == 400, (path, response.content)
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert citizen.post("/api/v1/test/echo", {"x": 1e300}).json()["data"]["received"] == {"x": 1e300}


def test_unsupported_content_type_is_415(stranger):
    response = stranger.client.post("/api/v1/test/echo", data="<x/>", content_type="application/xml")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_bare_and_wrapped_bodies_are_the_same(stranger):
    bare = stranger.post("/api/v1/test/echo", {"title": "x"}).json()
    wrapped = stranger.post("/api/v1/test/echo", {"data": {"title": "x"}, "metadata": {"request_id": "req_1"}}).json()
    assert bare["data"]["received"] == wrapped["data"]["received"] == {"title": "x"}


@override_settings(API_MAX_JSON_BYTES=2048)
def test_oversized_body_is_413(stranger):
    response = stranger.post("/api/v1/test/echo", {"blob": "x" * 5000})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


@override_settings(API_MAX_JSON_BYTES=2048)
def test_oversized_body_without_content_length_is_413(stranger):
    # A lying Content-Length must not let the parser read past the limit.
    response = stranger.client.generic(
        "POST",
        "/api/v1/test/echo",
        json.dumps({"blob": "x" * 5000}),
        content_type="application/json",
        CONTENT_LENGTH="10",
    )
    assert response.status_code in {400, 413}
    assert response.json()["success"] is False


def test_unhandled_error_is_500_without_details(stranger, caplog):
    with caplog.at_level(logging.ERROR):
        response = stranger.get("/api/v1/test/boom")
    assert response.status_code == 500
    body = response.json()
    assert body["error"]["code"] == "INTERNAL_ERROR"
    assert "secret-value" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert any("RuntimeError" in record.getMessage() for record in caplog.records)


def test_unhandled_error_in_plain_django_view_is_500_envelope(stranger):
    stranger.client.raise_request_exception = False
    response = stranger.get("/api/v1/test/django-boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"
    assert "secret-value" not in response.content.decode()


def test_request_id_is_echoed(stranger):
    response = stranger.get("/api/v1/system/health", HTTP_X_REQUEST_ID="req_abc-123")
    assert response["X-Request-ID"] == "req_abc-123"
    assert response.json()["metadata"]["request_id"] == "req_abc-123"


def test_request_id_is_generated_when_missing_or_unsafe(stranger):
    generated = stranger.get("/api/v1/system/health")
    assert generated["X-Request-ID"].startswith("req_")
    unsafe = stranger.get("/api/v1/system/health", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert unsafe["X-Request-ID"].startswith("req_")
    assert "\n" not in unsafe["X-Request-ID"]


@pytest.mark.parametrize("candidate", ["req_1\n", "req_1\r", "req_1 ", "x" * 129, ""])
def test_a_request_id_with_a_final_line_break_or_too_long_is_replaced(stranger, candidate):
    response = stranger.get("/api/v1/system/health", HTTP_X_REQUEST_ID=candidate)
    assert response.status_code == 200
    assert response["X-Request-ID"].startswith("req_") and response["X-Request-ID"] != candidate.strip()
    assert response.json()["metadata"]["request_id"] == response["X-Request-ID"]


def test_every_log_line_of_a_request_carries_its_id(stranger, caplog):
    with caplog.at_level(logging.INFO):
        stranger.get("/api/v1/no/such/thing", HTTP_X_REQUEST_ID="req_logged")
    lines = [record for record in caplog.records if record.name == "apps.access"]
    assert lines, "the access log wrote nothing"
    assert all(getattr(record, "request_id", None) == "req_logged" for record in lines)


def test_json_formatter_writes_request_id():
    from apps.core.context import request_id_var
    from apps.core.logging import JsonFormatter, RequestIdFilter

    token = request_id_var.set("req_fmt")
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
        RequestIdFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["request_id"] == "req_fmt"
    assert line["message"] == "hello world"
    assert line["level"] == "INFO"
