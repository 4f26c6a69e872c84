"""build_report: a framework's controls judged by live evidence for a period, as a JSON-ready document."""
import dataclasses
import datetime as dt

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from audit.models import AuditEvent
from compliance.catalog import get_framework
from compliance.checks import CHECKS
from compliance.checks.base import FAIL, NOT_APPLICABLE, PARTIAL, PASS, CheckContext
from compliance.thresholds import organisation_name, resolve
from providers.models import Secret
from secretsadmin.db_tuning import tune_for_aggregates

SCHEMA = "secretsadmin.compliance-report/1"
_SEVERITY = {FAIL: 0, PARTIAL: 1, PASS: 2}


class PeriodError(ValueError):
    """The period cannot be reported on; the message says why, for a form or a command line."""


def control_status(statuses):
    """The worst of the checks' statuses, ignoring not applicable (all not applicable: not applicable)."""
    judged = [status for status in statuses if status != NOT_APPLICABLE]
    return min(judged, key=_SEVERITY.__getitem__) if judged else NOT_APPLICABLE


def _control_summary(status, check_ids, checks):
    if status == NOT_APPLICABLE:
        return "No evidence applies in this period"
    if status == PASS:
        return "All evidence checks pass" if len(check_ids) > 1 else checks[check_ids[0]]["summary"]
    worst = [slug for slug in check_ids if checks[slug]["status"] == status]
    first = checks[worst[0]]
    more = f" (and {len(worst) - 1} more)" if len(worst) > 1 else ""
    return f"{first['title']}: {first['summary']}{more}"


def earliest_data_date():
    """The first day SecretsAdmin holds data for (first audit event or first inventoried secret), or None."""
    firsts = [AuditEvent.objects.aggregate(first=Min("timestamp"))["first"],
              Secret.objects.aggregate(first=Min("first_seen_at"))["first"]]
    firsts = [timezone.localtime(value).date() for value in firsts if value is not None]
    return min(firsts) if firsts else None


def check_period(period_start, period_end, *, today=None):
    """{field ("start" or "end"): why the period cannot be reported on}; empty when it can.

    The rules every entry point shares: the end not before the start, nothing in the future, and not starting
    before the first recorded data (the first audit event or inventoried secret).
    """
    today = today or timezone.localdate()
    problems = {}
    if period_end < period_start:
        problems["end"] = "The period ends before it starts."
    for field, value in (("start", period_start), ("end", period_end)):
        if value > today:
            problems.setdefault(field, f"{value.isoformat()} is in the future (today is {today.isoformat()}).")
    earliest = earliest_data_date()
    if earliest is None:
        problems.setdefault("start", "There is no data to report on yet.")
    elif period_start < earliest:
        problems.setdefault("start", f"The period starts before the first recorded data ({earliest.isoformat()}).")
    return problems


def _validated(period_start, period_end):
    # A datetime is a date too, but would put a time into the document's period.
    if not all(isinstance(d, dt.date) and not isinstance(d, dt.datetime) for d in (period_start, period_end)):
        raise PeriodError("The period's start and end must be dates.")
    if period_end < period_start:
        raise PeriodError("The period ends before it starts.")


def _run_checks(slugs, period_start, period_end, used, progress=None):
    """{slug: check document} for each check, run once each; checks of one run share their memo."""
    memo, checks = {}, {}
    for done, slug in enumerate(slugs, 1):
        spec = CHECKS[slug]
        # One transaction per check, so that a caller's progress writes between checks are committed (and seen).
        with transaction.atomic():
            _tune_for_reporting()
            outcome = spec.function(CheckContext(period_start, period_end, used[slug], memo))
        checks[slug] = {"title": spec.title, "area": spec.area, "rule": spec.rule_text(used[slug]), **outcome}
        if progress is not None:
            progress(done, len(slugs))
    return checks


def _tune_for_reporting():
    # No JIT (secretsadmin.db_tuning). The cross-checks' hash joins over a month of audit rows spill to disk at
    # the default 4 MB of work_mem. The rows a report reads are in memory (shared buffers or the OS cache), where
    # an index probe costs about what a sequential read does: at the default random_page_cost (4, for spinning
    # disks) the planner reads a month of audit rows from the heap to filter them instead of probing the
    # (event_type, timestamp) index for the few it needs. Parallel workers: each query of a report is short, and
    # starting workers cost more than they saved on a 2-core host shared with the web and worker processes
    # (measured over 1,000,000 audit events). All for this transaction only, never for the pooled connection.
    tune_for_aggregates(work_mem="64MB", random_page_cost="1.1", max_parallel_workers_per_gather="0")


def _document(framework, checks, period_start, period_end, organisation, used):
    controls = []
    for control in framework.controls:
        status = control_status([checks[slug]["status"] for slug in control.checks])
        controls.append({
            "id": control.id, "title": control.title, "description": control.description, "status": status,
            "summary": _control_summary(status, control.checks, checks), "checks": list(control.checks),
            "related": [dict(r) for r in control.related], "note": control.note,
        })
    summary = {status: sum(1 for c in controls if c["status"] == status)
               for status in (PASS, PARTIAL, FAIL, NOT_APPLICABLE)}
    summary["total"] = len(controls)
    slugs = framework.check_slugs()
    return {
        "schema": SCHEMA,
        "framework": {"slug": framework.slug, "name": framework.name, "version": framework.version,
                      "catalog_version": framework.catalog_version, "edition": framework.edition},
        "organisation": organisation_name() if organisation is None else organisation,
        "period": {"start": period_start.isoformat(), "end": period_end.isoformat()},
        "thresholds": {slug: used[slug] for slug in slugs},
        "summary": summary,
        "controls": controls,
        "checks": {slug: checks[slug] for slug in slugs},
    }


def build_report(framework_slug, *, period_start: dt.date, period_end: dt.date, organisation: str | None = None,
                 thresholds: dict | None = None, progress=None) -> dict:
    """The report document (see the contract in the compliance docs): deterministic for the same data and inputs.

    Raises compliance.catalog.UnknownFramework, PeriodError (end before start) or
    compliance.thresholds.ThresholdError (an override naming an unknown check or threshold).
    """
    framework = get_framework(framework_slug)
    _validated(period_start, period_end)
    used = resolve(thresholds, framework.check_slugs())
    checks = _run_checks(framework.check_slugs(), period_start, period_end, used, progress)
    return _document(framework, checks, period_start, period_end, organisation, used)


def build_reports(framework_slugs, *, period_start: dt.date, period_end: dt.date, organisation: str | None = None,
                  thresholds: dict | None = None) -> dict:
    """{slug: build_report(slug, ...)} for several frameworks, running each shared check once."""
    frameworks = [get_framework(slug) for slug in framework_slugs]
    _validated(period_start, period_end)
    slugs = list(dict.fromkeys(check for framework in frameworks for check in framework.check_slugs()))
    used = resolve(thresholds, slugs)
    checks = _run_checks(slugs, period_start, period_end, used)
    return {f.slug: _document(f, checks, period_start, period_end, organisation, used) for f in frameworks}


def build_control(framework_slug, control_id, *, period_start: dt.date, period_end: dt.date,
                  thresholds: dict | None = None) -> dict:
    """One control of a framework with only its own checks run: {"framework", "control", "checks", "period"}.

    Raises UnknownFramework, LookupError (no such control in the framework) or PeriodError.
    """
    framework = get_framework(framework_slug)
    control = framework.control(control_id)
    _validated(period_start, period_end)
    used = resolve(thresholds, control.checks)
    checks = _run_checks(list(control.checks), period_start, period_end, used)
    narrowed = dataclasses.replace(framework, controls=(control,))
    document = _document(narrowed, checks, period_start, period_end, "", used)
    return {"framework": document["framework"], "period": document["period"], "control": document["controls"][0],
            "checks": document["checks"]}
