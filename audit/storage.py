"""Where audit events go: the hash-chained database table (default), a JSON-lines file, and a log line."""
import fcntl
import json
import logging
import os
from pathlib import Path

from django.db import connections, transaction

from audit.chain import GENESIS_HASH, canonical_fields, encode_canonical, event_hash, format_timestamp
from audit.models import AuditEvent, ChainHead
from audit.pg_append import PostgresAppender

siem_log = logging.getLogger("secretsadmin.audit")


class AuditWriteError(Exception):
    """The audit record could not be written, so the audited operation must not happen."""


class AuditStorage:
    """A place audit events are written to. A primary storage assigns sequence and hashes."""

    chained = False

    def append(self, fields: dict) -> dict:
        """Chain and store one event (primary storages); returns the fields with sequence/prev_hash/hash."""
        raise NotImplementedError

    def append_many(self, many: list[dict]) -> list[dict]:
        """Chain and store several events in order (primary storages); faster where the storage can batch."""
        return [self.append(fields) for fields in many]

    def append_with(self, change, many: list[dict]) -> list[dict] | None:
        """Make `change` (audit.recorder.record_many) and append `many` in one transaction; None, with nothing
        written, when the change may not be made. A storage that can do both in one statement does."""
        with transaction.atomic():
            if not change.apply():
                return None
            return self.append_many(many)

    def mirror(self, record: dict) -> None:
        """Copy an already chained event (secondary storages)."""
        raise NotImplementedError


class DatabaseStorage(AuditStorage):
    chained = True

    def __init__(self, using="default"):
        self.using = using
        self._postgres = None

    def _postgres_appender(self):
        if connections[self.using].vendor != "postgresql":
            return None
        if self._postgres is None:
            self._postgres = PostgresAppender(self.using, self._recreate_head)
        return self._postgres

    def append_many(self, many):
        appender = self._postgres_appender()
        if appender is None:
            with transaction.atomic(using=self.using):
                return [self.append(fields) for fields in many]
        return appender.append_many(many)

    def append_with(self, change, many):
        appender = self._postgres_appender()
        if appender is None or self.using != "default":
            return super().append_with(change, many)
        return appender.append_many(many, change=change)

    def append(self, fields):
        appender = self._postgres_appender()
        if appender is not None:
            return appender.append(fields)
        with transaction.atomic(using=self.using):
            # The row lock (PostgreSQL) or the write lock (SQLite, IMMEDIATE transactions) makes
            # appends from every web process and worker take turns, so the chain never forks.
            head = ChainHead.objects.using(self.using).select_for_update().filter(pk=1).first()
            if head is None:
                head = self._recreate_head()
            record = {**fields, "sequence": head.sequence + 1, "prev_hash": head.hash}
            record["hash"] = event_hash(record["prev_hash"], record)
            AuditEvent.objects.using(self.using).create(**record)
            ChainHead.objects.using(self.using).filter(pk=1).update(sequence=record["sequence"], hash=record["hash"])
        return record

    def _recreate_head(self):
        # A migration creates the head; if it is gone (a flushed test database, a restore), rebuild it
        # from the last event rather than from genesis, which would fork the chain.
        with transaction.atomic(using=self.using):
            last = AuditEvent.objects.using(self.using).order_by("-sequence").values("sequence", "hash").first()
            defaults = last or {"sequence": 0, "hash": GENESIS_HASH}
            ChainHead.objects.using(self.using).get_or_create(pk=1, defaults=defaults)
            return ChainHead.objects.using(self.using).select_for_update().get(pk=1)


def record_as_json(record: dict) -> str:
    """One event as a single JSON line: the canonical fields plus its chain links."""
    # Built from the fields, not by parsing canonical_json's text back (a rotation writes eleven events).
    return encode_canonical({**canonical_fields(record), "prev_hash": record["prev_hash"], "hash": record["hash"]})


class JsonLinesStorage(AuditStorage):
    """Appends one JSON object per line. As a primary storage it keeps its own hash chain."""

    chained = True

    def __init__(self, path):
        self.path = Path(path)

    def _write_line(self, handle, line):
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())

    def append(self, fields):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # one appender at a time across processes
            last = _last_line(self.path)
            prev = json.loads(last) if last else {"sequence": 0, "hash": GENESIS_HASH}
            record = {**fields, "sequence": prev["sequence"] + 1, "prev_hash": prev["hash"]}
            record["hash"] = event_hash(record["prev_hash"], record)
            self._write_line(handle, record_as_json(record))
        return record

    def mirror(self, record):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            self._write_line(handle, record_as_json(record))


def _last_line(path: Path) -> str:
    """The file's last non-empty line, read from the end so appends stay O(1) as the file grows."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        block, data = 4096, b""
        while end > 0:
            start = max(0, end - block)
            handle.seek(start)
            data = handle.read(end - start) + data
            lines = data.rstrip(b"\n").split(b"\n")
            if len(lines) > 1 or start == 0:
                return lines[-1].decode("utf-8") if lines[-1] else ""
            end = start
    return ""


class LogStorage(AuditStorage):
    """Emits each event as one structured JSON line on the `secretsadmin.audit` logger (for a SIEM)."""

    def mirror(self, record):
        siem_log.info(record_as_json(record))


def read_json_lines(path):
    """Stream a JSON-lines audit file as dicts (for verification and archives)."""
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


__all__ = [
    "AuditStorage", "AuditWriteError", "DatabaseStorage", "JsonLinesStorage", "LogStorage", "format_timestamp",
    "read_json_lines", "record_as_json",
]
