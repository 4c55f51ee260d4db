"""WebSocket routes; each real-time capability adds its consumers here."""

from django.urls import URLPattern, re_path

from apps.realtime.consumers import UnknownPathConsumer
from apps.realtime.routing import websocket_urlpatterns as realtime_urlpatterns

websocket_urlpatterns: list[URLPattern] = [
    *realtime_urlpatterns,
    re_path(r"", UnknownPathConsumer.as_asgi()),  # last: refuses every other path at once
]
