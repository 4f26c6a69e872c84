"""Audit evidence: operations cross-checked with audit rows, record content, the verified chain, retention, review."""
from django.conf import settings
from django.db.models import Count, Exists, Max, Min, OuterRef, Q
from django.db.models.fields.json import KT

from audit.models import AuditEvent, ChainVerification
from audit.verify import archive_start
from compliance.checks.base import (
    DRILLDOWN_LIMIT,
    FAIL,
    NOT_APPLICABLE,
    PARTIAL,
    PASS,
    check,
    drilldown,
    fetch,
    percent,
    plural,
    result,
    table,
    uuid_text,
)
from providers.models import Secret
from rotation.models import Approval, RotationRequest

SUCCESS = AuditEvent.Outcome.SUCCESS
SECRET_OPERATIONS = ("secret.retrieval", "secret.revealed", "secret.creation", "secret.rotation", "secret.deletion",
                     "secret.changed_out_of_band")


def _event_for(event_type, uuid_field, **more):
    """An EXISTS condition: an audit row of this type whose target is the outer row (by its uuid)."""
    types = event_type if isinstance(event_type, tuple) else (event_type,)
    return Exists(AuditEvent.objects.filter(event_type__in=types, outcome=SUCCESS,
                                            target_id=uuid_text(OuterRef(uuid_field)), **more))


def last_successful_syncs(ctx):
    """{provider name: its last successful inventory sync before the period's end}, from the audit log."""
    return ctx.remember("audit.last_syncs", lambda: dict(
        AuditEvent.objects.filter(event_type="inventory.synced", outcome=SUCCESS, timestamp__lt=ctx.as_of)
        .values_list("provider").annotate(last=Max("timestamp")).values_list("provider", "last")))


def _new_secrets_unaccounted(ctx):
    """Secrets first seen in the period with neither a creation event nor a later sync of their provider."""
    synced_after = Q(pk__in=[])
    for provider, last in last_successful_syncs(ctx).items():
        synced_after |= Q(provider__name=provider, first_seen_at__lte=last)
    return (Secret.objects.filter(**ctx.in_period("first_seen_at")).exclude(synced_after)
            .exclude(_event_for("secret.creation", "uuid")))


def _coverage_parts(ctx):
    """(kind, expected event, operations in the period, those lacking their event, drill-down fields) per kind."""
    succeeded = RotationRequest.objects.filter(state=RotationRequest.State.SUCCEEDED, **ctx.in_period("promoted_at"))
    requested = RotationRequest.objects.filter(**ctx.in_period("created_at"))
    decisions = Approval.objects.filter(**ctx.in_period("decided_at"))
    reveals = AuditEvent.objects.filter(event_type="secret.revealed", **ctx.in_period("timestamp"))
    # A reveal's retrieval is written just before it, in the same request: only this period's rows can match.
    retrieval = AuditEvent.objects.filter(event_type="secret.retrieval", outcome=SUCCESS, actor_id=OuterRef("actor_id"),
                                          provider=OuterRef("provider"), secret_name=OuterRef("secret_name"),
                                          sequence__lt=OuterRef("sequence"), timestamp__gte=ctx.start)
    new = Secret.objects.filter(**ctx.in_period("first_seen_at"))
    run = ("secret__provider__name", "secret__name")
    return [
        ("Rotation run succeeded", "secret.rotation", succeeded,
         succeeded.exclude(_event_for("secret.rotation", "uuid")).order_by("promoted_at", "pk"), (*run, "promoted_at")),
        ("Rotation requested", "rotation.requested", requested, requested.exclude(
            _event_for("rotation.requested", "uuid")).order_by("created_at", "pk"), (*run, "created_at")),
        ("Approval decision", "rotation.approved / rotation.rejected", decisions, decisions.exclude(
            _event_for(("rotation.approved", "rotation.rejected"), "request__uuid", actor_id=OuterRef("approver_id")))
         .order_by("decided_at", "pk"), ("request__secret__provider__name", "request__secret__name", "decided_at")),
        ("Value revealed", "secret.retrieval", reveals,
         reveals.exclude(Exists(retrieval)).order_by("timestamp", "sequence"),
         ("provider", "secret_name", "timestamp")),
        ("Secret appeared", "secret.creation or inventory.synced", new,
         _new_secrets_unaccounted(ctx).order_by("first_seen_at", "pk"), ("provider__name", "name", "first_seen_at")),
    ]


@check("audit_coverage", title="Every secret operation has its audit event", rule="""
    Operations in the period cross-checked against the audit log: each successful rotation run has its
    secret.rotation event, each request its rotation.requested, each approval decision its event, each revealed
    value its secret.retrieval, and each secret that appeared in the inventory a secret.creation event or a later
    sync of its provider. Pass when none is missing; partial when at most {partial_missing_percent}% are; fail
    otherwise; not applicable when there was no operation.""")
def audit_coverage(ctx):
    figures, total, missing, rows = {}, 0, 0, []
    for kind, expected, operations, lacking, fields in _coverage_parts(ctx):
        key = kind.lower().replace(" ", "_")
        count = operations.count()
        # Fetched first: a healthy log has nothing missing, and then no second pass counts it.
        fetched, absent = fetch(lacking, limit=max(DRILLDOWN_LIMIT - len(rows), 0), fields=fields) \
            if count else ([], 0)
        rows += [[kind, *row, expected] for row in fetched]
        figures[key], figures[f"{key}_missing"] = count, absent
        total, missing = total + count, missing + absent
    events = dict(AuditEvent.objects.filter(event_type__in=SECRET_OPERATIONS, **ctx.in_period("timestamp"))
                  .values_list("event_type").annotate(n=Count("pk")).values_list("event_type", "n"))
    figures.update({"operations": total, "missing": missing, "missing_percent": percent(missing, total)})
    figures.update({f"events.{name}": events.get(name, 0) for name in SECRET_OPERATIONS})
    rows = table("Operations without their audit event", ["Operation", "Provider", "Secret", "When",
                                                          "Expected event"], rows, total=missing)
    if not total:
        return result(NOT_APPLICABLE, "No secret operation in the period", figures, rows)
    if not missing:
        return result(PASS, f"All {plural(total, 'operation')} have their audit events", figures, rows)
    status = PARTIAL if figures["missing_percent"] <= ctx.thresholds["partial_missing_percent"] else FAIL
    return result(status, f"{missing} of {plural(total, 'operation')} lack an audit event", figures, rows)


def _incomplete():
    """Audit rows missing who, where or why: the actor, the secret of a secret event, a failure's reason."""
    anonymous = Q(actor_type=AuditEvent.ActorType.USER, actor_id__isnull=True) & ~Q(event_type="auth.login_failed")
    nameless_attempt = Q(event_type="auth.login_failed", target_text="")
    no_secret = (Q(event_type__startswith="secret.") | Q(event_type__startswith="rotation.step")) & (
        Q(provider="") | Q(secret_name=""))
    unexplained = Q(outcome=AuditEvent.Outcome.FAILURE, failure_reason="")
    return anonymous | nameless_attempt | no_secret | unexplained


@check("audit_record_content", title="Audit records say who, what, when, where and with what outcome", rule="""
    Every audit row of the period names its actor (a person, the system or a worker; failed sign-ins the account
    tried), its event type and time, the provider and secret of secret events, and the reason of a failure. Pass
    when every row does; partial when at most {partial_incomplete_percent}% do not; fail otherwise; not applicable
    when the period has no audit rows.""")
def audit_record_content(ctx):
    events = AuditEvent.objects.filter(**ctx.in_period("timestamp"))
    counts = events.aggregate(events=Count("pk"), incomplete=Count("pk", filter=_incomplete()),
                              people=Count("actor_id", distinct=True))
    counts["incomplete_percent"] = percent(counts["incomplete"], counts["events"])
    rows = drilldown("Incomplete audit rows", ["#", "Time", "Event", "Actor", "Provider", "Secret", "Outcome",
                                               "Failure reason"],
                     events.filter(_incomplete()).order_by("sequence").values_list(
                         "sequence", "timestamp", "event_type", "actor_name", "provider", "secret_name", "outcome",
                         "failure_reason"), total=counts["incomplete"])
    if not counts["events"]:
        return result(NOT_APPLICABLE, "No audit rows in the period", counts, rows)
    if not counts["incomplete"]:
        return result(PASS, f"All {plural(counts['events'], 'audit row')} are complete", counts, rows)
    status = PARTIAL if counts["incomplete_percent"] <= ctx.thresholds["partial_incomplete_percent"] else FAIL
    return result(status, f"{counts['incomplete']} of {plural(counts['events'], 'audit row')} incomplete",
                  counts, rows)


@check("audit_chain_verified", title="Audit hash chain verified", rule="""
    The latest verification of the audit hash chain at or before the period's end succeeded and is at most
    {max_age_days} days old then, and no verification in the period found the chain broken: pass. Partial when the
    latest success is older; fail when the chain was found broken, or was never verified.""")
def audit_chain_verified(ctx):
    before_end = ChainVerification.objects.filter(verified_at__lt=ctx.as_of)
    latest = before_end.order_by("-verified_at", "-pk").values("verified_at", "ok", "last_sequence").first()
    in_period = before_end.filter(verified_at__gte=ctx.start)
    counts = in_period.aggregate(verifications=Count("pk"), broken=Count("pk", filter=Q(ok=False)))
    last_event = AuditEvent.objects.filter(timestamp__lt=ctx.as_of).aggregate(last=Max("sequence"))["last"]
    figures = {**counts, "latest_verified_at": latest and latest["verified_at"], "latest_ok": latest and latest["ok"],
               "verified_through": latest and latest["last_sequence"], "last_event_of_period": last_event}
    rows = drilldown("Verifications in the period", ["Time", "Result", "Events checked", "Through #",
                                                     "First broken #", "Problem"],
                     in_period.order_by("verified_at", "pk").values_list(
                         "verified_at", "ok", "events_checked", "last_sequence", "first_broken_sequence", "problem"),
                     row=lambda r: [r[0], "intact" if r[1] else "broken", *r[2:]])
    if latest is None:
        return result(FAIL, "The audit chain was never verified before the end of the period", figures, rows)
    if counts["broken"] or not latest["ok"]:
        return result(FAIL, "A verification found the audit chain broken", figures, rows)
    age = (ctx.as_of - latest["verified_at"]).days
    figures["latest_age_days"] = age
    summary = f"Chain intact; last verified {age} days before the end of the period"
    return result(PASS if age <= ctx.thresholds["max_age_days"] else PARTIAL, summary, figures, rows)


@check("audit_retention", title="Audit retention meets the minimum", rule="""
    The configured audit retention ([audit] retention_days) is at least {min_days} days, and the stored chain starts
    at its first event or at an archive checkpoint that vouches for the pruned events: pass. Partial when events were
    archived yet the log held less than {min_days} days of history at the end of the period; fail when the setting
    is below the minimum or events are gone without a checkpoint.""")
def audit_retention(ctx):
    minimum = ctx.thresholds["min_days"]
    stored = AuditEvent.objects.filter(timestamp__lt=ctx.as_of).aggregate(first=Min("sequence"),
                                                                          oldest=Min("timestamp"))
    archives = AuditEvent.objects.filter(event_type="audit.archived", timestamp__lt=ctx.as_of)
    pruned = bool(stored["first"] and stored["first"] > 1)
    vouched = not pruned or archive_start() is not None
    figures = {"configured_days": settings.AUDIT_RETENTION_DAYS, "minimum_days": minimum,
               "oldest_event": stored["oldest"], "first_sequence": stored["first"], "archives": archives.count(),
               "pruned": pruned, "pruned_range_vouched": vouched}
    rows = drilldown("Archives", ["Time", "By", "First #", "Last #", "Events", "Archive"],
                     archives.order_by("sequence").annotate(archive=KT("details__archive")).values_list(
                         "timestamp", "actor_name", "details__first_sequence", "details__last_sequence",
                         "details__count", "archive"))
    if minimum > settings.AUDIT_RETENTION_DAYS:
        return result(FAIL, f"Retention is {settings.AUDIT_RETENTION_DAYS} days, below the {minimum}-day minimum",
                      figures, rows)
    if not vouched:
        return result(FAIL, "Audit events are gone without an archive checkpoint", figures, rows)
    if pruned and stored["oldest"] > ctx.days_before_end(minimum):
        return result(PARTIAL, f"Events were archived and less than {minimum} days of history remain", figures, rows)
    return result(PASS, f"Retention is {settings.AUDIT_RETENTION_DAYS} days (minimum {minimum})", figures, rows)


REVIEW_EVENTS = ("audit.exported", "report.generated", "report.exported", "audit.chain_verified")


@check("audit_review_activity", title="Audit records reviewed", rule="""
    People reviewed audit information in the period: audit log exports, compliance or access-review reports
    generated or exported, chain verifications they ran. Pass at {min_reviews} or more; partial when only the
    scheduled (automatic) chain verification ran; fail when nothing was reviewed.""")
def audit_review_activity(ctx):
    activity = AuditEvent.objects.filter(event_type__in=REVIEW_EVENTS, outcome=SUCCESS, **ctx.in_period("timestamp"))
    person = Q(actor_type=AuditEvent.ActorType.USER, actor_id__isnull=False)
    figures = activity.aggregate(
        reviews_by_people=Count("pk", filter=person), reviewers=Count("actor_id", distinct=True, filter=person),
        automatic_verifications=Count("pk", filter=Q(event_type="audit.chain_verified") & ~person))
    rows = drilldown("Reviews by people", ["Time", "Person", "Activity", "Subject"],
                     activity.filter(person).order_by("sequence").values_list(
                         "timestamp", "actor_name", "event_type", "target_text"), total=figures["reviews_by_people"])
    if figures["reviews_by_people"] >= max(ctx.thresholds["min_reviews"], 1):
        return result(PASS, f"{plural(figures['reviews_by_people'], 'review')} by "
                            f"{plural(figures['reviewers'], 'person', 'people')}", figures, rows)
    if figures["reviews_by_people"] or figures["automatic_verifications"]:
        return result(PARTIAL, "Too few reviews by people; automatic verification ran", figures, rows)
    return result(FAIL, "Nobody reviewed audit records in the period", figures, rows)
