"""Proof under load: 3 web replicas, 4 rotation workers, OpenBao, PostgreSQL and a Redis of the run's own, driven by
50 locust users (12 browse the inventory, 8 filter the audit log, 18 Operators request and 12 Approvers approve
rotations through the real forms) while 200 rotations run - as is, with a worker SIGKILLed and restarted midway,
and with Redis restarted midway (SHUTDOWN SAVE, then started on the same port and directory).

See tests/scale/load.py for the run and tests/scale/invariants.py for what must hold afterwards. The figures
(inventory p95 under load among them) are printed; run with `-s` to see them.
"""
import json

import pytest
from django.db import connection

from tests.scale.invariants import check
from tests.scale.load import ROLES, ROTATIONS, run_load, running
from tests.scale.stack import Stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def stack(subprocess_env, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the load-and-fault run needs PostgreSQL (DATABASE_URL=postgres://...): 3 web replicas, 4 "
                    "workers and the test write concurrently, and SQLite serialises every writer on one file lock; "
                    "CI runs it on PostgreSQL")
    # The test's settings (fast password hashing) in every process: 50 sign-ins are not what is measured.
    env = {**subprocess_env, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "SECRETSADMIN_VAR_DIR": str(tmp_path / "var")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # each process group gets its own (tests/scale/stack.py)
    return Stack(tmp_path, env)


@pytest.mark.parametrize("fault", [None, "worker", "redis"], ids=["steady", "worker-killed", "redis-restarted"])
def test_every_rotation_runs_exactly_once_under_load(stack, fault):
    with running(stack) as seeded:
        assert len(seeded.rotate) == ROTATIONS and len(seeded.accounts) == sum(ROLES.values()) == 50
        outcome = run_load(stack, seeded, fault=fault)
        figures, problems = check(stack, seeded, outcome)
    print(f"\nload run ({fault or 'steady'}):", json.dumps(figures, default=str, indent=1))
    assert problems == [], "\n".join(problems[:40])
    if fault == "worker":
        assert outcome.fault.get("interrupted_run"), "no worker was caught holding a run to kill"
    if fault == "redis":
        assert len(stack.redis.restarts) == 1 and outcome.fault["lost_jobs"] == []
        # RQ's work loop quits when Redis goes away while it reports a job's end (the job's run is final in the
        # database by then); the deployment's restart policy brings it back, as the run's supervisor did here.
        assert all("redis.exceptions.ConnectionError" in exit_["log"] for exit_ in outcome.worker_exits), \
            outcome.worker_exits
    else:
        assert outcome.worker_exits == [], "a worker exited by itself"
