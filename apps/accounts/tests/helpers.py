"""Helpers shared by the accounts tests (not a test module itself)."""

from __future__ import annotations

import re
from typing import Any

from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.accounts.roles import Role
from conftest import PASSWORD, Api, make_user

LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
VALIDATE = "/api/v1/auth/validate"
REFRESH = "/api/v1/auth/refresh"
REGISTER = "/api/v1/auth/register"
API_KEYS = "/api/v1/auth/api-keys"
USERS = "/api/v1/users"
SIGN_IN = "/accounts/sign-in/"


def form_csrf_token(client: Client, path: str) -> str:
    """Load a page the way a browser does and return the token its form carries."""
    response = client.get(path)
    assert response.status_code == 200
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())
    assert match, "page has no CSRF token"
    return match.group(1)


def signed_in_browser(username: str = "citizen", role: str = Role.CITIZEN) -> tuple[Client, User]:
    """A new user, signed in through the sign-in page by a client that enforces CSRF."""
    user = make_user(username, role)
    client = Client(enforce_csrf_checks=True)
    token = form_csrf_token(client, SIGN_IN)
    response = client.post(SIGN_IN, {"identifier": username, "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    return client, user


def api_key_url(key_id: Any) -> str:
    return f"{API_KEYS}/{key_id}"


def user_url(user_id: Any) -> str:
    return f"{USERS}/{user_id}"


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The error object of an error envelope, after checking status, code and shape."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body["error"]
    assert body["error"]["message"]
    assert body["metadata"]["request_id"] == response["X-Request-ID"]
    return body["error"]


def assert_ok(response: Any, status: int = 200) -> Any:
    """The ``data`` member of a success envelope."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert body["success"] is True
    assert set(body["metadata"]) == {"timestamp", "request_id", "version"}
    return body["data"]


def assert_field_errors(response: Any, *fields: str) -> dict[str, list[str]]:
    """A 422 VALIDATION_ERROR whose details name exactly these fields, each with messages."""
    error = assert_error(response, 422, "VALIDATION_ERROR")
    details = error["details"]
    assert set(details) == set(fields), details
    for name in fields:
        assert isinstance(details[name], list) and details[name], details
        assert all(isinstance(text, str) and text for text in details[name])
    return details


def assert_rate_limited(response: Any, limit: int) -> None:
    assert_error(response, 429, "RATE_LIMIT_EXCEEDED")
    assert 1 <= int(response["Retry-After"]) <= 61
    assert response["X-RateLimit-Limit"] == str(limit)
    assert response["X-RateLimit-Remaining"] == "0"
    assert int(response["X-RateLimit-Reset"]) > 0


def post_raw(client: APIClient, path: str, body: str, **extra: Any) -> Any:
    return client.generic("POST", path, body, content_type="application/json", **extra)


def put_raw(client: APIClient, path: str, body: str, **extra: Any) -> Any:
    return client.generic("PUT", path, body, content_type="application/json", **extra)


def bearer(secret: str) -> Api:
    client = Api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def login(username: str, password: str = PASSWORD, client: Api | None = None, **fields: Any) -> Any:
    """POST /auth/login. Upper-case keywords (HTTP_*, REMOTE_ADDR) are request headers,
    the rest extra body fields."""
    client = client or Api()
    extra = {name: fields.pop(name) for name in list(fields) if name.isupper()}
    return client.call("post", LOGIN, {"username": username, "password": password, **fields}, **extra)


def login_tokens(username: str, password: str = PASSWORD, **fields: Any) -> dict[str, Any]:
    """A successful login's ``data``: user, session, access_token, refresh_token, ..."""
    return assert_ok(login(username, password, **fields))


def database_text() -> str:
    """Every row of every table as text, to search a database dump for leaked secrets."""
    chunks: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview):
                        value = value.tobytes()
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    chunks.append(str(value))
    return "\n".join(chunks)
