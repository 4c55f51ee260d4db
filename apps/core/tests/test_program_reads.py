"""A program's API read (bearer credentials, no cookies, a safe method) skips the middleware
that serve a browser's state; everything else gets sessions, request.user and messages.

The probe views report what the middleware left on Django's request: ``session`` and
``auser`` (set by the session and authentication middleware) and ``_messages``.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.admin.checks import check_dependencies
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, JsonResponse
from django.test import RequestFactory
from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.tests.helpers import assert_error
from apps.core import middleware
from apps.core.api.base import ApiView
from apps.core.middleware import is_program_read
from apps.core.permissions import Public
from conftest import PASSWORD, Api, Persona, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

PROBE = "/api/v1/test/probe"
PAGE_PROBE = "/test/page-probe"
LOGIN = "/api/v1/auth/login"
STATE = ("session", "auser", "_messages")


def _left_by_middleware(request: HttpRequest) -> dict[str, bool]:
    return {name: hasattr(request, name) for name in STATE}


class ProbeView(ApiView):
    permission_classes = [Public]

    def get(self, request: Request) -> Response:
        return Response({**_left_by_middleware(request._request), "user": str(request.user)})

    def post(self, request: Request) -> Response:
        return Response({**_left_by_middleware(request._request), "user": str(request.user)})

    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(_left_by_middleware(request._request))


def page_probe(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_left_by_middleware(request))


urlpatterns = [
    path("api/v1/test/probe", ProbeView.as_view()),
    path("test/page-probe", page_probe),
    path("", include("citizenai.urls")),
]

SKIPPED = dict.fromkeys(STATE, False)
KEPT = dict.fromkeys(STATE, True)


def state(response: Any) -> dict[str, bool]:
    assert response.status_code == 200, response.content
    body = response.json()
    data = body.get("data", body)
    return {name: data[name] for name in STATE}


# --- a program's read skips them ----------------------------------------------------------


def test_a_read_with_an_api_key_and_no_cookies_skips_browser_state(citizen: Persona) -> None:
    response = citizen.get(PROBE)
    assert state(response) == SKIPPED
    assert response.json()["data"]["user"] == "citizen"  # bearer authentication did run
    assert "Cookie" not in response.get("Vary", "")
    assert not response.cookies


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_the_scheme_is_read_in_any_case(citizen: Persona, scheme: str) -> None:
    assert state(Api().get(PROBE, HTTP_AUTHORIZATION=f"{scheme} {citizen.secret}")) == SKIPPED


def test_options_is_a_read_too(citizen: Persona) -> None:
    assert state(citizen.client.options(PROBE)) == SKIPPED


def test_a_bad_key_on_a_read_is_refused_never_anonymous(stranger: Persona) -> None:
    """With the session skipped, bearer credentials must never fall back to anonymous."""
    response = Api().get(PROBE, HTTP_AUTHORIZATION="Bearer cai_nope_nope")
    assert_error(response, 401, "INVALID_API_KEY")
    malformed = Api().get(PROBE, HTTP_AUTHORIZATION="Bearer\xa0cai_nope")
    assert_error(malformed, 401, "INVALID_API_KEY")


# --- everything else gets them --------------------------------------------------------------


def test_a_read_with_a_cookie_gets_browser_state(citizen: Persona) -> None:
    citizen.client.cookies["unrelated"] = "1"
    assert state(citizen.get(PROBE)) == KEPT


def test_an_unsafe_method_gets_browser_state(citizen: Persona) -> None:
    assert state(citizen.post(PROBE, {})) == KEPT


@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwYXNz", "Token abc", "Bear abc"])
def test_a_read_without_bearer_credentials_gets_browser_state(stranger: Persona, header: str | None) -> None:
    """Anonymous callers may need a session (the assistant keeps an anonymous conversation
    in one), and another scheme leaves the caller anonymous."""
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = Api().get(PROBE, **extra)
    assert state(response) == KEPT
    assert response.json()["data"]["user"] == "AnonymousUser"


def test_a_page_gets_browser_state_whatever_it_is_sent(citizen: Persona) -> None:
    response = Api().get(PAGE_PROBE, HTTP_AUTHORIZATION=f"Bearer {citizen.secret}")
    assert response.status_code == 200
    assert response.json() == KEPT


def test_signing_in_with_a_stale_bearer_token_still_sets_the_session_cookie(db: None) -> None:
    """A POST is never a program's read: the login that sends credentials along still gets
    its session and the browser its cookies."""
    make_user("walker", "citizen")
    client = Api()
    client.credentials(HTTP_AUTHORIZATION="Bearer cat_stale")
    response = client.post(LOGIN, {"username": "walker", "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    assert settings.SESSION_COOKIE_NAME in response.cookies
    assert response.cookies[settings.SESSION_COOKIE_NAME].value


# --- the rule itself --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path_", "headers", "expected"),
    [
        ("get", "/api/v1/x", {"HTTP_AUTHORIZATION": "Bearer k"}, True),
        ("head", "/api/v1/x", {"HTTP_AUTHORIZATION": "Bearer k"}, True),
        ("options", "/api/v1/x", {"HTTP_AUTHORIZATION": "bearer k"}, True),
        ("get", "/api/v1/x", {"HTTP_AUTHORIZATION": "Bearer k", "HTTP_COOKIE": ""}, True),
        ("get", "/api/v1/x", {"HTTP_AUTHORIZATION": "Bearer k", "HTTP_COOKIE": "sessionid=x"}, False),
        ("post", "/api/v1/x", {"HTTP_AUTHORIZATION": "Bearer k"}, False),
        ("put", "/api/v1/x", {"HTTP_AUTHORIZATION": "Bearer k"}, False),
        ("delete", "/api/v1/x", {"HTTP_AUTHORIZATION": "Bearer k"}, False),
        ("get", "/api/v1/x", {}, False),
        ("get", "/api/v1/x", {"HTTP_AUTHORIZATION": ""}, False),
        ("get", "/api/v1/x", {"HTTP_AUTHORIZATION": "Basic k"}, False),
        ("get", "/accounts/", {"HTTP_AUTHORIZATION": "Bearer k"}, False),
        ("get", "/open311/v2/services.json", {"HTTP_AUTHORIZATION": "Bearer k"}, False),
    ],
)
def test_is_program_read(method: str, path_: str, headers: dict[str, str], expected: bool) -> None:
    request = getattr(RequestFactory(), method)(path_, **headers)
    if "HTTP_COOKIE" not in headers:
        request.META.pop("HTTP_COOKIE", None)
    assert is_program_read(request) is expected


# --- configuration -------------------------------------------------------------------------


def test_the_project_uses_the_skipping_subclasses_of_djangos_own() -> None:
    assert "apps.core.middleware.SessionMiddleware" in settings.MIDDLEWARE
    assert "apps.core.middleware.AuthenticationMiddleware" in settings.MIDDLEWARE
    assert issubclass(middleware.SessionMiddleware, DjangoSessionMiddleware)
    assert issubclass(middleware.AuthenticationMiddleware, DjangoAuthenticationMiddleware)
    for skipping in (
        middleware.SessionMiddleware,
        middleware.AuthenticationMiddleware,
        middleware.LazyMessageMiddleware,
    ):
        assert issubclass(skipping, middleware.BrowserStateMixin)
    # The admin needs sessions, authentication and messages middleware (or subclasses).
    assert [e.id for e in check_dependencies() if e.id in {"admin.E408", "admin.E409", "admin.E410"}] == []
