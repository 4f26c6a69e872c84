"""Migration 0003: step-log rows an earlier release left "started" are converted, nothing is lost."""
import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE, AFTER = ("rotation", "0002_policies_requests_steps"), ("rotation", "0003_step_log_written_at_step_end")


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


def test_the_current_step_moves_to_the_run_and_older_started_rows_become_interrupted(secret, policy):
    apps = migrate(BEFORE)
    try:
        Request = apps.get_model("rotation", "RotationRequest")
        StepLog = apps.get_model("rotation", "StepLog")
        run = Request.objects.create(secret_id=secret.pk, policy_id=policy.pk, reason="upgrade", state="verifying")
        done = StepLog.objects.create(request=run, step="staging", outcome="succeeded", finished_at=timezone.now())
        killed = StepLog.objects.create(request=run, step="verifying", outcome="started")
        current = StepLog.objects.create(request=run, step="verifying", attempt=1, outcome="started")
        apps = migrate(AFTER)
        Request = apps.get_model("rotation", "RotationRequest")
        StepLog = apps.get_model("rotation", "StepLog")
        rows = {row.pk: row.outcome for row in StepLog.objects.filter(request_id=run.pk)}
        assert rows == {done.pk: "succeeded", killed.pk: "interrupted"}  # the current one is the run's now
        assert Request.objects.get(pk=run.pk).step_started_at == current.started_at
    finally:
        call_command("migrate", "rotation", verbosity=0)
