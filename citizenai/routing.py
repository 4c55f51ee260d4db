"""WebSocket routes; each real-time capability adds its consumers here."""

from django.urls import URLPattern

from apps.realtime.routing import websocket_urlpatterns as realtime_urlpatterns

websocket_urlpatterns: list[URLPattern] = [*realtime_urlpatterns]
