"""Audit evidence: operations cross-checked with audit rows, record content, the verified chain, retention, review."""
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, Subquery
from django.db.models.fields.json import KT

from audit.models import INCOMPLETE, AuditEvent, ChainVerification
from audit.queries import uuid_text
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
)
from providers.models import Provider, Secret
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
    """{provider name: its last successful inventory sync before the period's end}, from the audit log, for each
    provider configured now that has one."""

    def compute():
        # Per provider, the newest sync found walking back from the period's end (a few rows for one that syncs),
        # rather than reading every sync ever recorded to take each provider's maximum.
        last = AuditEvent.objects.filter(event_type="inventory.synced", outcome=SUCCESS, provider=OuterRef("name"),
                                         timestamp__lt=ctx.as_of).order_by("-timestamp").values("timestamp")[:1]
        return {name: when for name, when in Provider.objects.annotate(last=Subquery(last))
                .values_list("name", "last") if when is not None}

    return ctx.remember("audit.last_syncs", compute)


def period_event_counts(ctx):
    """{event type: the audit rows of that type in the period}, counted once for the checks that need them."""
    # COUNT(*), not of the key: the (event_type, timestamp) index then answers alone, without reading the rows.
    return ctx.remember("audit.period_counts", lambda: dict(
        AuditEvent.objects.filter(**ctx.in_period("timestamp")).values_list("event_type").annotate(n=Count("*"))
        .values_list("event_type", "n")))


def _new_secrets_unaccounted(ctx):
    """Secrets first seen in the period with neither a creation event nor a later sync of their provider."""
    synced_after = Q(pk__in=[])
    for provider, last in last_successful_syncs(ctx).items():
        synced_after |= Q(provider__name=provider, first_seen_at__lte=last)
    return (Secret.objects.filter(**ctx.in_period("first_seen_at")).exclude(synced_after)
            .exclude(_event_for("secret.creation", "uuid")))


def _without_retrieval(ctx, reveals):
    """The reveals with no successful retrieval of that secret by that person before them in the period.

    A reveal's retrieval is written just before it, in the same request: only this period's rows can match, and
    it is nearly always the row right before it. That row is tested first (one probe of the unique sequence
    index); only the reveals it does not vouch for are searched for an earlier retrieval. The first test is a
    special case of the second, so the rows left are exactly those the second alone leaves.
    """
    same = {"event_type": "secret.retrieval", "outcome": SUCCESS, "actor_id": OuterRef("actor_id"),
            "provider": OuterRef("provider"), "secret_name": OuterRef("secret_name"), "timestamp__gte": ctx.start}
    just_before = AuditEvent.objects.filter(sequence=OuterRef("sequence") - 1, **same)
    earlier = AuditEvent.objects.filter(sequence__lt=OuterRef("sequence"), **same)
    # Two excludes, each its own anti-join, the cheap one first (one exclude of an OR would test every row twice).
    return reveals.exclude(Exists(just_before)).exclude(Exists(earlier))


def _coverage_parts(ctx):
    """(kind, expected event, operations in the period, those lacking their event, drill-down fields) per kind."""
    succeeded = RotationRequest.objects.filter(state=RotationRequest.State.SUCCEEDED, **ctx.in_period("promoted_at"))
    requested = RotationRequest.objects.filter(**ctx.in_period("created_at"))
    decisions = Approval.objects.filter(**ctx.in_period("decided_at"))
    reveals = AuditEvent.objects.filter(event_type="secret.revealed", **ctx.in_period("timestamp"))
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
         _without_retrieval(ctx, reveals).order_by("timestamp", "sequence"),
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
    events = period_event_counts(ctx)
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


@check("audit_record_content", title="Audit records say who, what, when, where and with what outcome", rule="""
    Every audit row of the period names its actor (a person, the system or a worker; failed sign-ins the account
    tried), its event type and time, the provider and secret of secret events, and the reason of a failure. Pass
    when every row does; partial when at most {partial_incomplete_percent}% do not; fail otherwise; not applicable
    when the period has no audit rows.""")
def audit_record_content(ctx):
    events = AuditEvent.objects.filter(**ctx.in_period("timestamp"))
    # audit.models.INCOMPLETE says which rows lack who, where or why. Short questions, not one pass over every row
    # of the period: the rows are counted by type from the (event_type, timestamp) index alone (shared with
    # audit_coverage), the incomplete ones in their partial index, and the people who acted (every actor is a
    # user: rows protect theirs from deletion) with one (actor, timestamp) probe each.
    incomplete = events.filter(INCOMPLETE)
    acted = Exists(AuditEvent.objects.filter(actor_id=OuterRef("pk"), **ctx.in_period("timestamp")))
    counts = {"events": sum(period_event_counts(ctx).values()), "incomplete": incomplete.count(),
              "people": get_user_model().objects.filter(acted).count()}
    counts["incomplete_percent"] = percent(counts["incomplete"], counts["events"])
    rows = drilldown("Incomplete audit rows", ["#", "Time", "Event", "Actor", "Provider", "Secret", "Outcome",
                                               "Failure reason"],
                     incomplete.order_by("sequence").values_list(
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
