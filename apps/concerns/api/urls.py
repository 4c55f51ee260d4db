from django.urls import path

from apps.concerns.api import views

urlpatterns = [
    path("categories", views.CategoryListView.as_view(), name="categories"),
    path("concerns", views.ConcernListView.as_view(), name="concerns"),
    path("concerns/<str:identifier>", views.ConcernDetailView.as_view(), name="concern-detail"),
    path("concerns/<str:identifier>/attachments", views.AttachmentListView.as_view(), name="concern-attachments"),
    path(
        "concerns/<str:identifier>/attachments/<uuid:attachment_id>",
        views.AttachmentFileView.as_view(),
        name="concern-attachment-file",
    ),
]
