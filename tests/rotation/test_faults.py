"""Fault tests with real worker processes, real Redis, OpenBao and a real PostgreSQL role as the target.

A worker is stopped dead (SIGKILL to its process group, work-horse included) at every step boundary - just
before a step's external call and just after it, before the result was recorded. A new worker must then
finish the run: exactly one new version in the provider, the role accepting it, the old version revoked
only after verification. At the moment of the kill no credential may be lost: the role accepts a value
the provider still holds.
"""
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from rotation.models import RotationRequest
from rotation.reconcile import reconcile_rotations
from rotation.services import decide_rotation, request_rotation
from tests.rotation.conftest import read
from tests.rotation.workers import accepts, approve, kill_worker, run_burst_worker, start_worker, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
State = RotationRequest.State
STEPS = ("staging", "applying", "verifying", "promoting", "revoking_old")
PAUSE_POINTS = [f"{step}.{when}" for step in STEPS for when in ("before", "after")]


@pytest.mark.parametrize("point", PAUSE_POINTS)
def test_a_worker_killed_at_any_step_boundary_is_finished_by_the_next(point, tmp_path, worker_env, role_users,
                                                                      vault, kv_mount, target_secret):
    secret, config = target_secret
    initial = read(vault, kv_mount, "db/app")["data"]["password"]
    rotation = approve(secret, role_users)
    worker = start_worker(worker_env, SECRETSADMIN_ROTATION_PAUSE_AT=point,
                          SECRETSADMIN_ROTATION_PAUSE_DIR=str(tmp_path))
    try:
        wait_for((tmp_path / point).exists, what=f"the worker to reach {point}")
    finally:
        kill_worker(worker)
    step = point.split(".")[0]
    rotation.refresh_from_db()
    assert rotation.state == step  # the step was recorded before its external call
    # No credential lost: the role accepts a value the provider still holds (current or previous version).
    values = {read(vault, kv_mount, "db/app")["data"]["password"], initial}
    if rotation.new_version:
        values.add(read(vault, kv_mount, "db/app", version=int(rotation.new_version))["data"]["password"])
    assert any(accepts(config, value) for value in values)
    metadata = vault.root.secrets.kv.v2.read_secret_metadata("db/app", mount_point=kv_mount)["data"]
    if step != "revoking_old":
        assert not metadata["versions"]["1"]["deletion_time"]  # never revoked before verify and promote

    # The dead worker's lease lapses (time passes), the reconciler hands the run to a new worker.
    RotationRequest.objects.filter(pk=rotation.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert reconcile_rotations().enqueued == 1
    run_burst_worker(worker_env)
    rotation.refresh_from_db()
    assert rotation.state == State.SUCCEEDED, rotation.error
    metadata = vault.root.secrets.kv.v2.read_secret_metadata("db/app", mount_point=kv_mount)["data"]
    assert metadata["current_version"] == 2  # exactly one new version
    assert metadata["versions"]["1"]["deletion_time"]
    current = read(vault, kv_mount, "db/app")["data"]["password"]
    assert current != initial and accepts(config, current) and not accepts(config, initial)
    # The run page's timeline: the killed worker's step once as interrupted, then every step done once, in order.
    rows = [(row.step, row.outcome) for row in rotation.steps.all()]
    assert [row for row in rows if row[1] != "succeeded"] == [(step, "interrupted")], rows
    assert [name for name, outcome in rows if outcome == "succeeded"] == list(STEPS)


def test_a_provider_outage_during_a_run_is_retried_and_the_credential_keeps_working(
        worker_env, role_users, vault, kv_mount, target_secret):
    secret, config = target_secret
    initial = read(vault, kv_mount, "db/app")["data"]["password"]
    vault.faults.fail_next(503, count=10_000)
    try:
        rotation = approve(secret, role_users)
        run_burst_worker(worker_env)
        rotation.refresh_from_db()
        assert rotation.state == State.FAILED_RETRYABLE and rotation.next_attempt_at
        assert accepts(config, initial)  # nothing changed: the application's credential still works
    finally:
        vault.faults.clear()
    RotationRequest.objects.filter(pk=rotation.pk).update(next_attempt_at=timezone.now())
    assert reconcile_rotations().enqueued == 1
    run_burst_worker(worker_env)
    rotation.refresh_from_db()
    assert rotation.state == State.SUCCEEDED, rotation.error
    assert accepts(config, read(vault, kv_mount, "db/app")["data"]["password"])


def test_two_approvers_at_the_same_moment_queue_exactly_one_run(role_users, secret, policy):
    from tests.conftest import make_user

    policy.required_approvals = 1
    policy.save()
    second = make_user("charlotte", "Approver")
    rotation = request_rotation(secret, actor=role_users["bob"], reason="race")
    barrier, outcomes = threading.Barrier(2), []

    def decide(user):
        from django.db import connection

        barrier.wait()
        try:
            outcomes.append(decide_rotation(rotation, actor=user, approve=True).state)
        except Exception as exc:
            outcomes.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(user,)) for user in (role_users["charlie"], second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["RotationRefused", "queued"]
    rotation.refresh_from_db()
    assert rotation.state == State.QUEUED and rotation.approvals.count() == 1


def test_redis_down_at_approval_is_caught_up_by_the_reconciler(role_users, secret, settings):
    from secretsadmin.process_group import free_port

    working = settings.RQ_QUEUES
    settings.RQ_QUEUES = {name: {**conf, "URL": f"redis://127.0.0.1:{free_port()}/0"}
                          for name, conf in working.items()}
    rotation = approve(secret, role_users)  # Redis refuses the job; the approval stands
    rotation.refresh_from_db()
    assert rotation.state == State.QUEUED and rotation.enqueued_at is None and rotation.approved_at
    settings.RQ_QUEUES = working
    assert reconcile_rotations().enqueued == 1
    rotation.refresh_from_db()
    assert rotation.enqueued_at and rotation.job_id
    assert reconcile_rotations().enqueued == 0  # a live job is not enqueued twice


def test_a_job_stranded_by_a_redis_restart_is_enqueued_again(role_users, secret, worker_env):
    # A worker took the job off the queue (RQ moves it to an intermediate queue) and lost Redis before starting it:
    # the job still says "queued", but no worker will see it again (found by tests/scale's Redis restart).
    import django_rq
    from rq import Queue
    from rq.intermediate_queue import IntermediateQueue

    rotation = approve(secret, role_users)
    rotation.refresh_from_db()
    stranded = rotation.job_id
    connection = django_rq.get_connection("rotation")
    queue = Queue("rotation", connection=connection)
    assert connection.lrem(queue.key, 1, stranded) == 1  # what the worker's BLMOVE did
    connection.rpush(IntermediateQueue.get_intermediate_queue_key(queue.key), stranded)
    assert reconcile_rotations().enqueued == 1
    rotation.refresh_from_db()
    assert rotation.job_id != stranded
    run_burst_worker(worker_env)
    rotation.refresh_from_db()
    assert rotation.state == State.SUCCEEDED, rotation.error


def test_a_worker_killed_before_it_claimed_the_run_is_replaced_once_a_lease_has_passed(
        tmp_path, worker_env, role_users, secret, settings):
    # RQ marked the job started; the worker died before its conditional UPDATE: nobody holds the run.
    rotation, point = approve(secret, role_users), "claim.before"
    worker = start_worker(worker_env, SECRETSADMIN_ROTATION_PAUSE_AT=point,
                          SECRETSADMIN_ROTATION_PAUSE_DIR=str(tmp_path))
    try:
        wait_for((tmp_path / point).exists, what="the worker to take the job")
    finally:
        kill_worker(worker)
    rotation.refresh_from_db()
    assert rotation.state == State.QUEUED and not rotation.claimed_by
    dead_job = rotation.job_id
    assert reconcile_rotations().enqueued == 0  # just started: a live worker would be claiming it now
    later = timezone.now() + timedelta(seconds=settings.ROTATION_LEASE_SECONDS + 1)
    assert reconcile_rotations(now=later).enqueued == 1  # not the job timeout (15 min) later
    rotation.refresh_from_db()
    assert rotation.job_id != dead_job
    run_burst_worker(worker_env)
    rotation.refresh_from_db()
    assert rotation.state == State.SUCCEEDED, rotation.error
