from django.urls import path
from django.views.generic import RedirectView

from apps.concerns import views

app_name = "concerns"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="concerns:new"), name="index"),  # /concerns/ itself
    path("new/", views.concern_new, name="new"),
    path("submitted/<str:tracking_number>/", views.concern_submitted, name="submitted"),
    path("track/", views.concern_track, name="track"),
    path("track/<str:tracking_number>/", views.concern_track_detail, name="track-detail"),
    path("mine/", views.my_concerns, name="mine"),
]
