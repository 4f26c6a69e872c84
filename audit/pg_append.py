"""PostgreSQL fast path: insert events and advance the chain head in one statement.

The UPDATE of the head row is the claim (a conditional UPDATE, as in healthchecks' sendalerts): it only
matches while the head is where this process last saw it, and its row lock makes concurrent appenders
take turns. A writer that lost the race matches nothing, inserts nothing, re-reads the head and retries,
so the chain cannot fork. One round trip instead of five (lock, insert, update, begin, commit), and a prepared
statement (secretsadmin/prepared.py), planned once per connection.

With a `change` (see audit.recorder.record_many), the caller's own writes join that statement: a locking read
(the guard) decides whether the change may be made, the head moves only if it may, and the change's writes are
made only if the head moved. Run alone (autocommit), the statement is the whole transaction: change and events,
all or nothing, in one round trip.
"""
import json
from functools import lru_cache

from django.db import connections

from audit.chain import event_hash
from secretsadmin.prepared import prepared_cursor

COLUMNS = ("sequence", "uuid", "timestamp", "actor_id", "actor_name", "actor_type", "event_type", "outcome",
           "failure_reason", "target_type", "target_id", "target_text", "provider", "secret_name", "details",
           "request_id", "client_ip", "user_agent", "prev_hash", "hash")
# Built once from the constant column names above; every value is a bound parameter. The server binds them, so
# each column that can be NULL or is not text says its type.
_INSERT_COLUMNS = ", ".join(COLUMNS)
_TYPED = {"sequence": "::bigint", "uuid": "::uuid", "timestamp": "::timestamptz", "actor_id": "::integer",
          "details": "::jsonb", "client_ip": "::inet"}
_ROW = "(" + ", ".join("%s" + _TYPED.get(c, "") for c in COLUMNS) + ")"
_HEAD = "UPDATE audit_chainhead SET sequence = %s, hash = %s WHERE id = 1 AND sequence = %s"
_EVENTS = ("INSERT INTO audit_auditevent (" + _INSERT_COLUMNS + ") SELECT rows.* FROM (VALUES {rows}) AS rows ("  # noqa: S608 - constant column names; values are bound
           + _INSERT_COLUMNS + ")")
APPEND_SQL = "WITH moved AS (" + _HEAD + " RETURNING 1) " + _EVENTS + " CROSS JOIN moved"
# The guarded form: `guard` locks what the change depends on (the caller's rows, before the head: the order every
# other writer takes them in), `appended` moves the head only if the guard found its rows, each `change_<k>` write
# is conditional on `appended` (its SQL says `EXISTS (SELECT 1 FROM appended)`), and the events follow `appended`.
# Data-modifying WITH parts always run to completion; the final SELECT only reports what happened.
GUARDED_SQL = ("WITH guard AS ({guard}), appended AS (" + _HEAD + " AND EXISTS (SELECT 1 FROM guard) RETURNING 1)"  # noqa: S608 - as above
               "{writes}, events AS (" + _EVENTS + " CROSS JOIN appended) "
               "SELECT (SELECT count(*) FROM guard), (SELECT count(*) FROM appended)")
MAX_ATTEMPTS = 1000  # only reached if something keeps moving the head without appending


class PostgresAppender:
    def __init__(self, using, recreate_head):
        self.using = using
        self.recreate_head = recreate_head
        self.head = None  # (sequence, hash) as this process last saw it

    def _read_head(self):
        with connections[self.using].cursor() as cursor:
            cursor.execute("SELECT sequence, hash FROM audit_chainhead WHERE id = 1")
            row = cursor.fetchone()
        if row is None:
            head = self.recreate_head()
            return head.sequence, head.hash
        return row

    def append(self, fields):
        return self.append_many([fields])[0]

    def append_many(self, many, change=None):
        """Chain and insert events in order, in one statement: all of them or (on a lost race) none, then again.
        With a `change`, its writes are part of that statement; None when its guard says it may not be made."""
        for _ in range(MAX_ATTEMPTS):
            if self.head is None:
                self.head = self._read_head()
            sequence, prev_hash = self.head
            records = []
            for fields in many:
                record = {**fields, "sequence": sequence + len(records) + 1, "prev_hash": prev_hash}
                record["hash"] = prev_hash = event_hash(prev_hash, record)
                records.append(record)
            values = [json.dumps(record[c]) if c == "details" else record[c] for record in records for c in COLUMNS]
            head = [records[-1]["sequence"], records[-1]["hash"], sequence]
            with prepared_cursor(connections[self.using]) as cursor:
                if change is None:
                    cursor.execute(_append_sql(len(records)), [*head, *values])
                    appended = cursor.rowcount == len(records)
                else:
                    (guard, guard_params), writes = change.guard(), change.writes()
                    cursor.execute(_guarded_sql(guard, tuple(sql for sql, _ in writes), len(records)),
                                   [*guard_params, *head, *(p for _, params in writes for p in params), *values])
                    allowed, moved = cursor.fetchone()
                    if not allowed:
                        return None
                    appended = moved == 1
            if appended:
                self.head = (records[-1]["sequence"], records[-1]["hash"])
                return records
            self.head = None  # another process appended first: look again
        raise RuntimeError("could not claim the audit chain head")


@lru_cache(maxsize=16)
def _append_sql(rows):
    return APPEND_SQL.format(rows=", ".join([_ROW] * rows))


@lru_cache(maxsize=64)
def _guarded_sql(guard, writes, rows):
    named = "".join(f", change_{k} AS ({sql})" for k, sql in enumerate(writes))
    return GUARDED_SQL.format(guard=guard, writes=named, rows=", ".join([_ROW] * rows))
