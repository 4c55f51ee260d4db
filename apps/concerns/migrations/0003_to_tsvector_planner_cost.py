"""On PostgreSQL, tells the planner what to_tsvector costs, so that ``?q=`` on a rare word uses
the full-text index concern_fulltext_idx (migration 0002). No schema change.

The concern list filters ``?q=`` on to_tsvector('english', title || ' ' || description) and
orders by submitted_at with a LIMIT. PostgreSQL can either read the matches from the GIN
index and sort them, or walk the submitted_at index and compute to_tsvector for every row
until a page is full. The built-in cost of to_tsvector (COST 100: 0.25 cost units a call)
is several times below what it takes (measured on 1,000,000 concerns: about 8 µs a call
on 100-character texts, about 1.8 cost units; real descriptions are longer). For a word in
0.1 % of the concerns the two plans then look alike, and after some ANALYZE samples the
planner walks: about 17,000 rows and 0.5-6 s instead of 5 ms through the GIN index. With
COST 1000, rare words use the GIN index and common words still walk the submitted_at index
(a few hundred rows for a page), which is the faster plan for them.

ALTER FUNCTION on a built-in function needs its owner, a superuser. Where the migration runs
without that privilege it changes nothing and says so in a NOTICE; an administrator can run
the same statement. pg_dump does not carry the setting: run it again after a restore into a
new cluster. Elsewhere than PostgreSQL this migration does nothing.
"""

from django.db import migrations

COST_SQL = """
DO $$
BEGIN
    ALTER FUNCTION pg_catalog.to_tsvector(regconfig, text) COST {cost};
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'to_tsvector(regconfig, text) keeps its planner cost: only its owner (a superuser) may '
                 'change it. Run ALTER FUNCTION pg_catalog.to_tsvector(regconfig, text) COST {cost}; as one.';
END
$$
"""
TUNED_COST = 1000
BUILT_IN_COST = 100


def set_cost(cost: int):  # type: ignore[no-untyped-def]
    def apply(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(COST_SQL.format(cost=cost))

    return apply


class Migration(migrations.Migration):
    dependencies = [("concerns", "0002_default_categories_and_search_index")]

    operations = [migrations.RunPython(set_cost(TUNED_COST), set_cost(BUILT_IN_COST))]
