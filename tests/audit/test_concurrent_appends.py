"""Several processes appending at once, one event or several at a time, never fork the chain."""
import subprocess

import pytest

from audit.models import AuditEvent
from audit.verify import verify_database
from tests.conftest import BASE_DIR, PYTHON

WRITER = """
import sys, django
django.setup()
import audit
name = sys.argv[1]
for i in range(0, int(sys.argv[2]), 2):
    if i % 4:  # every other round, two events in one append (as a rotation step's commit writes them)
        audit.record_many([("rotation.step_finished", {"secret_name": f"{name}/{j}", "details": {"step": j}})
                           for j in (i, i + 1)], actor="worker")
    else:
        for j in (i, i + 1):
            audit.record("rotation.step_finished", actor="worker", secret_name=f"{name}/{j}", details={"step": j})
"""
PROCESSES, EVENTS_EACH = 4, 40


@pytest.mark.django_db(transaction=True)
def test_parallel_writers_keep_one_unbroken_chain(subprocess_env):
    writers = [
        subprocess.Popen([PYTHON, "-c", WRITER, f"writer-{n}", str(EVENTS_EACH)], env=subprocess_env, cwd=BASE_DIR,
                         stderr=subprocess.PIPE, text=True)
        for n in range(PROCESSES)
    ]
    for writer in writers:
        _, stderr = writer.communicate(timeout=300)
        assert writer.returncode == 0, stderr
    assert AuditEvent.objects.count() == PROCESSES * EVENTS_EACH
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, PROCESSES * EVENTS_EACH + 1))
    # The writers really interleaved: otherwise this test proves nothing about serialisation.
    names = [n.split("/")[0] for n in AuditEvent.objects.order_by("sequence").values_list("secret_name", flat=True)]
    switches = sum(1 for a, b in zip(names, names[1:], strict=False) if a != b)
    assert switches >= PROCESSES - 1
    # Each writer's events keep their order, batched or not.
    for n in range(PROCESSES):
        mine = AuditEvent.objects.filter(secret_name__startswith=f"writer-{n}/").order_by("sequence")
        assert [event.details["step"] for event in mine] == list(range(EVENTS_EACH))
    result = verify_database()
    assert result.ok, result.summary()
