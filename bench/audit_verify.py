"""`manage.py verify_audit_chain` over a large chained audit table: wall time and peak RSS of the child.

Baselines: for time, a child that only streams `SELECT sequence, hash ... ORDER BY sequence` through a
server-side cursor (the unavoidable read cost, so the ratio shows what hashing and the ORM add); for
memory, a child that only runs `manage.py check`. N is 1,000,000 (BENCH_AUDIT_EVENTS overrides it).
"""
import re
import time

from bench._audit_data import audit_env, django_check, events_wanted, manage_argv, prepare_database, raw_read, run_child
from bench._pg import throwaway_database
from bench._server import workdir


def run():
    events = events_wanted()
    began = time.perf_counter()
    with workdir() as path, throwaway_database() as url:
        env = audit_env(path, url)
        filled = prepare_database(env, events)
        raw_read(env)  # warm-up: table and index pages cached alike for every measured child
        read = raw_read(env)
        verify = run_child(manage_argv("verify_audit_chain"), env)
        check = django_check(env)
    took = time.perf_counter() - began
    if int(read.stdout.split()[-1]) != events:
        raise SystemExit(f"bench: the raw read saw {read.stdout.strip()} rows, expected {events}")
    if verify.returncode != 0 or f"OK: {events} events" not in verify.stdout:
        raise SystemExit(f"bench: verify_audit_chain failed (exit {verify.returncode}), expected 'OK: {events} "
                         f"events':\n{verify.stdout}\n{verify.stderr[-4000:]}")
    inside = re.search(r"\(([\d.]+) s\)", verify.stdout)
    where = f"{filled['vendor']}" if url else "sqlite (PostgreSQL not reachable: SQLite fallback)"
    common = f"N={events:,} on {where}; fill {filled['seconds']:.0f} s; bench took {took:.0f} s"
    yield {
        "metric": "verify_seconds", "value": round(verify.seconds, 2), "unit": "s", "baseline": round(read.seconds, 2),
        "note": (f"goal < 20 s for 1,000,000 on 2 cores; child wall time incl. Django start-up (the command itself "
                 f"reported {inside.group(1) if inside else '?'} s); baseline: a child streaming SELECT sequence, "
                 f"hash ORDER BY sequence through a server-side cursor; {common}"),
    }
    yield {
        "metric": "verify_peak_rss", "value": round(verify.peak_rss_mb, 1), "unit": "MB",
        "baseline": round(check.peak_rss_mb, 1),
        "note": f"constant memory: compare with BENCH_AUDIT_EVENTS=100000; baseline: manage.py check; {common}",
    }
