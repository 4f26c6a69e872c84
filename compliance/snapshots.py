"""Report snapshots: request one, generate it (freeze, digest, supersede), export it; each audited in its transaction.

A snapshot freezes the build_report document with its inputs and who generated it, as canonical JSON hashed with
SHA-256. Nothing changes it afterwards (compliance.models refuses), so every later export of it is byte-identical;
a newer snapshot of the same framework and period only marks it superseded.
"""
import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import audit
from compliance import evaluate
from compliance.catalog import FRAMEWORK_SLUGS
from compliance.exports import FORMATS, FrozenSnapshot, canonical_json, render
from compliance.jobs import JOB_TIMEOUT, enqueue_generation
from compliance.models import ComplianceReport
from secretsadmin.permissions import has_permission

log = logging.getLogger("secretsadmin.compliance")

ADD = "compliance.add_compliancereport"
EXPORT = "compliance.export_compliancereport"
SYSTEM = "system"
Status = ComplianceReport.Status


class SnapshotRefused(Exception):
    """A snapshot request or export that is not allowed; the message is shown to the person as it is."""


@dataclass(frozen=True)
class Export:
    content: bytes
    filename: str
    content_type: str


def _is_person(actor):
    return getattr(actor, "is_authenticated", False)


def _actor_name(actor):
    return actor.get_username() if _is_person(actor) else SYSTEM


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- requesting


def period_problems(framework, period_start, period_end):
    """{"framework" | "period_start" | "period_end": why} under the report pages' rules; empty when acceptable."""
    if framework not in FRAMEWORK_SLUGS:
        return {"framework": f"Unknown framework {framework!r}; choose one of {', '.join(FRAMEWORK_SLUGS)}."}
    if period_start is None or period_end is None:
        return {"period_start": "Give the first and the last day of the period."}
    return {f"period_{field}": message for field, message in evaluate.check_period(period_start, period_end).items()}


def check_period(framework, period_start, period_end):
    """Refuse an unknown framework, a period ending before it starts, in the future, or before any data."""
    problems = period_problems(framework, period_start, period_end)
    if problems:
        raise SnapshotRefused(" ".join(problems.values()))


def _new_snapshot(framework, period_start, period_end, actor):
    """Check the request and store the queued snapshot (the caller's transaction)."""
    if _is_person(actor) and not has_permission(actor, ADD):
        raise SnapshotRefused("You may not generate compliance reports.")
    check_period(framework, period_start, period_end)
    return ComplianceReport.objects.create(
        framework=framework, period_start=period_start, period_end=period_end,
        generated_by=actor if _is_person(actor) else None, generated_by_name=_actor_name(actor),
    )


def request_snapshot(framework, *, period_start, period_end, actor):
    """Queue a snapshot's generation on the reports queue (once this transaction commits)."""
    with transaction.atomic():
        report = _new_snapshot(framework, period_start, period_end, actor)
        enqueue_generation(report)
    return report


def generate_snapshot_now(framework, *, period_start, period_end, actor):
    """Generate a snapshot in this process (the export command): refused or failed -> SnapshotRefused."""
    with transaction.atomic():
        report = _new_snapshot(framework, period_start, period_end, actor)
    generate_snapshot(report.pk)
    report = ComplianceReport.objects.get(pk=report.pk)
    if not report.is_ready:
        raise SnapshotRefused(f"The report could not be generated: {report.error or report.get_status_display()}")
    return report


# ---------------------------------------------------------------- generating (the job's work)


def claim(report_id):
    """Take the snapshot for this run: queued, or running under a lease that lapsed (its worker died)."""
    now = timezone.now()
    open_to_claim = Q(status=Status.QUEUED) | Q(status=Status.RUNNING, claimed_until__lt=now)
    return ComplianceReport.objects.filter(open_to_claim, pk=report_id).update(
        status=Status.RUNNING, started_at=now, claimed_until=now + timedelta(seconds=JOB_TIMEOUT),
        progress_done=0, progress_total=0) == 1


def _progress_writer(report_id):
    def progress(done, total):
        # Committed at once (the job runs outside a transaction), so the page shows it while the report builds.
        ComplianceReport.objects.filter(pk=report_id, status=Status.RUNNING).update(
            progress_done=done, progress_total=total)

    return progress


def _actor_of(report):
    return report.generated_by if report.generated_by_id else SYSTEM


def generate_snapshot(report_id):
    """Build, freeze and hash the report; safe to run twice (the second run finds nothing to claim)."""
    if not claim(report_id):
        return None
    report = ComplianceReport.objects.select_related("generated_by").get(pk=report_id)
    try:
        document = evaluate.build_report(report.framework, period_start=report.period_start,
                                         period_end=report.period_end, progress=_progress_writer(report_id))
        frozen_text, generated_at = _freeze_content(report, document)
    except Exception as exc:
        log.exception("compliance report %s failed", report.uuid)
        _fail(report, str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__)
        return ComplianceReport.objects.get(pk=report_id)
    return _finish(report, document, frozen_text, generated_at)


def _inputs(report, document):
    framework = document.get("framework") or {}
    return {
        "framework": report.framework,
        "period": {"start": report.period_start.isoformat(), "end": report.period_end.isoformat()},
        "thresholds": document.get("thresholds") or {},
        "organisation": document.get("organisation"),
        "catalog_version": framework.get("catalog_version"),
    }


def _freeze_content(report, document):
    generated_at = timezone.now().replace(microsecond=0)  # whole seconds: the same in every export and database
    content = {"generated": {"at": generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "by": report.generated_by_name},
               "inputs": _inputs(report, document), "results": document}
    return canonical_json(content), generated_at


def _finish(report, document, frozen_text, generated_at):
    sha256 = digest(frozen_text)
    same_period = ComplianceReport.objects.filter(framework=report.framework, period_start=report.period_start,
                                                  period_end=report.period_end)
    with transaction.atomic():
        # Lock this framework and period's snapshots: two finishing at once must not both stay current.
        list(same_period.select_for_update().values_list("pk", flat=True))
        frozen = ComplianceReport.objects.filter(pk=report.pk, status=Status.RUNNING).update(
            status=Status.READY, frozen=frozen_text, sha256=sha256, summary=document.get("summary") or {},
            generated_at=generated_at, claimed_until=None, error="")
        if not frozen:  # another run of the job finished it first
            return ComplianceReport.objects.get(pk=report.pk)
        older = list(same_period.filter(status=Status.READY, superseded_by__isnull=True).exclude(pk=report.pk)
                     .values_list("uuid", flat=True))
        same_period.filter(uuid__in=older).update(superseded_by=report, superseded_at=generated_at)
        audit.record("report.generated", actor=_actor_of(report), target=report, details={
            "framework": report.framework, "period_start": report.period_start.isoformat(),
            "period_end": report.period_end.isoformat(), "digest": sha256,
            "catalog_version": (document.get("framework") or {}).get("catalog_version"),
            "summary": document.get("summary") or {}, "superseded": sorted(str(u) for u in older),
        })
    return ComplianceReport.objects.get(pk=report.pk)


def _fail(report, message, from_status=Status.RUNNING):
    with transaction.atomic():
        failed = ComplianceReport.objects.filter(pk=report.pk, status=from_status).update(
            status=Status.FAILED, error=message, claimed_until=None)
        if failed:
            audit.record("report.generated", actor=_actor_of(report), target=report, outcome="failure",
                         failure_reason=message, details={"framework": report.framework,
                                                          "period_start": report.period_start.isoformat(),
                                                          "period_end": report.period_end.isoformat()})


def fail_unqueued(report_id, reason):
    """The job could not be queued (Redis down): say so on the snapshot rather than leave it queued forever."""
    report = ComplianceReport.objects.select_related("generated_by").get(pk=report_id)
    _fail(report, reason, from_status=Status.QUEUED)


# ---------------------------------------------------------------- exporting


def frozen_snapshot(report) -> FrozenSnapshot:
    content = report.frozen_content()
    return FrozenSnapshot(uuid=str(report.uuid), digest=report.sha256, generated=content["generated"],
                          inputs=content["inputs"], results=content["results"])


def export_snapshot(report, export_format, *, actor):
    """The snapshot in one format, byte-identical every time; the export is audited (format and digest)."""
    if _is_person(actor) and not has_permission(actor, EXPORT):
        raise SnapshotRefused("You may not export compliance reports.")
    if export_format not in FORMATS:
        raise SnapshotRefused(f"Unknown export format {export_format!r}; choose one of {', '.join(FORMATS)}.")
    if not report.is_ready:
        raise SnapshotRefused(f"This report is {report.get_status_display().lower()}; only a ready report exports.")
    snapshot = frozen_snapshot(report)
    content = render(export_format, snapshot)
    # Recorded before the bytes leave: with a fail-closed audit log, an export that cannot be audited does not happen.
    with transaction.atomic():
        audit.record("report.exported", actor=actor, target=report, details={
            "format": export_format, "digest": report.sha256, "framework": report.framework,
            "period_start": report.period_start.isoformat(), "period_end": report.period_end.isoformat(),
            "bytes": len(content),
        })
    spec = FORMATS[export_format]
    return Export(content=content, filename=f"{snapshot.file_stem()}.{spec.extension}", content_type=spec.content_type)
