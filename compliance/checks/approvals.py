"""Approval evidence: runs executed only with their required approvals, refused self-approvals, emergency reviews."""
import datetime as dt

from django.db.models import Count, Exists, F, OuterRef, Q

from audit.models import AuditEvent
from audit.queries import uuid_text
from compliance.checks.base import (
    FAIL,
    NOT_APPLICABLE,
    PARTIAL,
    PASS,
    check,
    drilldown,
    plural,
    result,
)
from rotation.models import Approval, RotationRequest

Trigger = RotationRequest.Trigger
APPROVED = Approval.Decision.APPROVED
DECISION_EVENTS = ("rotation.approved", "rotation.rejected")


def _valid_approvals():
    # An approval counts when given before the run started, by someone other than the requester.
    return Count("approvals", filter=Q(approvals__decision=APPROVED, approvals__decided_at__lte=F("started_at"))
                 & (Q(requested_by__isnull=True) | ~Q(approvals__approver=F("requested_by"))))


@check("rotations_approved", title="Rotations executed only with their required approvals", rule="""
    Every non-emergency run that started in the period had, before it started, at least the number of distinct
    approvals (not the requester's) frozen on the request at request time; a person's request always needs one.
    Scheduled runs that the policy auto-approves need none. Pass when no run lacks them, fail otherwise (must be
    zero); not applicable when no run started in the period. Emergency runs are judged by their reviews.""")
def rotations_approved(ctx):
    started = RotationRequest.objects.filter(**ctx.in_period("started_at"))
    runs = started.exclude(trigger=Trigger.EMERGENCY).annotate(valid=_valid_approvals())
    lacking = Q(valid__lt=F("required_approvals")) | Q(trigger=Trigger.MANUAL, valid__lt=1)
    counts = runs.aggregate(executed=Count("pk"), unapproved=Count("pk", filter=lacking),
                            auto_approved=Count("pk", filter=Q(trigger=Trigger.SCHEDULED, required_approvals=0)))
    counts["emergency"] = started.filter(trigger=Trigger.EMERGENCY).count()
    rows = drilldown(
        "Runs without their required approvals",
        ["Provider", "Secret", "Requested by", "Trigger", "Started", "Approvals", "Required"],
        runs.filter(lacking).order_by("started_at", "pk").values_list(
            "secret__provider__name", "secret__name", "requested_by_name", "trigger", "started_at", "valid",
            "required_approvals"))
    if not counts["executed"]:
        return result(NOT_APPLICABLE, "No rotation run started in the period", counts, rows)
    if counts["unapproved"]:
        return result(FAIL, f"{plural(counts['unapproved'], 'run')} of {counts['executed']} started without "
                            "the required approvals", counts, rows)
    return result(PASS, f"All {plural(counts['executed'], 'run')} started with their required approvals",
                  counts, rows)


def refused_self_decisions(ctx):
    """Refused approve/reject attempts in the period made by the request's own requester (audit rows)."""
    own_request = RotationRequest.objects.annotate(key=uuid_text("uuid")).filter(
        key=OuterRef("target_id"), requested_by_id=OuterRef("actor_id"))
    return AuditEvent.objects.filter(
        event_type__in=DECISION_EVENTS, outcome=AuditEvent.Outcome.FAILURE, actor_id__isnull=False,
        target_type="rotation.rotationrequest", **ctx.in_period("timestamp"),
    ).filter(Exists(own_request))


@check("self_approval_refused", title="Self-approvals attempted and refused", rule="""
    Requesters who tried to approve or reject their own rotation request in the period, from the audit log's
    refusals. Fail when any self-approval was accepted (an approval by the request's requester); partial when a
    person tried more than {max_refused_attempts} times (worth a conversation); otherwise pass. Not applicable when
    nobody decided on any request in the period.""")
def self_approval_refused(ctx):
    attempts = refused_self_decisions(ctx)
    accepted = Approval.objects.filter(approver_id=F("request__requested_by_id"), **ctx.in_period("decided_at"))
    limit = ctx.thresholds["max_refused_attempts"]
    per_person = attempts.values("actor_id").annotate(n=Count("pk"))
    figures = {"refused_attempts": attempts.count(), "people_attempting": per_person.count(),
               "people_over_limit": per_person.filter(n__gt=limit).count(), "accepted_self_approvals": accepted.count(),
               "decisions": Approval.objects.filter(**ctx.in_period("decided_at")).count()}
    rows = drilldown("Refused self-approval attempts", ["Time", "Person", "Request", "Refusal"],
                     attempts.order_by("sequence").values_list("timestamp", "actor_name", "target_text",
                                                               "failure_reason"))
    if figures["accepted_self_approvals"]:
        return result(FAIL, f"{plural(figures['accepted_self_approvals'], 'self-approval')} accepted", figures, rows)
    if not figures["decisions"] and not figures["refused_attempts"]:
        return result(NOT_APPLICABLE, "No approval decisions in the period", figures, rows)
    summary = f"{plural(figures['refused_attempts'], 'self-approval attempt')} refused, none accepted"
    if figures["people_over_limit"]:
        return result(PARTIAL, f"{summary}; {plural(figures['people_over_limit'], 'person', 'people')} tried more "
                               f"than {ctx.thresholds['max_refused_attempts']} times", figures, rows)
    return result(PASS, summary, figures, rows)


@check("emergency_reviews", title="Emergency rotations reviewed", rule="""
    Emergency (break-glass) rotations requested in the period, each with its post-incident review acknowledged by
    an approver other than the person who ran it. Pass when every review was acknowledged within
    {review_within_days} days; partial when open reviews are not yet {review_within_days} days old at the end of
    the period, or a review came late; fail when a review is still open after {review_within_days} days. Not
    applicable when there was no emergency rotation.""")
def emergency_reviews(ctx):
    days = dt.timedelta(days=ctx.thresholds["review_within_days"])
    runs = RotationRequest.objects.filter(trigger=Trigger.EMERGENCY, **ctx.in_period("created_at"))
    reviewed = Q(reviewed_at__lt=ctx.as_of)
    late = reviewed & Q(reviewed_at__gt=F("created_at") + days)
    overdue = ~reviewed & Q(created_at__lt=ctx.as_of - days)
    counts = runs.aggregate(emergency=Count("pk"), acknowledged=Count("pk", filter=reviewed),
                            late=Count("pk", filter=late), overdue=Count("pk", filter=overdue))
    counts["open"] = counts["emergency"] - counts["acknowledged"]

    def row(r):
        provider, name, by, created, reviewer, reviewed_at = r
        if reviewed_at is not None and reviewed_at < ctx.as_of:
            state = "acknowledged late" if reviewed_at > created + days else "acknowledged"
        else:
            reviewer, reviewed_at = "", None
            state = "overdue" if created < ctx.as_of - days else "open"
        return [provider, name, by, created, reviewer, reviewed_at, state]

    rows = drilldown("Emergency rotations", ["Provider", "Secret", "Run by", "Requested", "Reviewed by", "Reviewed",
                                             "Review"],
                     runs.order_by("created_at", "pk").values_list(
                         "secret__provider__name", "secret__name", "requested_by_name", "created_at",
                         "reviewed_by__username", "reviewed_at"), row=row)
    if not counts["emergency"]:
        return result(NOT_APPLICABLE, "No emergency rotation in the period", counts, rows)
    summary = f"{counts['acknowledged']} of {plural(counts['emergency'], 'emergency rotation')} reviewed"
    if counts["overdue"]:
        return result(FAIL, f"{summary}; {counts['overdue']} overdue", counts, rows)
    if counts["open"] or counts["late"]:
        return result(PARTIAL, f"{summary}; {counts['open']} open, {counts['late']} late", counts, rows)
    return result(PASS, summary, counts, rows)
