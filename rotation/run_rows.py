"""The rotation worker's bookkeeping statements, compiled once per shape: the run's conditional UPDATE, a step's row.

A run writes its row at every step boundary and a step-log row at every step's end. Django's query compiler cost
more CPU than the statements themselves (about 0.2 ms per UPDATE, measured in bench/rotation_throughput.py's
setting), so these two statements of the worker's hot path are built here once per set of columns and reused, and
on PostgreSQL they are prepared (secretsadmin/prepared.py). They mean exactly what the QuerySet calls they stand
for mean: `update_run` is `RotationRequest.objects.filter(pk=..., **where).update(**values)` reporting whether the
row matched (with `claim_at`, also only while the run is claimable then, as Runner.claim asks), and the step row is
`StepLog.objects.create(...)` without reading the new id back. Values go through each field's own
get_db_prep_save, so every database Django supports gets what the ORM would have sent.

`RunTransition` is the same UPDATE (and step row) as the `change` of audit.record_many: on PostgreSQL the run's
row, its step row and the boundary's audit events are then one statement, one round trip and one commit.
"""
from functools import lru_cache

from django.db import connection

from providers.models import Secret
from rotation.models import RotationRequest, StepLog
from secretsadmin.prepared import prepared_cursor

STEP_COLUMNS = ("request", "step", "attempt", "outcome", "detail", "started_at", "finished_at")
TABLE = RotationRequest._meta.db_table


def _field(model, name):
    return model._meta.get_field(name)


def _column(name):
    return connection.ops.quote_name(_field(RotationRequest, name).column)


@lru_cache(maxsize=64)
def _conditions(vendor, where, claim, table=""):
    """The WHERE of a run's conditional statements: its id, the columns of `where`, and (`claim`) claimable now;
    `table`: the quoted table name to qualify the columns with."""
    def column(name):
        return f"{table}.{_column(name)}" if table else _column(name)

    conditions = [f"{column(name)} = %s" for name in ("id", *where)]
    if claim:  # Runner.claim's conditions: nobody's lease runs, no back-off waits
        conditions += [f"({column('claimed_until')} IS NULL OR {column('claimed_until')} < %s)",
                       f"({column('next_attempt_at')} IS NULL OR {column('next_attempt_at')} <= %s)"]
    return " AND ".join(conditions)


@lru_cache(maxsize=64)
def _update_sql(vendor, names, where, claim=False):
    assignments = ", ".join(f"{_column(name)} = %s" for name in names)
    return f"UPDATE {connection.ops.quote_name(TABLE)} SET {assignments} WHERE {_conditions(vendor, where, claim)}"  # noqa: S608 - column names from the model; values are bound


@lru_cache(maxsize=4)
def _step_values(vendor, first="%s"):
    """The step row's columns and typed placeholders (server-side binding leaves a NULL's type to the statement)."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(_field(StepLog, name).column) for name in STEP_COLUMNS)
    if vendor == "postgresql":
        typed = [f"CAST(%s AS {_field(StepLog, name).db_type(connection)})" for name in STEP_COLUMNS[1:]]
    else:  # SQLite's CAST would apply its own type affinities (a timestamp AS datetime becomes a number)
        typed = ["%s"] * (len(STEP_COLUMNS) - 1)
    placeholders = ", ".join([first, *typed])
    return f"INSERT INTO {quote(StepLog._meta.db_table)} ({columns})", placeholders


@lru_cache(maxsize=64)
def _update_with_step_sql(vendor, names, where, claim=False):
    """PostgreSQL: the run's UPDATE and its step's row in one statement; the row is written only if the UPDATE
    matched (as audit/pg_append.py does with the chain head), so the row count still says whether it did."""
    insert, placeholders = _step_values(vendor, first="moved.id")
    return (f"WITH moved AS ({_update_sql(vendor, names, where, claim)} RETURNING {connection.ops.quote_name('id')}) "  # noqa: S608 - as above
            f"{insert} SELECT {placeholders} FROM moved")


@lru_cache(maxsize=64)
def _guard_sql(vendor, where, claim, secret, siblings):
    """The run's row, locked while it holds what `where` says; with `secret`, its secret's row too, and with
    `siblings`, the rows sharing its version history (provider id and a LIKE pattern are the first parameters). All
    of them before the audit chain head, in the order cancel_rotation and the inventory sync take them."""
    quote = connection.ops.quote_name
    if not secret:
        return f"SELECT {quote('id')} FROM {quote(TABLE)} WHERE {_conditions(vendor, where, claim)} FOR UPDATE"  # noqa: S608 - as above
    run, secrets = quote(TABLE), quote(Secret._meta.db_table)
    joined = f"{secrets}.{quote('id')} = {run}.{_column('secret')}"
    if siblings:
        joined = (f"({joined} OR ({secrets}.{quote('provider_id')} = %s AND {secrets}.{quote('name')} LIKE %s))")
    return (f"SELECT {run}.{quote('id')} FROM {run} JOIN {secrets} ON {joined} "  # noqa: S608 - as above
            f"WHERE {_conditions(vendor, where, claim, run)} FOR UPDATE")


@lru_cache(maxsize=64)
def _appended_sql(vendor, names, step):
    """The guarded writes: made only if the audit append of the same statement happened (audit/pg_append.py)."""
    assignments = ", ".join(f"{_column(name)} = %s" for name in names)
    update = (f"UPDATE {connection.ops.quote_name(TABLE)} SET {assignments} "  # noqa: S608 - as above
              f"WHERE {_column('id')} = %s AND EXISTS (SELECT 1 FROM appended)")
    if not step:
        return (update,)
    insert, placeholders = _step_values(vendor)
    return update, f"{insert} SELECT {placeholders} WHERE EXISTS (SELECT 1 FROM appended)"  # noqa: S608 - as above


def _prepared(model, name, value):
    return _field(model, name).get_db_prep_save(value, connection=connection)


def _where_params(pk, where, claim_at):
    params = [pk, *(_prepared(RotationRequest, name, value) for name, value in where.items())]
    if claim_at is not None:
        params += [_prepared(RotationRequest, "claimed_until", claim_at)] * 2
    return params


def _step_params(request_id, step):
    values = (request_id, *step)
    return [_prepared(StepLog, name, value) for name, value in zip(STEP_COLUMNS, values, strict=True)]


def update_run(pk, where, values, step=None, claim_at=None):
    """UPDATE the run `pk` with `values` where the columns in `where` hold what it says (and, with `claim_at`, where
    it is claimable at that time); True if the row matched. `step`: the StepLog row of a step that has ended (step,
    attempt, outcome, detail, started_at, finished_at), written with it when (and only when) the row matched."""
    names, conditions, claim = tuple(values), tuple(where), claim_at is not None
    params = [_prepared(RotationRequest, name, value) for name, value in values.items()]
    params += _where_params(pk, where, claim_at)
    if connection.vendor == "postgresql":
        with prepared_cursor(connection) as cursor:
            if step is None:
                cursor.execute(_update_sql(connection.vendor, names, conditions, claim), params)
            else:
                cursor.execute(_update_with_step_sql(connection.vendor, names, conditions, claim),
                               params + _step_params(pk, step)[1:])
            return cursor.rowcount == 1
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(connection.vendor, names, conditions, claim), params)
        matched = cursor.rowcount == 1
        if matched and step is not None:
            _insert_steps(cursor, pk, [step])
        return matched


def _insert_steps(cursor, request_id, rows):
    """StepLog rows of the run, one INSERT each, on `cursor` (the transaction form; PostgreSQL's joins a statement)."""
    insert, placeholders = _step_values(connection.vendor)
    for row in rows:
        cursor.execute(f"{insert} VALUES ({placeholders})", _step_params(request_id, row))


class RunTransition:
    """update_run(pk, where, values, step, claim_at) as the `change` of audit.record_many (see its docstring).
    `secret`: (secret id, {field: value}), an update of the run's secret made with it; `siblings`: (provider id, name
    prefix, {field: value}), an update of the provider's other secrets whose names start with the prefix;
    `later_steps`: the rows of steps that started and ended after `step` at this same boundary (a step with nothing
    to do outside, done in passing); they start when `step` ends, which orders their rows after its row."""

    def __init__(self, pk, where, values, step=None, claim_at=None, secret=None, siblings=None, later_steps=()):
        self.pk, self.where, self.values, self.step, self.claim_at = pk, where, values, step, claim_at
        self.secret, self.siblings, self.later_steps = secret, siblings, tuple(later_steps)
        if siblings is not None and secret is None:
            raise ValueError("siblings are those of the run's secret: name it too")
        if self.later_steps and step is None:
            raise ValueError("later steps follow the step this transition ends: name it too")

    def apply(self):
        if not update_run(self.pk, self.where, self.values, step=self.step, claim_at=self.claim_at):
            return False
        if self.later_steps:
            with connection.cursor() as cursor:
                _insert_steps(cursor, self.pk, self.later_steps)
        if self.secret is not None:
            secret_id, values = self.secret
            Secret.objects.filter(pk=secret_id).update(**values)
        if self.siblings is not None:
            provider_id, prefix, values = self.siblings
            Secret.objects.filter(provider_id=provider_id, name__startswith=prefix).exclude(
                pk=self.secret[0]).update(**values)
        return True

    def guard(self):
        params = _where_params(self.pk, self.where, self.claim_at)
        if self.siblings is not None:
            params = [self.siblings[0], _like_prefix(self.siblings[1]), *params]
        return (_guard_sql(connection.vendor, tuple(self.where), self.claim_at is not None, self.secret is not None,
                           self.siblings is not None), params)

    def writes(self):
        sqls = _appended_sql(connection.vendor, tuple(self.values), self.step is not None)
        params = [[*(_prepared(RotationRequest, name, value) for name, value in self.values.items()), self.pk]]
        if self.step is not None:
            params.append(_step_params(self.pk, self.step))
        writes = list(zip(sqls, params, strict=True))
        writes += [(sqls[-1], _step_params(self.pk, row)) for row in self.later_steps]  # the step row's statement
        if self.secret is not None:
            secret_id, values = self.secret
            writes.append((_secret_sql(connection.vendor, tuple(values)),
                           [*(_prepared(Secret, name, value) for name, value in values.items()), secret_id]))
        if self.siblings is not None:
            provider_id, prefix, values = self.siblings
            writes.append((_secret_sql(connection.vendor, tuple(values), siblings=True),
                           [*(_prepared(Secret, name, value) for name, value in values.items()), provider_id,
                            _like_prefix(prefix), self.secret[0]]))
        return writes


def _like_prefix(prefix):
    """A LIKE pattern matching names that start with `prefix` (its own % and _ escaped, as Django's startswith)."""
    return connection.ops.prep_for_like_query(prefix) + "%"


@lru_cache(maxsize=8)
def _secret_sql(vendor, names, siblings=False):
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(_field(Secret, name).column)} = %s" for name in names)
    which = (f"{quote('provider_id')} = %s AND {quote('name')} LIKE %s AND {quote('id')} <> %s" if siblings
             else f"{quote('id')} = %s")
    return (f"UPDATE {quote(Secret._meta.db_table)} SET {assignments} "  # noqa: S608 - as above
            f"WHERE {which} AND EXISTS (SELECT 1 FROM appended)")
