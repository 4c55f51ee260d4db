from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from apps.accounts.models import ApiKey, AuthSession, User
from apps.accounts.roles import Role, Tier
from apps.core.serializers import StrictSerializer, TextField, TextRegexField


class UserRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    role = serializers.CharField()


class LoginSerializer(StrictSerializer):
    username = TextField(required=False, max_length=254)
    email = TextField(required=False, max_length=254)
    password = TextField(max_length=4096, trim_whitespace=False)
    remember_me = serializers.BooleanField(required=False, default=False)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # Name a missing identifier together with the other errors, not only once they are fixed.
            if (
                isinstance(exc.detail, dict)
                and isinstance(data, Mapping)
                and not (data.get("username") or data.get("email"))
                and not {"username", "email"} & set(exc.detail)
            ):
                exc.detail["username"] = [ErrorDetail("Give a username or an email.", code="required")]
            raise

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("username") and not attrs.get("email"):
            raise serializers.ValidationError({"username": ["Give a username or an email."]})
        attrs["identifier"] = attrs.get("username") or attrs.get("email")
        return attrs


class LoginUserSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    email = serializers.EmailField()
    name = serializers.CharField(source="display_name")
    role = serializers.CharField()
    is_active = serializers.BooleanField()
    permissions = serializers.SerializerMethodField()

    def get_permissions(self, user: User) -> list[str]:
        return sorted(user.permissions)


class SessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuthSession
        fields = ["id", "expires_at"]


class LoginResponseSerializer(serializers.Serializer):
    user = LoginUserSerializer()
    session = SessionSerializer()
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()


class RefreshSerializer(StrictSerializer):
    refresh_token = TextField(max_length=200)


class RegisterSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    password = TextField(max_length=4096, trim_whitespace=False)
    name = TextField(max_length=300)
    username = TextRegexField(r"^[\w.@+-]+$", max_length=150, required=False)
    role = TextField(required=False)

    def validate_role(self, value: str) -> str:
        if value != Role.CITIZEN:
            raise serializers.ValidationError("Self-registration creates citizen accounts only.")
        return value


class ValidateSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    user = UserRefSerializer()
    auth_type = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)


class ProfileSerializer(StrictSerializer):
    first_name = TextField(max_length=150, allow_blank=True, required=False)
    last_name = TextField(max_length=150, allow_blank=True, required=False)
    department = TextField(max_length=100, allow_blank=True, required=False)


class UserListItemSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active")
    created_at = serializers.DateTimeField(source="date_joined")

    class Meta:
        model = User
        fields = ["id", "username", "email", "role", "active", "created_at", "last_login"]


class UserDetailSerializer(UserListItemSerializer):
    permissions = serializers.SerializerMethodField()
    profile = serializers.SerializerMethodField()

    class Meta(UserListItemSerializer.Meta):
        fields = [*UserListItemSerializer.Meta.fields, "rate_tier", "permissions", "profile"]

    def get_permissions(self, user: User) -> list[str]:
        return sorted(user.permissions)

    def get_profile(self, user: User) -> dict[str, str]:
        return {"first_name": user.first_name, "last_name": user.last_name, "department": user.department}


class UserCreateSerializer(StrictSerializer):
    username = TextRegexField(r"^[\w.@+-]+$", max_length=150)
    email = serializers.EmailField(max_length=254)
    password = TextField(max_length=4096, trim_whitespace=False)
    role = serializers.ChoiceField(choices=Role.choices)
    active = serializers.BooleanField(required=False, default=True)
    profile = ProfileSerializer(required=False)


class UserUpdateSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254, required=False)
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    active = serializers.BooleanField(required=False)
    rate_tier = serializers.ChoiceField(choices=Tier.choices, required=False)
    profile = ProfileSerializer(required=False)
    password = TextField(max_length=4096, trim_whitespace=False, required=False)
    current_password = TextField(max_length=4096, trim_whitespace=False, required=False)


class ApiKeySerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "tier", "created_at", "expires_at", "last_used_at", "active"]


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField()

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class ApiKeyCreateSerializer(StrictSerializer):
    name = TextField(max_length=100)
    tier = serializers.ChoiceField(choices=Tier.choices, required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
