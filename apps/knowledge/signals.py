"""Cached search results end with any change to an article, the admin's included."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apps.knowledge.models import Article
from apps.knowledge.selectors import article_search_forget


@receiver([post_save, post_delete], sender=Article)
def article_changed(sender: type[Article], instance: Article, **kwargs: Any) -> None:
    article_search_forget()
    # Again after commit: a search in another process may have cached the old rows meanwhile.
    transaction.on_commit(article_search_forget)
