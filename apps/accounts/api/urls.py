from django.urls import path

from apps.accounts.api import views

urlpatterns = [
    path("auth/login", views.LoginView.as_view(), name="auth-login"),
    path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/validate", views.ValidateView.as_view(), name="auth-validate"),
    path("auth/refresh", views.RefreshView.as_view(), name="auth-refresh"),
    path("auth/register", views.RegisterView.as_view(), name="auth-register"),
    path("auth/api-keys", views.ApiKeyListView.as_view(), name="api-keys"),
    path("auth/api-keys/<uuid:key_id>", views.ApiKeyDetailView.as_view(), name="api-key-detail"),
    path("users", views.UserListView.as_view(), name="users"),
    path("users/<uuid:user_id>", views.UserDetailView.as_view(), name="user-detail"),
]
