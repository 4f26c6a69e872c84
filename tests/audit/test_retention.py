"""Retention: archive the oldest range, verify it, prune it, and keep a chain that still verifies."""
import subprocess

import pytest

import audit
from audit.models import AuditEvent
from audit.retention import ArchiveError, archive_and_prune
from audit.storage import read_json_lines
from audit.verify import verify_database, verify_records
from tests.audit.tampering import tamper
from tests.conftest import BASE_DIR, MANAGE, PYTHON


def _append(n):
    for i in range(n):
        audit.record("inventory.synced", actor="worker", provider="aws-prod", details={"batch": i})


@pytest.mark.django_db
def test_archive_prunes_the_range_and_the_chain_still_verifies(settings, tmp_path):
    settings.AUDIT_RETENTION_DAYS = 0
    _append(10)
    archive = tmp_path / "audit-1-6.jsonl"
    checkpoint = archive_and_prune(through_sequence=6, output=archive, actor="system")
    assert list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True)) == [7, 8, 9, 10, 11]
    assert checkpoint["event_type"] == "audit.archived" and checkpoint["sequence"] == 11
    assert checkpoint["details"]["last_sequence"] == 6 and checkpoint["details"]["count"] == 6
    lines = list(read_json_lines(archive))
    assert [line["sequence"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert verify_records(lines).ok
    assert lines[-1]["hash"] == checkpoint["details"]["last_hash"]
    result = verify_database()
    assert result.ok, result.summary()


@pytest.mark.django_db
def test_a_gap_at_the_start_without_a_checkpoint_is_detected(settings, tmp_path):
    settings.AUDIT_RETENTION_DAYS = 0
    _append(6)
    archive_and_prune(through_sequence=3, output=tmp_path / "a.jsonl", actor="system")
    # The checkpoint vouches for 1..3 only: a second, unaudited removal of #4 is not covered.
    tamper("DELETE FROM audit_auditevent WHERE sequence = 4")
    result = verify_database()
    assert (result.ok, result.problem) == (False, "deleted")


@pytest.mark.django_db
def test_events_inside_the_retention_minimum_are_never_pruned(settings, tmp_path):
    settings.AUDIT_RETENTION_DAYS = 365
    _append(3)
    with pytest.raises(ArchiveError, match="retention minimum"):
        archive_and_prune(through_sequence=2, output=tmp_path / "a.jsonl", actor="system")
    assert AuditEvent.objects.count() == 3 and not (tmp_path / "a.jsonl").exists()


@pytest.mark.django_db
def test_an_existing_archive_is_never_overwritten(settings, tmp_path):
    settings.AUDIT_RETENTION_DAYS = 0
    _append(3)
    existing = tmp_path / "a.jsonl"
    existing.write_text("keep me\n")
    with pytest.raises(ArchiveError, match="already exists"):
        archive_and_prune(through_sequence=2, output=existing, actor="system")
    assert existing.read_text() == "keep me\n" and AuditEvent.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_archive_command_gives_one_line_errors(subprocess_env, tmp_path):
    result = subprocess.run([PYTHON, MANAGE, "archive_audit", "--through", "5", "--output", str(tmp_path / "x")],
                            env=subprocess_env, cwd=BASE_DIR, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "no audit events up to #5" in result.stderr and "Traceback" not in result.stderr
