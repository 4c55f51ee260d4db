"""Demo knowledge base: the starter articles a city would publish."""

from __future__ import annotations

from collections.abc import Callable

from apps.knowledge.content import ARTICLES
from apps.knowledge.models import Article


def load(write: Callable[[str], None]) -> None:
    created = 0
    for item in ARTICLES:
        _, was_created = Article.objects.get_or_create(title=item["title"], defaults=item)
        created += was_created
    write(f"  {created} articles added ({len(ARTICLES)} in the starter set)")
