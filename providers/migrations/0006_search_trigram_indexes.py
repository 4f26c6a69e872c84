"""PostgreSQL: trigram indexes that serve the inventory search (name, description, tags; case-insensitive).

The inventory's `q` filter is `icontains` on three columns, which Django writes as
`UPPER(col::text) LIKE UPPER('%term%')`. A GIN index with pg_trgm's operator class on exactly those
expressions lets PostgreSQL answer that with bitmap index scans instead of reading every row.

pg_trgm is a trusted extension (PostgreSQL 13+), so a database owner may create it; where the role may
not, the migration carries on without the indexes (search stays correct, only slower) and says so.
"""
import logging

from django.db import migrations

logger = logging.getLogger("secretsadmin")

INDEXES = {
    "secret_name_trgm_idx": 'UPPER("name"::text)',
    "secret_description_trgm_idx": 'UPPER("description"::text)',
    "secret_tags_trgm_idx": 'UPPER(("tags")::text)',
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone() is None:
            try:
                cursor.execute("SAVEPOINT create_pg_trgm")
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                cursor.execute("RELEASE SAVEPOINT create_pg_trgm")
            except Exception as error:  # any refusal means "no trigram indexes"
                cursor.execute("ROLLBACK TO SAVEPOINT create_pg_trgm")
                logger.warning("inventory search indexes skipped: pg_trgm could not be created (%s)",
                               type(error).__name__)
                return
        for name, expression in INDEXES.items():
            cursor.execute(
                f'CREATE INDEX IF NOT EXISTS "{name}" ON "providers_secret" USING gin ({expression} gin_trgm_ops)'
            )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):

    dependencies = [
        ("providers", "0005_dashboard_indexes"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes),
    ]
