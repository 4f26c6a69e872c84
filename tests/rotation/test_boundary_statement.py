"""A step boundary as one change: the run's transition, its step row, its secret's update and the audit events land
together or not at all (one statement on PostgreSQL, a transaction elsewhere), and only while the run is held."""
import subprocess
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

import audit
from audit import recorder
from audit.metrics import AUDIT_WRITE_FAILURES
from audit.models import AuditEvent, ChainHead
from audit.storage import AuditWriteError, DatabaseStorage
from audit.verify import verify_database
from providers.models import Secret
from rotation import run_rows
from rotation.models import RotationRequest, StepLog
from tests.conftest import BASE_DIR, PYTHON

State = RotationRequest.State
SUCCEEDED = StepLog.Outcome.SUCCEEDED


@pytest.fixture
def running(secret, policy):
    return RotationRequest.objects.create(secret=secret, policy=policy, reason="one statement",
                                          state=State.APPLYING, claimed_by="worker-a")


def events(step="applying"):
    name = "app/db#user"  # the events' own text; what the statement writes is the run's
    return [(kind, {"target": ("rotation.rotationrequest", "r-1", f"rotation of {name}"), "provider": "vault",
                    "secret_name": name, "details": {"step": step}})
            for kind in ("rotation.step_finished", "rotation.step_started")]


def to_verifying(run, where=None, secret=None, claim_at=None):
    now = timezone.now()
    return run_rows.RunTransition(run.pk, where or {"claimed_by": "worker-a", "state": State.APPLYING},
                                  {"state": State.VERIFYING, "step_started_at": now, "attempts": 0, "error": ""},
                                  step=(State.APPLYING, 0, SUCCEEDED, "", now - timedelta(seconds=2), now),
                                  claim_at=claim_at, secret=secret)


def head():
    return ChainHead.objects.filter(pk=1).values_list("sequence", "hash").first()


@pytest.mark.django_db
def test_the_transition_its_step_row_and_its_events_land_together(running):
    before = AuditEvent.objects.count()
    records = audit.record_many(events(), actor="worker", change=to_verifying(running))
    assert [record["event_type"] for record in records] == ["rotation.step_finished", "rotation.step_started"]
    running.refresh_from_db()
    assert running.state == State.VERIFYING
    assert list(running.steps.values_list("step", "outcome")) == [(State.APPLYING, SUCCEEDED)]
    stored = list(AuditEvent.objects.order_by("sequence")[before:].values_list("sequence", "event_type"))
    assert stored == [(records[0]["sequence"], "rotation.step_finished"),
                      (records[1]["sequence"], "rotation.step_started")]
    assert head() == (records[-1]["sequence"], records[-1]["hash"])
    assert verify_database().ok


@pytest.mark.django_db
@pytest.mark.parametrize("where", [{"claimed_by": "worker-b", "state": State.APPLYING},
                                   {"claimed_by": "worker-a", "state": State.STAGING}])
def test_nothing_lands_when_another_worker_or_state_holds_the_run(running, where):
    secret_before, count_before, head_before = running.secret.rotating, AuditEvent.objects.count(), head()
    change = to_verifying(running, where=where, secret=(running.secret_id, {"rotating": not secret_before}))
    assert audit.record_many(events(), actor="worker", change=change) is None
    running.refresh_from_db()
    assert (running.state, running.steps.count()) == (State.APPLYING, 0)
    assert Secret.objects.get(pk=running.secret_id).rotating == secret_before
    assert (AuditEvent.objects.count(), head()) == (count_before, head_before)


@pytest.mark.django_db
def test_the_secret_update_lands_with_the_transition(running):
    Secret.objects.filter(pk=running.secret_id).update(rotating=False)
    assert audit.record_many(events(), actor="worker",
                             change=to_verifying(running, secret=(running.secret_id, {"rotating": True})))
    assert Secret.objects.get(pk=running.secret_id).rotating is True


@pytest.mark.django_db
@pytest.mark.parametrize(("lease", "backing_off", "claimed"), [
    (None, False, True),        # nobody holds it
    (-5, False, True),          # a dead worker's lease lapsed
    (60, False, False),         # a live worker holds it
    (None, True, False),        # waiting out a retry's back-off
])
def test_a_claiming_transition_takes_only_a_claimable_run(running, lease, backing_off, claimed):
    now = timezone.now()
    RotationRequest.objects.filter(pk=running.pk).update(
        claimed_by="worker-dead" if lease else "", claimed_until=now + timedelta(seconds=lease) if lease else None,
        next_attempt_at=now + timedelta(minutes=5) if backing_off else None)
    change = to_verifying(running, where={"state": State.APPLYING}, claim_at=now)
    change.values["claimed_by"] = "worker-a"
    landed = audit.record_many(events(), actor="worker", change=change) is not None
    running.refresh_from_db()
    assert landed is claimed
    assert (running.claimed_by == "worker-a", running.state == State.VERIFYING) == (claimed, claimed)


@pytest.mark.django_db
def test_update_run_claims_as_runner_claim_did(running):
    now = timezone.now()
    RotationRequest.objects.filter(pk=running.pk).update(claimed_by="worker-b",
                                                          claimed_until=now + timedelta(minutes=1))
    assert not run_rows.update_run(running.pk, {"state": State.APPLYING}, {"claimed_by": "worker-a"}, claim_at=now)
    assert run_rows.update_run(running.pk, {"state": State.APPLYING}, {"claimed_by": "worker-a"},
                               claim_at=now + timedelta(minutes=2))
    running.refresh_from_db()
    assert running.claimed_by == "worker-a"


@pytest.mark.django_db
def test_a_head_moved_by_another_process_is_read_again_and_the_change_lands_once(running):
    recorder.configured_storages.cache_clear()
    audit.record("rotation.requested", actor="system", details={"note": "warm-up"})  # the storage caches the head
    DatabaseStorage().append(recorder.build_fields("rotation.requested", actor="system", details={"note": "elsewhere"}))
    records = audit.record_many(events(), actor="worker", change=to_verifying(running))
    assert records is not None
    running.refresh_from_db()
    assert (running.state, running.steps.count()) == (State.VERIFYING, 1)
    assert AuditEvent.objects.filter(event_type="rotation.step_started").count() == 1
    assert verify_database().ok


@pytest.fixture
def fail_closed(settings):
    def use(value):
        settings.AUDIT_FAIL_CLOSED = value
        recorder.configured_storages.cache_clear()
    yield use
    recorder.configured_storages.cache_clear()


def _refusing(self, change, many):
    raise OperationalError("the audit table is not writable")


@pytest.mark.django_db
def test_fail_closed_makes_no_transition_without_its_events(running, fail_closed, monkeypatch):
    fail_closed(True)
    monkeypatch.setattr(DatabaseStorage, "append_with", _refusing)
    with pytest.raises(AuditWriteError):
        audit.record_many(events(), actor="worker", change=to_verifying(running))
    running.refresh_from_db()
    assert (running.state, running.steps.count()) == (State.APPLYING, 0)


@pytest.mark.django_db
def test_fail_open_makes_the_transition_and_counts_the_lost_events(running, fail_closed, monkeypatch):
    fail_closed(False)
    monkeypatch.setattr(DatabaseStorage, "append_with", _refusing)
    failures = AUDIT_WRITE_FAILURES._value.get()
    records = audit.record_many(events(), actor="worker", change=to_verifying(running))
    assert [record["sequence"] for record in records] == [None, None]
    running.refresh_from_db()
    assert (running.state, running.steps.count()) == (State.VERIFYING, 1)
    assert AUDIT_WRITE_FAILURES._value.get() == failures + 1


@pytest.mark.django_db(transaction=True)
def test_postgresql_plans_the_boundary_statement_once_per_connection(secret, policy):
    if connection.vendor != "postgresql":
        pytest.skip("pg_prepared_statements is PostgreSQL's catalog; SQLite has no prepared statements to list, "
                    "and its boundaries run as a transaction (test_a_boundary_is_counted_and_logged...)")
    run = RotationRequest.objects.create(secret=secret, policy=policy, reason="prepared", state=State.APPLYING,
                                         claimed_by="worker-a")
    for k in range(8):  # psycopg prepares a statement on its 5th run on a connection (settings.py)
        current, following = (State.APPLYING, State.VERIFYING) if k % 2 == 0 else (State.VERIFYING, State.APPLYING)
        now = timezone.now()
        change = run_rows.RunTransition(run.pk, {"claimed_by": "worker-a", "state": current},
                                        {"state": following, "updated_at": now},
                                        step=(current, 0, SUCCEEDED, "", now, now))
        assert audit.record_many(events(current), actor="worker", change=change) is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'WITH guard AS %%'")
        assert cursor.fetchone()[0] == 1
    assert run.steps.count() == 8 and verify_database().ok


WRITER = """
import sys, django
django.setup()
import audit
from django.utils import timezone
from rotation import run_rows
from rotation.models import StepLog
run, worker, rounds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
states = ("applying", "verifying")
for k in range(rounds):
    now = timezone.now()
    current, following = states[k % 2], states[(k + 1) % 2]
    change = run_rows.RunTransition(run, {"claimed_by": worker, "state": current}, {"state": following},
                                    step=(current, k, StepLog.Outcome.SUCCEEDED, "", now, now))
    landed = audit.record_many([("rotation.step_finished", {"secret_name": worker, "details": {"step": k}})],
                               actor="worker", change=change)
    assert landed is not None, k
    audit.record("rotation.step_started", actor="worker", secret_name=worker, details={"step": k})  # a plain append
"""
PROCESSES, ROUNDS = 4, 25


@pytest.mark.django_db(transaction=True)
def test_parallel_workers_boundaries_and_plain_appends_keep_one_chain(subprocess_env, vault_provider, policy):
    runs = []
    for n in range(PROCESSES):
        secret = Secret.objects.create(provider=vault_provider, name=f"parallel/{n}#user")
        runs.append(RotationRequest.objects.create(secret=secret, policy=policy, reason="parallel",
                                                   state=State.APPLYING, claimed_by=f"worker-{n}"))
    writers = [subprocess.Popen([PYTHON, "-c", WRITER, str(run.pk), f"worker-{n}", str(ROUNDS)], env=subprocess_env,
                                cwd=BASE_DIR, stderr=subprocess.PIPE, text=True) for n, run in enumerate(runs)]
    for writer in writers:
        _, stderr = writer.communicate(timeout=300)
        assert writer.returncode == 0, stderr
    for n, run in enumerate(runs):
        run.refresh_from_db()
        assert run.state == (State.APPLYING if ROUNDS % 2 == 0 else State.VERIFYING)
        assert list(run.steps.order_by("attempt").values_list("attempt", flat=True)) == list(range(ROUNDS))
        finished = AuditEvent.objects.filter(secret_name=f"worker-{n}", event_type="rotation.step_finished")
        assert [event.details["step"] for event in finished.order_by("sequence")] == list(range(ROUNDS))
    prefix = "worker-"
    by_workers = AuditEvent.objects.filter(secret_name__startswith=prefix)
    assert by_workers.count() == PROCESSES * ROUNDS * 2
    result = verify_database()
    assert result.ok, result.summary()


@pytest.mark.django_db
@pytest.mark.parametrize("held", [True, False])
def test_the_secrets_sharing_its_version_history_move_with_the_transition_only(running, held):
    provider = running.secret.provider
    assert Secret.objects.filter(provider=provider, name="app/db#user").update(current_version="1") == 1  # synced
    Secret.objects.create(provider=provider, name="app/dbx#user", current_version="1")  # another path
    own_before = running.secret.current_version
    where = {"claimed_by": "worker-a" if held else "worker-b", "state": State.APPLYING}
    change = to_verifying(running, where=where, secret=(running.secret_id, {"current_version": "9"}))
    change.siblings = (provider.pk, "app/db#", {"current_version": "9"})
    assert (audit.record_many(events(), actor="worker", change=change) is not None) is held
    versions = dict(Secret.objects.filter(provider=provider).values_list("name", "current_version"))
    assert (versions[running.secret.name], versions["app/db#user"]) == (("9", "9") if held else (own_before, "1"))
    assert versions["app/dbx#user"] == "1"


@pytest.mark.django_db
@pytest.mark.parametrize("held", [True, False])
def test_a_step_done_in_passing_gets_its_row_after_the_ended_one_only_with_the_transition(running, held):
    where = {"claimed_by": "worker-a" if held else "worker-b", "state": State.APPLYING}
    change = to_verifying(running, where=where)
    now = change.step[-1]
    change.later_steps = ((State.VERIFYING, 0, SUCCEEDED, "nothing to do outside", now, now),)
    assert (audit.record_many(events(), actor="worker", change=change) is not None) is held
    rows = list(running.steps.values_list("step", "detail", "started_at", "finished_at"))  # by start, as shown
    assert rows == ([(State.APPLYING, "", now - timedelta(seconds=2), now),
                     (State.VERIFYING, "nothing to do outside", now, now)] if held else [])


def test_later_steps_need_the_step_they_follow():
    with pytest.raises(ValueError, match="name it too"):
        run_rows.RunTransition(1, {"state": State.STAGING}, {"state": State.VERIFYING},
                               later_steps=[(State.APPLYING, 0, SUCCEEDED, "", None, None)])


def test_a_name_prefix_matches_only_itself_in_like():
    assert run_rows._like_prefix("app/d_b%#") == "app/d\\_b\\%#%"


@pytest.mark.django_db
def test_postgresql_finds_the_secrets_sharing_a_version_history_through_an_index(running):
    if connection.vendor != "postgresql":
        pytest.skip("the prefix index and its operator class are PostgreSQL's (providers migration 0008); SQLite "
                    "plans its own LIKE and keeps no such index")
    provider = running.secret.provider
    Secret.objects.bulk_create(Secret(provider=provider, name=f"team{n % 50}/app{n}#key") for n in range(5000))
    change = to_verifying(running, secret=(running.secret_id, {"current_version": "9"}))
    change.siblings = (provider.pk, "app/db#", {"current_version": "9"})
    sql, params = change.guard()
    with connection.cursor() as cursor:
        cursor.execute('ANALYZE "providers_secret"')  # the plan a real inventory gets, not an empty table's
        cursor.execute(f"EXPLAIN {sql}", params)
        guard_plan = "\n".join(row[0] for row in cursor.fetchall())
    orm_plan = Secret.objects.filter(provider=provider, name__startswith="app/db#").explain()
    for plan in (guard_plan, orm_plan):  # the boundary statement, and the transaction form's ORM update
        assert "secret_name_prefix_idx" in plan and "~>=~ 'app/db#'" in plan, plan


@pytest.mark.django_db
def test_a_boundary_is_counted_and_logged_as_djangos_queries_are(running):
    from django.test.utils import CaptureQueriesContext
    from django_prometheus.db import execute_total

    counted = execute_total.labels(connection.alias, connection.vendor)
    before = counted._value.get()
    with CaptureQueriesContext(connection) as captured:
        assert audit.record_many(events(), actor="worker", change=to_verifying(running)) is not None
    statements = [query["sql"] for query in captured.captured_queries]
    assert counted._value.get() == before + len(statements)  # every statement it ran is in the metrics
    if connection.vendor == "postgresql":  # the prepared cursor: one statement for the whole boundary
        assert [sql[:15] for sql in statements] == ["WITH guard AS ("]
    else:  # the transaction form, through Django's own cursors: the run, its step row, the audit rows
        assert any(sql.startswith('UPDATE "rotation_rotationrequest"') for sql in statements)
        assert any(sql.startswith('INSERT INTO "audit_auditevent"') for sql in statements)
