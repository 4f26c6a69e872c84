"""RQ jobs of the rotation app (queue "rotation"): they take ids, and the database says where a run stands.

A lost job is never a lost rotation: the reconciler (every 30 seconds, and `manage.py reconcile_rotations`)
re-enqueues runs that should be moving but have no live job or worker.

The rotation queue's worker: `manage.py rqworker rotation --worker-class rotation.jobs.RotationWorker`, a
worker of its own (the other queues keep RQ's forking worker). It runs each job in its own process instead
of a forked work-horse: a horse per job cost more than a whole rotation's provider calls (the fork, a new
PostgreSQL connection, and importing the engine and the provider SDK afresh every time). Killing it is no
more dangerous than killing a horse: the run's lease lapses and the reconciler hands the run to another
worker, which resumes at the stored step; RQ's job timeout still applies (SIGALRM, as in a horse).
"""
import logging
import time
import uuid
from datetime import timedelta

import django_rq
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job, JobStatus
from rq.worker import SimpleWorker

log = logging.getLogger("secretsadmin.rotation")

JOB_TIMEOUT = 900
CONNECTION_TRUSTED_FOR = 1.0  # seconds after a job during which the next one skips the connection health check
ROUTINE_EVERY = 1.0  # seconds between the worker's routine heartbeats, and its looks for `rq suspend`
ALIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def run_rotation_job(request_id):
    from rotation.engine import run_rotation

    # As Django does around a request: a worker that keeps its process between jobs (RotationWorker) reuses
    # its database connection, but never one that is broken or past CONN_MAX_AGE.
    close_old_connections()
    _trust_a_connection_just_used()
    try:
        result = run_rotation(request_id)
    except BaseException:
        connections.close_all()  # a job timeout or an error may have cut a query short: start the next one clean
        raise
    finally:
        close_old_connections()
    _last_job_ended[0] = time.monotonic()
    return result


_last_job_ended = [float("-inf")]  # when this process's last rotation job ended without an error


def _trust_a_connection_just_used():
    """Skip Django's health check (CONN_HEALTH_CHECKS: a round trip before a reused connection's first query, as
    dear as a step boundary) for a connection the previous job used without an error less than a second ago: a
    busy worker's. An idle worker's connection is still checked, so one a database restart broke is replaced."""
    connection = connections["default"]
    recent = time.monotonic() - _last_job_ended[0] < CONNECTION_TRUSTED_FOR
    if recent and connection.connection is not None and not connection.errors_occurred:
        connection.health_check_done = True


def preload_rotation_modules():
    """Import, as the worker starts, what its jobs use: the engine, the SDKs of the provider kinds in use
    (not every SDK: they are big) and the targets, so the first run is not slower than the rest."""
    import rotation.engine  # noqa: F401 - and with it the registry, audit, notifications, policies
    from providers.adapters import ADAPTERS
    from providers.models import Provider
    from rotation.targets import TARGET_KINDS

    try:
        kinds = set(Provider.objects.values_list("kind", flat=True).distinct())
    except DatabaseError:
        kinds = set()  # not migrated yet, or unreachable: the jobs import what they need when they run
    finally:
        connections.close_all()  # as `rqworker` does before it starts working
    for path in [ADAPTERS[kind] for kind in sorted(kinds) if kind in ADAPTERS] + list(TARGET_KINDS.values()):
        try:
            import_string(path)
        except ImportError as exc:  # an SDK not installed: the job reports it, as it would have anyway
            log.warning("rotation worker: could not preload %s (%s)", path, exc)


class RotationWorker(SimpleWorker):
    """The rotation queue's worker: jobs run in the worker process (see the module docstring).

    RQ's bookkeeping between jobs, minus what only repeats itself (1.8 ms of a rotation's cost, measured):
    - its heartbeat is sent as one round trip and at most once a second. RQ beats three times around every job (after
      it, before waiting for the next, after taking it), each three commands in a row (the worker's last_heartbeat and
      two expiries). Only routine beats are skipped (a job's own, in RQ's pipelines, and one with an explicit timeout
      never are), so the worker's key can expire at most a second sooner than with RQ's own: its expiry is
      worker_ttl + 60 s, and RQ's longest quiet spell between beats is a dequeue wait of worker_ttl - 15 s;
    - `rq suspend` is looked for at most once a second, not before every job (it takes effect within a second);
    - the worker's state is written only when it changes (RQ writes "idle" twice after every job).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._last_routine_beat = self._last_suspension_check = float("-inf")
        preload_rotation_modules()

    def check_for_suspension(self, burst):
        if time.monotonic() - self._last_suspension_check < ROUTINE_EVERY:
            return
        super().check_for_suspension(burst)
        self._last_suspension_check = time.monotonic()

    def set_state(self, state, pipeline=None):
        if pipeline is None and state == self.get_state():
            return  # Redis already says so
        super().set_state(state, pipeline=pipeline)

    def heartbeat(self, timeout=None, pipeline=None):
        if pipeline is not None:  # part of a round trip RQ makes anyway
            return super().heartbeat(timeout, pipeline=pipeline)
        routine = timeout is None
        if routine and time.monotonic() - self._last_routine_beat < ROUTINE_EVERY:
            return None
        with self.connection.pipeline(transaction=False) as beat:
            super().heartbeat(timeout, pipeline=beat)
            beat.execute()
        if routine:
            self._last_routine_beat = time.monotonic()
        return None


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


def job_is_alive(rotation, connection, now=None):
    if not rotation.job_id:
        return False
    try:
        job = Job.fetch(rotation.job_id, connection=connection)
        status = job.get_status(refresh=False)
        if status == JobStatus.QUEUED:
            # Queued means waiting in its queue. A worker that took the job off the queue and lost Redis before
            # starting it (a Redis restart) leaves it stranded in RQ's intermediate queue, still marked queued, for
            # RQ's own clean-up to fail ten minutes later. A job taken at this very moment looks the same: enqueuing
            # it again costs a job that finds the run claimed and does nothing.
            return Queue(job.origin, connection=connection).get_job_position(job.id) is not None
        if status == JobStatus.STARTED and job.started_at is not None:
            # Asked only of runs no worker has claimed: a live worker claims its run within milliseconds of starting
            # the job, so one started a whole lease ago died between taking the job and claiming (kill -9, OOM).
            # RQ would mark it failed only after the job timeout; the run need not wait that long.
            return job.started_at > (now or timezone.now()) - timedelta(seconds=settings.ROTATION_LEASE_SECONDS)
    except Exception:
        return False
    return status in ALIVE


def reconcile_rotations_job():
    from rotation.reconcile import reconcile_rotations

    return reconcile_rotations()


def rotate_due_secrets_job():
    from rotation.schedule import rotate_due_secrets

    return rotate_due_secrets().summary()

