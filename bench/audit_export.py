"""CSV export of a large audit table (audit.export.csv_lines) to /dev/null in a child: peak RSS and wall time.

Baselines: for memory, a child that only runs `manage.py check`; for time, a child that only streams
`SELECT sequence, hash ... ORDER BY sequence` through a server-side cursor (the unavoidable read cost).
N is 1,000,000 (BENCH_AUDIT_EVENTS overrides it).
"""
import json
import sys
import time

from bench._audit_data import audit_env, django_check, events_wanted, prepare_database, raw_read, run_child
from bench._pg import throwaway_database
from bench._server import workdir


def _child():
    import os

    import django

    django.setup()
    from audit.export import csv_lines
    from audit.models import AuditEvent

    lines = size = 0
    with open(os.devnull, "w", encoding="utf-8") as sink:
        for chunk in csv_lines(AuditEvent.objects.order_by("sequence")):
            sink.write(chunk)
            lines += chunk.count("\n")
            size += len(chunk)
    print(json.dumps({"lines": lines, "characters": size}))


def run():
    events = events_wanted()
    began = time.perf_counter()
    with workdir() as path, throwaway_database() as url:
        env = audit_env(path, url)
        filled = prepare_database(env, events)
        raw_read(env)  # warm-up: table and index pages cached alike for every measured child
        read = raw_read(env)
        export = run_child([sys.executable, "-m", "bench.audit_export"], env).check("CSV export child")
        check = django_check(env)
    took = time.perf_counter() - began
    written = json.loads(export.stdout.strip().splitlines()[-1])
    if written["lines"] != events + 1:  # the header, then one line per event (no field holds a newline)
        raise SystemExit(f"bench: the CSV export wrote {written['lines']} lines, expected {events + 1}")
    where = f"{filled['vendor']}" if url else "sqlite (PostgreSQL not reachable: SQLite fallback)"
    common = (f"N={events:,} on {where}; {written['characters'] / 2**20:.0f} MiB of CSV; "
              f"fill {filled['seconds']:.0f} s; bench took {took:.0f} s")
    yield {
        "metric": "export_csv_peak_rss", "value": round(export.peak_rss_mb, 1), "unit": "MB",
        "baseline": round(check.peak_rss_mb, 1),
        "note": f"goal: peak RSS under 200 MB; baseline: manage.py check; {common}",
    }
    yield {
        "metric": "export_csv_seconds", "value": round(export.seconds, 2), "unit": "s",
        "baseline": round(read.seconds, 2),
        "note": (f"child wall time incl. Django start-up, CSV to /dev/null; baseline: a child streaming SELECT "
                 f"sequence, hash ORDER BY sequence through a server-side cursor; {common}"),
    }


if __name__ == "__main__":
    _child()
