"""RQ queues on REDIS_URL, worked by real `manage.py rqworker` processes; the cron schedule; health checks."""
import signal
import subprocess
import time
from datetime import timedelta

import django_rq
from django.contrib.sessions.models import Session
from django.utils import timezone
from django_rq.cron import DjangoCronScheduler
from rq import Worker

from secretsadmin.jobs import clear_expired_sessions_job
from tests.conftest import BASE_DIR, MANAGE, PYTHON


def test_the_four_queues_are_configured(settings):
    assert set(settings.RQ_QUEUES) == {"default", "rotation", "sync", "reports"}
    for name in settings.RQ_QUEUES:
        assert django_rq.get_queue(name).connection.ping()


def test_a_real_worker_process_runs_a_queued_job(subprocess_env):
    expired = Session.objects.create(session_key="e" * 32, session_data="", expire_date=timezone.now() - timedelta(1))
    live = Session.objects.create(session_key="l" * 32, session_data="", expire_date=timezone.now() + timedelta(1))
    job = django_rq.get_queue("default").enqueue(clear_expired_sessions_job)
    result = subprocess.run(
        [PYTHON, MANAGE, "rqworker", "default", "--burst"],
        env=subprocess_env, cwd=BASE_DIR, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    job.refresh()
    assert job.get_status() == "finished", result.stderr
    assert not Session.objects.filter(pk=expired.pk).exists()
    assert Session.objects.filter(pk=live.pk).exists()


def test_the_cron_schedule_loads_and_registers_its_jobs():
    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("secretsadmin.cron")
    jobs = {job.func.__name__: job for job in scheduler.get_jobs()}
    assert "clear_expired_sessions_job" in jobs
    assert jobs["clear_expired_sessions_job"].queue_name == "default"
    assert "verify_audit_chain_job" in jobs


def _healthcheck(role, env):
    return subprocess.run([PYTHON, MANAGE, "rq_healthcheck", role], env=env, cwd=BASE_DIR, capture_output=True,
                          text=True, timeout=60)


def test_worker_health_check_follows_a_real_worker(subprocess_env):
    connection = django_rq.get_connection("default")
    assert _healthcheck("worker", subprocess_env).returncode == 1
    worker = subprocess.Popen([PYTHON, MANAGE, "rqworker", "default"], env=subprocess_env, cwd=BASE_DIR,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not Worker.all(connection=connection) and time.monotonic() < deadline:
            time.sleep(0.1)
        healthy = _healthcheck("worker", subprocess_env)
        assert healthy.returncode == 0, healthy.stderr
        assert healthy.stdout.startswith("ok: 1 worker(s)")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    unhealthy = _healthcheck("worker", subprocess_env)
    assert unhealthy.returncode == 1
    assert "no RQ worker of host" in unhealthy.stderr and "Traceback" not in unhealthy.stderr
