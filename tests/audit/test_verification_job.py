"""The nightly verification runs in a real RQ worker and leaves its result for the badge."""
import subprocess

import django_rq

import audit
from audit.models import AuditEvent, ChainVerification
from audit.services import verify_audit_chain_job
from tests.conftest import BASE_DIR, MANAGE, PYTHON


def test_worker_verifies_the_chain_and_records_the_result(subprocess_env):
    for i in range(3):
        audit.record("secret.rotation", actor="worker", secret_name=f"svc/{i}")
    job = django_rq.get_queue("default").enqueue(verify_audit_chain_job)
    result = subprocess.run([PYTHON, MANAGE, "rqworker", "default", "--burst"], env=subprocess_env, cwd=BASE_DIR,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    job.refresh()
    assert job.return_value() == "OK: 3 events, chain intact through #3"
    verification = ChainVerification.objects.get()
    assert verification.ok and verification.events_checked == 3
    event = AuditEvent.objects.get(event_type="audit.chain_verified")
    assert (event.actor_type, event.outcome, event.details["events_checked"]) == ("worker", "success", 3)
