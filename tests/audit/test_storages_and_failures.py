"""Storages (database, JSON lines, SIEM log line) and what happens when the audit write fails."""
import json
import logging

import pytest
from django.contrib.auth.models import Group
from django.db import OperationalError

import audit
from audit import recorder
from audit.metrics import AUDIT_WRITE_FAILURES
from audit.models import AuditEvent
from audit.storage import AuditWriteError, DatabaseStorage, read_json_lines
from audit.verify import verify_records
from secretsadmin.services import grant_role


@pytest.fixture
def storages(settings):
    """Swap the configured storages for a test, and rebuild them afterwards."""

    def use(*specs, fail_closed=True):
        settings.AUDIT_STORAGES = list(specs)
        settings.AUDIT_FAIL_CLOSED = fail_closed
        recorder.configured_storages.cache_clear()

    yield use
    recorder.configured_storages.cache_clear()


@pytest.mark.django_db(transaction=True)
def test_every_storage_gets_the_same_committed_event(storages, tmp_path, caplog):
    path = tmp_path / "mirror.jsonl"
    storages({"kind": "database"}, {"kind": "jsonl", "path": str(path)}, {"kind": "log"})
    with caplog.at_level(logging.INFO, logger="secretsadmin.audit"):
        stored = audit.record("provider.connection_tested", actor="system", provider="vault-dev")
    mirrored = list(read_json_lines(path))
    assert len(mirrored) == 1 and mirrored[0]["hash"] == stored["hash"]
    siem = [json.loads(r.getMessage()) for r in caplog.records if r.name == "secretsadmin.audit"]
    assert siem == mirrored
    assert AuditEvent.objects.get().hash == stored["hash"]


@pytest.mark.django_db(transaction=True)
def test_mirrors_never_see_a_rolled_back_operation(storages, tmp_path):
    from django.db import transaction

    path = tmp_path / "mirror.jsonl"
    storages({"kind": "database"}, {"kind": "jsonl", "path": str(path)})
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record("provider.changed", actor="system")
        raise RuntimeError("the change failed")
    assert not path.exists() and not AuditEvent.objects.exists()


def test_json_lines_file_as_primary_keeps_its_own_chain(storages, tmp_path):
    path = tmp_path / "primary.jsonl"
    storages({"kind": "jsonl", "path": str(path)})
    for i in range(5):
        audit.record("secret.retrieval", actor="worker", secret_name=f"s{i}")
    lines = list(read_json_lines(path))
    assert [line["sequence"] for line in lines] == [1, 2, 3, 4, 5]
    assert verify_records(lines).ok
    lines[2]["secret_name"] = "edited"
    result = verify_records(lines)
    assert (result.ok, result.first_broken_sequence, result.problem) == (False, 3, "edited")


@pytest.mark.django_db
def test_fail_closed_stops_the_operation_when_the_audit_file_cannot_be_written(storages, tmp_path, role_users):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    storages({"kind": "jsonl", "path": str(blocker / "audit.jsonl")}, fail_closed=True)
    with pytest.raises(AuditWriteError, match="operation was not carried out"):
        grant_role(role_users["alice"], "Approver", actor=role_users["erin"])
    assert not role_users["alice"].groups.filter(name="Approver").exists()


@pytest.mark.django_db
def test_fail_closed_stops_the_operation_when_the_database_refuses(storages, role_users, monkeypatch):
    storages({"kind": "database"}, fail_closed=True)

    def unavailable(self, fields):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(DatabaseStorage, "append", unavailable)
    with pytest.raises(AuditWriteError):
        grant_role(role_users["alice"], "Approver", actor=role_users["erin"])
    assert not role_users["alice"].groups.filter(name="Approver").exists()


@pytest.mark.django_db
def test_fail_open_proceeds_but_logs_and_counts_the_failure(storages, tmp_path, role_users, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    storages({"kind": "jsonl", "path": str(blocker / "audit.jsonl")}, fail_closed=False)
    before = AUDIT_WRITE_FAILURES._value.get()
    with caplog.at_level(logging.ERROR):
        assert grant_role(role_users["alice"], "Approver", actor=role_users["erin"]) is True
    assert role_users["alice"].groups.filter(name="Approver").exists()
    assert AUDIT_WRITE_FAILURES._value.get() == before + 1
    assert any("audit write failed" in r.getMessage() for r in caplog.records)


@pytest.mark.django_db
def test_role_grants_and_revocations_are_audited(role_users):
    alice, erin = role_users["alice"], role_users["erin"]
    assert grant_role(alice, "Operator", actor=erin) is True
    assert grant_role(alice, "Operator", actor=erin) is False  # no change, no event
    from secretsadmin.services import revoke_role

    assert revoke_role(alice, "Operator", actor=erin) is True
    rows = list(AuditEvent.objects.filter(event_type__startswith="permission.").order_by("sequence")
                .values_list("event_type", "actor_name", "target_text", "details"))
    assert rows == [("permission.granted", "erin", "alice", {"group": "Operator"}),
                    ("permission.revoked", "erin", "alice", {"group": "Operator"})]


@pytest.mark.django_db
def test_group_changes_in_django_admin_are_audited(client, role_users):
    erin = role_users["erin"]
    erin.is_superuser = True  # the admin's user form needs change_user and permission to assign groups
    erin.save()
    alice = role_users["alice"]
    client.force_login(erin)
    approver = Group.objects.get(name="Approver")
    page = client.get(f"/admin/auth/user/{alice.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields if name not in ("groups", "user_permissions",
                                                                                       "password")}
    data.update(groups=[g.pk for g in alice.groups.all()] + [approver.pk], is_active="on",
                date_joined_0=alice.date_joined.strftime("%Y-%m-%d"), date_joined_1="00:00:00",
                last_login_0="", last_login_1="")
    response = client.post(f"/admin/auth/user/{alice.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    event = AuditEvent.objects.get(event_type="permission.granted")
    assert (event.actor_name, event.target_text, event.details) == ("erin", "alice", {"group": "Approver"})
