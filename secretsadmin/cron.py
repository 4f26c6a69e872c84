"""Periodic jobs, loaded by the scheduler: `python manage.py rqcron secretsadmin.cron`."""
from rq import cron

from secretsadmin.jobs import clear_expired_sessions_job

cron.register(clear_expired_sessions_job, queue_name="default", cron="17 3 * * *")
