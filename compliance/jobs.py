"""RQ job of the compliance app (queue "reports"): generate one report snapshot, by id, with progress on its row.

The snapshot row is the job's record: status, progress (checks done of total), error and the RQ job id. The job
claims the row with a conditional UPDATE, so running it twice does the work once; a worker that dies leaves a
lease that lapses, and the next run of the job (or a new request) takes over.
"""
import logging
import uuid

import django_rq
from django.db import close_old_connections, connections, transaction
from redis.exceptions import RedisError

log = logging.getLogger("secretsadmin.compliance")

QUEUE = "reports"
JOB_TIMEOUT = 1800  # seconds; also the lease a run holds on its snapshot


def generate_report_job(report_id):
    from compliance.snapshots import generate_snapshot

    close_old_connections()
    try:
        report = generate_snapshot(report_id)
    except BaseException:
        connections.close_all()  # a timeout may have cut a query short: the next job starts clean
        raise
    finally:
        close_old_connections()
    return {"report": str(report.uuid), "status": report.status} if report else None


def enqueue_now(report_id):
    """Put the generation on the reports queue now; if Redis cannot take it, the snapshot says so (failed)."""
    from compliance.models import ComplianceReport
    from compliance.snapshots import fail_unqueued

    job_id = f"report-{report_id}-{uuid.uuid4().hex[:12]}"
    try:
        django_rq.get_queue(QUEUE, commit_mode="auto").enqueue(generate_report_job, report_id, job_id=job_id,
                                                               job_timeout=JOB_TIMEOUT)
    except RedisError as exc:
        log.warning("compliance report %s not queued (%s)", report_id, type(exc).__name__)
        fail_unqueued(report_id, "The job queue could not be reached; generate the report again.")
        return False
    ComplianceReport.objects.filter(pk=report_id).update(job_id=job_id)
    return True


def enqueue_generation(report):
    """Queue the generation once the transaction that created the snapshot has committed."""
    report_id = report.pk
    transaction.on_commit(lambda: enqueue_now(report_id))
