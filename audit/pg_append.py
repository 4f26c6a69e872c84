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
        for _ in range(MAX_ATTEMPTS):
            if self.head is None:
                self.head = self._read_head()
            sequence, prev_hash = self.head
            record = {**fields, "sequence": sequence + 1, "prev_hash": prev_hash}
            record["hash"] = event_hash(prev_hash, record)
            values = [json.dumps(record[c]) if c == "details" else record[c] for c in COLUMNS]
            with connections[self.using].cursor() as cursor:
                cursor.execute(APPEND_SQL, [record["sequence"], record["hash"], sequence, *values])
                appended = cursor.rowcount == 1
            if appended:
                self.head = (record["sequence"], record["hash"])
                return record
            self.head = None  # another process appended first: look again
        raise RuntimeError("could not claim the audit chain head")
