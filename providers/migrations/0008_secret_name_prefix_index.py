"""PostgreSQL: an index that answers "this provider's secrets whose name starts with ..." (LIKE 'prefix%').

A rotation's promote moves every inventory row that shares the rotated secret's version history (a Vault path's
`path#key` rows) in its boundary statement, found by `name LIKE 'path#%'`. The unique (provider, name) index
cannot serve a LIKE unless the database collation is "C", so with any other collation (C.UTF-8 and en_US.UTF-8
included) that lookup read every secret of the provider while the run's row was locked: 30 ms at 200,000
secrets. `varchar_pattern_ops` compares bytes, which is what a prefix range needs, whatever the collation.
"""
from django.db import migrations

INDEX = "secret_name_prefix_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{INDEX}" ON "providers_secret" ("provider_id", "name" varchar_pattern_ops)'
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX IF EXISTS "{INDEX}"')


class Migration(migrations.Migration):

    dependencies = [
        ("providers", "0007_last_successful_sync"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index),
    ]
