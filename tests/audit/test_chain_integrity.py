"""The hash chain: append-only in the ORM and (PostgreSQL) the database, and tampering found at the exact row."""
import subprocess

import pytest
from django.db import DatabaseError, connection, transaction

import audit
from audit.chain import GENESIS_HASH, event_hash
from audit.models import AppendOnlyError, AuditEvent, ChainHead
from audit.verify import verify_database
from tests.audit.tampering import raw_sql, tamper
from tests.conftest import BASE_DIR, MANAGE, PYTHON


def _append(n):
    for i in range(n):
        audit.record("secret.retrieval", actor="system", secret_name=f"app/db-{i}", details={"i": i})


@pytest.mark.django_db
def test_events_chain_from_genesis():
    _append(3)
    events = list(AuditEvent.objects.order_by("sequence"))
    assert [e.sequence for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS_HASH
    assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
    assert events[2].hash == event_hash(events[1].hash, events[2].hashed_fields())
    head = ChainHead.objects.get(pk=1)
    assert (head.sequence, head.hash) == (3, events[2].hash)
    assert verify_database().ok


@pytest.mark.django_db
def test_orm_refuses_updates_and_deletes():
    _append(1)
    event = AuditEvent.objects.get()
    event.secret_name = "changed"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(secret_name="changed")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get().secret_name == "app/db-0"


@pytest.mark.django_db
def test_admin_shows_events_read_only(client, role_users):
    _append(1)
    client.force_login(role_users["erin"])
    event = AuditEvent.objects.get(event_type="secret.retrieval")
    before = AuditEvent.objects.count()
    assert client.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert AuditEvent.objects.count() == before


TAMPERING = {
    "edited": (["UPDATE audit_auditevent SET secret_name = 'innocent' WHERE sequence = 4"], 4),
    "edited outcome": (["UPDATE audit_auditevent SET outcome = 'failure' WHERE sequence = 2"], 2),
    "deleted": (["DELETE FROM audit_auditevent WHERE sequence = 3"], 3),
    "reordered": ([
        "UPDATE audit_auditevent SET sequence = -1 WHERE sequence = 4",
        "UPDATE audit_auditevent SET sequence = 4 WHERE sequence = 5",
        "UPDATE audit_auditevent SET sequence = 5 WHERE sequence = -1",
    ], 4),
    # Cutting off the newest rows leaves a consistent chain; the head row still remembers them.
    "truncated": (["DELETE FROM audit_auditevent WHERE sequence >= 5"], 5),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampering_is_found_at_the_exact_row(case):
    statements, row = TAMPERING[case]
    _append(6)
    tamper(*statements)
    result = verify_database()
    assert (result.ok, result.first_broken_sequence, result.problem) == (False, row, case.split()[0])


@pytest.fixture
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL only")


@pytest.mark.django_db
def test_postgresql_trigger_refuses_raw_updates_and_deletes(postgresql_only):
    _append(2)
    for sql in ("UPDATE audit_auditevent SET secret_name = 'x' WHERE sequence = 1",
                "DELETE FROM audit_auditevent WHERE sequence = 1"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            raw_sql(sql)
    assert AuditEvent.objects.count() == 2 and verify_database().ok


@pytest.mark.django_db(transaction=True)
def test_verify_command_reports_ok_and_failure_with_exit_status(subprocess_env):
    _append(4)
    ok = subprocess.run([PYTHON, MANAGE, "verify_audit_chain"], env=subprocess_env, cwd=BASE_DIR,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK: 4 events")
    # The verification itself is the fifth event.
    assert AuditEvent.objects.filter(event_type="audit.chain_verified", outcome="success").count() == 1
    tamper("UPDATE audit_auditevent SET details = '{\"i\": 99}' WHERE sequence = 3")
    broken = subprocess.run([PYTHON, MANAGE, "verify_audit_chain"], env=subprocess_env, cwd=BASE_DIR,
                            capture_output=True, text=True, timeout=120)
    assert broken.returncode == 1
    assert "BROKEN at #3 (edited)" in broken.stderr and "Traceback" not in broken.stderr
