"""gunicorn settings for the web container (`gunicorn --config THIS_FILE secretsadmin.wsgi:application`)."""
import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _cpu_quota(cgroup_root=CGROUP_ROOT):
    """The CPU quota of this container in whole CPUs (rounded up), or None when there is none.

    A limit (`docker run --cpus`, a Kubernetes `limits.cpu`) is a cgroup quota, which the CPU count below
    cannot see: a pod limited to one CPU on a 64-core node must not start 129 workers.
    """
    v2 = cgroup_root / "cpu.max"  # "max 100000" or "150000 100000" (quota, period in microseconds)
    v1_quota, v1_period = cgroup_root / "cpu" / "cpu.cfs_quota_us", cgroup_root / "cpu" / "cpu.cfs_period_us"
    try:
        if v2.is_file():
            quota, period = v2.read_text().split()[:2]
        elif v1_quota.is_file() and v1_period.is_file():
            quota, period = v1_quota.read_text().strip(), v1_period.read_text().strip()
        else:
            return None
        if quota == "max" or int(quota) <= 0 or int(period) <= 0:
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        return None  # an unreadable or unexpected file: fall back to the CPU count


def _cores(cgroup_root=CGROUP_ROOT):
    # The CPUs this process may run on (a container's cpuset), not every CPU of the host, and no more
    # than its CPU quota.
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        count = os.cpu_count() or 1
    quota = _cpu_quota(cgroup_root)
    return min(count, quota) if quota else count


def _worker_count(environ=os.environ, cgroup_root=CGROUP_ROOT):
    # The classic 2 x cores + 1 (5 on the 2-core default): requests spend much of their time waiting on
    # PostgreSQL, Redis and provider APIs, so more processes than cores keep the CPUs busy. Every worker
    # holds its own database connections (threads x workers per replica), so GUNICORN_WORKERS caps the
    # count where PostgreSQL's max_connections is the limit; it never raises it.
    count = 2 * _cores(cgroup_root) + 1
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
# A worker that has not reported for this long is killed and replaced (a hung process, not a slow request:
# provider calls have their own, shorter time-outs).
timeout = 30
# On SIGTERM (a rolling update), requests in flight get this long to finish. Kubernetes waits
# terminationGracePeriodSeconds (45 s in deploy/kubernetes, covering the 5 s preStop pause too).
graceful_timeout = 30
# Behind a proxy or load balancer the proxy must close idle upstream connections first: if gunicorn closed
# one just as the proxy reused it, the request would fail with a 502. Proxies default to 60 s (nginx's
# upstream keepalive_timeout, ingress-nginx, cloud load balancers), so stay above that. The gthread worker
# parks idle connections in its poller, not in a thread, so a long keep-alive costs no request capacity.
keepalive = 75
# Recycle workers now and then so a slow leak in a provider SDK cannot grow without bound; the jitter keeps
# the workers of a replica from all restarting at the same moment.
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
# X-Forwarded-* headers are trusted only from these proxy addresses (comma-separated, "*" for any). Set "*"
# only where nothing but the proxy can reach the port (docker-compose: web publishes no port; Kubernetes:
# the NetworkPolicy admits the ingress controller only).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# gunicorn 25.1+ opens a control socket under $HOME by default: nobody runs gunicornc inside a container,
# the root filesystem is read-only there, and one less local control surface is better.
control_socket_disable = True
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
