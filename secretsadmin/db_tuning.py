"""Planner settings for one transaction of many short aggregate queries (the dashboard, compliance reports)."""
from django.db import connection

# Compiling each query with JIT costs more than these aggregates take to run (measured: 0.5-0.8 s of JIT on a
# 0.1-1 s count over 100,000 secrets), so every caller turns it off.
BASE = {"jit": "off"}


def tune_for_aggregates(**settings):
    """SET LOCAL jit = off, plus `settings` (name=value), for the current transaction only (PostgreSQL; a no-op
    elsewhere). set_config(..., true) is SET LOCAL with bound values: one round trip whatever the number."""
    if connection.vendor != "postgresql":
        return
    chosen = {**BASE, **settings}
    calls = ", ".join(["set_config(%s, %s, true)"] * len(chosen))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {calls}", [item for pair in chosen.items() for item in pair])
