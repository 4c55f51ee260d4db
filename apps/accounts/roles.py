"""Roles and the permissions each one holds. Later capabilities add their permissions here."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    CITIZEN = "citizen", "Citizen"
    STAFF = "staff", "Staff"
    ADMINISTRATOR = "administrator", "Administrator"


class Tier(models.TextChoices):
    STANDARD = "standard", "Standard"
    PREMIUM = "premium", "Premium"
    ENTERPRISE = "enterprise", "Enterprise"


CITIZEN_PERMISSIONS = frozenset(
    {
        "api_keys.manage_own",
        "chat.use",
        "concerns.create",
        "concerns.view_own",
        "profile.update_own",
    }
)
STAFF_PERMISSIONS = CITIZEN_PERMISSIONS | {
    "analytics.view",
    "chat.view_all",
    "concerns.update",
    "concerns.view_all",
    "knowledge.manage",
    "webhooks.manage",
}
ADMINISTRATOR_PERMISSIONS = STAFF_PERMISSIONS | {
    "analytics.manage",
    "chat.delete",
    "concerns.delete",
    "system.view",
    "users.manage",
    "webhooks.view_all",
}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.CITIZEN: CITIZEN_PERMISSIONS,
    Role.STAFF: frozenset(STAFF_PERMISSIONS),
    Role.ADMINISTRATOR: frozenset(ADMINISTRATOR_PERMISSIONS),
}
