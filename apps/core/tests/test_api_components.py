"""apps/core/api/base.py: parsers, authenticators and renderers are made once per combination
of classes and shared by every request (SharedComponentsMixin); throttles are made per
request, and each request counts once against its budget, before authentication can fail
(ThrottleFirstMixin)."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from apps.accounts.api.views import LoginView, RefreshView, ValidateView
from apps.accounts.authentication import BearerAuthentication
from apps.accounts.tests.helpers import LOGIN, VALIDATE, assert_error, assert_ok, bearer
from apps.core import ratelimit
from apps.core.api import base
from apps.core.api.base import ApiView
from apps.core.api.views import HealthView, InfoView
from apps.core.parsers import EnvelopeJSONParser
from apps.core.ratelimit import LoginRateThrottle, TierRateThrottle
from apps.core.renderers import EnvelopeRenderer
from conftest import Api, Persona

pytestmark = pytest.mark.django_db

HEALTH = "/api/v1/system/health"
INFO = "/api/v1/system/info"
GETTERS = ("get_parsers", "get_authenticators", "get_renderers")
CLASSES = {
    "get_parsers": "parser_classes",
    "get_authenticators": "authentication_classes",
    "get_renderers": "renderer_classes",
}


class JsonOnlyView(ApiView):
    """Another combination of parser classes than every project view has."""

    parser_classes = [EnvelopeJSONParser]


class DefaultsAsTupleView(ApiView):
    """The default classes again, spelt as a tuple of the same classes."""

    parser_classes = tuple(api_settings.DEFAULT_PARSER_CLASSES)


@pytest.fixture(autouse=True)
def _pinned_rate_limit_clock(monkeypatch: pytest.MonkeyPatch) -> float:
    """Rate limits count in fixed one-minute windows: pin their clock mid-window so
    consecutive requests never straddle a boundary."""
    now = time.time()
    instant = now - now % ratelimit.WINDOW_SECONDS + 30.25
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: instant))
    return instant


def _record_calls(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> list[Any]:
    """Wraps ``owner.name``, recording the instance each call is made on."""
    selves: list[Any] = []
    original: Callable[..., Any] = getattr(owner, name)

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        selves.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return selves


def _remaining(responses: list[Any]) -> list[int]:
    return [int(response["X-RateLimit-Remaining"]) for response in responses]


# --- shared parsers, authenticators and renderers ------------------------------------------


@pytest.mark.parametrize("getter", GETTERS)
def test_two_views_of_one_class_get_the_very_same_instances(getter: str) -> None:
    first = getattr(ValidateView(), getter)()
    second = getattr(ValidateView(), getter)()
    again = getattr(ValidateView(), getter)()

    assert first is second is again
    classes = getattr(ValidateView, CLASSES[getter])
    assert [type(component) for component in first] == list(classes)
    assert len(first) >= 1


def test_two_real_requests_use_the_same_instances(monkeypatch: pytest.MonkeyPatch, citizen: Persona) -> None:
    authenticators = _record_calls(monkeypatch, BearerAuthentication, "authenticate")
    renderers = _record_calls(monkeypatch, EnvelopeRenderer, "render")
    parsers = _record_calls(monkeypatch, EnvelopeJSONParser, "parse")

    for _ in range(2):
        assert assert_ok(citizen.get(VALIDATE))["valid"] is True
        assert_error(
            Api().post(LOGIN, {"username": "nobody", "password": "wrong"}, format="json"),
            401,
            "AUTHENTICATION_REQUIRED",
        )

    assert len(authenticators) == 2 and authenticators[0] is authenticators[1]
    assert len(renderers) == 4 and all(renderer is renderers[0] for renderer in renderers)
    assert len(parsers) == 2 and parsers[0] is parsers[1]
    assert renderers[0] is ValidateView().get_renderers()[0]


@pytest.mark.parametrize("getter", GETTERS)
def test_views_with_the_same_classes_share_their_instances(getter: str) -> None:
    """The shared set is kept per combination of classes, not per view class."""
    assert getattr(HealthView(), getter)() is getattr(ValidateView(), getter)()
    assert getattr(InfoView(), getter)() is getattr(ValidateView(), getter)()


def test_the_same_classes_as_a_tuple_share_too() -> None:
    assert tuple(ValidateView.parser_classes) == DefaultsAsTupleView.parser_classes
    assert DefaultsAsTupleView().get_parsers() is ValidateView().get_parsers()


def test_views_with_other_classes_get_instances_of_their_own() -> None:
    default_parsers = ValidateView().get_parsers()
    json_only = JsonOnlyView().get_parsers()

    assert [type(parser) for parser in json_only] == [EnvelopeJSONParser]
    assert type(default_parsers[0]) is EnvelopeJSONParser
    assert json_only[0] is not default_parsers[0]
    assert JsonOnlyView().get_parsers() is json_only
    # Sign-in authenticates nobody: its (empty) set is not the default one.
    assert LoginView().get_authenticators() == ()
    assert RefreshView().get_authenticators() is not ValidateView().get_authenticators()
    assert base._shared[tuple(JsonOnlyView.parser_classes)] is json_only


def test_drfs_own_views_still_make_components_per_request() -> None:
    """The sharing is the mixin's doing: a plain DRF view is unchanged."""
    assert APIView().get_renderers()[0] is not APIView().get_renderers()[0]


# --- throttles: per request, counted once ----------------------------------------------


def test_throttles_are_made_anew_for_every_call() -> None:
    view = ValidateView()
    first, second = view.get_throttles(), view.get_throttles()
    other = ValidateView().get_throttles()

    assert [type(throttle) for throttle in first] == [TierRateThrottle]
    assert first[0] is not second[0]
    assert other[0] is not first[0] and other[0] is not second[0]
    assert [type(throttle) for throttle in LoginView().get_throttles()] == [LoginRateThrottle]


def test_check_throttles_counts_once_per_view_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    allowed = _record_calls(monkeypatch, TierRateThrottle, "allow_request")
    factory = APIRequestFactory()

    view = HealthView()
    request = Request(factory.get(HEALTH))
    view.check_throttles(request)
    view.check_throttles(request)
    assert len(allowed) == 1
    assert request._request.ratelimit.remaining == 29

    other = HealthView()
    other_request = Request(factory.get(HEALTH))
    other.check_throttles(other_request)
    assert len(allowed) == 2
    assert other_request._request.ratelimit.remaining == 28


def test_consecutive_requests_with_an_api_key_count_one_each(monkeypatch: pytest.MonkeyPatch, citizen: Persona) -> None:
    allowed = _record_calls(monkeypatch, TierRateThrottle, "allow_request")

    responses = [citizen.get(VALIDATE) for _ in range(4)]

    assert [response.status_code for response in responses] == [200] * 4
    assert _remaining(responses) == [99, 98, 97, 96]
    assert {response["X-RateLimit-Limit"] for response in responses} == {"100"}
    assert len(allowed) == 4  # DRF calls check_throttles twice a request; it counts once


def test_consecutive_anonymous_requests_count_one_each(monkeypatch: pytest.MonkeyPatch, stranger: Persona) -> None:
    allowed = _record_calls(monkeypatch, TierRateThrottle, "allow_request")

    responses = [stranger.get(HEALTH) for _ in range(3)]

    assert [response.status_code for response in responses] == [200] * 3
    assert _remaining(responses) == [29, 28, 27]
    assert {response["X-RateLimit-Limit"] for response in responses} == {"30"}
    assert len(allowed) == 3


def test_a_failed_authentication_is_counted_and_carries_the_headers(
    monkeypatch: pytest.MonkeyPatch, stranger: Persona
) -> None:
    allowed = _record_calls(monkeypatch, TierRateThrottle, "allow_request")
    impostor = bearer("cai_deadbeef_not-a-real-key")

    refused = [impostor.get(VALIDATE) for _ in range(2)]

    for response in refused:
        error = assert_error(response, 401, "INVALID_API_KEY")
        assert error["details"] == {"reason": "unknown"}
        assert response["X-RateLimit-Limit"] == "30"  # anonymous: counted by address
        assert int(response["X-RateLimit-Reset"]) > 0
    assert _remaining(refused) == [29, 28]
    assert len(allowed) == 2
    # The same address's budget: an anonymous request after them sees it spent.
    assert _remaining([stranger.get(HEALTH)]) == [27]


def test_a_refused_permission_is_counted_once(citizen: Persona) -> None:
    responses = [citizen.get(INFO) for _ in range(2)]

    for response in responses:
        assert_error(response, 403, "PERMISSION_DENIED")
    assert _remaining(responses) == [99, 98]


def test_the_throttle_decides_before_authentication_fails(stranger: Persona) -> None:
    """Once the budget is spent, a bad key is refused as rate-limited, not re-checked."""
    impostor = bearer("cai_deadbeef_not-a-real-key")
    with override_settings(RATE_LIMITS_PER_MINUTE={**settings.RATE_LIMITS_PER_MINUTE, "anonymous": 2}):
        codes = [impostor.get(VALIDATE).status_code for _ in range(3)]
    assert codes == [401, 401, 429]
