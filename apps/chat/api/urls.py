from django.urls import path

from apps.chat.api import views

urlpatterns = [
    path("chat/session", views.SessionView.as_view(), name="chat-session"),
    path("chat/message", views.MessageView.as_view(), name="chat-message"),
    path("chat/history", views.HistoryView.as_view(), name="chat-history"),
    path("chat/feedback", views.FeedbackView.as_view(), name="chat-feedback"),
    path("chat/agents", views.AgentsView.as_view(), name="chat-agents"),
    path("chat/stream", views.StreamView.as_view(), name="chat-stream"),
    path("chat/threads", views.ThreadListView.as_view(), name="chat-threads"),
    path("chat/threads/<str:thread_id>", views.ThreadDetailView.as_view(), name="chat-thread"),
    path("chat/threads/<str:thread_id>/messages", views.ThreadMessagesView.as_view(), name="chat-thread-messages"),
]
