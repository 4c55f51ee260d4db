"""WebSocket routes; each real-time capability adds its consumers here."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
