"""LazyMessageMiddleware: Django's message storage, made only when a request adds or shows a
message. API requests never make it; pages still store a message and show it on the next."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.checks import check_dependencies
from django.contrib.messages.storage import default_storage
from django.contrib.messages.storage.base import BaseStorage
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.utils.functional import SimpleLazyObject, empty

from apps.accounts.tests.helpers import SIGN_IN, VALIDATE, assert_error, assert_ok, form_csrf_token, signed_in_browser
from apps.core import middleware
from apps.core.middleware import LazyMessageMiddleware
from conftest import Persona

pytestmark = pytest.mark.django_db

HEALTH = "/api/v1/system/health"
SIGN_UP = "/accounts/sign-up/"
SIGN_OUT = "/accounts/sign-out/"
ACCOUNT = "/accounts/"
HOME = "/"
COOKIE = CookieStorage.cookie_name
WELCOME = "Welcome! Your account is ready."


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[HttpRequest]:
    """The requests the middleware made a message storage for."""
    requests: list[HttpRequest] = []

    def spy(request: HttpRequest) -> BaseStorage:
        requests.append(request)
        return default_storage(request)

    monkeypatch.setattr(middleware, "default_storage", spy)
    return requests


@pytest.fixture
def constructed(monkeypatch: pytest.MonkeyPatch) -> list[type[BaseStorage]]:
    """Every message storage constructed, by any route."""
    kinds: list[type[BaseStorage]] = []
    original = BaseStorage.__init__

    def spy(self: BaseStorage, request: HttpRequest, *args: object, **kwargs: object) -> None:
        kinds.append(type(self))
        original(self, request, *args, **kwargs)

    monkeypatch.setattr(BaseStorage, "__init__", spy)
    return kinds


def _html(response: HttpResponse) -> str:
    return response.content.decode()


def _stored(response: HttpResponse) -> bool:
    """Whether the response stores messages in the cookie (not merely deletes it)."""
    return COOKIE in response.cookies and bool(response.cookies[COOKIE].value)


# --- configuration -------------------------------------------------------------------------


def test_the_lazy_middleware_replaces_djangos() -> None:
    assert "apps.core.middleware.LazyMessageMiddleware" in settings.MIDDLEWARE
    assert "django.contrib.messages.middleware.MessageMiddleware" not in settings.MIDDLEWARE
    # The admin requires Django's MessageMiddleware or a subclass of it.
    assert [error.id for error in check_dependencies() if error.id == "admin.E409"] == []


# --- API requests never make the storage -------------------------------------------------


def test_a_public_api_request_never_makes_the_storage(
    stranger: Persona, made: list[HttpRequest], constructed: list[type[BaseStorage]]
) -> None:
    response = stranger.get(HEALTH)

    assert response.status_code == 200
    assert made == []
    assert constructed == []
    assert COOKIE not in response.cookies


def test_authenticated_and_refused_api_requests_never_make_the_storage(
    citizen: Persona, stranger: Persona, made: list[HttpRequest], constructed: list[type[BaseStorage]]
) -> None:
    ok = citizen.get(VALIDATE)
    refused = stranger.get(VALIDATE)

    assert assert_ok(ok)["valid"] is True
    assert_error(refused, 401, "AUTHENTICATION_REQUIRED")
    assert made == []
    assert constructed == []
    assert COOKIE not in ok.cookies and COOKIE not in refused.cookies


# --- pages: a message is stored and shown on the next page -------------------------------


def test_sign_up_message_is_stored_then_shown_once_on_the_next_page(made: list[HttpRequest]) -> None:
    client = Client(enforce_csrf_checks=True)
    token = form_csrf_token(client, SIGN_UP)
    made.clear()
    body = {"name": "Robin Resident", "email": "robin@example.org", "password": "my own long passphrase 64"}

    signed_up = client.post(SIGN_UP, {**body, "csrfmiddlewaretoken": token})

    assert signed_up.status_code == 302
    assert signed_up["Location"] == ACCOUNT
    assert len(made) == 1  # the view added a message
    assert _stored(signed_up)

    shown = client.get(ACCOUNT)
    assert shown.status_code == 200
    assert WELCOME in _html(shown)
    assert shown.cookies[COOKIE].value == ""  # shown, so the cookie is cleared
    assert WELCOME not in _html(client.get(ACCOUNT))


def test_sign_out_message_is_shown_on_the_home_page() -> None:
    client = signed_in_browser()[0]
    token = form_csrf_token(client, ACCOUNT)

    signed_out = client.post(SIGN_OUT, {"csrfmiddlewaretoken": token})

    assert signed_out.status_code == 302
    assert signed_out["Location"] == HOME
    assert _stored(signed_out)
    home = client.get(HOME)
    assert home.status_code == 200
    assert "You are signed out." in _html(home)
    assert "You are signed out." not in _html(client.get(HOME))


def test_api_key_creation_message_is_shown_on_the_page_itself() -> None:
    client = signed_in_browser()[0]
    token = form_csrf_token(client, ACCOUNT)

    created = client.post(ACCOUNT, {"name": "laptop", "csrfmiddlewaretoken": token})

    assert created.status_code == 200
    assert "API key “laptop” created." in _html(created)
    assert not _stored(created)  # shown on the page that added it: nothing left to store
    assert "created. Copy it now" not in _html(client.get(ACCOUNT))


def test_a_page_showing_no_message_stores_nothing(made: list[HttpRequest]) -> None:
    response = Client().get(SIGN_IN)

    assert response.status_code == 200
    assert len(made) == 1  # the page's template asks whether there are messages
    assert COOKIE not in response.cookies


# --- the lazy object itself ----------------------------------------------------------------


def _ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def _page_request(cookies: dict[str, str] | None = None) -> HttpRequest:
    factory = RequestFactory()
    for name, value in (cookies or {}).items():
        factory.cookies[name] = value
    request = factory.get("/somewhere/")
    request.session = SessionStore()  # type: ignore[attr-defined]
    return request


def test_request_messages_is_lazy_until_used(made: list[HttpRequest]) -> None:
    lazy_messages = LazyMessageMiddleware(_ok)
    request = _page_request()

    lazy_messages.process_request(request)

    lazy = request._messages  # type: ignore[attr-defined]
    assert type(lazy) is SimpleLazyObject
    assert lazy._wrapped is empty
    assert made == []

    messages.info(request, "Saved.")

    assert made == [request]
    assert type(lazy._wrapped) is FallbackStorage
    assert isinstance(lazy, BaseStorage)
    assert [str(message) for message in lazy] == ["Saved."]


def test_an_unused_storage_leaves_the_response_alone(made: list[HttpRequest]) -> None:
    lazy_messages = LazyMessageMiddleware(_ok)
    request = _page_request()
    lazy_messages.process_request(request)
    response = HttpResponse("page")

    assert lazy_messages.process_response(request, response) is response

    assert made == []
    assert request._messages._wrapped is empty  # type: ignore[attr-defined]
    assert COOKIE not in response.cookies


def test_a_message_added_on_one_request_is_read_on_the_next(made: list[HttpRequest]) -> None:
    lazy_messages = LazyMessageMiddleware(_ok)
    adding = _page_request()
    lazy_messages.process_request(adding)
    messages.success(adding, "Your concern was filed.")

    stored = lazy_messages.process_response(adding, HttpResponse())

    assert _stored(stored)
    reading = _page_request({COOKIE: stored.cookies[COOKIE].value})
    lazy_messages.process_request(reading)
    assert [str(message) for message in messages.get_messages(reading)] == ["Your concern was filed."]
    cleared = lazy_messages.process_response(reading, HttpResponse())
    assert cleared.cookies[COOKIE].value == ""
    assert made == [adding, reading]


def test_a_request_the_middleware_never_saw_is_answered_unchanged() -> None:
    request = _page_request()
    response = HttpResponse()
    respond: Callable[[HttpRequest, HttpResponse], HttpResponse] = LazyMessageMiddleware(_ok).process_response

    assert respond(request, response) is response
    assert COOKIE not in response.cookies
