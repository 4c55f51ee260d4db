from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from apps.accounts.roles import ROLE_PERMISSIONS, Role, Tier


class CitizenUserManager(UserManager["User"]):
    def create_superuser(
        self, username: str, email: str | None = None, password: str | None = None, **extra: Any
    ) -> User:
        extra.setdefault("role", Role.ADMINISTRATOR)
        return super().create_superuser(username, email, password, **extra)


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.CITIZEN, db_index=True)
    rate_tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.STANDARD)
    department = models.CharField(max_length=100, blank=True)

    objects = CitizenUserManager()

    class Meta:
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique", condition=~models.Q(email=""))
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The role is the source of truth; Django's flags follow it so the admin agrees.
        self.is_staff = self.role in (Role.STAFF, Role.ADMINISTRATOR)
        self.is_superuser = self.role == Role.ADMINISTRATOR
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "role" in update_fields:
            kwargs["update_fields"] = set(update_fields) | {"is_staff", "is_superuser"}
        super().save(*args, **kwargs)

    @property
    def permissions(self) -> frozenset[str]:
        return ROLE_PERMISSIONS.get(self.role, frozenset())

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class ApiKey(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=20, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.STANDARD)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @property
    def rate_bucket(self) -> tuple[str, str]:
        return self.tier, f"key:{self.pk}"


class AuthSession(models.Model):
    """A sign-in: one opaque access token and one rotating refresh token, both hashed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="auth_sessions")
    access_token_hash = models.CharField(max_length=64, unique=True)
    refresh_token_hash = models.CharField(max_length=64, unique=True)
    access_expires_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    remember_me = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"session {self.pk} of {self.user_id}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class RetiredRefreshToken(models.Model):
    """A refresh token already exchanged for a new pair. Presented again, it means two
    parties hold the session's tokens (one of them stole a copy), and the session ends for
    both: rotation with reuse detection (RFC 9700 §4.14.2). Deleted with its session."""

    token_hash = models.CharField(max_length=64, primary_key=True)
    session = models.ForeignKey(AuthSession, on_delete=models.CASCADE, related_name="retired_refresh_tokens")
    retired_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"retired refresh token of {self.session_id}"
