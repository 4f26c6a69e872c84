"""Editing audit history behind the application's back, as the tamper-detection tests need to."""
from django.db import connection


def raw_sql(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def tamper(*statements):
    """Raw SQL (strings, or (sql, params) tuples); on PostgreSQL as a superuser who first disables
    the append-only trigger (the strongest attacker the chain must still expose)."""
    if connection.vendor == "postgresql":
        raw_sql("SET CONSTRAINTS ALL IMMEDIATE")  # flush deferred FK checks so the table can be altered
        raw_sql("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
    for statement in statements:
        raw_sql(*statement) if isinstance(statement, tuple) else raw_sql(statement)
    if connection.vendor == "postgresql":
        raw_sql("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
