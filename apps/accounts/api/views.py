from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import login as django_login
from django.contrib.auth import logout as django_logout
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts import selectors, services
from apps.accounts.api import serializers as s
from apps.accounts.filtersets import UserFilterSet
from apps.accounts.models import ApiKey, AuthSession, User
from apps.core.api.base import ApiView, GenericApiView
from apps.core.net import client_ip
from apps.core.permissions import Authenticated, Public, require, user_has
from apps.core.ratelimit import LoginRateThrottle
from apps.core.responses import envelope, message


def _token_payload(issued: services.IssuedSession) -> dict[str, Any]:
    session = issued.session
    issued_at = session.refreshed_at or session.created_at
    return {
        "user": s.LoginUserSerializer(session.user).data,
        "session": s.SessionSerializer(session).data,
        "access_token": issued.access_token,
        "refresh_token": issued.refresh_token,
        "token_type": "bearer",
        "expires_in": max(0, round((session.access_expires_at - issued_at).total_seconds())),
    }


class LoginView(ApiView):
    """Sign in with username or email; returns bearer tokens and sets the session cookie.
    Credentials sent along (a stale bearer token) are ignored rather than failing it."""

    permission_classes = [Public]
    authentication_classes: list = []
    throttle_classes = [LoginRateThrottle]
    # Fresh tokens must never be stored for a replay: every request is a new sign-in.
    idempotent = False

    @extend_schema(request=s.LoginSerializer, responses={200: s.LoginResponseSerializer}, auth=[])
    def post(self, request: Request) -> Response:
        form = s.LoginSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user = services.user_authenticate(
            identifier=form.validated_data["identifier"],
            password=form.validated_data["password"],
            request=request._request,
        )
        issued = services.auth_session_create(
            user=user,
            remember_me=form.validated_data["remember_me"],
            ip_address=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
        django_login(request._request, user, backend="django.contrib.auth.backends.ModelBackend")
        services.auth_session_link(django_session=request._request.session, session=issued.session)
        if form.validated_data["remember_me"]:
            request._request.session.set_expiry(settings.REMEMBER_ME_TTL)
        payload = _token_payload(issued)
        # Seed 000 reads `user` and `session_id` at the top level.
        return envelope(
            payload,
            user={"id": str(user.pk), "username": user.username, "role": user.role},
            session_id=str(issued.session.pk),
        )


class LogoutView(ApiView):
    permission_classes = [Authenticated]

    @extend_schema(request=None, responses={200: dict})
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, AuthSession):
            services.auth_session_revoke(session=request.auth)
        services.auth_session_revoke_linked(django_session=request._request.session, user=request.user)
        django_logout(request._request)
        return message("Logged out successfully")


class ValidateView(ApiView):
    permission_classes = [Authenticated]

    @extend_schema(responses={200: s.ValidateSerializer})
    def get(self, request: Request) -> Response:
        credential = request.auth
        if isinstance(credential, AuthSession):
            auth_type, expires_at = "access_token", credential.access_expires_at
        elif isinstance(credential, ApiKey):
            auth_type, expires_at = "api_key", credential.expires_at
        else:
            auth_type, expires_at = "session_cookie", request._request.session.get_expiry_date()
        user = request.user
        return Response(
            {
                "valid": True,
                "user": {"id": str(user.pk), "username": user.username, "role": user.role},
                "auth_type": auth_type,
                "expires_at": expires_at.isoformat().replace("+00:00", "Z") if expires_at else None,
            }
        )


class RefreshView(ApiView):
    permission_classes = [Public]
    authentication_classes: list = []
    idempotent = False  # a rotation's tokens must never be stored for a replay

    @extend_schema(request=s.RefreshSerializer, responses={200: s.LoginResponseSerializer}, auth=[])
    def post(self, request: Request) -> Response:
        form = s.RefreshSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        issued = services.auth_session_refresh(refresh_token=form.validated_data["refresh_token"])
        return Response(_token_payload(issued))


class RegisterView(ApiView):
    permission_classes = [Public]
    authentication_classes: list = []
    throttle_classes = [LoginRateThrottle]

    @extend_schema(request=s.RegisterSerializer, responses={201: s.LoginUserSerializer}, auth=[])
    def post(self, request: Request) -> Response:
        form = s.RegisterSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        user = services.user_register(
            email=data["email"], password=data["password"], name=data["name"], username=data.get("username")
        )
        body = dict(s.LoginUserSerializer(user).data)
        body["created_at"] = user.date_joined
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyListView(GenericApiView):
    """Your API keys: list them, or create one (its secret is shown only in this response)."""

    permission_classes = [require("api_keys.manage_own")]
    serializer_class = s.ApiKeySerializer
    result_key = "api_keys"
    idempotency_redact = ("key",)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return ApiKey.objects.none()
        return selectors.api_key_list(user=self.request.user)

    @extend_schema(responses={200: s.ApiKeySerializer(many=True)})
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=s.ApiKeyCreateSerializer, responses={201: s.ApiKeyCreatedSerializer})
    def post(self, request: Request) -> Response:
        form = s.ApiKeyCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        key, secret = services.api_key_create(
            user=request.user,
            name=form.validated_data["name"],
            tier=form.validated_data.get("tier"),
            expires_at=form.validated_data.get("expires_at"),
        )
        key.key = secret  # type: ignore[attr-defined]
        return Response(s.ApiKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(ApiView):
    permission_classes = [require("api_keys.manage_own")]

    @extend_schema(request=None, responses={200: dict})
    def delete(self, request: Request, key_id: str) -> Response:
        key = get_object_or_404(selectors.api_key_list(user=request.user), pk=key_id)
        services.api_key_revoke(api_key=key)
        return message("API key revoked", id=str(key.pk))


class UserListView(GenericApiView):
    permission_classes = [require("users.manage")]
    serializer_class = s.UserListItemSerializer
    filterset_class = UserFilterSet
    result_key = "users"
    default_limit = 50
    cursor_field = "date_joined"

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.user_list()

    @extend_schema(responses={200: s.UserListItemSerializer(many=True)})
    def get(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=s.UserCreateSerializer, responses={201: s.UserDetailSerializer})
    def post(self, request: Request) -> Response:
        form = s.UserCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        user = services.user_create(
            username=data["username"],
            email=data["email"],
            password=data["password"],
            role=data["role"],
            active=data["active"],
            **(data.get("profile") or {}),
        )
        return Response(s.UserDetailSerializer(user).data, status=status.HTTP_201_CREATED)


class UserDetailView(ApiView):
    """Administrators manage every user; anyone else reads and updates only themselves."""

    permission_classes = [Authenticated]

    def _get_user(self, request: Request, user_id: Any) -> User:
        # Permission first: a non-admin learns nothing about which other ids exist.
        if str(user_id) != str(request.user.pk) and not user_has(request.user, "users.manage"):
            raise PermissionDenied("You may only access your own account.")
        return get_object_or_404(User, pk=user_id)

    @extend_schema(responses={200: s.UserDetailSerializer})
    def get(self, request: Request, user_id: Any) -> Response:
        return Response(s.UserDetailSerializer(self._get_user(request, user_id)).data)

    @extend_schema(request=s.UserUpdateSerializer, responses={200: s.UserDetailSerializer})
    def put(self, request: Request, user_id: Any) -> Response:
        user = self._get_user(request, user_id)
        form = s.UserUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user = services.user_update(user=user, actor=request.user, data=form.validated_data)
        data = dict(s.UserDetailSerializer(user).data)
        data["message"] = "User updated successfully"
        return envelope(data, message="User updated successfully")

    @extend_schema(request=None, responses={200: dict})
    def delete(self, request: Request, user_id: Any) -> Response:
        if not user_has(request.user, "users.manage"):
            raise PermissionDenied("Only administrators may delete users.")
        user = get_object_or_404(User, pk=user_id)
        services.user_delete(user=user, actor=request.user)
        return message("User deleted successfully", id=str(user_id))
