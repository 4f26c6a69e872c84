"""The rotation worker's bookkeeping statements, compiled once per shape: the run's conditional UPDATE, a step's row.

A run writes its row at every step boundary and a step-log row at every step's end. Django's query compiler cost
more CPU than the statements themselves (about 0.2 ms per UPDATE, measured in bench/rotation_throughput.py's
setting), so these two statements of the worker's hot path are built here once per set of columns and reused.
They mean exactly what the QuerySet calls they stand for mean: `update_run` is
`RotationRequest.objects.filter(pk=..., **where).update(**values)` reporting whether the row matched, and
`insert_step` is `StepLog.objects.create(...)` without reading the new id back. Values go through each field's
own get_db_prep_save, so every database Django supports gets what the ORM would have sent.
"""
from functools import lru_cache

from django.db import connection

from rotation.models import RotationRequest, StepLog

STEP_COLUMNS = ("request", "step", "attempt", "outcome", "detail", "started_at", "finished_at")


def _field(model, name):
    return model._meta.get_field(name)


@lru_cache(maxsize=64)
def _update_sql(vendor, names, where):
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(_field(RotationRequest, name).column)} = %s" for name in names)
    conditions = " AND ".join(f"{quote(_field(RotationRequest, name).column)} = %s" for name in ("id", *where))
    return f"UPDATE {quote(RotationRequest._meta.db_table)} SET {assignments} WHERE {conditions}"  # noqa: S608 - column names from the model; values are bound


@lru_cache(maxsize=4)
def _insert_step_sql(vendor):
    quote = connection.ops.quote_name
    columns = ", ".join(quote(_field(StepLog, name).column) for name in STEP_COLUMNS)
    placeholders = ", ".join(["%s"] * len(STEP_COLUMNS))
    return f"INSERT INTO {quote(StepLog._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608 - as above


@lru_cache(maxsize=64)
def _update_with_step_sql(vendor, names, where):
    """PostgreSQL: the run's UPDATE and its step's row in one statement; the row is written only if the UPDATE
    matched (as audit/pg_append.py does with the chain head), so the row count still says whether it did."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(_field(StepLog, name).column) for name in STEP_COLUMNS)
    placeholders = ", ".join(["moved.id", *["%s"] * (len(STEP_COLUMNS) - 1)])
    return (f"WITH moved AS ({_update_sql(vendor, names, where)} RETURNING {quote('id')}) "  # noqa: S608 - as above
            f"INSERT INTO {quote(StepLog._meta.db_table)} ({columns}) SELECT {placeholders} FROM moved")


def _prepared(model, name, value):
    return _field(model, name).get_db_prep_save(value, connection=connection)


def update_run(pk, where, values, step=None):
    """UPDATE the run `pk` with `values` where the columns in `where` hold what it says; True if the row matched.
    `step`: the StepLog row of a step that has ended (step, attempt, outcome, detail, started_at, finished_at),
    written with it when (and only when) the row matched."""
    names, conditions = tuple(values), tuple(where)
    params = [_prepared(RotationRequest, name, value) for name, value in values.items()]
    params += [pk, *(_prepared(RotationRequest, name, value) for name, value in where.items())]
    step_params = _step_params(pk, step) if step is not None else None
    with connection.cursor() as cursor:
        if step_params is not None and connection.vendor == "postgresql":
            cursor.execute(_update_with_step_sql(connection.vendor, names, conditions), params + step_params[1:])
            return cursor.rowcount == 1
        cursor.execute(_update_sql(connection.vendor, names, conditions), params)
        matched = cursor.rowcount == 1
        if matched and step_params is not None:
            cursor.execute(_insert_step_sql(connection.vendor), step_params)
        return matched


def _step_params(request_id, step):
    values = (request_id, *step)
    return [_prepared(StepLog, name, value) for name, value in zip(STEP_COLUMNS, values, strict=True)]
