"""Rotation evidence: secrets rotated within their policy's interval, policy coverage, generator strength."""
from django.conf import settings
from django.db.models import Case, Count, F, OuterRef, Q, Subquery, When
from django.db.models.functions import Coalesce

from compliance.checks.base import (
    FAIL,
    NOT_APPLICABLE,
    PARTIAL,
    PASS,
    by_share,
    check,
    drilldown,
    percent,
    plural,
    result,
    table,
)
from providers.filters import overdue_condition
from providers.models import Secret
from rotation.models import MIN_SECRET_LENGTH, RotationPolicy, RotationRequest
from rotation.policies import interval_expression, policy_id_expression, rule_assignments


def _rotated_as_of(ctx):
    """When each secret was last rotated as of the period's end, else when the inventory first saw it.

    The provider's last-rotated time is the newest one only: when it falls after the period, the last run
    of ours that promoted a version before the period's end stands in for it.
    """
    earlier_run = RotationRequest.objects.filter(
        secret=OuterRef("pk"), state=RotationRequest.State.SUCCEEDED, promoted_at__lt=ctx.as_of,
    ).order_by("-promoted_at").values("promoted_at")[:1]
    return Case(
        When(last_rotated_at__isnull=True, then=F("first_seen_at")),
        When(last_rotated_at__lt=ctx.as_of, then=F("last_rotated_at")),
        default=Coalesce(Subquery(earlier_run), F("first_seen_at")),
    )


def inventory(ctx):
    """Active secrets the inventory had seen by the period's end, with their rotation base, interval and policy."""

    def compute():
        rules = rule_assignments()
        interval, intervals = interval_expression(settings.ROTATION_DEFAULT_INTERVAL_DAYS, rules)
        queryset = Secret.objects.filter(status=Secret.Status.ACTIVE, first_seen_at__lt=ctx.as_of).annotate(
            rotation_base=_rotated_as_of(ctx), policy_interval=interval,
            governing_policy=policy_id_expression(rules))
        overdue = overdue_condition(ctx.as_of, intervals)
        counts = queryset.aggregate(total=Count("pk"), overdue=Count("pk", filter=overdue),
                                    unpoliced=Count("pk", filter=Q(governing_policy__isnull=True)))
        return queryset, overdue, counts

    return ctx.remember("rotation.inventory", compute)


def _policy_names():
    return dict(RotationPolicy.objects.values_list("pk", "name"))


@check("rotation_within_interval", title="Secrets rotated within their policy interval", rule="""
    Active secrets as of the period's end, each judged against its governing policy's interval (the default
    interval when no policy governs it); never-rotated secrets count from when the inventory first saw them.
    Pass when at least {pass_percent}% are within their interval, partial when at least {partial_percent}%,
    otherwise fail; not applicable when the inventory is empty.""")
def rotation_within_interval(ctx):
    queryset, overdue, counts = inventory(ctx)
    total, late = counts["total"], counts["overdue"]
    compliant = total - late
    share = percent(compliant, total)
    figures = {"total": total, "compliant": compliant, "overdue": late, "percent": share,
               "without_policy": counts["unpoliced"], "default_interval_days": settings.ROTATION_DEFAULT_INTERVAL_DAYS}
    names = _policy_names()
    rows = drilldown(
        "Overdue secrets", ["Provider", "Secret", "Policy", "Last rotated (or first seen)", "Interval (days)",
                            "Days overdue"],
        queryset.filter(overdue).order_by("rotation_base", "provider__name", "name", "pk").values_list(
            "provider__name", "name", "governing_policy", "rotation_base", "policy_interval"),
        row=lambda r: [r[0], r[1], names.get(r[2], "(default interval)"), r[3], r[4],
                       max((ctx.as_of - r[3]).days - r[4], 0)], total=late)
    if not total:
        return result(NOT_APPLICABLE, "No active secrets in the inventory at the end of the period", figures, rows)
    status = by_share(share, pass_at=ctx.thresholds["pass_percent"], partial_at=ctx.thresholds["partial_percent"])
    return result(status, f"{compliant} of {total} secrets ({share}%) rotated within their interval; "
                          f"{late} overdue", figures, rows)


@check("rotation_policy_coverage", title="Secrets governed by a rotation policy", rule="""
    Share of active secrets (as of the period's end) that a rotation policy governs, directly or by a
    provider/environment/tag rule. Pass when at least {pass_percent}%, partial when at least {partial_percent}%,
    otherwise fail; not applicable when the inventory is empty.""")
def rotation_policy_coverage(ctx):
    queryset, _, counts = inventory(ctx)
    total, unpoliced = counts["total"], counts["unpoliced"]
    share = percent(total - unpoliced, total)
    figures = {"total": total, "governed": total - unpoliced, "without_policy": unpoliced, "percent": share}
    rows = drilldown(
        "Secrets no policy governs", ["Provider", "Secret", "Environment", "Owner", "First seen"],
        queryset.filter(governing_policy__isnull=True).order_by("provider__name", "name", "pk").values_list(
            "provider__name", "name", "environment", "owner", "first_seen_at"), total=unpoliced)
    if not total:
        return result(NOT_APPLICABLE, "No active secrets in the inventory at the end of the period", figures, rows)
    status = by_share(share, pass_at=ctx.thresholds["pass_percent"], partial_at=ctx.thresholds["partial_percent"])
    return result(status, f"{total - unpoliced} of {total} secrets ({share}%) have a rotation policy; "
                          f"{plural(unpoliced, 'secret')} without one", figures, rows)


_CLASSES = ("use_lowercase", "use_uppercase", "use_digits", "use_symbols")


@check("generator_strength", title="Rotation policies generate strong values", rule="""
    Every policy in use (assigned to a secret or a rule) generates values of at least {pass_min_length}
    characters from at least {pass_min_classes} character classes: pass. Partial when some policy is weaker but
    every one has at least {fail_below_length} characters and two classes; fail otherwise; not applicable when
    no policy is in use.""")
def generator_strength(ctx):
    t = ctx.thresholds
    policies = list(RotationPolicy.objects.annotate(uses=Count("assignments")).filter(uses__gt=0)
                    .order_by("name").values_list("name", "length", *_CLASSES, "exclude_characters", "uses"))
    rows, weak, failing = [], 0, 0
    for name, length, *flags, exclude, uses in policies:
        classes = sum(flags)
        if length < max(t["fail_below_length"], MIN_SECRET_LENGTH) or classes < 2:
            verdict, failing = "too weak", failing + 1
        elif length < t["pass_min_length"] or classes < t["pass_min_classes"]:
            verdict, weak = "below target", weak + 1
        else:
            verdict = "strong"
        rows.append([name, length, classes, exclude, uses, verdict])
    figures = {"policies_in_use": len(rows), "below_target": weak, "too_weak": failing}
    drill = table("Policies in use", ["Policy", "Length", "Character classes", "Excluded", "Assignments",
                                      "Verdict"], rows)
    if not rows:
        return result(NOT_APPLICABLE, "No rotation policy is in use", figures, drill)
    status = FAIL if failing else PARTIAL if weak else PASS
    return result(status, f"{len(rows) - weak - failing} of {plural(len(rows), 'policy', 'policies')} in use meet "
                          f"the generator target", figures, drill)
