"""RQ queues on REDIS_URL, worked by a real `manage.py rqworker` process."""
import subprocess
from datetime import timedelta

import django_rq
from django.contrib.sessions.models import Session
from django.utils import timezone
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
