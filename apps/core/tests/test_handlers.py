"""apps/core/handlers.py: each URL path is resolved once per process, each request gets a
match of its own, unresolved paths are never kept, and startup objects are frozen out of GC.

Requests go through the production handlers themselves (not the test Client, whose
ClientHandler does not resolve once), with a WSGI environ or an ASGI scope of our own.
"""

from __future__ import annotations

import asyncio
import gc
import json
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import django
import pytest
from asgiref.sync import async_to_sync
from django.core.cache import caches, close_caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.handlers.base import BaseHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, reset_queries
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import RequestFactory, override_settings
from django.urls import ResolverMatch, clear_url_caches, get_resolver, include, path, set_urlconf
from pytest_django.fixtures import Settings

from apps.accounts.api.views import UserDetailView
from apps.accounts.tests.helpers import assert_error, assert_ok, user_url
from apps.core import handlers
from apps.core.api.views import ApiNotFoundView, HealthView
from apps.core.handlers import ResolveOnceASGIHandler, ResolveOnceWSGIHandler
from apps.core.tests.urls import BoomView
from citizenai.urls import api_v1
from conftest import Persona

HEALTH = "/api/v1/system/health"
UNKNOWN_API_PATH = "/api/v1/no-such-thing"
UNKNOWN_PAGE = "/no-such-page/"
BOOM = "/api/v1/test/boom"
USER_ROUTE = "api/v1/users/<uuid:user_id>"

# This module is also a URLconf: the project's API without its catch-all for /api/, so that
# an unknown API path does not resolve at all (in citizenai.urls it resolves to a 404 view).
urlpatterns = [path("api/v1/", include(api_v1))]
handler404 = "apps.core.views.not_found"
handler500 = "apps.core.views.server_error"


# --- what the handlers are driven with ---------------------------------------------------


@dataclass
class Answer:
    """What a WSGI or ASGI server got back, shaped like a test Client response for the
    accounts helpers (status_code, content, json(), headers by name)."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    def __getitem__(self, name: str) -> str:
        return {key.lower(): value for key, value in self.headers.items()}[name.lower()]


def wsgi_get(handler: ResolveOnceWSGIHandler, path: str, **headers: str) -> Answer:
    """GET ``path`` the way a WSGI server calls the application, closing the response after."""
    environ = RequestFactory().get(path, **headers).environ
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started.append((status, response_headers))

    response = handler(environ, start_response)
    try:
        body = b"".join(response)
    finally:
        response.close()
    assert len(started) == 1
    status, response_headers = started[0]
    return Answer(int(status.split()[0]), dict(response_headers), body)


def asgi_get(handler: ResolveOnceASGIHandler, path: str) -> Answer:
    """GET ``path`` the way an ASGI server calls the application."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        requested = False
        never = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await never.wait()  # the client stays connected; Django cancels this listener
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await handler(scope, receive, send)

    async_to_sync(run)()
    start = next(message for message in sent if message["type"] == "http.response.start")
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in start["headers"]}
    return Answer(start["status"], headers, body)


class RecordingMiddleware:
    """A view middleware as a real stack may have one: it sees each request's match and the
    kwargs the view will get, and when told to, changes those kwargs (then answers itself)."""

    seen: ClassVar[list[tuple[ResolverMatch, dict[str, Any]]]] = []
    tamper: ClassVar[bool] = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        RecordingMiddleware.seen.append((request.resolver_match, kwargs))
        if RecordingMiddleware.tamper:
            kwargs["user_id"] = "tampered"
            kwargs["injected"] = True
            return JsonResponse({"tampered": True})
        return None


class OtherUrlconfMiddleware:
    """Chooses another URLconf for every request, as a per-host or per-tenant middleware does."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.urlconf = "apps.core.tests.urls"  # type: ignore[attr-defined]
        return self.get_response(request)


@dataclass
class Walks:
    """The paths Django's own resolve_request walked the URLconf for, in order."""

    paths: list[str] = field(default_factory=list)


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """No kept match and no recorded request leaks between tests; like the test Client, the
    handler must not close the test's database connection when a request starts or ends."""
    handlers._resolved.clear()
    RecordingMiddleware.seen.clear()
    RecordingMiddleware.tamper = False
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        handlers._resolved.clear()
        RecordingMiddleware.seen.clear()
        RecordingMiddleware.tamper = False
        set_urlconf(None)


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> Walks:
    walked = Walks()
    original = BaseHandler.resolve_request

    def spy(self: BaseHandler, request: HttpRequest) -> ResolverMatch:
        walked.paths.append(request.path_info)
        return original(self, request)

    monkeypatch.setattr(BaseHandler, "resolve_request", spy)
    return walked


@pytest.fixture
def recording(settings: Settings) -> type[RecordingMiddleware]:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.RecordingMiddleware"]
    return RecordingMiddleware


def _bearer(persona: Persona) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {persona.secret}"}


def _request(path: str) -> HttpRequest:
    return RequestFactory().get(path)


# --- WSGI: resolved once, answered from the kept match -----------------------------------


@pytest.mark.django_db
def test_a_second_request_for_a_path_is_answered_from_the_kept_match(
    administrator: Persona, citizen: Persona, walks: Walks, recording: type[RecordingMiddleware]
) -> None:
    assert citizen.user is not None
    handler = ResolveOnceWSGIHandler()
    target = user_url(citizen.user.pk)

    first = assert_ok(wsgi_get(handler, target, **_bearer(administrator)))
    second = assert_ok(wsgi_get(handler, target, **_bearer(administrator)))

    assert first["id"] == second["id"] == str(citizen.user.pk)
    assert walks.paths == [target]  # the second request did not walk the URLconf
    kept = handlers._resolved[target]
    assert len(recording.seen) == 2
    for match, kwargs in recording.seen:
        assert match.func.view_class is UserDetailView
        assert match.kwargs == {"user_id": citizen.user.pk}
        assert match.url_name == "user-detail"
        assert match.route == USER_ROUTE
        assert kwargs is match.kwargs  # what the view middleware and the view get
        assert match is not kept and match.kwargs is not kept.kwargs
    (first_match, _), (second_match, _) = recording.seen
    assert first_match is not second_match
    assert first_match.kwargs is not second_match.kwargs


@pytest.mark.django_db
def test_each_request_changes_only_its_own_kwargs(
    administrator: Persona, citizen: Persona, recording: type[RecordingMiddleware]
) -> None:
    """The first request gets the match Django made, later ones copies of the kept one: a
    middleware changing either kind of kwargs changes nothing for the requests after it."""
    assert citizen.user is not None
    handler = ResolveOnceWSGIHandler()
    target = user_url(citizen.user.pk)

    recording.tamper = True
    assert wsgi_get(handler, target, **_bearer(administrator)).json() == {"tampered": True}  # resolved
    assert handlers._resolved[target].kwargs == {"user_id": citizen.user.pk}
    assert wsgi_get(handler, target, **_bearer(administrator)).json() == {"tampered": True}  # kept
    assert handlers._resolved[target].kwargs == {"user_id": citizen.user.pk}
    recording.tamper = False
    data = assert_ok(wsgi_get(handler, target, **_bearer(administrator)))

    assert data["id"] == str(citizen.user.pk)
    changed = [kwargs for _, kwargs in recording.seen[:2]]
    assert changed == [{"user_id": "tampered", "injected": True}] * 2
    assert recording.seen[2][1] == {"user_id": citizen.user.pk}


def test_resolve_request_gives_each_request_its_own_match(walks: Walks) -> None:
    handler = ResolveOnceWSGIHandler()
    user_id = uuid.uuid4()
    target = user_url(user_id)
    requests = [_request(target) for _ in range(3)]

    matches = [handler.resolve_request(request) for request in requests]

    assert walks.paths == [target]
    for request, match in zip(requests, matches, strict=True):
        assert request.resolver_match is match
        assert match.func.view_class is UserDetailView
        assert match.kwargs == {"user_id": user_id}
        assert match.args == ()
    assert len({id(match) for match in matches}) == 3
    assert len({id(match.kwargs) for match in matches}) == 3

    matches[1].kwargs["user_id"] = "changed"
    matches[1].kwargs["extra"] = 1
    assert handlers._resolved[target].kwargs == {"user_id": user_id}
    assert handler.resolve_request(_request(target)).kwargs == {"user_id": user_id}
    assert matches[2].kwargs == {"user_id": user_id}


# --- what is not kept ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_page_that_does_not_resolve_is_not_kept(walks: Walks) -> None:
    handler = ResolveOnceWSGIHandler()

    answers = [wsgi_get(handler, UNKNOWN_PAGE) for _ in range(2)]

    for answer in answers:
        assert answer.status_code == 404
        assert answer["Content-Type"].startswith("text/html")
    assert UNKNOWN_PAGE not in handlers._resolved
    assert handlers._resolved == {}
    assert walks.paths == [UNKNOWN_PAGE, UNKNOWN_PAGE]  # walked again: nothing was kept


def assert_unknown_api_path_never_kept(handler: ResolveOnceWSGIHandler, walks: Walks) -> list[Answer]:
    """Asked twice, UNKNOWN_API_PATH is answered 404 in the envelope and walked both times."""
    answers = [wsgi_get(handler, UNKNOWN_API_PATH) for _ in range(2)]
    for answer in answers:
        assert_error(answer, 404, "RESOURCE_NOT_FOUND")
    assert handlers._resolved == {}
    assert walks.paths == [UNKNOWN_API_PATH, UNKNOWN_API_PATH]
    return answers


@pytest.mark.django_db
def test_an_api_path_that_does_not_resolve_gets_the_envelope_and_is_not_kept(settings: Settings, walks: Walks) -> None:
    settings.ROOT_URLCONF = __name__  # no catch-all for /api/ here
    handler = ResolveOnceWSGIHandler()

    assert_unknown_api_path_never_kept(handler, walks)
    # A path that does resolve in the same URLconf is kept as usual.
    assert wsgi_get(handler, HEALTH).status_code == 200
    assert list(handlers._resolved) == [HEALTH]


@pytest.mark.django_db
def test_an_unknown_api_path_resolves_to_the_catch_all_which_is_not_kept(walks: Walks) -> None:
    """In the project's URLconf every path under /api/ resolves, unknown ones to the view
    that answers 404 in the envelope; that view says its matches are not kept, so made-up
    paths cannot push the real ones out."""
    handler = ResolveOnceWSGIHandler()

    answers = assert_unknown_api_path_never_kept(handler, walks)
    # Counted against the caller's budget like any other request.
    first, second = (int(answer["X-RateLimit-Remaining"]) for answer in answers)
    assert second == first - 1


# --- bounded, and forgotten when the URLconf changes ------------------------------------


def test_kept_matches_start_afresh_at_resolved_kept(monkeypatch: pytest.MonkeyPatch, walks: Walks) -> None:
    monkeypatch.setattr(handlers, "RESOLVED_KEPT", 3)
    handler = ResolveOnceWSGIHandler()
    targets = [user_url(uuid.uuid4()) for _ in range(7)]

    sizes = []
    for target in targets:
        handler.resolve_request(_request(target))
        sizes.append(len(handlers._resolved))
        assert target in handlers._resolved

    assert sizes == [1, 2, 3, 1, 2, 3, 1]  # cleared when full, never grown past the bound
    assert list(handlers._resolved) == [targets[-1]]
    assert walks.paths == targets


def test_a_kept_path_asked_again_when_full_clears_nothing(monkeypatch: pytest.MonkeyPatch, walks: Walks) -> None:
    monkeypatch.setattr(handlers, "RESOLVED_KEPT", 2)
    handler = ResolveOnceWSGIHandler()
    other = user_url(uuid.uuid4())
    handler.resolve_request(_request(HEALTH))
    handler.resolve_request(_request(other))

    match = handler.resolve_request(_request(HEALTH))

    assert match.func.view_class is HealthView
    assert list(handlers._resolved) == [HEALTH, other]
    assert walks.paths == [HEALTH, other]


def test_changing_root_urlconf_forgets_the_kept_matches() -> None:
    handler = ResolveOnceWSGIHandler()
    assert handler.resolve_request(_request(HEALTH)).func.view_class is HealthView
    assert list(handlers._resolved) == [HEALTH]

    with override_settings(ROOT_URLCONF="apps.core.tests.urls"):
        assert handlers._resolved == {}
        assert handler.resolve_request(_request(BOOM)).func.view_class is BoomView
        assert list(handlers._resolved) == [BOOM]

    assert handlers._resolved == {}  # restoring the setting is a change too
    assert handler.resolve_request(_request(BOOM)).func.view_class is ApiNotFoundView


def test_the_settings_fixture_changing_root_urlconf_forgets_too(settings: Settings) -> None:
    handler = ResolveOnceWSGIHandler()
    handler.resolve_request(_request(HEALTH))
    settings.APPEND_SLASH = False  # any other setting leaves the kept matches alone
    assert list(handlers._resolved) == [HEALTH]

    settings.ROOT_URLCONF = "apps.core.tests.urls"

    assert handlers._resolved == {}


@pytest.mark.django_db
def test_a_request_with_its_own_urlconf_bypasses_the_kept_matches(
    settings: Settings, walks: Walks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ApiNotFoundView, "keep_resolved", True)  # so that BOOM's 404 is kept
    plain = ResolveOnceWSGIHandler()
    assert_error(wsgi_get(plain, BOOM), 404, "RESOURCE_NOT_FOUND")  # the project's catch-all
    assert handlers._resolved[BOOM].func.view_class is ApiNotFoundView

    settings.MIDDLEWARE = [f"{__name__}.OtherUrlconfMiddleware", *settings.MIDDLEWARE]
    tenant = ResolveOnceWSGIHandler()
    for _ in range(2):
        assert_error(wsgi_get(tenant, BOOM), 500, "INTERNAL_ERROR")  # BoomView of the other URLconf

    assert walks.paths == [BOOM, BOOM, BOOM]  # each such request walked its own URLconf
    assert handlers._resolved[BOOM].func.view_class is ApiNotFoundView  # neither used nor replaced
    assert list(handlers._resolved) == [BOOM]
    assert_error(wsgi_get(plain, BOOM), 404, "RESOURCE_NOT_FOUND")
    assert walks.paths == [BOOM, BOOM, BOOM]


# --- ASGI ------------------------------------------------------------------------------------


def test_asgi_requests_are_answered_from_the_kept_match(walks: Walks, recording: type[RecordingMiddleware]) -> None:
    """Anonymous: refused before the view reads the database (the ASGI handler runs it in a
    thread of its own, outside the test's transaction)."""
    handler = ResolveOnceASGIHandler()
    user_id = uuid.uuid4()
    target = user_url(user_id)

    for _ in range(2):
        assert_error(asgi_get(handler, target), 401, "AUTHENTICATION_REQUIRED")

    assert walks.paths == [target]
    assert handlers._resolved[target].func.view_class is UserDetailView
    assert len(recording.seen) == 2
    (first, first_kwargs), (second, second_kwargs) = recording.seen
    assert first is not second and first_kwargs is not second_kwargs
    assert first_kwargs == second_kwargs == handlers._resolved[target].kwargs == {"user_id": user_id}
    assert handlers._resolved[target] not in (first, second)


def test_asgi_page_that_does_not_resolve_is_not_kept(walks: Walks) -> None:
    handler = ResolveOnceASGIHandler()

    for _ in range(2):
        answer = asgi_get(handler, UNKNOWN_PAGE)
        assert answer.status_code == 404
        assert answer["Content-Type"].startswith("text/html")

    assert handlers._resolved == {}
    assert walks.paths == [UNKNOWN_PAGE, UNKNOWN_PAGE]


# --- startup: the application factories and freezing --------------------------------------


def test_freeze_startup_objects_imports_the_urlconf_and_freezes() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    clear_url_caches()
    assert "url_patterns" not in get_resolver().__dict__
    try:
        handlers.freeze_startup_objects()

        assert gc.get_freeze_count() > 0
        assert "url_patterns" in get_resolver().__dict__

        # Objects made later are collected as before, cycles included.
        class Cycle:
            other: Any = None

        made = Cycle()
        made.other = made
        gone = weakref.ref(made)
        del made
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0


@pytest.fixture
def request_receivers() -> Iterator[None]:
    """Django's receivers of request_started and request_finished, restored afterwards."""
    started, finished = list(request_started.receivers), list(request_finished.receivers)
    try:
        yield
    finally:
        with request_started.lock, request_finished.lock:
            request_started.receivers[:], request_finished.receivers[:] = started, finished
            request_started.sender_receivers_cache.clear()
            request_finished.sender_receivers_cache.clear()


def receiver_functions(signal: Any) -> list[Callable[..., Any]]:
    return [ref() if isinstance(ref, weakref.ReferenceType) else ref for _, ref, _ in signal.receivers]


def test_idle_request_receivers_are_disconnected(request_receivers: None, settings: Settings) -> None:
    settings.DEBUG = False
    started, finished = receiver_functions(request_started), receiver_functions(request_finished)
    assert reset_queries in started
    assert close_caches in finished

    handlers.idle_request_receivers_disconnect()

    # Only those two: close_old_connections (disconnected in this module while requests run,
    # as the test Client does) and every other receiver stay.
    assert receiver_functions(request_started) == [f for f in started if f is not reset_queries]
    assert receiver_functions(request_finished) == [f for f in finished if f is not close_caches]


def test_debug_keeps_the_query_log_reset(request_receivers: None, settings: Settings) -> None:
    settings.DEBUG = True
    handlers.idle_request_receivers_disconnect()
    assert reset_queries in receiver_functions(request_started)


class ClosingCache(LocMemCache):
    closed = 0

    def close(self, **kwargs: Any) -> None:
        ClosingCache.closed += 1


def test_a_cache_whose_close_does_something_is_still_closed(request_receivers: None, settings: Settings) -> None:
    settings.CACHES = {**settings.CACHES, "other": {"BACKEND": f"{__name__}.ClosingCache"}}
    handlers.idle_request_receivers_disconnect()
    assert close_caches in receiver_functions(request_finished)

    caches["other"].get("anything")  # in use in this thread, so closed at the request's end
    before = ClosingCache.closed
    request_finished.send(sender=None)
    assert ClosingCache.closed == before + 1


def test_the_configured_backends_close_nothing() -> None:
    from django.conf import settings as live

    for alias in ("django.core.cache.backends.locmem.LocMemCache", "apps.core.cache.ReusingRedisCache"):
        assert handlers._closes_nothing(alias)
    assert all(handlers._closes_nothing(alias["BACKEND"]) for alias in live.CACHES.values())
    assert not handlers._closes_nothing("django.core.cache.backends.memcached.PyMemcacheCache")


@pytest.mark.django_db
def test_wsgi_application_is_a_resolve_once_handler_with_startup_frozen(
    monkeypatch: pytest.MonkeyPatch, request_receivers: None
) -> None:
    setups: list[dict[str, Any]] = []
    monkeypatch.setattr(django, "setup", lambda **kwargs: setups.append(kwargs))  # set up already
    gc.unfreeze()
    try:
        application = handlers.wsgi_application()

        assert gc.get_freeze_count() > 0
        assert type(application) is ResolveOnceWSGIHandler
        assert setups == [{"set_prefix": False}]  # the script prefix comes from each request
        assert wsgi_get(application, HEALTH).status_code == 200
        assert list(handlers._resolved) == [HEALTH]
    finally:
        gc.unfreeze()


def test_asgi_application_is_a_resolve_once_handler(monkeypatch: pytest.MonkeyPatch, request_receivers: None) -> None:
    setups: list[dict[str, Any]] = []
    monkeypatch.setattr(django, "setup", lambda **kwargs: setups.append(kwargs))
    gc.unfreeze()
    try:
        application = handlers.asgi_application()

        assert type(application) is ResolveOnceASGIHandler
        assert setups == [{"set_prefix": False}]
        assert gc.get_freeze_count() == 0  # citizenai/asgi.py freezes once the rest is imported
        target = user_url(uuid.uuid4())
        assert_error(asgi_get(application, target), 401, "AUTHENTICATION_REQUIRED")
        assert handlers._resolved[target].func.view_class is UserDetailView
    finally:
        gc.unfreeze()
