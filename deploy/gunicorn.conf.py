"""gunicorn settings for the web container (`gunicorn secretsadmin.wsgi:application --config THIS_FILE`)."""
import os
from pathlib import Path


def _cores():
    # The CPUs this process may run on (a container's cpuset), not every CPU of the host.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _worker_count(environ=os.environ):
    # The classic 2 x cores + 1. A CPU quota (--cpus) is invisible to the count above and every worker
    # holds its own database connections, so GUNICORN_WORKERS caps it; it never raises it.
    count = 2 * _cores() + 1
    cap = environ.get("GUNICORN_WORKERS", "").strip()
    if cap:
        if not cap.isdigit() or int(cap) < 1:
            raise SystemExit(f"gunicorn.conf.py: GUNICORN_WORKERS must be a positive integer, not {cap!r}")
        count = min(count, int(cap))
    return count


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = _worker_count()
# Threads let one slow request (a provider API call) not block the worker's other requests.
worker_class = "gthread"
threads = 2
timeout = 30
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak in a provider SDK cannot grow without bound.
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
# X-Forwarded-* headers are trusted only from these proxy addresses (comma-separated, "*" for any).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# The worker heartbeat file lives in memory: on an overlay filesystem its writes can stall workers.
# (gunicorn creates it there with mkstemp, so the shared directory is safe.)
_SHM = "/dev/shm"  # noqa: S108
if os.path.isdir(_SHM):
    worker_tmp_dir = _SHM


def _multiprocess_dir():
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(directory) if directory else None


def on_starting(server):
    # prometheus_client's multiprocess mode keeps one file per worker pid; files from an earlier run would
    # keep adding dead workers' counters to /metrics. Only its *.db files go, in case the variable
    # points somewhere that holds anything else.
    directory = _multiprocess_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)


def child_exit(server, worker):
    # A dead worker's live gauges (e.g. requests in progress) must stop counting towards the total, and its
    # counters are folded into the archives at once: workers are recycled (max_requests), and only this
    # container can tell which pids are dead (the scheduler's archive job runs in a worker container).
    if _multiprocess_dir() is not None:
        from prometheus_client import multiprocess

        from secretsadmin.metrics_archive import archive_dead_processes

        multiprocess.mark_process_dead(worker.pid)
        archive_dead_processes()
