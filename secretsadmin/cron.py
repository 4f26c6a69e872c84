"""Periodic jobs, loaded by the scheduler: `python manage.py rqcron secretsadmin.cron`."""
from rq import cron

from secretsadmin.jobs import clear_expired_sessions_job

# Cron times are the scheduler's local time (UTC in the containers). 03:17 rather than on the hour,
# so the job does not start together with every other nightly task on the same database.
cron.register(clear_expired_sessions_job, queue_name="default", cron="17 3 * * *")
