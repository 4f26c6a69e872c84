"""RQ jobs of the rotation app (queue "rotation"): they take ids, and the database says where a run stands.

A lost job is never a lost rotation: the reconciler (every 30 seconds, and `manage.py reconcile_rotations`)
re-enqueues runs that should be moving but have no live job or worker.
"""
import logging
import uuid

import django_rq
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError
from rq.job import Job, JobStatus

log = logging.getLogger("secretsadmin.rotation")

JOB_TIMEOUT = 900
ALIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def run_rotation_job(request_id):
    from rotation.engine import run_rotation

    return run_rotation(request_id)


def enqueue_now(request_id):
    """Put the run on the rotation queue now; False (logged) when Redis cannot take it."""
    from rotation.models import RotationRequest

    # A fresh job id per enqueue: a dead worker's job (still "started" in Redis) must not be confused with it.
    job_id = f"rotation-{request_id}-{uuid.uuid4().hex[:12]}"
    try:
        # commit_mode="auto": enqueue now, not at some later commit (the caller runs after its own commit).
        django_rq.get_queue("rotation", commit_mode="auto").enqueue(run_rotation_job, request_id, job_id=job_id,
                                                                   job_timeout=JOB_TIMEOUT)
    except RedisError as exc:
        # The decision is already committed; the reconciler enqueues the run once Redis is back.
        log.warning("rotation %s not enqueued (%s); the reconciler will retry", request_id, type(exc).__name__)
        return False
    RotationRequest.objects.filter(pk=request_id).update(enqueued_at=timezone.now(), job_id=job_id)
    return True


def enqueue_run(rotation):
    """Queue the run once the transaction that approved it has committed."""
    request_id = rotation.pk
    transaction.on_commit(lambda: enqueue_now(request_id))


def job_is_alive(rotation, connection):
    if not rotation.job_id:
        return False
    try:
        job = Job.fetch(rotation.job_id, connection=connection)
    except Exception:
        return False
    return job.get_status(refresh=False) in ALIVE


def reconcile_rotations_job():
    from rotation.reconcile import reconcile_rotations

    return reconcile_rotations()


def rotate_due_secrets_job():
    from rotation.schedule import rotate_due_secrets

    return rotate_due_secrets().summary()
