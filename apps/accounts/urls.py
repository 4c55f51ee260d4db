from django.urls import path

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("sign-in/", views.sign_in, name="login"),
    path("sign-up/", views.sign_up, name="signup"),
    path("sign-out/", views.sign_out, name="logout"),
    path("", views.account, name="account"),
    path("api-keys/<uuid:key_id>/revoke/", views.revoke_api_key, name="revoke-api-key"),
]
