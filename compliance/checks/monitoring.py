"""Monitoring evidence: alert rules shipped, rotation failures resolved, out-of-band changes followed up."""
import datetime as dt
import re
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.fields.json import KT

from audit.models import AuditEvent
from compliance.checks.base import (
    FAIL,
    NOT_APPLICABLE,
    PARTIAL,
    PASS,
    check,
    drilldown,
    plural,
    result,
    table,
)
from rotation.models import RotationRequest

_ALERT = re.compile(r"^\s*-?\s*alert:\s*[\"']?([A-Za-z_:][A-Za-z0-9_:]*)", re.MULTILINE)


def alert_rules_file():
    # A setting so that a deployment keeping its rules elsewhere (or a test) can point at them.
    return Path(getattr(settings, "COMPLIANCE_ALERT_RULES_FILE",
                        Path(settings.BASE_DIR) / "deploy" / "alerts" / "prometheus-rules.yml"))


def alert_names(path):
    """The alert names a Prometheus rules file defines, or None when it cannot be read."""
    try:
        return set(_ALERT.findall(Path(path).read_text(encoding="utf-8")))
    except (OSError, UnicodeError):
        return None


@check("alert_rules_deployed", title="Alert rules deployed", rule="""
    The Prometheus alert rules that docker-compose's Prometheus loads (deploy/alerts/prometheus-rules.yml, as it is
    now) define the expected alerts ({expected_alerts}). Pass when all are there; partial when some are missing;
    fail when the file is missing or defines none of them.""")
def alert_rules_deployed(ctx):
    path, expected = alert_rules_file(), list(ctx.thresholds["expected_alerts"])
    found = alert_names(path)
    present = sorted(set(expected) & (found or set()))
    missing = [name for name in expected if name not in present]
    rows = [[name, "defined" if name in present else "missing"] for name in expected]
    rows += [[name, "defined (not required)"] for name in sorted((found or set()) - set(expected))]
    figures = {"file": path.name, "file_found": found is not None, "expected": len(expected),
               "present": len(present), "missing": len(missing), "alerts_defined": len(found or ())}
    drill = table("Alert rules", ["Alert", "State"], rows)
    if found is None:
        return result(FAIL, f"{path.name} is missing or unreadable", figures, drill)
    if missing and not present:
        return result(FAIL, f"None of the {len(expected)} expected alerts is defined", figures, drill)
    if missing:
        return result(PARTIAL, f"{len(present)} of {len(expected)} expected alerts defined; missing "
                               f"{', '.join(missing)}", figures, drill)
    return result(PASS, f"All {len(expected)} expected alerts defined ({len(found)} in all)", figures, drill)


RESOLVING = ("rotation.retried", "rotation.cancelled", "secret.rotation")


@check("rotation_failures_resolved", title="Rotation failures acknowledged and resolved", rule="""
    Runs that stopped retrying ("needs attention") in the period were retried or cancelled by a person, or
    completed, before the period's end. Pass when all were; partial when the open ones have waited less than
    {resolve_within_hours} hours at the end of the period; fail when one waited longer; not applicable when no run
    needed attention.""")
def rotation_failures_resolved(ctx):
    alerts = AuditEvent.objects.filter(event_type="rotation.needs_attention", **ctx.in_period("timestamp"))
    later = AuditEvent.objects.filter(event_type__in=RESOLVING, target_id=OuterRef("target_id"),
                                      timestamp__gte=OuterRef("timestamp"), timestamp__lt=ctx.as_of).exclude(
        event_type="secret.rotation", outcome=AuditEvent.Outcome.FAILURE)
    open_alerts = alerts.exclude(Exists(later))
    overdue = Q(timestamp__lt=ctx.as_of - dt.timedelta(hours=ctx.thresholds["resolve_within_hours"]))
    # One pass over the open alerts for both figures and the drill-down's count: the drill-down then stops at its
    # first 1,000 rows.
    unresolved = open_alerts.aggregate(unresolved=Count("target_id", distinct=True),
                                       overdue=Count("target_id", distinct=True, filter=overdue), alerts=Count("*"))
    figures = {"runs": alerts.values("target_id").distinct().count(), "unresolved": unresolved["unresolved"],
               "overdue": unresolved["overdue"]}
    rows = drilldown("Unresolved runs", ["Needs attention since", "Provider", "Secret", "Run", "Error"],
                     open_alerts.order_by("timestamp", "sequence").values_list("timestamp", "provider", "secret_name",
                                                                  "target_id", "failure_reason"),
                     total=unresolved["alerts"])
    if not figures["runs"]:
        return result(NOT_APPLICABLE, "No rotation needed attention in the period", figures, rows)
    summary = f"{figures['runs'] - figures['unresolved']} of {plural(figures['runs'], 'failed run')} resolved"
    if figures["overdue"]:
        return result(FAIL, f"{summary}; {figures['overdue']} waited over {ctx.thresholds['resolve_within_hours']} h",
                      figures, rows)
    return result(PARTIAL if figures["unresolved"] else PASS, summary, figures, rows)


def _followed_up(ctx):
    """A rotation of the changed secret requested after the change was detected, before the period's end."""
    return Exists(RotationRequest.objects.filter(
        secret__provider__name=OuterRef("provider"), secret__name=OuterRef("secret_name"),
        created_at__gte=OuterRef("timestamp"), created_at__lt=ctx.as_of))


@check("drift_investigated", title="Out-of-band changes investigated", rule="""
    Secrets that changed in their provider without a SecretsAdmin rotation (detected by the inventory sync in the
    period) were followed up by a rotation request (any trigger), which puts the value back under control. Pass when
    all were; partial when the open ones are younger than {investigate_within_days} days at the period's end; fail
    when one is older; not applicable when nothing changed out of band.""")
def drift_investigated(ctx):
    changes = AuditEvent.objects.filter(event_type="secret.changed_out_of_band", **ctx.in_period("timestamp"))
    late = Q(timestamp__lt=ctx.as_of - dt.timedelta(days=ctx.thresholds["investigate_within_days"]))
    # Overdue = late and not followed up = late - late and followed up: the follow-up is then looked for once per
    # change (one semi-join), not once per figure that needs it.
    every = changes.aggregate(changes=Count("*"), late=Count("pk", filter=late))
    followed = changes.filter(_followed_up(ctx)).aggregate(investigated=Count("*"), late=Count("pk", filter=late))
    counts = {"changes": every["changes"], "investigated": followed["investigated"],
              "overdue": every["late"] - followed["late"]}
    rows = drilldown("Out-of-band changes not followed up", ["Detected", "Provider", "Secret", "Version now"],
                     changes.exclude(_followed_up(ctx)).order_by("timestamp", "sequence")
                     # As text on every database (a key lookup gives "5" on PostgreSQL but 5 on SQLite).
                     .annotate(version=KT("details__current_version"))
                     .values_list("timestamp", "provider", "secret_name", "version"),
                     total=counts["changes"] - counts["investigated"])
    if not counts["changes"]:
        return result(NOT_APPLICABLE, "No out-of-band change in the period", counts, rows)
    summary = f"{counts['investigated']} of {plural(counts['changes'], 'out-of-band change')} followed up"
    if counts["overdue"]:
        return result(FAIL, f"{summary}; {counts['overdue']} overdue", counts, rows)
    return result(PARTIAL if counts["investigated"] < counts["changes"] else PASS, summary, counts, rows)
