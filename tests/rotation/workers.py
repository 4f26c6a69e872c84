"""Helpers for tests that drive real worker processes: start, stop dead, run to empty, and check the target."""
import contextlib
import signal
import subprocess
import time

import django_rq
import psutil
from rq import Worker

from rotation.services import decide_rotation, request_rotation
from rotation.targets import target_for
from rotation.targets.base import TargetContext
from tests.conftest import BASE_DIR, MANAGE, PYTHON

# The rotation queue's worker as deployed: jobs run in the worker process (rotation.jobs.RotationWorker).
WORKER_CLASS = ["--worker-class", "rotation.jobs.RotationWorker"]


def accepts(config, value):
    return target_for(config).is_applied(value, TargetContext("check", "db/app#password", "vault", ""))


def start_worker(env, **extra):
    return subprocess.Popen([PYTHON, MANAGE, "rqworker", "rotation", *WORKER_CLASS], env={**env, **extra}, cwd=BASE_DIR,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def run_burst_worker(env):
    """A real worker process that works the rotation queue until it is empty."""
    finished = subprocess.run([PYTHON, MANAGE, "rqworker", "rotation", "--burst", *WORKER_CLASS], env=env, cwd=BASE_DIR,
                              capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr


def kill_worker(worker):
    """SIGKILL the worker and its work-horse (RQ puts the horse in a process group of its own).

    A killed worker cannot say goodbye to Redis; its registration would linger until its key expires and
    make later tests see a worker that is not there, so it is removed as RQ's own cleanup eventually would.
    """
    processes = [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(recursive=True)]
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGKILL)
    psutil.wait_procs(processes, timeout=30)
    worker.wait(timeout=30)
    connection = django_rq.get_connection("rotation")
    for registered in Worker.all(connection=connection):
        if registered.pid in {process.pid for process in processes}:
            registered.register_death()


def wait_for(predicate, timeout=90, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def approve(secret, users):
    rotation = request_rotation(secret, actor=users["bob"], reason="fault test")
    return decide_rotation(rotation, actor=users["charlie"], approve=True)


