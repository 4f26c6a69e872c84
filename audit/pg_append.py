"""PostgreSQL fast path: insert an event and advance the chain head in one statement.

The UPDATE of the head row is the claim (a conditional UPDATE, as in healthchecks' sendalerts): it only
matches while the head is where this process last saw it, and its row lock makes concurrent appenders
take turns. A writer that lost the race matches nothing, inserts nothing, re-reads the head and retries,
so the chain cannot fork. One round trip instead of five (lock, insert, update, begin, commit).
"""
import json

from django.db import connections

from audit.chain import event_hash

COLUMNS = ("sequence", "uuid", "timestamp", "actor_id", "actor_name", "actor_type", "event_type", "outcome",
           "failure_reason", "target_type", "target_id", "target_text", "provider", "secret_name", "details",
           "request_id", "client_ip", "user_agent", "prev_hash", "hash")
CASTS = {"details": "::jsonb", "client_ip": "::inet"}
# Built once from the constant column names above; every value is a bound parameter.
_INSERT_COLUMNS = ", ".join(COLUMNS)
_PLACEHOLDERS = ", ".join("%s" + CASTS.get(c, "") for c in COLUMNS)
APPEND_SQL = (
    "WITH moved AS (UPDATE audit_chainhead SET sequence = %s, hash = %s WHERE id = 1 AND sequence = %s "  # noqa: S608 - constant column names; values are bound
    "RETURNING 1) INSERT INTO audit_auditevent ("
    + _INSERT_COLUMNS + ") SELECT " + _PLACEHOLDERS + " FROM moved"
)
# Several events in one statement (a rotation step's finish and the next step's start): VALUES rows need
# every type spelled out, or a column that is NULL in every row would be read as text.
_TYPED = {**CASTS, "sequence": "::bigint", "uuid": "::uuid", "timestamp": "::timestamptz", "actor_id": "::integer"}
_ROW = "(" + ", ".join("%s" + _TYPED.get(c, "") for c in COLUMNS) + ")"
APPEND_MANY_SQL = (
    "WITH moved AS (UPDATE audit_chainhead SET sequence = %s, hash = %s WHERE id = 1 AND sequence = %s "  # noqa: S608 - constant column names; values are bound
    "RETURNING 1) INSERT INTO audit_auditevent (" + _INSERT_COLUMNS + ") SELECT rows.* FROM (VALUES {rows}) AS rows ("
    + _INSERT_COLUMNS + ") CROSS JOIN moved"
)
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

    def append_many(self, many):
        """Chain and insert events in order, in one statement: all of them or (on a lost race) none, then again."""
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
            sql = APPEND_SQL if len(records) == 1 else APPEND_MANY_SQL.format(rows=", ".join([_ROW] * len(records)))
            with connections[self.using].cursor() as cursor:
                cursor.execute(sql, [records[-1]["sequence"], records[-1]["hash"], sequence, *values])
                appended = cursor.rowcount == len(records)
            if appended:
                self.head = (records[-1]["sequence"], records[-1]["hash"])
                return records
            self.head = None  # another process appended first: look again
        raise RuntimeError("could not claim the audit chain head")
