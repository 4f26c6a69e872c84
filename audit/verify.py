"""Verify a hash chain (database or JSON-lines file) and find the first broken link, and why."""
import time
from dataclasses import dataclass

from django.db import transaction

from audit.chain import GENESIS_HASH, HASHED_FIELDS, event_hash
from audit.models import AuditEvent, ChainHead

EDITED, DELETED, REORDERED, TRUNCATED = "edited", "deleted", "reordered", "truncated"


@dataclass
class VerificationResult:
    ok: bool
    events_checked: int
    last_sequence: int | None = None
    first_broken_sequence: int | None = None
    problem: str = ""
    message: str = ""
    duration_seconds: float = 0.0

    def summary(self):
        if self.ok:
            return f"OK: {self.events_checked} events, chain intact through #{self.last_sequence or 0}"
        return f"BROKEN at #{self.first_broken_sequence} ({self.problem}): {self.message}"


def verify_records(records, *, start=None, known_hash=lambda h: False, head=None):
    """Walk records in sequence order. `start` is (first_sequence, prev_hash) when older events were
    archived; `known_hash(h)` tells whether some other record has hash h (to tell reordering apart);
    `head` is (sequence, hash) of the chain head, which reveals events cut off the end."""
    began = time.monotonic()
    expected_sequence, expected_prev = start or (1, GENESIS_HASH)
    count, last = 0, None

    def broken(sequence, problem, message):
        return VerificationResult(False, count, last, sequence, problem, message, time.monotonic() - began)

    for row in records:
        sequence = row["sequence"]
        if sequence != expected_sequence:
            if sequence > expected_sequence:
                return broken(expected_sequence, DELETED,
                              f"events #{expected_sequence}..#{sequence - 1} are missing")
            return broken(sequence, REORDERED, f"event #{sequence} appears after #{expected_sequence - 1}")
        if event_hash(row["prev_hash"], row) != row["hash"]:
            if row["prev_hash"] == expected_prev:
                return broken(sequence, EDITED, f"event #{sequence}'s content no longer matches its hash")
            if known_hash(row["prev_hash"]):
                return broken(sequence, REORDERED, f"event #{sequence} was moved: it links to another position")
            return broken(sequence, DELETED, f"event #{sequence} was renumbered over a removed event")
        if row["prev_hash"] != expected_prev:
            if known_hash(row["prev_hash"]):
                return broken(sequence, REORDERED, f"event #{sequence} links to an event in another position")
            return broken(sequence, DELETED, f"event #{sequence} links to an event that is no longer there")
        expected_prev, expected_sequence, last = row["hash"], sequence + 1, sequence
        count += 1
    if head is not None and head[0] > (last or 0) and head[0] >= expected_sequence:
        return broken(expected_sequence, TRUNCATED, f"the chain head records #{head[0]}, the log ends at #{last}")
    return VerificationResult(True, count, last, duration_seconds=time.monotonic() - began)


def _database_rows(using, chunk_size=5000):
    fields = (*HASHED_FIELDS, "prev_hash", "hash")
    queryset = AuditEvent.objects.using(using).order_by("sequence").values_list(*fields)
    # One transaction: a consistent snapshot, and on PostgreSQL a plain server-side cursor (outside a
    # transaction Django declares it WITH HOLD, which copies the whole result before streaming it).
    with transaction.atomic(using=using):
        for values in queryset.iterator(chunk_size=chunk_size):
            yield dict(zip(fields, values, strict=True))


def archive_start(using="default"):
    """(first sequence, its prev_hash) when archived events were pruned, vouched for by a checkpoint."""
    first = AuditEvent.objects.using(using).order_by("sequence").values("sequence", "prev_hash").first()
    if not first or first["sequence"] == 1:
        return None
    checkpoint = (
        AuditEvent.objects.using(using)
        .filter(event_type="audit.archived", details__last_sequence=first["sequence"] - 1)
        .values_list("details", flat=True)
        .first()
    )
    if checkpoint and checkpoint.get("last_hash") == first["prev_hash"]:
        return first["sequence"], first["prev_hash"]
    return None


def verify_database(using="default"):
    head = ChainHead.objects.using(using).filter(pk=1).values_list("sequence", "hash").first()

    def known_hash(value):
        return AuditEvent.objects.using(using).filter(hash=value).exists()

    return verify_records(_database_rows(using), start=archive_start(using), known_hash=known_hash, head=head)
