"""Full-text search beside the article table: FTS5 with triggers on SQLite, a generated
weighted tsvector column with a GIN index on PostgreSQL."""

from django.db import migrations

SQLITE_UP = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS knowledge_article_fts USING fts5("
    "title, body, tags, content='knowledge_article', content_rowid='rowid', tokenize='porter unicode61')",
    "CREATE TRIGGER IF NOT EXISTS knowledge_article_ai AFTER INSERT ON knowledge_article BEGIN "
    "INSERT INTO knowledge_article_fts(rowid, title, body, tags) VALUES (new.rowid, new.title, new.body, new.tags); END",
    "CREATE TRIGGER IF NOT EXISTS knowledge_article_ad AFTER DELETE ON knowledge_article BEGIN "
    "INSERT INTO knowledge_article_fts(knowledge_article_fts, rowid, title, body, tags) "
    "VALUES ('delete', old.rowid, old.title, old.body, old.tags); END",
    "CREATE TRIGGER IF NOT EXISTS knowledge_article_au AFTER UPDATE ON knowledge_article BEGIN "
    "INSERT INTO knowledge_article_fts(knowledge_article_fts, rowid, title, body, tags) "
    "VALUES ('delete', old.rowid, old.title, old.body, old.tags); "
    "INSERT INTO knowledge_article_fts(rowid, title, body, tags) VALUES (new.rowid, new.title, new.body, new.tags); END",
    "INSERT INTO knowledge_article_fts(knowledge_article_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS knowledge_article_ai",
    "DROP TRIGGER IF EXISTS knowledge_article_ad",
    "DROP TRIGGER IF EXISTS knowledge_article_au",
    "DROP TABLE IF EXISTS knowledge_article_fts",
]
POSTGRES_UP = [
    "ALTER TABLE knowledge_article ADD COLUMN IF NOT EXISTS search_vector tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(tags::text, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(body, '')), 'C')) STORED",
    "CREATE INDEX IF NOT EXISTS knowledge_article_search_idx ON knowledge_article USING gin (search_vector)",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS knowledge_article_search_idx",
    "ALTER TABLE knowledge_article DROP COLUMN IF EXISTS search_vector",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_UP, "postgresql": POSTGRES_UP}),
            _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRES_DOWN}),
        )
    ]
