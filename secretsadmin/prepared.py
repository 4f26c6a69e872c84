"""Statements PostgreSQL parses and plans once per connection: a server-side binding cursor that prepares them.

Django sends each query with its parameters merged in (client-side binding), so PostgreSQL parses and plans it
every time. For the few statements a rotation worker repeats at every step (the run's transition, its step row and
the audit events, one statement: about 1 ms to plan for 0.2 ms to run, measured in bench/rotation_throughput.py)
that planning is most of their cost. psycopg prepares a statement once it ran `prepare_threshold` times on the
connection (settings.py sets it; Django's own client-side binding cursors never prepare). Prepared statements live in
the connection: a deployment behind a pooler that cannot keep them (PgBouncer in transaction mode before 1.21) sets
[database] prepared_statements = false, and these run unprepared, as Django's do.
"""
import contextlib
from functools import cache

import psycopg
from django_prometheus.db.common import ExportingCursorWrapper


@contextlib.contextmanager
def prepared_cursor(connection):
    """A server-side binding cursor of `connection` (Django's, PostgreSQL), in its current transaction, wrapped as
    Django wraps its own: errors come out as Django's DatabaseError classes, execute wrappers run and, where Django
    logs queries (DEBUG, tests counting them), these are logged too. Placeholders are %s, their values bound by the
    server: a value that may be NULL where PostgreSQL cannot infer the type needs a CAST."""
    connection.ensure_connection()
    raw = _cursor_class(connection.alias, connection.vendor)(connection.connection)
    with connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw) as cursor:
        yield cursor


@cache
def _cursor_class(alias, vendor):
    # Counted in the database metrics (django_db_execute_total, query durations, errors) as Django's cursors are.
    return ExportingCursorWrapper(psycopg.Cursor, alias, vendor)
