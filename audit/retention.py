"""Retention: export the oldest range of the chain to a JSON-lines archive, then prune it behind a checkpoint."""
import hashlib
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from audit.chain import HASHED_FIELDS
from audit.models import AuditEvent, ChainHead
from audit.recorder import record
from audit.storage import read_json_lines, record_as_json
from audit.verify import verify_records


class ArchiveError(Exception):
    """The archive was refused; nothing was pruned."""


def _export(queryset, path: Path):
    fields = (*HASHED_FIELDS, "prev_hash", "hash")
    digest, count, first, last = hashlib.sha256(), 0, None, None
    with path.open("x", encoding="utf-8") as handle:  # never overwrite an existing archive
        for values in queryset.order_by("sequence").values_list(*fields).iterator(chunk_size=5000):
            row = dict(zip(fields, values, strict=True))
            line = record_as_json(row) + "\n"
            handle.write(line)
            digest.update(line.encode("utf-8"))
            first = first or row
            last, count = row, count + 1
    return digest.hexdigest(), count, first, last


def archive_and_prune(*, through_sequence, output, actor, using="default"):
    """Archive events from the start of the stored chain through `through_sequence`, then prune them.

    Events younger than AUDIT_RETENTION_DAYS are never pruned. Returns the checkpoint record.
    """
    output = Path(output)
    range_qs = AuditEvent.objects.using(using).filter(sequence__lte=through_sequence)
    youngest = range_qs.order_by("-timestamp").values_list("timestamp", flat=True).first()
    if youngest is None:
        raise ArchiveError(f"there are no audit events up to #{through_sequence}")
    keep_after = timezone.now() - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    if youngest > keep_after:
        raise ArchiveError(
            f"events up to #{through_sequence} include some newer than the {settings.AUDIT_RETENTION_DAYS}-day "
            "retention minimum; choose an earlier sequence"
        )
    if output.exists():
        raise ArchiveError(f"{output} already exists; archives are never overwritten")
    with transaction.atomic(using=using):
        # Lock out appenders while the range is exported and pruned (see DatabaseStorage.append).
        ChainHead.objects.using(using).select_for_update().filter(pk=1).first()
        sha256, count, first, last = _export(range_qs, output)
        start = (first["sequence"], first["prev_hash"])
        check = verify_records(read_json_lines(output), start=start)
        if not check.ok:
            output.unlink()
            raise ArchiveError(f"the range does not verify ({check.summary()}); nothing was pruned")
        connection = connections[using]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL secretsadmin.audit_prune = 'on'")
        range_qs._prune()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL secretsadmin.audit_prune = 'off'")
        return record(
            "audit.archived", actor=actor,
            details={"first_sequence": first["sequence"], "last_sequence": last["sequence"],
                     "last_hash": last["hash"], "count": count, "archive": output.name, "archive_sha256": sha256},
        )
