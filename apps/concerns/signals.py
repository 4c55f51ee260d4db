"""The cached map of category codes ends with any change to a category, the admin's included."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apps.concerns.models import Category
from apps.concerns.selectors import category_ids_forget


@receiver([post_save, post_delete], sender=Category)
def category_changed(sender: type[Category], instance: Category, **kwargs: Any) -> None:
    category_ids_forget()
