from django.urls import path

from apps.chat import views

app_name = "chat"

urlpatterns = [
    path("", views.assistant_page, name="assistant"),
    path("session/", views.assistant_session, name="session"),
]
