"""URLconf of the bare twins server of bench/concerns.py (see bench/bare_concerns.py): the
twins only, at the paths of the API endpoints they mirror, so a request line is the same
for the app and its twin."""

from django.urls import path

from bench import bare_concerns

urlpatterns = [
    path("api/v1/concerns", bare_concerns.concern_list),
    path("api/v1/concerns/<str:tracking_number>", bare_concerns.concern_detail),
]
