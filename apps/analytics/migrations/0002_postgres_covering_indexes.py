"""Covering indexes for the analytics range queries, on PostgreSQL only.

The dashboard and the metric series count rows of a date range grouped by day and by a few
small columns. With these INCLUDE indexes PostgreSQL answers them with index-only scans
(no heap access). They live on the concerns and chat tables but belong to analytics, so
they are created here with plain SQL and named ``analytics_*``; SQLite skips them.
Created CONCURRENTLY so that adding them to a live database does not block writes.
"""

from django.db import migrations

INDEXES = {
    "analytics_concern_submitted_cov": (
        "ON concerns_concern (submitted_at) "
        "INCLUDE (status, priority, category_id, estimated_resolution) WHERE deleted_at IS NULL"
    ),
    "analytics_message_created_cov": "ON chat_message (created_at) INCLUDE (role, sentiment, intent, agent_id)",
}


class PostgresOnlySQL(migrations.RunSQL):
    """RunSQL that runs on PostgreSQL and is a no-op elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("analytics", "0001_initial"),
        ("concerns", "0002_default_categories_and_search_index"),
        ("chat", "0001_initial"),
    ]

    operations = [
        PostgresOnlySQL(
            sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}",
            reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        )
        for name, definition in INDEXES.items()
    ]
