"""Compliance report generation and PDF export over 100,000 secrets and 1,000,000 audit events, on PostgreSQL.

Two throwaway PostgreSQL databases hold the same data set (bench._compliance_data: 100,000 secrets, 2,000
rotation runs with their audit rows, 200 people) except for the number of audit events: 1,000,000 in the
measured one, 10,000 in the baseline. In each, one Django child generates the report snapshot for one framework
(compliance.snapshots.generate_snapshot_now: build_report's aggregate queries, canonical JSON, SHA-256, the
audit event) REPEATS times and exports each to PDF, and reports the p50 of each.

Goals (issue 8): generation under 5 s and within 3x of the 10,000-event baseline; the PDF under 10 s.
BENCH_AUDIT_EVENTS and BENCH_INVENTORY_SECRETS override the full sizes for quick runs; BENCH_COMPLIANCE_FRAMEWORK
the framework (nist-800-53: the most controls and checks).
"""
import json
import os
import statistics
import sys
import time

from bench._audit_data import audit_env, events_wanted, manage_argv, run_child
from bench._pg import throwaway_database
from bench._server import workdir

SECRETS = 100_000
BASELINE_EVENTS = 10_000
REPEATS = 5


def _framework():
    return os.environ.get("BENCH_COMPLIANCE_FRAMEWORK") or "nist-800-53"


def _secrets():
    return int(os.environ.get("BENCH_INVENTORY_SECRETS") or SECRETS)


def _measure(events, secrets, framework, suffix):
    """Fill a fresh database with `events` audit events and time REPEATS generations and PDF exports in a child."""
    with workdir() as path, throwaway_database(suffix) as url:
        if url is None:
            raise SystemExit("bench: compliance_report needs PostgreSQL (BENCH_PG_URL); it is not reachable")
        env = audit_env(path, url)
        (path / "var").mkdir()
        run_child(manage_argv("migrate", "--noinput"), env).check("migrate")
        filled = run_child([sys.executable, "-m", "bench._compliance_data", str(secrets), str(events)], env)
        facts = json.loads(filled.check("filling").stdout.strip().splitlines()[-1])
        child = run_child([sys.executable, "-m", "bench.compliance_report", framework, str(REPEATS)], env)
        figures = json.loads(child.check("measuring").stdout.strip().splitlines()[-1])
    return {**facts, **figures, "peak_rss_mb": round(child.peak_rss_mb)}


def run():
    framework, secrets, events = _framework(), _secrets(), events_wanted()
    began = time.perf_counter()
    load_before = os.getloadavg()[0]
    small = _measure(BASELINE_EVENTS, secrets, framework, "_small")
    big = _measure(events, secrets, framework, "_big")
    took = time.perf_counter() - began
    common = (f"{framework}, p50 of {REPEATS} in one child; {big['secrets']:,} secrets, {big['runs']:,} runs, "
              f"{big['events']:,} audit events (baseline {small['events']:,}) on PostgreSQL; report: "
              f"{big['controls']} controls, {big['checks']} checks, {big['drilldown_rows']:,} drill-down rows; "
              f"fill {big['seconds']:.0f} s; bench took {took:.0f} s; load average {load_before:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after (2 cores)")
    yield {
        "metric": "report_generation_seconds", "value": big["generate_p50"], "unit": "s",
        "baseline": small["generate_p50"],
        "note": (f"goal: under 5 s and ratio <= 3; snapshot generation (build_report + freeze + digest + audit); "
                 f"runs {big['generate']} s; baseline: the same report over {small['events']:,} events; {common}"),
    }
    yield {
        "metric": "report_pdf_export_seconds", "value": big["pdf_p50"], "unit": "s", "baseline": small["pdf_p50"],
        "note": (f"goal: under 10 s; export_snapshot(pdf) of that report: {big['pdf_pages']} pages, "
                 f"{big['pdf_bytes'] / 2**20:.1f} MiB, runs {big['pdf']} s, child peak RSS {big['peak_rss_mb']} MB; "
                 f"baseline: the PDF of the {small['events']:,}-event report; {common}"),
    }


# ---------------------------------------------------------------- in the measuring Django child


def _child(framework, repeats):
    import datetime as dt

    import django

    django.setup()
    from django.utils import timezone

    from compliance.snapshots import export_snapshot, generate_snapshot_now

    today = timezone.localdate()
    period = {"period_start": today - dt.timedelta(days=30), "period_end": today}
    generate, pdf = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        report = generate_snapshot_now(framework, **period, actor="system")
        generate.append(round(time.perf_counter() - start, 3))
        start = time.perf_counter()
        content = export_snapshot(report, "pdf", actor="system").content
        pdf.append(round(time.perf_counter() - start, 3))
    results = report.frozen_content()["results"]
    print(json.dumps({
        "generate": generate, "generate_p50": statistics.median(generate),
        "pdf": pdf, "pdf_p50": statistics.median(pdf), "pdf_bytes": len(content),
        "pdf_pages": content.count(b"/Type /Page\n"), "controls": len(results["controls"]),
        "checks": len(results["checks"]),
        "drilldown_rows": sum(len((c.get("drilldown") or {}).get("rows") or []) for c in results["checks"].values()),
        "summary": results["summary"],
    }))


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]))
