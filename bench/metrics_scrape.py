"""p95 latency of a Prometheus scrape (GET /metrics) with 100,000 inventoried secrets, vs. 1,000 secrets.

The issue's goals: p95 under 250 ms with 100,000 secrets and 5 worker processes, and within 2x of the same
scrape with 1,000 secrets (the cost must not grow with the inventory). Two stacks run side by side, alike
but for the size of the inventory:

  * a throwaway PostgreSQL database, migrated and filled by `python -m bench._metrics fill N` (5 providers,
    N secrets, two rotation policies, 60 rotation requests across every state, a ChainVerification row)
  * its own db of a private redis-server (cache, RQ queues and worker registry; nothing shared between them)
  * a fresh PROMETHEUS_MULTIPROC_DIR
  * 5 real `manage.py rqworker rotation` processes, which then run JOBS jobs (bench._metrics.record_activity:
    per-secret retrieval/rotation counters for 300 names each, provider-operation and rotation-step
    histograms) in their forked work-horses, so the directory holds the files of every process that has
    worked, as in production (the metric series are identical in both stacks)
  * one gunicorn worker (bench._server.gunicorn_server) pointing at all of that.

The first scrape of each stack is timed alone (it computes the inventory snapshot, which later scrapes read
from the cache); then WARMUP + REQUESTS rounds, each one GET /metrics from 127.0.0.1 to either stack (order
alternating), so drift in the machine's speed falls on both alike. BENCH_METRICS_SECRETS sets the size of
the big inventory for quick runs.
"""
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

import requests

from bench._audit_data import BASE_DIR, audit_env, manage_argv, run_child
from bench._pg import throwaway_database
from bench._server import gunicorn_server, private_redis, workdir

SMALL = 1_000
SECRETS = 100_000
WORKERS = 5
JOBS = 10  # two per worker: ten work-horse processes' files besides the workers' own
REQUESTS = 200
WARMUP = 20
GOAL_MS = 250
START_TIMEOUT = 90
AGE_RE = re.compile(r"^secretsadmin_posture_snapshot_age_seconds (\S+)$", re.M)
WORKERS_RE = re.compile(r"^secretsadmin_rq_workers (\S+)$", re.M)


def secrets_wanted():
    return int(os.environ.get("BENCH_METRICS_SECRETS") or SECRETS)


def _p95(samples):
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


class Stack:
    """One database, Redis db, multiprocess directory, 5 RQ workers and a gunicorn worker."""

    def __init__(self, label, secrets, path, redis_url):
        self.label, self.secrets, self.path, self.redis_url = label, secrets, path, redis_url
        self.workers, self.samples, self.recomputed, self.last_age = [], [], 0, None

    def start(self, stack):
        self.path.mkdir()
        url = stack.enter_context(throwaway_database(f"_metrics_{self.label}"))
        if url is None:
            raise SystemExit("bench: metrics_scrape needs PostgreSQL (BENCH_PG_URL); it is not reachable")
        env = audit_env(self.path, url)
        env["REDIS_URL"] = self.redis_url
        (self.path / "var").mkdir()  # migrate and fill write their metric files to var/prometheus, not below
        run_child(manage_argv("migrate", "--noinput"), env).check(f"migrate ({self.label})")
        filled = run_child([sys.executable, "-m", "bench._metrics", "fill", str(self.secrets)], env)
        self.facts = json.loads(filled.check(f"filling ({self.label})").stdout.strip().splitlines()[-1])
        self.multiproc = self.path / "multiproc"
        self.multiproc.mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(self.multiproc)
        self.env = env
        stack.callback(self._stop_workers)
        for k in range(WORKERS):
            log = open(self.path / f"worker-{k}.log", "wb")  # noqa: SIM115 - closed by _stop_workers
            process = subprocess.Popen(manage_argv("rqworker", "rotation"), env=env, cwd=BASE_DIR,
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)  # its own group: a work-horse goes with it
            process.log = log
            self.workers.append(process)
        self._wait_registered()
        self._run_activity()
        # As the scheduler's archive job does every 2 minutes in a deployment: the finished jobs' work-horses
        # are dead, and their metric files are folded into one archive per type.
        run_child([sys.executable, "-c", "from secretsadmin.metrics_archive import archive_dead_processes as a; "
                   "print(a())"], env).check(f"archiving dead processes' metrics ({self.label})")
        self.base = stack.enter_context(gunicorn_server(env))

    def _connection(self):
        import redis

        return redis.Redis.from_url(self.redis_url)

    def _worker_logs(self):
        return "\n".join((self.path / f"worker-{k}.log").read_text(errors="replace")[-1500:] for k in range(WORKERS))

    def _wait_registered(self):
        from rq import Worker

        connection = self._connection()
        deadline = time.monotonic() + START_TIMEOUT
        while Worker.count(connection=connection) < WORKERS:
            if time.monotonic() > deadline or any(w.poll() is not None for w in self.workers):
                raise SystemExit(f"bench: the {self.label} RQ workers did not all start:\n{self._worker_logs()}")
            time.sleep(0.2)

    def _run_activity(self):
        from rq import Queue

        queue = Queue("rotation", connection=self._connection())
        jobs = [queue.enqueue("bench._metrics.record_activity", seed) for seed in range(JOBS)]
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            statuses = [job.get_status(refresh=True) for job in jobs]
            if all(status == "finished" for status in statuses):
                return
            if any(status in ("failed", "stopped", "canceled") for status in statuses) or time.monotonic() > deadline:
                raise SystemExit(f"bench: the {self.label} activity jobs ended {statuses}:\n{self._worker_logs()}")
            time.sleep(0.1)

    def _stop_workers(self):
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)  # RQ's warm shutdown: idle, it leaves at once
        for worker in self.workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(20)
            if worker.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
            worker.log.close()

    def scrape(self):
        start = time.perf_counter()
        response = requests.get(f"{self.base}/metrics", timeout=60)
        elapsed = (time.perf_counter() - start) * 1000
        response.raise_for_status()
        self.last = response.text
        age = float(AGE_RE.search(self.last).group(1))
        if self.last_age is not None and age < self.last_age:
            self.recomputed += 1  # the snapshot expired from the cache and this scrape computed it again
        self.last_age = age
        return elapsed

    def first_scrape(self):
        self.cold = self.scrape()
        for needed in ("secretsadmin_secrets{", "secret_retrieval_success_count_total{", "secretsadmin_rotations{"):
            if needed not in self.last:
                raise SystemExit(f"bench: the {self.label} scrape has no {needed!r}; is /metrics still the exposition?")

    def describe(self):
        series = sum(1 for line in self.last.splitlines() if line and not line.startswith("#"))
        files = sorted(self.multiproc.glob("*.db"))
        pids = {f.stem.rsplit("_", 1)[-1] for f in files}
        workers = WORKERS_RE.search(self.last).group(1)
        return (f"{self.facts['secrets']:,} secrets: p95 {_p95(self.samples):.1f} ms, median "
                f"{statistics.median(self.samples):.1f} ms, first scrape (computes the snapshot) {self.cold:.0f} ms; "
                f"{series:,} series, {len(self.last) / 1024:.0f} KiB; {len(files)} files of {len(pids)} pids "
                f"({sum(f.stat().st_size for f in files) / 2**20:.1f} MiB) in the multiproc dir; rq_workers "
                f"{float(workers):.0f}; snapshot recomputed by {self.recomputed} measured scrapes")


def run():
    big = secrets_wanted()
    began = time.perf_counter()
    load_before = os.getloadavg()
    with contextlib.ExitStack() as stack:
        path = stack.enter_context(workdir())
        redis_base = stack.enter_context(private_redis(path))
        small = Stack("small", min(SMALL, big), path / "small", f"{redis_base}/0")
        large = Stack("large", big, path / "large", f"{redis_base}/1")
        for one in (small, large):
            one.start(stack)
        set_up = time.perf_counter() - began
        load_start = os.getloadavg()
        for one in (small, large):
            one.first_scrape()
        for round_ in range(WARMUP + REQUESTS):
            for one in (small, large) if round_ % 2 == 0 else (large, small):
                elapsed = one.scrape()
                if round_ >= WARMUP:
                    one.samples.append(elapsed)
        load_end = os.getloadavg()
        notes = f"{small.describe()} | {large.describe()}"
    took = time.perf_counter() - began
    p95_small, p95_large = round(_p95(small.samples), 2), round(_p95(large.samples), 2)
    common = (f"p95 of {REQUESTS} GET /metrics from 127.0.0.1 per stack after {WARMUP} warm-up, the two stacks "
              f"interleaved; each: {WORKERS} idle `rqworker rotation` processes that ran {JOBS} activity jobs, one "
              f"sync gunicorn worker, PostgreSQL, private Redis, METRICS_SECRET_NAME_LABEL default (full); {notes}; "
              f"set-up {set_up:.0f} s, bench {took:.0f} s; load average (1/5 min) {load_before[0]:.1f}/"
              f"{load_before[1]:.1f} before, {load_start[0]:.1f}/{load_start[1]:.1f} at the first scrape, "
              f"{load_end[0]:.1f}/{load_end[1]:.1f} after ({os.cpu_count()} cores)")
    yield {
        "metric": "metrics_scrape_p95_100k", "value": p95_large, "unit": "ms", "baseline": p95_small,
        "note": (f"goal <= 2 (cost must not grow with the inventory): {large.facts['secrets']:,} secrets vs "
                 f"{small.facts['secrets']:,}; absolute p95 {p95_large:.1f} ms against the {GOAL_MS} ms goal; "
                 f"{common}"),
    }
    yield {
        "metric": "metrics_scrape_p95_100k_vs_goal", "value": p95_large, "unit": "ms", "baseline": GOAL_MS,
        "note": f"goal < 1: p95 with {large.facts['secrets']:,} secrets against the {GOAL_MS} ms goal; see above",
    }
    yield {
        "metric": "metrics_scrape_p95_1k", "value": p95_small, "unit": "ms", "baseline": GOAL_MS,
        "note": f"< 1 is under the {GOAL_MS} ms goal with {small.facts['secrets']:,} secrets; see above",
    }

