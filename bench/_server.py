"""Helpers for benchmarks: a real gunicorn server on loopback with a throwaway SQLite database."""
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from secretsadmin.process_group import free_port

BASE_DIR = Path(__file__).resolve().parent.parent




def bench_env(workdir):
    env = dict(os.environ)
    env.update(
        SECRETSADMIN_ENV="test",
        DATABASE_URL=f"sqlite:///{workdir}/bench.sqlite3",
        DJANGO_SETTINGS_MODULE="bench.settings",
        PYTHONPATH=str(BASE_DIR),
    )
    return env


def manage(env, *args):
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], env=env, cwd=BASE_DIR, check=True,
                   stdout=subprocess.DEVNULL)


@contextmanager
def gunicorn_server(env, workers=1, threads=1):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "secretsadmin.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--threads", str(threads), "--log-level", "warning"],
        env=env, cwd=BASE_DIR,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(30)


@contextmanager
def workdir():
    with tempfile.TemporaryDirectory(prefix="secretsadmin-bench-") as path:
        yield Path(path)


@contextmanager
def private_redis(path):
    """A private redis-server on a free port: no key or worker registration is shared with anyone."""
    import redis

    from secretsadmin.embedded_redis import redis_server_binary
    from secretsadmin.process_group import die_with_parent

    port = free_port()
    (path / "redis").mkdir()
    server = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(path / "redis")],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=die_with_parent)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis(port=port, socket_timeout=0.5).ping():
                    break
            except (redis.RedisError, OSError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("bench: the private redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
