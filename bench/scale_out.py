"""The inventory page's p95 under the load-and-fault run's load vs. idle (the same deployment, the same run).

The deployment and the load are tests/scale's (tests/scale/load.py, stack.py, locustfile.py): on a throwaway,
migrated PostgreSQL database, a Redis of the run's own (append-only file on), an OpenBao dev server seeded with
250 secrets and an ACL policy, 3 gunicorn replicas (deploy/gunicorn.conf.py, one worker each, --reuse-port on one
port) and 4 rotation workers (rotation.jobs.RotationWorker). The test's settings (tests.settings: fast password
hashing, so 50 sign-ins cost nothing) in every Django process. A Django child of this process seeds, starts and
drives it all:

  idle      a Viewer signed in over HTTP, nothing else running: IDLE_REQUESTS GETs of /inventory/, each on a new
            connection (so they spread over the replicas as the users' connections do)
  load      50 locust users (12 browse the inventory, 8 filter the audit log, 18 Operators request and 12
            Approvers approve through the forms) while the 200 rotations they file run; p95 of every GET of
            /inventory/ (lists, searches, filters, pages) they made

The run's invariants (tests/scale/invariants.py: every rotation once, audit chain, OpenBao versions, no 5xx) are
checked too: a run that breaks one is no figure. The note names what limited the run (tests/scale/cpu.py: CPU
time per component, PostgreSQL lock waits) and the load average, since other work on the machine counts.
"""
import json
import os
import sys
import time

from bench._audit_data import audit_env, manage_argv, run_child
from bench._pg import throwaway_database
from bench._server import workdir

IDLE_REQUESTS = 100


def run():
    began = time.perf_counter()
    load_before = os.getloadavg()[0]
    with workdir() as path, throwaway_database() as url:
        if url is None:
            raise SystemExit("bench: scale_out needs PostgreSQL (BENCH_PG_URL); it is not reachable")
        env = audit_env(path, url)
        env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
        env["PROMETHEUS_MULTIPROC_DIR"] = str(path / "prometheus-driver")
        (path / "var").mkdir()
        run_child(manage_argv("migrate", "--noinput"), env).check("migrate")
        child = run_child([sys.executable, "-m", "bench.scale_out", str(path / "stack")], env)
        child.check("the load run")
        report = json.loads(child.stdout.strip().splitlines()[-1])
    took = time.perf_counter() - began
    if report["problems"]:
        raise SystemExit("bench: the load run broke its invariants:\n" + "\n".join(report["problems"][:20]))
    figures, idle = report["figures"], report["idle_ms"]
    pages = figures["pages"]
    yield {
        "metric": "inventory_p95_under_load", "value": figures["inventory_p95_ms"], "unit": "ms",
        "baseline": round(report["idle_p95_ms"], 2),
        "note": (f"p95 of {pages['inventory']['count']} GETs of /inventory/ by 50 locust users while 200 rotations "
                 f"ran ({figures['requests']} requests in {figures['seconds']:.0f} s, {figures['requests_per_second']} "
                 f"per second, over replicas {figures['per_replica']}; median {pages['inventory']['p50_ms']} ms; "
                 f"secret page p95 {pages.get('secret page', {}).get('p95_ms')} ms, audit log p95 "
                 f"{pages.get('audit log', {}).get('p95_ms')} ms, approve p95 {pages.get('approve', {}).get('p95_ms')} "
                 f"ms); baseline: p95 of {len(idle)} idle GETs by one signed-in Viewer (median "
                 f"{sorted(idle)[len(idle) // 2]:.1f} ms); during the run: {report['bottleneck']}; cores used "
                 f"{figures['cpu']['cores']}; 3 gunicorn replicas x 1 worker (gthread, 2 threads), 4 rotation "
                 f"workers, PostgreSQL, OpenBao, Redis on 2 cores; invariants held; bench took {took:.0f} s; load "
                 f"average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (other work on the machine "
                 f"counts)"),
    }


def main(argv):
    """In a Django child: the whole run; prints the figures, the idle samples and any broken invariant."""
    import django

    django.setup()
    from tests.scale.cpu import bottleneck
    from tests.scale.invariants import check
    from tests.scale.load import percentile, run_load, running
    from tests.scale.stack import Stack

    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    stack = Stack(argv[0], env)
    with running(stack) as seeded:
        outcome = run_load(stack, seeded, idle_requests=IDLE_REQUESTS)
        figures, problems = check(stack, seeded, outcome)
    print(json.dumps({"figures": figures, "problems": problems, "idle_ms": outcome.idle_ms,
                      "idle_p95_ms": percentile(outcome.idle_ms, 95), "bottleneck": bottleneck(outcome.cpu)},
                     default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
