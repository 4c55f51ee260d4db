"""Cached credentials follow every save and delete of a key, a session or a user, including
those made in the Django admin (see apps/accounts/credential_cache.py)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apps.accounts.credential_cache import credentials_forget, credentials_forget_user
from apps.accounts.models import ApiKey, AuthSession, User


@receiver([post_save, post_delete], sender=ApiKey)
def api_key_changed(sender: type[ApiKey], instance: ApiKey, **kwargs: Any) -> None:
    if not kwargs.get("created"):  # a new key's hash cannot be cached yet
        credentials_forget(credential_hashes=[instance.key_hash])


@receiver([post_save, post_delete], sender=AuthSession)
def auth_session_changed(sender: type[AuthSession], instance: AuthSession, **kwargs: Any) -> None:
    if kwargs.get("created"):
        return
    if kwargs.get("signal") is post_delete and not instance.is_active:
        return  # purging ended sessions: a cached copy of one is refused anyway
    credentials_forget(credential_hashes=[instance.access_token_hash])


@receiver(post_save, sender=User)
def user_changed(sender: type[User], instance: User, created: bool, **kwargs: Any) -> None:
    if not created and kwargs.get("update_fields") != frozenset({"last_login"}):
        credentials_forget_user(user_id=instance.pk)
