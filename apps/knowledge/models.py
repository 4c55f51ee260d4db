from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class Article(models.Model):
    """A page of the city's own knowledge base that the assistant answers from.

    Full-text search lives beside the table, created by migration 0002: an FTS5 index kept
    by triggers on SQLite, a generated tsvector column with a GIN index on PostgreSQL.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=200)
    body = models.TextField()
    category = models.CharField(max_length=60, blank=True, db_index=True)
    tags = models.JSONField(default=list, blank=True)
    source_url = models.URLField(max_length=500, blank=True)
    published = models.BooleanField(default=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title
