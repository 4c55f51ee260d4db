"""apps/core/responses.py: ApiHeaders answers ``in``, ``get()`` and ``items()`` as Django's
ResponseHeaders does, without the exceptions; every answer of an API view gets it."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.http.response import ResponseHeaders
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from apps.accounts.api.views import LoginView, ValidateView
from apps.accounts.tests.helpers import VALIDATE, assert_error, assert_ok
from apps.core.api.base import ApiView
from apps.core.api.views import HealthView
from apps.core.permissions import Public
from apps.core.renderers import EnvelopeRenderer
from apps.core.responses import ApiHeaders, use_api_headers
from conftest import Persona

pytestmark = pytest.mark.django_db


def _pair() -> tuple[HttpResponse, HttpResponse]:
    """Two equal responses: one with Django's headers, one with ApiHeaders."""
    django_own, ours = HttpResponse(b"{}", content_type="application/json"), HttpResponse(b"{}")
    ours["Content-Type"] = "application/json"
    use_api_headers(ours)
    for response in (django_own, ours):
        response["X-Request-ID"] = "req_1"
        response["Vary"] = "Accept"
    return django_own, ours


@pytest.mark.parametrize("name", ["X-Request-ID", "x-request-id", "VARY", "Content-Type", "X-Missing", ""])
def test_lookups_answer_as_djangos_do(name: str) -> None:
    django_own, ours = _pair()

    assert type(ours.headers) is ApiHeaders and type(django_own.headers) is ResponseHeaders
    assert (name in ours.headers) is (name in django_own.headers)
    assert ours.has_header(name) is django_own.has_header(name)
    assert ours.headers.get(name) == django_own.headers.get(name)
    assert ours.headers.get(name, "fallback") == django_own.headers.get(name, "fallback")
    assert ours.get(name) == django_own.get(name)


def test_items_are_the_names_as_set_and_values_in_order() -> None:
    django_own, ours = _pair()
    ours["x-late"] = "1"
    django_own["x-late"] = "1"
    ours["X-Request-ID"] = "req_2"  # a header set again keeps its place, with its new value
    django_own["X-Request-ID"] = "req_2"

    assert list(ours.items()) == list(django_own.items())
    assert list(ours.items())[-1] == ("x-late", "1")
    assert ("Vary", "Accept") in ours.items()
    assert len(ours.items()) == len(django_own.items()) == 4
    del ours["Vary"]
    assert ("Vary", "Accept") not in ours.items()
    assert "Vary" not in ours.headers


def test_a_key_that_is_not_text_fails_as_in_djangos() -> None:
    django_own, ours = _pair()

    for headers in (django_own.headers, ours.headers):
        with pytest.raises(AttributeError):
            1 in headers  # noqa: B015
        with pytest.raises(AttributeError):
            headers.get(1)  # type: ignore[arg-type]


def test_setting_a_header_still_checks_it() -> None:
    _, ours = _pair()

    with pytest.raises(ValueError, match="newline"):
        ours["X-Bad"] = "a\r\nSet-Cookie: x=1"
    assert "X-Bad" not in ours.headers


def test_only_djangos_own_class_is_replaced() -> None:
    class Custom(ResponseHeaders):
        pass

    response = HttpResponse(b"")
    response.headers.__class__ = Custom
    use_api_headers(response)
    assert type(response.headers) is Custom


def test_api_answers_carry_api_headers(citizen: Persona, stranger: Persona) -> None:
    ok = citizen.get(VALIDATE)
    refused = stranger.get(VALIDATE)

    assert_ok(ok)
    assert_error(refused, 401, "AUTHENTICATION_REQUIRED")
    for response in (ok, refused):
        assert type(response.headers) is ApiHeaders
        assert response["Content-Type"] == "application/json"
        assert {"X-Request-ID", "X-RateLimit-Limit", "X-Content-Type-Options", "X-Frame-Options"} <= {
            name for name, _ in response.items()
        }


# --- the Allow header, worked out once per view class ----------------------------------------


class TwoRenderersView(ApiView):
    """DRF adds Vary: Accept where a view can answer in more than one media type."""

    renderer_classes = [EnvelopeRenderer, BrowsableAPIRenderer]
    permission_classes = [Public]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})

    def post(self, request: Request) -> Response:
        return Response({"ok": True}, status=201)


@pytest.mark.parametrize("view_class", [ValidateView, LoginView, HealthView, TwoRenderersView])
def test_allow_is_what_drf_works_out(view_class: type[ApiView]) -> None:
    expected = APIView.default_response_headers.fget(_setup(view_class))  # type: ignore[attr-defined]
    first, second = _setup(view_class).default_response_headers, _setup(view_class).default_response_headers

    assert first == second == expected
    assert "OPTIONS" in expected["Allow"]
    first["Vary"] = "changed"  # each view gets a copy of its own
    assert _setup(view_class).default_response_headers == expected


def _setup(view_class: type[ApiView]) -> ApiView:
    view = view_class()
    view.setup(APIRequestFactory().get("/"))
    return view


def test_vary_and_allow_are_on_every_answer_not_only_the_first() -> None:
    view = TwoRenderersView.as_view()
    answers = [view(APIRequestFactory().get("/", HTTP_ACCEPT="application/json")) for _ in range(3)]

    for answer in answers:
        assert answer.status_code == 200
        assert answer["Vary"] == "Accept"
        assert answer["Allow"] == "GET, POST, HEAD, OPTIONS"
