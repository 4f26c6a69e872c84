"""Periodic jobs, loaded by the scheduler: `python manage.py rqcron secretsadmin.cron`."""
from rq import cron

from audit.services import verify_audit_chain_job
from providers.jobs import enqueue_due_syncs_job
from rotation.jobs import reconcile_rotations_job, rotate_due_secrets_job
from secretsadmin.dashboard import refresh_dashboard_snapshot_job
from secretsadmin.jobs import clear_expired_sessions_job
from secretsadmin.metrics_archive import archive_dead_metrics_job
from secretsadmin.posture import refresh_posture_snapshot_job

# Cron times are the scheduler's local time (UTC in the containers). 03:17 rather than on the hour,
# so the job does not start together with every other nightly task on the same database.
cron.register(clear_expired_sessions_job, queue_name="default", cron="17 3 * * *")

# Every night, prove the audit chain still holds; the result feeds the dashboard's chain badge.
cron.register(verify_audit_chain_job, queue_name="default", cron="47 2 * * *", job_timeout=3600)

# Each provider has its own sync interval; this only checks every five minutes which ones are due.
cron.register(enqueue_due_syncs_job, queue_name="sync", cron="*/5 * * * *")

# The policy's "0 0 * * * rotate-secrets": request rotations of secrets past their interval.
cron.register(rotate_due_secrets_job, queue_name="rotation", cron="0 0 * * *", job_timeout=3600)

# No approved rotation is forgotten: lost jobs, lapsed worker leases, retries and ended grace periods.
cron.register(reconcile_rotations_job, queue_name="rotation", interval=30, job_timeout=300)

# The inventory figures behind /metrics' posture gauges, so that a scrape never scans the inventory.
cron.register(refresh_posture_snapshot_job, queue_name="default", interval=60, job_timeout=300)

# Likewise the dashboard's inventory and rotation figures, so that a visit never waits for those passes.
cron.register(refresh_dashboard_snapshot_job, queue_name="default", interval=60, job_timeout=300)

# Every job runs in a new work-horse process that leaves metric files behind; fold the dead ones together
# so that the cost of a scrape does not grow with every job ever run.
cron.register(archive_dead_metrics_job, queue_name="default", interval=120, job_timeout=300)
