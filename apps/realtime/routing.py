"""WebSocket routes of apps.realtime, included by citizenai.routing."""

from __future__ import annotations

from django.urls import URLPattern, re_path

from apps.realtime import consumers

websocket_urlpatterns: list[URLPattern] = [
    re_path(r"^api/v1/ws/chat/?$", consumers.ChatConsumer.as_asgi(), name="ws-chat"),
    re_path(r"^api/v1/ws/chat/(?P<session_id>[^/]+)/?$", consumers.AgentChatConsumer.as_asgi(), name="ws-chat-session"),
    re_path(r"^api/v1/ws/notifications/?$", consumers.NotificationsConsumer.as_asgi(), name="ws-notifications"),
]
