"""The embedded redis-server: started once, shared, stopped with its owner (even on SIGKILL)."""
import os
import signal
import subprocess
import sys
import time

import redis

from secretsadmin import embedded_redis
from tests.conftest import BASE_DIR


def _answers(path):
    try:
        return redis.Redis(unix_socket_path=str(path), socket_timeout=0.5).ping()
    except (redis.RedisError, OSError):
        return False


def _wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


OWNER_SCRIPT = """
import sys, time
from pathlib import Path
from secretsadmin.embedded_redis import ensure_embedded_redis
print("owner" if ensure_embedded_redis(Path(sys.argv[1])) else "guest", flush=True)
time.sleep(60)
"""


def _start_owner(var_dir):
    process = subprocess.Popen(
        [sys.executable, "-c", OWNER_SCRIPT, str(var_dir)],
        cwd=BASE_DIR, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(BASE_DIR)},
    )
    return process, process.stdout.readline().strip()


def test_first_process_owns_the_server_and_the_second_shares_it(tmp_path):
    sock = embedded_redis.socket_path(tmp_path)
    owner, role = _start_owner(tmp_path)
    try:
        assert role == "owner"
        assert _answers(sock)
        guest, guest_role = _start_owner(tmp_path)
        assert guest_role == "guest"
        guest.terminate()
        guest.wait(10)
        assert _answers(sock), "a guest leaving must not stop the owner's server"
    finally:
        owner.terminate()
        owner.wait(10)
    assert _wait_until(lambda: not _answers(sock)), "the server outlived its owner"


def test_server_dies_with_an_owner_that_is_killed(tmp_path):
    sock = embedded_redis.socket_path(tmp_path)
    owner, role = _start_owner(tmp_path)
    assert role == "owner" and _answers(sock)
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait(10)
    assert _wait_until(lambda: not _answers(sock)), "orphaned redis-server after SIGKILL of its owner"


def test_long_checkout_paths_fall_back_to_a_short_socket_path(tmp_path):
    deep = tmp_path / ("d" * 120)
    path = embedded_redis.socket_path(deep)
    assert len(str(path)) < 108
    assert path == embedded_redis.socket_path(deep), "the path must be stable across processes"
