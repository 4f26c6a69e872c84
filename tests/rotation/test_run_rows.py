"""The worker's compiled bookkeeping statements mean what the QuerySet calls they replace mean."""
from datetime import timedelta

import pytest
from django.utils import timezone

from rotation import run_rows
from rotation.models import RotationRequest, StepLog

pytestmark = pytest.mark.django_db
State = RotationRequest.State


@pytest.fixture
def running(secret, policy):
    return RotationRequest.objects.create(secret=secret, policy=policy, reason="compiled statements",
                                          state=State.APPLYING, claimed_by="worker-a")


def test_it_updates_the_run_and_writes_the_ended_step_when_the_lease_and_state_match(running):
    started = timezone.now() - timedelta(seconds=3)
    now = timezone.now()
    matched = run_rows.update_run(running.pk, {"claimed_by": "worker-a", "state": State.APPLYING},
                                  {"state": State.VERIFYING, "step_started_at": now, "attempts": 0, "error": ""},
                                  step=(State.APPLYING, 0, StepLog.Outcome.SUCCEEDED, "", started, now))
    assert matched
    running.refresh_from_db()
    assert (running.state, running.step_started_at) == (State.VERIFYING, now)
    row = running.steps.get()
    assert (row.step, row.outcome, row.attempt, row.started_at, row.finished_at) == (
        State.APPLYING, StepLog.Outcome.SUCCEEDED, 0, started, now)


@pytest.mark.parametrize("where", [{"claimed_by": "worker-b", "state": State.APPLYING},
                                   {"claimed_by": "worker-a", "state": State.STAGING}])
def test_it_changes_nothing_and_says_so_when_another_worker_or_state_holds_the_run(running, where):
    now = timezone.now()
    matched = run_rows.update_run(running.pk, where, {"state": State.VERIFYING, "error": "should not land"},
                                  step=(State.APPLYING, 0, StepLog.Outcome.SUCCEEDED, "", now, now))
    assert not matched
    running.refresh_from_db()
    assert (running.state, running.error) == (State.APPLYING, "")
    assert not running.steps.exists()  # no row for a step this worker no longer holds


def test_it_stores_what_the_orm_would_for_each_field(running):
    later = timezone.now() + timedelta(days=2)
    assert run_rows.update_run(running.pk, {"claimed_by": "worker-a"},
                               {"claimed_by": "", "claimed_until": None, "next_attempt_at": later, "attempts": 3,
                                "error": "NetworkError: Vault read: cannot reach it", "new_version": "7"})
    running.refresh_from_db()
    assert (running.claimed_by, running.claimed_until, running.next_attempt_at, running.attempts, running.error,
            running.new_version) == ("", None, later, 3, "NetworkError: Vault read: cannot reach it", "7")
