"""A URLconf for tests of the error machinery: views that fail on purpose."""

from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.base import ApiView
from apps.core.permissions import Public


class BoomView(ApiView):
    permission_classes = [Public]

    def get(self, request: Request) -> Response:
        raise RuntimeError("secret-value-that-must-not-leak")


class EchoView(ApiView):
    """Echoes the parsed body; POSTs are idempotent-capable like every API create."""

    permission_classes = [Public]
    calls = 0

    def post(self, request: Request) -> Response:
        EchoView.calls += 1
        if request.data.get("fail"):
            raise RuntimeError("first attempt fails")
        return Response({"received": request.data, "call": EchoView.calls}, status=201)


def django_boom(request):  # type: ignore[no-untyped-def]
    raise RuntimeError("secret-value-that-must-not-leak")


urlpatterns = [
    path("api/v1/test/boom", BoomView.as_view()),
    path("api/v1/test/echo", EchoView.as_view()),
    path("api/v1/test/django-boom", django_boom),
    path("", include("citizenai.urls")),
]
