"""A throwaway PostgreSQL database for a benchmark: `secretsadmin_bench_<pid>`, dropped afterwards.

    with throwaway_database() as url:   # None when PostgreSQL is not reachable (fall back to SQLite)
        ...

The server is BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres, trust auth); only
databases named secretsadmin_bench_* are ever created or dropped.
"""
import os
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PREFIX = "secretsadmin_bench_"


def _admin_connection():
    import psycopg

    return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)


def _database_url(name):
    parts = urlsplit(ADMIN_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _drop(connection, name):
    from psycopg import sql

    connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def postgres_available():
    try:
        with _admin_connection():
            return True
    except Exception:  # psycopg missing, server down, refused: all mean "use SQLite"
        return False


@contextmanager
def throwaway_database(suffix=""):
    """Yield the URL of a fresh, empty PostgreSQL database, or None if PostgreSQL is not reachable."""
    from psycopg import sql

    name = f"{PREFIX}{os.getpid()}{suffix}"
    if not name.startswith(PREFIX):  # pragma: no cover - a guard for edits to the naming above
        raise ValueError(name)
    try:
        admin = _admin_connection()
    except Exception:
        admin = None
    if admin is None:
        yield None
        return
    with admin:
        _drop(admin, name)  # a leftover from a killed run with a recycled pid
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _database_url(name)
    finally:
        with _admin_connection() as admin:
            _drop(admin, name)
