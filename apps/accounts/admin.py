from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from apps.accounts.models import ApiKey, AuthSession, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "role", "rate_tier", "is_active", "last_login"]
    list_filter = ["role", "rate_tier", "is_active"]
    search_fields = ["username", "email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Profile", {"fields": ("first_name", "last_name", "email", "department")}),
        ("Access", {"fields": ("role", "rate_tier", "is_active")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "email", "role", "password1", "password2")}),)
    readonly_fields = ["last_login", "date_joined"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "user", "tier", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["tier"]
    search_fields = ["name", "prefix", "user__username"]
    # The hash is never shown or edited: keys are created by their owners.
    exclude = ["key_hash"]
    readonly_fields = ["prefix", "user", "created_at", "last_used_at"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(AuthSession)
class AuthSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "created_at", "expires_at", "revoked_at", "ip_address"]
    search_fields = ["user__username"]
    exclude = ["access_token_hash", "refresh_token_hash"]
    readonly_fields = [
        "user",
        "created_at",
        "access_expires_at",
        "expires_at",
        "refreshed_at",
        "ip_address",
        "user_agent",
        "remember_me",
    ]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
